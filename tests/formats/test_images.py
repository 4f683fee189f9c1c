"""Plain images: listing rules, symlinks, single files; anime face crops on the shared TADNE grid."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse.errors import AnimeparseError, FormatError
from animeparse.facecrop import FaceCropConfig, crop, detect_faces, load_cascade, square_crop_box
from animeparse.formats import images
from animeparse.formats.base import ReadOptions
from animeparse.imageio import read_image

REPO = Path(__file__).resolve().parents[2]
SHARED_MODELS = Path(os.environ.get("ANIMEPARSE_SHARED_MODELS", REPO.parent / "shared" / "models"))
TILE = 512


def _png(path: Path, size_hw: tuple[int, int] = (8, 8), value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size_hw, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def cascade() -> Path:
    """The shared lbpcascade_animeface.xml (never copied into the repo: no licence). Missing fails under CI."""
    path = SHARED_MODELS / "lbpcascade_animeface.xml"
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"shared model not found at {path}")
        pytest.skip(f"shared model not found at {path}")
    return path


@pytest.fixture(scope="module")
def tiles(shared_data, tmp_path_factory) -> Path:
    """The 36 512x512 tiles of the TADNE grid, as lossless PNGs r<row>c<col>.png."""
    grid = read_image(shared_data / "anime-illustrations" / "tadne-grid-6x6.jpg")
    assert grid.shape == (6 * TILE, 6 * TILE, 3)
    folder = tmp_path_factory.mktemp("tadne-tiles")
    for r in range(6):
        for c in range(6):
            tile = grid[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE]
            Image.fromarray(tile).save(folder / f"r{r}c{c}.png", compress_level=1)
    return folder


# -- listing --------------------------------------------------------------------------------------------------
def _tree(root: Path) -> Path:
    """src/ with images at three depths (mixed extensions and case), hidden ones, and a text file."""
    src = root / "src"
    for rel in ["b.png", "a.JPG", "z.png", "sub/c.webp", "sub/deeper/d.png", ".hidden/e.png", "sub/.f.png"]:
        _png(src / rel)  # Pillow picks the encoder from the extension
    (src / "notes.txt").write_text("not an image")
    return src


def test_recursive_listing_sorted_hidden_skipped(tmp_path, danbooru):
    src = _tree(tmp_path)
    items = list(images.read(src, labelmap=danbooru))
    # sorted by relative path as a whole ("sub/..." before "z.png"), not in walk order
    assert [it.name for it in items] == ["a.JPG", "b.png", "sub/c.webp", "sub/deeper/d.png", "z.png"]
    assert all(it.error is None and it.mask_hw is None and it.mask_path is None and it.split is None
               and it.crop_xyxy is None for it in items)
    assert items[2].image_path == src / "sub" / "c.webp"
    flat = list(images.read(src, labelmap=danbooru, options=ReadOptions(recursive=False)))
    assert [it.name for it in flat] == ["a.JPG", "b.png", "z.png"]


def test_symlinks(tmp_path, danbooru):
    src = _tree(tmp_path)
    outside = _png(tmp_path / "outside" / "x.png")
    (src / "link_out.png").symlink_to(outside)
    (src / "dir_out").symlink_to(outside.parent, target_is_directory=True)
    (src / "link_in.png").symlink_to(src / "b.png")
    (src / "dir_in").symlink_to(src / "sub", target_is_directory=True)  # not followed: no duplicates, no loops
    (src / "broken.png").symlink_to(tmp_path / "gone.png")
    items = {it.name: it for it in images.read(src, labelmap=danbooru)}
    assert sorted(items) == ["a.JPG", "b.png", "broken.png", "dir_out", "link_in.png", "link_out.png",
                             "sub/c.webp", "sub/deeper/d.png", "z.png"]
    for name in ("link_out.png", "dir_out"):
        err = items[name].error
        assert isinstance(err, FormatError) and "outside the source folder" in str(err) and name in str(err)
    assert "broken symlink" in str(items["broken.png"].error)
    assert items["link_in.png"].error is None


def test_single_file_and_detect(tmp_path, danbooru):
    src = _tree(tmp_path)
    one = src / "b.png"
    assert [(it.name, it.image_path) for it in images.read(one, labelmap=danbooru)] == [("b.png", one)]
    assert images.detect(one) == 0.5
    assert images.detect(src) == 0.1
    assert images.detect(src / "notes.txt") == 0.0
    assert images.detect(tmp_path / "missing") == 0.0
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    _png(tmp_path / "empty" / ".hidden" / "x.png")
    assert images.detect(tmp_path / "empty") == 0.0
    with pytest.raises(FormatError, match="not an image file"):
        list(images.read(src / "notes.txt", labelmap=danbooru))


# -- crop geometry ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("face,size_wh,margin,expected", [
    ((40, 40, 60, 60), (100, 100), 0.5, (30, 30, 70, 70)),  # centred, side doubled
    ((40, 40, 60, 60), (100, 100), 0.0, (40, 40, 60, 60)),  # no margin: the face box
    ((0, 10, 20, 30), (100, 100), 0.5, (0, 0, 40, 40)),  # shifted right/down, not shrunk
    ((80, 85, 100, 100), (100, 100), 0.5, (60, 60, 100, 100)),  # shifted left/up at the far corner
    ((10, 10, 50, 50), (200, 60), 0.5, (0, 0, 60, 60)),  # image shorter than the square: side cut to 60
    ((40, 30, 60, 60), (100, 100), 0.5, (20, 15, 80, 75)),  # 20x30 box: the longer side rules, side 60
], ids=["centred", "margin0", "left-edge", "far-corner", "small-image", "tall-box"])
def test_square_crop_box(face, size_wh, margin, expected):
    box = square_crop_box(face, size_wh, margin)
    assert box == expected
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 and x0 >= 0 and y0 >= 0 and x1 <= size_wh[0] and y1 <= size_wh[1]
    assert x0 <= face[0] and y0 <= face[1] and face[2] <= x1 and face[3] <= y1  # the face stays whole


def test_crop_cuts_image_and_mask_identically():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    mask = image[:, :, 0].copy()
    box = (2, 1, 6, 5)
    assert np.array_equal(crop(image, box)[:, :, 0], crop(mask, box))
    assert crop(mask, box).shape == (4, 4) and crop(mask, box)[0, 0] == mask[1, 2]
    for bad in [(0, 0, 9, 4), (3, 3, 3, 5), (-1, 0, 2, 2)]:
        with pytest.raises(FormatError, match="outside"):
            crop(mask, bad)
    with pytest.raises(AnimeparseError, match="crop-margin"):
        square_crop_box((0, 0, 4, 4), (8, 8), -0.1)


# -- face detection ---------------------------------------------------------------------------------------------
def test_crop_faces_on_tadne_tiles(tiles, cascade, danbooru):
    options = ReadOptions(crop_faces=cascade)
    first = list(images.read(tiles, labelmap=danbooru, options=options))
    second = list(images.read(tiles, labelmap=danbooru, options=options))
    assert [(it.name, it.crop_xyxy, it.error is None) for it in first] == \
        [(it.name, it.crop_xyxy, it.error is None) for it in second]

    faces = [it for it in first if it.error is None]
    no_face = [it for it in first if it.error is not None]
    with_face = {it.meta["source_image"] for it in faces}
    assert len(with_face) >= 30, f"only {len(with_face)} of 36 tiles gave a face"
    assert len(with_face) + len({it.name for it in no_face}) == 36  # every tile is accounted for
    for it in no_face:
        assert it.meta["no_face"] is True and "no face found" in str(it.error) and it.crop_xyxy is None

    for it in faces:
        x0, y0, x1, y1 = it.crop_xyxy
        fx0, fy0, fx1, fy1 = it.meta["face_xyxy"]
        assert 0 <= x0 < x1 <= TILE and 0 <= y0 < y1 <= TILE
        assert x1 - x0 == y1 - y0  # square, also where it was shifted to stay inside
        assert x0 <= fx0 and y0 <= fy0 and fx1 <= x1 and fy1 <= y1
        if x0 > 0 and y0 > 0 and x1 < TILE and y1 < TILE:  # not clipped: side = 2x the face box at margin 0.5
            assert x1 - x0 == round(2 * max(fx1 - fx0, fy1 - fy0))
        assert it.meta["crop_xyxy"] == list(it.crop_xyxy) and it.meta["detector"] == "lbpcascade"
        stem = Path(it.meta["source_image"]).stem
        assert it.name.startswith(f"{stem}_face") and it.name.endswith(".png")
        assert it.image_path == tiles / it.meta["source_image"]
    # r0c5 holds two faces, numbered left to right
    two = sorted((it for it in faces if it.meta["source_image"] == "r0c5.png"), key=lambda it: it.name)
    assert [it.name for it in two] == ["r0c5_face0.png", "r0c5_face1.png"]
    assert two[0].meta["face_xyxy"][0] < two[1].meta["face_xyxy"][0]


def test_detection_uses_exif_orientation(tiles, cascade, tmp_path, danbooru):
    upright = read_image(tiles / "r1c0.png")
    stored = Image.fromarray(np.rot90(upright, 1).copy())  # stored sideways, EXIF 6 says "rotate to view"
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path / "sideways.png", exif=exif)
    cfg = FaceCropConfig(cascade=cascade)
    expected = detect_faces(upright, cfg)
    assert expected
    item = next(images.read(tmp_path / "sideways.png", labelmap=danbooru, options=ReadOptions(crop_faces=cascade)))
    assert item.meta["face_xyxy"] == list(expected[0])


@pytest.mark.parametrize("content", [
    None, b"", b"not xml",
    b'<?xml version="1.0"?><opencv_storage><a>1</a></opencv_storage>',  # OpenCV raises
    b'<?xml version="1.0"?><opencv_storage></opencv_storage>',  # OpenCV loads an empty() classifier
], ids=["missing", "empty-file", "garbage", "xml-not-cascade", "xml-no-stages"])
def test_bad_cascade_is_a_format_error(tmp_path, danbooru, content):
    path = tmp_path / "cascade.xml"
    if content is not None:
        path.write_bytes(content)
    _png(tmp_path / "src" / "a.png")
    with pytest.raises(FormatError) as info:
        list(images.read(tmp_path / "src", labelmap=danbooru, options=ReadOptions(crop_faces=path)))
    assert str(path) in str(info.value) and "cascade" in str(info.value)
    with pytest.raises(FormatError):
        load_cascade(path)
