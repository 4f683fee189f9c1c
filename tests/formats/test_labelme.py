"""LabelMe reader: labelme's own examples against its VOC masks and the 5.7 primitives file, plus tiny synthetic
files for group_id, ignore, embedded imageData, per-file errors and detection."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse.errors import FormatError, LabelMapError
from animeparse.formats import labelme
from animeparse.formats.base import ReadOptions
from animeparse.imageio import read_mask
from animeparse.labelmap import LabelMap

VOC_MAP = {"tv/monitor": "tv_monitor"}  # the label-map schema refuses '/' in names


def voc_labelmap(shared_data: Path, *, person_behind: bool = True) -> LabelMap:
    """Ids in class_names.txt order, so they equal the VOC PNG indices. labels.txt has the same classes after
    ``__ignore__`` (-> 255) and ``_background_`` (-> 0). ``person_behind``: see the priority test below."""
    labels = [n.strip() for n in (shared_data / "labelme/labels.txt").read_text().split("\n") if n.strip()]
    names = [n.strip() for n in (shared_data / "labelme/data_dataset_voc/class_names.txt").read_text().split("\n")]
    names = [n for n in names if n]
    assert labels[:2] == ["__ignore__", "_background_"] and names == labels[1:]
    data = LabelMap.from_classes([n.replace("/", "_") for n in names[1:]]).to_json()
    for c in data["classes"]:
        if person_behind and c["name"] == "person":
            c["priority"] = 1
    return LabelMap.from_json(data)


def _voc(shared_data: Path, name: str) -> np.ndarray:
    return read_mask(shared_data / "labelme/data_dataset_voc/SegmentationClass" / f"{Path(name).stem}.png")


def test_annotated_examples_match_labelmes_voc_masks(shared_data):
    src = shared_data / "labelme/data_annotated"
    items = list(labelme.read(src, labelmap=voc_labelmap(shared_data), options=ReadOptions(class_map=VOC_MAP)))
    assert [it.name for it in items] == ["2011_000003.jpg", "2011_000006.jpg", "2011_000025.jpg"]
    for it in items:
        assert it.error is None, it.error
        assert it.image_path == src / it.name and it.mask_source == str(src / f"{Path(it.name).stem}.json")
        voc = _voc(shared_data, it.name)
        assert it.mask_hw.shape == voc.shape and it.mask_hw.dtype == np.uint8
        assert int((it.mask_hw != voc).sum()) <= 1, it.name
    assert (items[0].mask_hw == 255).any()  # __ignore__ polygon


def test_priority_not_file_order_decides_overlaps_on_real_data(shared_data):
    """With from_classes priorities person (15) beats bottle (5) and chair (9); labelme painted bottle and chair
    after the people who hold / sit on them. Every difference must be exactly that, nothing else."""
    src = shared_data / "labelme/data_annotated"
    labelmap = voc_labelmap(shared_data, person_behind=False)
    diffs: Counter[tuple[int, int]] = Counter()
    for it in labelme.read(src, labelmap=labelmap, options=ReadOptions(class_map=VOC_MAP)):
        voc = _voc(shared_data, it.name)
        differ = it.mask_hw != voc
        diffs.update(zip(it.mask_hw[differ].tolist(), voc[differ].tolist(), strict=True))
    person, bottle, chair = (labelmap.id_of(n) for n in ("person", "bottle", "chair"))
    assert diffs[(person, bottle)] > 10 and diffs[(person, chair)] > 50
    assert sum(n for pair, n in diffs.items() if pair not in {(person, bottle), (person, chair)}) <= 1


def test_primitives_every_shape_type(shared_data, caplog):
    labelmap = LabelMap.from_classes(["rectangle", "circle", "polygon", "octagon"])
    with caplog.at_level(logging.WARNING, logger="animeparse.formats.labelme"):
        (item,) = labelme.read(shared_data / "labelme/primitives.json", labelmap=labelmap)
    assert item.error is None and item.mask_hw.shape == (450, 560)
    assert item.meta["skipped_shapes"] == {"line": 1, "point": 1, "linestrip": 1}
    assert "skipped shapes" in caplog.text
    assert set(np.unique(item.mask_hw)) == {0, 1, 2, 3, 4}
    shapes = json.loads((shared_data / "labelme/primitives.json").read_text())["shapes"]
    octagon = next(s for s in shapes if s["shape_type"] == "mask")
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(octagon["mask"])))) != 0
    # labelme's placement: corners truncated to int, box inclusive (417..516 x 305..404 for a 100x100 PNG)
    assert np.array_equal(item.mask_hw[305:405, 417:517] == 4, png)
    assert int((item.mask_hw == 4).sum()) == int(png.sum())
    assert item.mask_hw[85:134, 33:132].min() == 1  # the first rectangle's inside


# -- synthetic files ------------------------------------------------------------------------------------------
H, W = 6, 8
LABELMAP = ["skin", "hair", "eyes"]  # from_classes: later names win overlaps


def _png_bytes(size_hw: tuple[int, int] = (H, W)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size_hw[1], size_hw[0]), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _poly(label: str, points, **kw) -> dict:
    return {"label": label, "points": points, "group_id": None, "shape_type": "polygon", "flags": {}, **kw}


def _write(folder: Path, stem: str, shapes: list[dict], *, image: str = "default", image_data: bytes | None = None,
           size_hw: tuple[int, int] = (H, W)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    image_path = f"{stem}.png" if image == "default" else image
    if image == "default":
        (folder / image_path).write_bytes(_png_bytes())
    doc = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
           "imageData": base64.b64encode(image_data).decode() if image_data else None,
           "imageHeight": size_hw[0], "imageWidth": size_hw[1]}
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(doc))
    return path


def test_group_id_unions_and_ignore_wins(tmp_path):
    shapes = [
        _poly("__ignore__", [[0, 4], [1, 4], [1, 5], [0, 5]]),
        _poly("eyes", [[0, 0], [7, 0], [7, 5], [0, 5]]),  # highest class priority, still under the ignore
        _poly("hair", [[0, 0], [2, 0], [2, 2]], group_id=1),
        _poly("hair", [[5, 0], [7, 0], [7, 2]], group_id=1),
        _poly("skin", [[0, 0], [7, 0], [7, 5], [0, 5]]),
    ]
    (item,) = labelme.read(_write(tmp_path, "a", shapes), labelmap=LabelMap.from_classes(["skin", "hair", "eyes"]))
    assert item.error is None and item.meta["skipped_shapes"] == {}
    expected = np.full((H, W), 3, np.uint8)
    expected[4:6, 0:2] = 255
    assert np.array_equal(item.mask_hw, expected)
    (item,) = labelme.read(tmp_path / "a.json", labelmap=LabelMap.from_classes(["eyes", "skin", "hair"]))
    hair = item.mask_hw == 3
    assert hair[0, 0] and hair[0, 7] and hair[1, 2] and not hair[0, 4]  # both parts of group 1, nothing between


def test_embedded_image_data_is_extracted_to_a_temp_folder(tmp_path):
    src = tmp_path / "src"
    data = _png_bytes()
    _write(src / "sub", "a", [_poly("skin", [[0, 0], [3, 0], [3, 3]])], image="gone/a.png", image_data=data)
    before = sorted(src.rglob("*"))
    (item,) = labelme.read(src, labelmap=LabelMap.from_classes(LABELMAP))
    assert item.error is None and item.meta["image_extracted"] is True
    assert item.image_path.read_bytes() == data and item.image_path.suffix == ".png"
    assert item.image_path.parent.parent.name.startswith("animeparse-labelme-")  # .../<tmp>/sub/a.png
    assert not item.image_path.is_relative_to(src) and sorted(src.rglob("*")) == before
    assert item.name == "a.png" and item.mask_hw[1, 2] == 1


BAD_CASES = [
    ("polygon-2-points", [_poly("skin", [[0, 0], [3, 3]])], {}, "at least 3 points"),
    ("polygon-nan", [_poly("skin", [[0, 0], [3, float("nan")], [3, 3]])], {}, "finite"),
    ("circle-3-points", [_poly("skin", [[0, 0], [3, 3], [1, 1]], shape_type="circle")], {}, "needs 2 points"),
    ("unknown-type", [_poly("skin", [[0, 0], [3, 3]], shape_type="cuboid")], {}, "unknown shape_type"),
    ("outside-root", [_poly("skin", [[0, 0], [3, 0], [3, 3]])], {"image": "../b.png"}, "outside"),
    ("missing-image", [_poly("skin", [[0, 0], [3, 0], [3, 3]])], {"image": "nope.png"}, "not found"),
    ("size-mismatch", [], {"size_hw": (H, W + 2)}, f"is {W + 2}x{H} (WxH) but the file is {W}x{H}"),
    ("mask-wrong-size", [_poly("skin", [[1, 1], [4, 4]], shape_type="mask",
                               mask=base64.b64encode(_png_bytes((3, 3))).decode())], {}, "needs 4x4"),
    ("mask-not-png", [_poly("skin", [[1, 1], [4, 4]], shape_type="mask", mask="bm90IGEgcG5n")], {}, "base64 PNG"),
]


@pytest.mark.parametrize(("shapes", "kw", "message"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_file_yields_error_item_and_reading_goes_on(tmp_path, shapes, kw, message):
    src = tmp_path / "src"
    (tmp_path / "b.png").write_bytes(_png_bytes())  # ../b.png exists: it must be refused, not found
    bad = _write(src, "a", shapes, **kw)
    _write(src, "b", [_poly("hair", [[0, 0], [3, 0], [3, 3]])])
    first, second = labelme.read(src, labelmap=LabelMap.from_classes(LABELMAP))
    assert isinstance(first.error, FormatError) and first.mask_hw is None
    assert message in str(first.error) and str(bad) in str(first.error)
    assert second.error is None and second.mask_hw[1, 2] == 2


def test_mask_shape_overhanging_the_image_is_clipped(tmp_path):
    part = np.ones((4, 4), np.uint8) * 255
    buf = io.BytesIO()
    Image.fromarray(part, mode="L").save(buf, format="PNG")
    shape = _poly("eyes", [[6.7, 4.2], [9.9, 7.5]], shape_type="mask", mask=base64.b64encode(buf.getvalue()).decode())
    (item,) = labelme.read(_write(tmp_path, "a", [shape]), labelmap=LabelMap.from_classes(LABELMAP))
    assert item.error is None
    assert np.array_equal(np.argwhere(item.mask_hw == 3), [[4, 6], [4, 7], [5, 6], [5, 7]])


def test_unknown_labels_are_listed_before_any_item(tmp_path):
    _write(tmp_path, "a", [_poly("tail", [[0, 0], [3, 0], [3, 3]]), _poly("tail", [[0, 0], [3, 0], [3, 3]])])
    _write(tmp_path, "b", [_poly("halo", [[0, 0], [3, 0], [3, 3]]),
                           {"label": "whisker", "points": [[0, 0], [3, 3]], "shape_type": "line"}])
    items = labelme.read(tmp_path, labelmap=LabelMap.from_classes(LABELMAP))
    with pytest.raises(LabelMapError) as err:
        next(items)
    assert "'tail' (2x)" in str(err.value) and "'halo' (1x)" in str(err.value)
    assert "whisker" not in str(err.value)  # lines are skipped, their labels need no class


def test_folder_bad_json_is_an_error_item_single_file_raises(tmp_path):
    _write(tmp_path, "a", [_poly("skin", [[0, 0], [3, 0], [3, 3]])])
    (tmp_path / "b.json").write_text("{not json")
    (tmp_path / "c.json").write_text(json.dumps({"categories": []}))  # some other JSON: skipped
    items = list(labelme.read(tmp_path, labelmap=LabelMap.from_classes(LABELMAP)))
    assert [it.error is None for it in items] == [True, False]
    assert "not valid JSON" in str(items[1].error) and "b.json" in str(items[1].error)
    for name, message in (("b.json", "not valid JSON"), ("c.json", "not a LabelMe file")):
        with pytest.raises(FormatError, match=message):
            list(labelme.read(tmp_path / name, labelmap=LabelMap.from_classes(LABELMAP)))


def test_detect(shared_data, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.json").write_bytes(b"\x00\xff{")
    (tmp_path / "list.json").write_text('[{"shapes": []}]')
    assert labelme.detect(shared_data / "labelme/primitives.json") == 1.0
    assert labelme.detect(shared_data / "labelme/data_annotated/2011_000003.json") == 1.0
    assert labelme.detect(shared_data / "labelme/data_annotated") == 0.9
    for not_labelme in ("labelme/data_dataset_coco", "labelme/data_dataset_coco/annotations.json",
                        "labelme/labels.txt", "labelme/primitives.jpg", "coco-rle"):
        assert labelme.detect(shared_data / not_labelme) == 0.0, not_labelme
    for not_labelme in ("empty", "garbage.json", "list.json", "missing"):
        assert labelme.detect(tmp_path / not_labelme) == 0.0, not_labelme
