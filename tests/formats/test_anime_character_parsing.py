"""AnimeCharacterParsing layout through the real CLI: ingest (lists, unlabelled pool, test images), export, the
round trip, the 13/16 class-set choice, the 16 -> 13 remap on literal masks, and bad input refused by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.formats import detect_format
from animeparse.formats.anime_character_parsing import read_list

H, W = 12, 16
ACP13, ACP16 = "anime-character-parsing-13", "anime-character-parsing-16"


def _mask(seed: int, top: int) -> np.ndarray:
    """HxW uint8: literal bands of ids 0..top (every id of the set present once the seeds vary)."""
    m = np.zeros((H, W), np.uint8)
    for row in range(H):
        m[row, 2:] = (row + seed) % (top + 1)
    return m


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 255, (H, W, 3))).astype(np.uint8)


def _write(src: Path, *, top: int = 12, train=("a", "b"), unsuper=("u1", "u2"), val=("v",), test=("t",)) -> dict:
    """An AnimeCharacterParsing folder with literal masks; returns name -> mask for the labelled ones."""
    masks = {}
    for folder in ("train_aug/image", "train_aug/label", "val/image", "val/label", "test"):
        (src / folder).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate((*train, *unsuper, *val, *test)):
        where = "val/image" if name in val else "test" if name in test else "train_aug/image"
        Image.fromarray(_image(i)).save(src / where / f"{name}.jpg", quality=90)
        if name in train or name in val:
            masks[name] = _mask(i, top)
            Image.fromarray(masks[name], "L").save(src / where.replace("image", "label") / f"{name}.png")
    (src / "train.txt").write_text("".join(f"{n}\textra field\n" for n in train))  # only the first field counts
    (src / "unsuper_train.txt").write_text("".join(f"{n}\n" for n in unsuper) + "\n")
    (src / "val.txt").write_text("".join(f"{n}\n" for n in val))
    return masks


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _store(tmp_path: Path, name: str, labelmap: str) -> Path:
    r = _run("init", tmp_path / name, "--labelmap", labelmap)
    assert r.exit_code == 0, r.output
    return tmp_path / name


def _contents(store: Path) -> dict:
    """name -> (split, mask or None, image sha) of every sample."""
    with Dataset.open(store) as ds:
        labelled = {s.id for s in ds.samples(layer="gt")}
        return {Path(s.name).stem: (s.split, ds.read_mask(s.id).tolist() if s.id in labelled else None, s.id)
                for s in ds.samples()}


def test_cli_ingest_export_ingest_round_trip(tmp_path):
    src = tmp_path / "acp"
    masks = _write(src)
    assert detect_format(src) == "anime-character-parsing"
    store = _store(tmp_path, "ds", ACP13)
    r = _run("ingest", src, "--into", store, "--source-labelmap", ACP13, "--workers", 0)
    assert r.exit_code == 0, r.output
    got = _contents(store)
    assert {n: v[0] for n, v in got.items()} == {"a": "train", "b": "train", "u1": "train", "u2": "train",
                                                "v": "val", "t": "test"}
    assert {n for n, v in got.items() if v[1] is None} == {"u1", "u2", "t"}  # the pool and the test image
    for name, mask in masks.items():
        assert got[name][1] == mask.tolist(), name

    out = tmp_path / "out"
    r = _run("export", store, "--format", "anime-character-parsing", "--out", out, "--workers", 0)
    assert r.exit_code == 0, r.output
    assert (out / "train.txt").read_text() == "a\nb\n"
    assert (out / "unsuper_train.txt").read_text() == "u1\nu2\n"
    assert (out / "val.txt").read_text() == "v\n"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == sorted([
        "labelmap.json", "train.txt", "unsuper_train.txt", "val.txt", "test/t.jpg",
        *(f"train_aug/image/{n}.jpg" for n in ("a", "b", "u1", "u2")), "train_aug/label/a.png",
        "train_aug/label/b.png", "val/image/v.jpg", "val/label/v.png"])
    assert Image.open(out / "train_aug/label/a.png").mode == "L"
    # JPEG sources are copied byte for byte
    assert (out / "train_aug/image/u1.jpg").read_bytes() == (src / "train_aug/image/u1.jpg").read_bytes()
    assert json.loads((out / "labelmap.json").read_text())["name"] == ACP13

    back = _store(tmp_path, "back", ACP13)
    r = _run("ingest", out, "--into", back, "--workers", 0)  # labelmap.json says which map: no option needed
    assert r.exit_code == 0, r.output
    assert _contents(back) == got  # same splits, masks, pool and pixels (ids hash the pixels)


def test_the_pool_is_what_parser_train_calls_unlabelled(tmp_path):
    from animeparse.prelabel.trainset import unlabeled_samples

    _write(tmp_path / "acp")
    store = _store(tmp_path, "ds", ACP13)
    assert _run("ingest", tmp_path / "acp", "--into", store, "--source-labelmap", ACP13, "--workers", 0).exit_code == 0
    with Dataset.open(store) as ds:
        pool = {ds.sample(i).name for i in unlabeled_samples(ds, "split:train")}
    assert pool == {"u1.jpg", "u2.jpg"}


def test_ids_up_to_12_are_ambiguous_and_refused_until_said(tmp_path):
    _write(tmp_path / "acp")
    for labelmap in (ACP13, ACP16):
        store = _store(tmp_path, f"ds-{labelmap}", labelmap)
        r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "acp"), "--into", str(store), "--workers", "0"])
        assert r.exit_code == 1
        assert "both the 13- and the 16-class sets" in r.output and "--source-labelmap" in r.output
        with Dataset.open(store) as ds:
            assert ds.samples() == []


def test_16_class_source_detected_and_remapped_to_13_on_literal_masks(tmp_path):
    src = tmp_path / "acp16"
    masks = _write(src, top=16, unsuper=(), test=())
    store16 = _store(tmp_path, "ds16", ACP16)
    r = _run("ingest", src, "--into", store16, "--workers", 0)  # ids above 12: the 16-class set, said in the log
    assert r.exit_code == 0, r.output
    assert {n: v[1] for n, v in _contents(store16).items()} == {n: m.tolist() for n, m in masks.items()}

    store13 = _store(tmp_path, "ds13", ACP13)
    r = CliRunner().invoke(cli, ["ingest", str(src), "--into", str(store13), "--workers", "0"])
    assert r.exit_code == 1 and "16-class set" in r.output and f"--remap {ACP16}" in r.output
    r = _run("ingest", src, "--into", store13, "--remap", ACP16, "--workers", 0)
    assert r.exit_code == 0, r.output
    # hand-made: 16-class id -> 13-class id (hair_decoration, face_wearing -> accessories; mouth -> face;
    # stockings -> legs_wearing; shoes -> feet)
    by_hand = [0, 1, 4, 2, 3, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 11]
    got = _contents(store13)
    for name, mask in masks.items():
        expected = [[by_hand[v] for v in row] for row in mask.tolist()]
        assert got[name][1] == expected, name
    assert got["a"][1][0][2:] == [0] * (W - 2) and got["a"][1][2][2] == 4  # literal rows: id 2 became 4


def test_export_written_from_16_into_13_needs_the_remap(tmp_path):
    src = tmp_path / "acp16"
    _write(src, top=16, unsuper=(), test=())
    store16 = _store(tmp_path, "ds16", ACP16)
    assert _run("ingest", src, "--into", store16, "--workers", 0).exit_code == 0
    assert _run("export", store16, "--format", "anime-character-parsing", "--out", tmp_path / "out").exit_code == 0
    store13 = _store(tmp_path, "ds13", ACP13)
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "out"), "--into", str(store13), "--workers", "0"])
    assert r.exit_code == 1 and "labelmap.json" in r.output and f"--remap {ACP16}" in r.output


def _break(src: Path, how: str) -> tuple[str, ...]:
    """Damage a written folder one way; return strings the refusal must contain (file, line, problem)."""
    if how == "missing image":
        (src / "train_aug/image/b.jpg").unlink()
        return "train.txt", "line 2", "train_aug/image/b.jpg", "does not exist"
    if how == "missing label":
        (src / "val/label/v.png").unlink()
        return "val.txt", "line 1", "val/label/v.png"
    if how == "listed twice":
        with open(src / "unsuper_train.txt", "a") as fh:
            fh.write("a\n")
        return "unsuper_train.txt", "line 4", "already listed at train.txt:1"
    if how == "id outside the map":
        m = _mask(0, 12)
        m[0, 0] = 13
        Image.fromarray(m, "L").save(src / "train_aug/label/a.png")
        return "train_aug/label/a.png", "[13]", ACP13
    if how == "rgb label":
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(src / "train_aug/label/b.png")
        return "train_aug/label/b.png", "mode RGB", "single-channel"
    if how == "size differs":
        Image.fromarray(np.zeros((H + 2, W), np.uint8), "L").save(src / "val/label/v.png")
        return "val/label/v.png", f"16x14, image v.jpg is {W}x{H}"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing image", "missing label", "listed twice", "id outside the map", "rgb label",
                                 "size differs"])
def test_bad_input_refused_naming_file_and_line(tmp_path, how):
    src = tmp_path / "acp"
    _write(src)
    needles = _break(src, how)
    store = _store(tmp_path, "ds", ACP13)
    r = CliRunner().invoke(cli, ["ingest", str(src), "--into", str(store), "--source-labelmap", ACP13,
                                 "--workers", "0"])
    assert r.exit_code == 1, r.output
    for needle in needles:
        assert needle in r.output, (needle, r.output)
    with Dataset.open(store) as ds:
        assert ds.samples() == []  # refused: nothing written


def test_list_reader_takes_the_first_tab_field_and_refuses_folders(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("one\tx\n\n  two  \n")
    assert read_list(p) == [(1, "one"), (3, "two")]
    p.write_text("ok\nsub/name\n")
    with pytest.raises(Exception, match="line 2"):
        read_list(p)


def test_export_refuses_what_has_no_place_and_re_encodes_non_jpeg(tmp_path):
    store = _store(tmp_path, "ds", ACP13)
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    (raw / "masks").mkdir()
    for i, name in enumerate(("p", "q")):
        Image.fromarray(_image(10 + i)).save(raw / "images" / f"{name}.png")
        Image.fromarray(_mask(i, 12), "L").save(raw / "masks" / f"{name}.png")
    assert _run("ingest", raw, "--into", store, "--workers", 0).exit_code == 0
    out = tmp_path / "out"
    r = _run("export", store, "--format", "anime-character-parsing", "--out", out, "--workers", 0)
    assert r.exit_code == 0, r.output
    assert "re-encoded as JPEG" in r.output
    assert Image.open(out / "train_aug/image/p.jpg").format == "JPEG"
    with Dataset.open(store, write=True) as ds:
        ds.set_split([s.id for s in ds.samples()][:1], "holdout")
    r = CliRunner().invoke(cli, ["export", str(store), "--format", "anime-character-parsing", "--out",
                                 str(tmp_path / "out2")])
    assert r.exit_code == 1 and "split 'holdout'" in r.output and "--split" in r.output
    assert not (tmp_path / "out2").exists()


def test_test_masks_survive_through_test_label(tmp_path):
    from animeparse import MaskInput

    _write(tmp_path / "acp", unsuper=(), val=())
    store = _store(tmp_path, "ds", ACP13)
    assert _run("ingest", tmp_path / "acp", "--into", store, "--source-labelmap", ACP13, "--workers", 0).exit_code == 0
    with Dataset.open(store, write=True) as ds:
        (t,) = ds.samples(split="test")
        ds.put_mask(t.id, "gt", MaskInput(_mask(5, 12)))
    out = tmp_path / "out"
    assert _run("export", store, "--format", "anime-character-parsing", "--out", out, "--workers", 0).exit_code == 0
    assert (out / "test_label/t.png").is_file() and (out / "val.txt").read_text() == ""
    back = _store(tmp_path, "back", ACP13)
    assert _run("ingest", out, "--into", back, "--workers", 0).exit_code == 0
    assert _contents(back) == _contents(store) and _contents(back)["t"][1] == _mask(5, 12).tolist()
