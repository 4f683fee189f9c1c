"""CelebAMask-HQ part masks: layout detection, merge by label-map priority, sizes, names, orphans, part modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse import load_labelmap
from animeparse.errors import FormatError, LabelMapError
from animeparse.formats import celebamask, index_folder
from animeparse.formats.base import ReadOptions
from animeparse.imageio import read_binary_mask

SIZE = 64


def _region(rows: slice, cols: slice, size: int = SIZE) -> np.ndarray:
    out = np.zeros((size, size), bool)
    out[rows, cols] = True
    return out


# literal parts of image 0, chosen to overlap: hair over skin, the eye over both
SKIN = _region(slice(8, 56), slice(8, 56))
HAIR = _region(slice(0, 24), slice(0, SIZE))
L_EYE = _region(slice(20, 30), slice(10, 20))
SMALL_HAIR = _region(slice(0, 10), slice(4, 28), size=32)


def _save_part(path: Path, region: np.ndarray, style: str = "L255") -> None:
    """Write a binary part the ways exporters do: L 0/255, L 0/1, RGB with one channel set, RGBA."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if style == "L255":
        Image.fromarray(region.astype(np.uint8) * 255, mode="L").save(path)
    elif style == "L1":
        Image.fromarray(region.astype(np.uint8), mode="L").save(path)
    elif style == "RGB":
        rgb = np.zeros((*region.shape, 3), np.uint8)
        rgb[region, 2] = 255  # only the blue channel: "any nonzero channel" must still count it
        Image.fromarray(rgb, mode="RGB").save(path)
    elif style == "RGBA":
        rgba = np.zeros((*region.shape, 4), np.uint8)
        rgba[:, :, 3] = 255  # opaque everywhere, as exporters write it: alpha alone must not set a pixel
        rgba[region, :3] = 255
        Image.fromarray(rgba, mode="RGBA").save(path)
    elif style == "P":
        img = Image.fromarray(region.astype(np.uint8), mode="P")
        img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        img.save(path)
    elif style == "1":
        Image.fromarray(region).convert("1").save(path)
    else:
        raise ValueError(style)


def _save_image(path: Path, size: int = SIZE, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


def make_dataset(root: Path, *, image_dir: str = "CelebA-HQ-img", mask_dir: str = "CelebAMask-HQ-mask-anno",
                 numbered: bool = True) -> Path:
    """Images 0 (jpg), 1 (5-digit png), 2 (parts at 32x32), 3 (no parts); part 7 has no image."""
    images, masks = root / image_dir, root / mask_dir
    sub = (lambda k: masks / str(k)) if numbered else (lambda k: masks)
    _save_image(images / "0.jpg", seed=0)
    _save_image(images / "00001.png", seed=1)
    _save_image(images / "2.png", seed=2)
    _save_image(images / "3.png", seed=3)
    _save_part(sub(0) / "00000_skin.png", SKIN)
    _save_part(sub(0) / "00000_hair.png", HAIR)
    _save_part(sub(0) / "00000_l_eye.png", L_EYE)
    _save_part(sub(0) / "00001_skin.png", SKIN, "RGB")
    _save_part(sub(0) / "00001_hair.png", HAIR, "L1")
    _save_part(sub(1) / "00002_hair.png", SMALL_HAIR)
    _save_part(sub(1) / "00007_hair.png", HAIR)
    return root


def _expected(labelmap) -> np.ndarray:
    """Image 0's mask painted by the label map's priority (skin < hair < l_eye in both bundled maps)."""
    out = np.zeros((SIZE, SIZE), np.uint8)
    for name, region in sorted([("skin", SKIN), ("hair", HAIR), ("l_eye", L_EYE)],
                               key=lambda t: labelmap[t[0]].priority):
        out[region] = labelmap.id_of(name)
    return out


def _by_name(items):
    return {it.name: it for it in items}


def test_bundled_priorities_are_what_the_tests_assume(danbooru):
    # the expected masks below rely on these orders; if a map changes, the literal tests must change with it
    for lm in (danbooru, load_labelmap("celebamask-hq")):
        assert lm["skin"].priority < lm["hair"].priority < lm["l_eye"].priority


@pytest.mark.parametrize("labelmap_name,ids", [
    ("danbooru-parsing", {"skin": 1, "hair": 17, "l_eye": 4}),
    ("celebamask-hq", {"skin": 1, "hair": 13, "l_eye": 4}),
], ids=["danbooru-parsing", "celebamask-hq"])
@pytest.mark.parametrize("layout", [
    ("CelebA-HQ-img", "CelebAMask-HQ-mask-anno", True),
    ("images", "parts", False),
], ids=["celebamask-numbered", "images-parts-flat"])
def test_merge_by_label_map_priority(tmp_path, labelmap_name, ids, layout):
    labelmap = load_labelmap(labelmap_name)
    src = make_dataset(tmp_path, image_dir=layout[0], mask_dir=layout[1], numbered=layout[2])
    assert celebamask.detect(src) == pytest.approx(0.95)
    items = _by_name(celebamask.read(src, labelmap=labelmap))

    mask0 = items["0.jpg"].mask_hw
    assert items["0.jpg"].error is None and mask0.dtype == np.uint8 and mask0.shape == (SIZE, SIZE)
    assert np.array_equal(mask0, _expected(labelmap))
    # literal spot checks, so the test does not only agree with its own helper
    assert mask0[22, 15] == ids["l_eye"]  # eye over hair and skin (CelebAMask-HQ's g_mask.py would put hair here)
    assert mask0[10, 30] == ids["hair"]  # hair over skin
    assert mask0[40, 30] == ids["skin"]
    assert mask0[60, 2] == 0
    assert items["0.jpg"].meta["parts"] == ["hair", "l_eye", "skin"]

    # id 1: the RGB (blue only) skin and the 0/1 hair read as set pixels
    mask1 = items["00001.png"].mask_hw
    assert mask1[40, 30] == ids["skin"] and mask1[10, 30] == ids["hair"] and mask1[60, 2] == 0
    assert items["3.png"].error is None and items["3.png"].mask_hw is None  # no parts: unlabelled


def test_size_mismatch_refused_then_resized(tmp_path, danbooru):
    src = make_dataset(tmp_path)
    item = _by_name(celebamask.read(src, labelmap=danbooru))["2.png"]
    assert isinstance(item.error, FormatError) and item.mask_hw is None
    message = str(item.error)
    assert "32x32" in message and "64x64" in message and "--resize-masks nearest" in message

    item = _by_name(celebamask.read(src, labelmap=danbooru, options=ReadOptions(resize_masks="nearest")))["2.png"]
    assert item.error is None and item.mask_hw.shape == (SIZE, SIZE)
    small = np.where(SMALL_HAIR, 17, 0).astype(np.uint8)
    assert np.array_equal(item.mask_hw, np.kron(small, np.ones((2, 2), np.uint8)))  # 2x nearest = 2x2 blocks


def test_parts_of_different_sizes_resized_each(tmp_path, danbooru):
    src = make_dataset(tmp_path)
    _save_part(src / "CelebAMask-HQ-mask-anno" / "1" / "00002_skin.png", SKIN)  # 64x64 beside the 32x32 hair
    items = _by_name(celebamask.read(src, labelmap=danbooru))
    assert "32x32, 64x64" in str(items["2.png"].error)
    items = _by_name(celebamask.read(src, labelmap=danbooru, options=ReadOptions(resize_masks="nearest")))
    mask = items["2.png"].mask_hw
    hair = np.kron(SMALL_HAIR, np.ones((2, 2), bool))
    assert np.array_equal(mask == 17, hair) and np.array_equal(mask == 1, SKIN & ~hair)


def test_orphan_parts_and_stray_files_are_error_items(tmp_path, danbooru):
    src = make_dataset(tmp_path)
    stray = src / "CelebAMask-HQ-mask-anno" / "0" / "README.png"
    _save_part(stray, SKIN)
    items = list(celebamask.read(src, labelmap=danbooru))
    orphan = _by_name(items)["00007"]
    assert isinstance(orphan.error, FormatError)
    assert "00007_hair.png" in str(orphan.error) and "no image with id 7" in str(orphan.error)
    bad = _by_name(items)["README.png"]
    assert isinstance(bad.error, FormatError) and "<id>_<part>.png" in str(bad.error)
    # ids in order, then strays; nothing else fails
    assert [it.name for it in items] == ["0.jpg", "00001.png", "2.png", "3.png", "00007", "README.png"]
    assert [it.name for it in items if it.error] == ["2.png", "00007", "README.png"]


def test_unknown_part_names_fail_up_front_listing_them(tmp_path, danbooru):
    src = make_dataset(tmp_path)
    masks = src / "CelebAMask-HQ-mask-anno" / "0"
    _save_part(masks / "00000_tail.png", SKIN)
    _save_part(masks / "00001_tail.png", SKIN)
    _save_part(masks / "00001_Wings.png", SKIN)
    with pytest.raises(LabelMapError) as info:
        next(celebamask.read(src, labelmap=danbooru))  # before the first item: nothing half-imported
    assert "'tail' (2x)" in str(info.value) and "'Wings' (1x)" in str(info.value) and "--map" in str(info.value)

    # mapped names are used: tail -> hair, Wings -> ignore (255 wins over every class)
    opts = ReadOptions(class_map={"tail": "hair", "Wings": "ignore"})
    mask1 = _by_name(celebamask.read(src, labelmap=danbooru, options=opts))["00001.png"].mask_hw
    assert mask1[40, 30] == 255 and mask1[10, 2] == 17


def test_duplicate_image_ids_are_an_error_item(tmp_path, danbooru):
    src = make_dataset(tmp_path)
    _save_image(src / "CelebA-HQ-img" / "00000.png")
    item = next(iter(celebamask.read(src, labelmap=danbooru)))
    assert isinstance(item.error, FormatError) and "0.jpg" in str(item.error) and "00000.png" in str(item.error)


@pytest.mark.parametrize("style", ["L255", "L1", "RGB", "RGBA", "P", "1"])
def test_read_part_mask_modes(tmp_path, style):
    path = tmp_path / "00000_hair.png"
    _save_part(path, L_EYE, style)
    assert np.array_equal(read_binary_mask(path), L_EYE)


def test_detect(tmp_path):
    assert celebamask.detect(tmp_path / "missing") == 0.0
    assert celebamask.detect(tmp_path) == 0.0
    # images/ + masks/ holding part files: both readers see a layout, this one must win
    src = make_dataset(tmp_path / "parts_in_masks", image_dir="images", mask_dir="masks", numbered=False)
    assert celebamask.detect(src) > index_folder.detect(src) > 0
    # images/ + masks/ with index masks (0.png): not CelebAMask
    plain = tmp_path / "plain"
    _save_image(plain / "images" / "0.png")
    _save_part(plain / "masks" / "0.png", SKIN)
    assert celebamask.detect(plain) == 0.0
    # parts without an image folder: a whole-source error on read
    lonely = tmp_path / "lonely"
    _save_part(lonely / "parts" / "00000_hair.png", HAIR)
    assert celebamask.detect(lonely) == 0.0
    with pytest.raises(FormatError, match="no image folder"):
        list(celebamask.read(lonely, labelmap=load_labelmap("danbooru-parsing")))


def test_images_dir_option(tmp_path, danbooru):
    _save_part(tmp_path / "anno" / "00000_hair.png", HAIR)
    _save_image(tmp_path / "photos" / "0.png")
    items = list(celebamask.read(tmp_path / "anno", labelmap=danbooru,
                                 options=ReadOptions(images_dir=tmp_path / "photos")))
    assert [it.name for it in items] == ["0.png"] and (items[0].mask_hw == 17).sum() == HAIR.sum()
