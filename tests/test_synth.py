"""Tests for animeparse.demo.synth: determinism, exact masks, layout, demo writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from animeparse.demo import synth
from animeparse.demo.synth import LR_CONVENTION, FaceParams, generate_face, render_face, sample_params, write_demo_data

N_FACES = 30
SIZE = 512
CORE_IDS = (1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 16, 17)
Face = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]


@pytest.fixture(scope="module")
def faces() -> list[Face]:
    return [generate_face(0, i, size=SIZE) for i in range(N_FACES)]


def _centroid(mask: npt.NDArray[np.uint8], cls: int) -> tuple[float, float]:
    ys, xs = np.nonzero(mask == cls)
    return float(xs.mean()), float(ys.mean())


def test_lr_convention() -> None:
    assert LR_CONVENTION == "subject"


def test_determinism() -> None:
    img_a, mask_a = generate_face(0, 3)
    img_b, mask_b = generate_face(0, 3)
    assert np.array_equal(img_a, img_b) and np.array_equal(mask_a, mask_b)
    for other in (generate_face(0, 4), generate_face(1, 3)):
        assert not np.array_equal(mask_a, other[1])
        assert not np.array_equal(img_a, other[0])


def test_params_are_frozen_and_reproducible() -> None:
    p = sample_params(np.random.default_rng([5, 7]))
    assert isinstance(p, FaceParams)
    assert p == sample_params(np.random.default_rng([5, 7]))
    with pytest.raises(AttributeError):
        p.cx = 0.1  # type: ignore[misc]
    img, mask = render_face(p, size=128)
    assert img.shape == (128, 128, 3) and mask.shape == (128, 128)


def test_dtype_shape_and_id_range(faces: list[Face]) -> None:
    for img, mask in faces:
        assert img.dtype == np.uint8 and img.shape == (SIZE, SIZE, 3)
        assert mask.dtype == np.uint8 and mask.shape == (SIZE, SIZE)
        assert int(mask.max()) <= 18


def test_every_id_appears_somewhere(faces: list[Face]) -> None:
    seen: set[int] = set()
    for _, mask in faces:
        seen |= set(np.unique(mask).tolist())
    assert seen == set(range(19))


def test_core_ids_in_every_face(faces: list[Face]) -> None:
    for i, (_, mask) in enumerate(faces):
        missing = set(CORE_IDS) - set(np.unique(mask).tolist())
        assert not missing, f"face {i} lacks {missing}"


def test_layout(faces: list[Face]) -> None:
    for i, (_, mask) in enumerate(faces):
        l_eye, r_eye = _centroid(mask, 4), _centroid(mask, 5)
        l_brow, r_brow = _centroid(mask, 2), _centroid(mask, 3)
        assert l_eye[0] > SIZE / 2 > r_eye[0], i  # subject's left is on the image right
        assert l_brow[0] > r_brow[0], i
        assert l_brow[1] < l_eye[1] and r_brow[1] < r_eye[1], i
        nose, mouth = _centroid(mask, 10), _centroid(mask, 11)
        assert max(l_eye[1], r_eye[1]) < nose[1] < mouth[1], i
        if (mask == 7).any() and (mask == 8).any():
            assert _centroid(mask, 7)[0] > _centroid(mask, 8)[0], i
        hair_top = np.nonzero((mask == 17).any(axis=1))[0].min()
        neck_top = np.nonzero((mask == 14).any(axis=1))[0].min()
        assert hair_top < neck_top, i
        skin_cols = np.nonzero((mask == 1).any(axis=0))[0]
        skin_rows = np.nonzero((mask == 1).any(axis=1))[0]
        for cls in (4, 5):
            ys, xs = np.nonzero(mask == cls)
            assert skin_cols.min() <= xs.min() and xs.max() <= skin_cols.max(), (i, cls)
            assert skin_rows.min() <= ys.min() and ys.max() <= skin_rows.max(), (i, cls)
            # skin directly below the eye's lowest row
            y, x = int(ys.max()), int(xs[ys == ys.max()].mean())
            assert (mask[y + 1:y + 8, x] == 1).any(), (i, cls)


def test_image_is_not_flat(faces: list[Face]) -> None:
    for i, (img, mask) in enumerate(faces):
        assert img.reshape(-1, 3).std(axis=0).mean() > 25, i
        bg = img[mask == 0].astype(np.float64).mean(axis=0)
        for cls in np.unique(mask):
            if cls == 0:
                continue
            region = img[mask == cls].astype(np.float64).mean(axis=0)
            assert np.abs(region - bg).sum() > 30, (i, int(cls))
        # iris and pupil are painted inside the eyes: dark at the centre, white sclera beside
        for cls in (4, 5):
            x, y = (round(c) for c in _centroid(mask, cls))
            row = img[y, mask[y] == cls].astype(int)
            assert img[y, x].max() < 110 and row.min(axis=1).max() > 200, (i, cls)


def test_other_sizes() -> None:
    for size in (64, 256):
        img, mask = generate_face(2, 1, size=size)
        assert img.shape == (size, size, 3) and mask.shape == (size, size)
        assert {1, 4, 5, 17} <= set(np.unique(mask).tolist())
    with pytest.raises(ValueError):
        generate_face(0, 0, size=8)
    with pytest.raises(ValueError):
        generate_face(-1, 0)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_demo_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size, n = 96, 3
    calls: list[tuple[int, int]] = []
    stems = write_demo_data(tmp_path, n, seed=4, size=size, progress=lambda d, t: calls.append((d, t)))
    assert stems == [f"face_{i:04d}" for i in range(n)]
    assert calls == [(1, n), (2, n), (3, n)]
    for i, stem in enumerate(stems):
        want_img, want_mask = generate_face(4, i, size=size)
        with Image.open(tmp_path / "masks" / f"{stem}.png") as m:
            assert m.mode == "L"
            assert np.array_equal(np.asarray(m), want_mask)
        with Image.open(tmp_path / "images" / f"{stem}.png") as im:
            assert im.mode == "RGB"
            assert np.array_equal(np.asarray(im), want_img)
    before = _mtimes(tmp_path)
    assert sorted(before) == sorted([f"images/{s}.png" for s in stems] + [f"masks/{s}.png" for s in stems])

    # complete outputs must be skipped, not regenerated
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated an existing face")

    monkeypatch.setattr(synth, "generate_face", boom)
    assert write_demo_data(tmp_path, n, seed=4, size=size) == stems
    assert _mtimes(tmp_path) == before
    monkeypatch.undo()

    # a missing image (killed between mask and image) is regenerated; others untouched
    os.remove(tmp_path / "images" / "face_0001.png")
    write_demo_data(tmp_path, n, seed=4, size=size)
    after = _mtimes(tmp_path)
    assert set(after) == set(before)
    for key, t in before.items():
        if "face_0001" not in key:
            assert after[key] == t, key
    with Image.open(tmp_path / "images" / "face_0001.png") as im:
        assert np.array_equal(np.asarray(im), generate_face(4, 1, size=size)[0])

    # growing n only adds new indices
    write_demo_data(tmp_path, n + 1, seed=4, size=size)
    assert (tmp_path / "images" / "face_0003.png").exists()
    assert _mtimes(tmp_path)["masks/face_0000.png"] == before["masks/face_0000.png"]


def test_mask_is_written_before_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between the two writes: only the mask exists, and a re-run completes the pair."""
    real_save = Image.Image.save
    saved: list[str] = []

    def save_once(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        if saved:
            raise KeyboardInterrupt
        saved.append(self.mode)
        real_save(self, fp, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", save_once)
    with pytest.raises(KeyboardInterrupt):
        write_demo_data(tmp_path, 1, size=64)
    monkeypatch.undo()
    assert saved == ["L"]
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == ["masks/face_0000.png"]
    write_demo_data(tmp_path, 1, size=64)
    with Image.open(tmp_path / "images" / "face_0000.png") as im:
        assert np.array_equal(np.asarray(im), generate_face(0, 0, size=64)[0])


def test_write_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while encoding leaves neither a partial PNG nor a temp file."""
    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        write_demo_data(tmp_path, 1, size=64)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
