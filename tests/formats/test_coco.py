"""COCO reader: labelme's real COCO export against its own VOC masks, the cocoapi RLE results file, and tiny
synthetic dataset dicts for overlap priority, per-image errors and whole-file errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from animeparse.errors import FormatError, LabelMapError
from animeparse.formats import coco
from animeparse.formats.base import ReadOptions
from animeparse.imageio import read_mask
from animeparse.labelmap import LabelMap

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")  # numpy 2 vs pycocotools
RESULTS = "coco-rle/instances_val2014_fakesegm100_results.json"


def voc_labelmap(shared_data: Path, *, person_behind: bool = True) -> LabelMap:
    """labelme's class_names.txt order, so ids equal the VOC PNG indices ('tv/monitor' -> 'tv_monitor': the
    label-map schema refuses '/'). ``person_behind``: person below bottle and chair, which the annotators drew on
    top of people (labelme paints in file order; we paint by priority)."""
    names = (shared_data / "labelme/data_dataset_voc/class_names.txt").read_text().split("\n")
    data = LabelMap.from_classes([n.strip().replace("/", "_") for n in names[1:] if n.strip()]).to_json()
    for c in data["classes"]:
        if person_behind and c["name"] == "person":
            c["priority"] = 1
    return LabelMap.from_json(data)


VOC_MAP = {"tv/monitor": "tv_monitor"}


def test_labelme_coco_export_matches_voc_masks(shared_data):
    src = shared_data / "labelme/data_dataset_coco"
    items = list(coco.read(src, labelmap=voc_labelmap(shared_data), options=ReadOptions(class_map=VOC_MAP)))
    assert [it.meta["coco_image_id"] for it in items] == [0, 1, 2]
    for it in items:
        assert it.error is None, it.error
        assert it.image_path == src / "JPEGImages" / it.name
        voc = read_mask(shared_data / "labelme/data_dataset_voc/SegmentationClass" / f"{Path(it.name).stem}.png")
        assert it.mask_hw.shape == voc.shape and it.mask_hw.dtype == np.uint8
        # labelme2coco drops __ignore__ shapes, so the VOC ignore pixels have nothing to compare with
        cared = voc != 255
        assert int(((it.mask_hw != voc) & cared).sum()) <= 1, it.name
        assert set(np.unique(it.mask_hw[cared])) == set(np.unique(voc[cared]))


def test_results_rle_decodes_with_exact_run_lengths(shared_data):
    entries = json.loads((shared_data / RESULTS).read_text())
    assert len(entries) == 734
    for e in entries:
        rle = e["segmentation"]
        h, w = rle["size"]
        mask = coco.rle_to_mask(rle, source=RESULTS)
        assert mask.shape == (h, w) and mask.dtype == bool
        assert int(mask.sum()) == int(coco_mask.area(rle))
        assert sum(coco.rle_run_lengths(rle, source=RESULTS)) == h * w


def test_results_list_finds_images_by_trailing_id(shared_data, tmp_path):
    entries = json.loads((shared_data / RESULTS).read_text())
    by_id = {e["image_id"]: e["segmentation"]["size"] for e in entries}
    chosen = sorted(by_id)[:2]
    for k, image_id in enumerate(chosen):
        h, w = by_id[image_id]
        name = f"COCO_val2014_{image_id:012d}.jpg" if k == 0 else f"{image_id}.png"
        Image.new("RGB", (w, h)).save(tmp_path / name)
    labelmap = LabelMap.from_classes(["thing"])
    options = ReadOptions(images_dir=tmp_path, class_map={str(e["category_id"]): "thing" for e in entries})
    items = list(coco.read(shared_data / RESULTS, labelmap=labelmap, options=options))
    assert len(items) == len(by_id)
    good = [it for it in items if it.error is None]
    assert [it.meta["coco_image_id"] for it in good] == chosen
    for it in good:
        expected = np.zeros(by_id[it.meta["coco_image_id"]], bool)
        for e in entries:
            if e["image_id"] == it.meta["coco_image_id"]:
                expected |= coco_mask.decode(e["segmentation"]).astype(bool)
        assert np.array_equal(it.mask_hw == 1, expected)
    missing = next(it for it in items if it.error is not None)
    assert "no image file" in str(missing.error) and RESULTS in str(missing.error)


def test_results_list_needs_images_dir(shared_data):
    with pytest.raises(FormatError, match="--images"):
        list(coco.read(shared_data / RESULTS, labelmap=LabelMap.from_classes(["thing"])))


# -- synthetic dataset dicts ----------------------------------------------------------------------------------
H, W = 6, 8
LABELMAP = ["skin", "hair", "eyes"]  # from_classes: later names win overlaps


def _image(folder: Path, name: str, size_hw: tuple[int, int] = (H, W)) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size_hw[1], size_hw[0]), (200, 150, 120)).save(folder / name)


def _eyes_rle() -> dict:
    eyes = np.zeros((H, W), np.uint8)
    eyes[2:4, 2:4] = 1
    rle = coco_mask.encode(np.asfortranarray(eyes))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _dataset(tmp_path: Path, images: list[dict], annotations: list[dict], categories: list[dict] | None = None,
             name: str = "instances_train.json") -> Path:
    cats = categories or [{"id": 1, "name": "skin"}, {"id": 2, "name": "hair"}, {"id": 3, "name": "eyes"}]
    path = tmp_path / name
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    return path


def _img(image_id: int, file_name: str, **kw) -> dict:
    return {"id": image_id, "file_name": file_name, "height": H, "width": W, **kw}


def _ann(ann_id: int, image_id: int, category_id: int, segmentation, **kw) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "segmentation": segmentation,
            "iscrowd": 0, **kw}


def test_priority_not_file_order_decides_overlaps(tmp_path):
    _image(tmp_path, "imgs/a.png")
    _image(tmp_path, "imgs/empty.png")
    anns = [
        _ann(1, 7, 3, _eyes_rle()),  # compressed RLE, first in the file but highest priority
        _ann(2, 7, 2, {"size": [H, W], "counts": [0, 4 * H, (W - 4) * H]}, iscrowd=1),  # columns 0..3
        _ann(3, 7, 1, [[0, 0, W - 1, 0, W - 1, H - 1, 0, H - 1]]),  # whole image, last in the file
    ]
    path = _dataset(tmp_path, [_img(9, "imgs/empty.png"), _img(7, "imgs/a.png")], anns)
    items = list(coco.read(path, labelmap=LabelMap.from_classes(LABELMAP)))
    assert [it.meta["coco_image_id"] for it in items] == [7, 9]
    expected = np.full((H, W), 1, np.uint8)
    expected[:, :4] = 2
    expected[2:4, 2:4] = 3
    assert items[0].error is None and np.array_equal(items[0].mask_hw, expected)
    assert items[0].name == "a.png" and items[0].mask_source == str(path)
    assert np.array_equal(items[1].mask_hw, np.zeros((H, W), np.uint8))  # no annotations: all background


BAD_CASES = [
    ("rle-sum", _img(1, "a.png"), {"size": [H, W], "counts": [3, 4]}, "sum to 7"),
    ("rle-size", _img(1, "a.png"), {"size": [W, H], "counts": [H * W]}, "RLE size"),
    ("polygon-2-points", _img(1, "a.png"), [[1, 1, 5, 5]], "polygon part 0"),
    ("polygon-nan", _img(1, "a.png"), [[1, 1, 5, float("nan"), 2, 4]], "finite"),
    ("rle-bad-char", _img(1, "a.png"), {"size": [H, W], "counts": "0~"}, "alphabet"),
    ("boxes-only", _img(1, "a.png"), [], "no segmentation"),
    ("outside-root", _img(1, "../a.png"), [[1, 1, 5, 1, 5, 5]], "outside"),
    ("missing-image", _img(1, "nope.png"), [[1, 1, 5, 1, 5, 5]], "not found"),
    ("size-mismatch", _img(1, "a.png", width=W + 1), [[1, 1, 5, 1, 5, 5]], f"is {W + 1}x{H} (WxH) but the file is"),
]


@pytest.mark.parametrize(("image", "segmentation", "message"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_image_yields_error_item_and_reading_goes_on(tmp_path, image, segmentation, message):
    root = tmp_path / "root"
    _image(root, "a.png")
    _image(root, "b.png")
    _image(tmp_path, "a.png")  # the target of ../a.png exists: it must be refused, not found
    path = _dataset(root, [image, _img(2, "b.png")], [_ann(1, 1, 1, segmentation), _ann(2, 2, 2, [[0, 0, 3, 0, 3, 3]])])
    bad, good = list(coco.read(path, labelmap=LabelMap.from_classes(LABELMAP)))
    assert isinstance(bad.error, FormatError) and bad.mask_hw is None
    assert message in str(bad.error) and str(path) in str(bad.error)
    assert good.error is None and good.mask_hw[1, 1] == 2


def test_unknown_category_names_are_listed_before_any_item(tmp_path):
    _image(tmp_path, "a.png")
    cats = [{"id": 1, "name": "skin"}, {"id": 2, "name": "tail"}, {"id": 3, "name": "halo"}, {"id": 4, "name": "x"}]
    path = _dataset(tmp_path, [_img(1, "a.png")], [_ann(1, 1, 2, [[0, 0, 3, 0, 3, 3]]), _ann(2, 1, 3, _eyes_rle())],
                    categories=cats)
    items = coco.read(path, labelmap=LabelMap.from_classes(LABELMAP))
    with pytest.raises(LabelMapError) as err:
        next(items)
    assert "'halo'" in str(err.value) and "'tail'" in str(err.value) and str(path) in str(err.value)
    assert "'x'" not in str(err.value)  # a category no annotation uses needs no mapping
    mapped = coco.read(path, labelmap=LabelMap.from_classes(LABELMAP),
                       options=ReadOptions(class_map={"tail": "hair", "halo": "ignore"}))
    mask = next(mapped).mask_hw
    assert mask[1, 1] == 2 and mask[2, 2] == 255


def test_category_ids_from_zero_go_through_names(shared_data, tmp_path):
    _image(tmp_path, "a.png")
    cats = [{"id": 0, "name": "eyes"}, {"id": 1, "name": "skin"}]
    path = _dataset(tmp_path, [_img(1, "a.png")], [_ann(1, 1, 0, [[0, 0, 3, 0, 3, 3]])], categories=cats)
    (item,) = coco.read(path, labelmap=LabelMap.from_classes(LABELMAP))
    assert item.mask_hw[1, 1] == 3  # "eyes" is id 3 in the target map, whatever the file's id


WHOLE_FILE_CASES = [
    ("not-json", b"images: [1, 2]", "not valid JSON"),
    ("not-utf8", b'{"images": "\xff"}', "UTF-8"),
    ("images-not-list", json.dumps({"images": {}, "annotations": [], "categories": []}).encode(), "'images' must"),
    ("ann-not-object", json.dumps({"images": [], "annotations": [3], "categories": []}).encode(),
     "annotations\\[0\\]"),
    ("scalar", b"42", "top level"),
    ("list-id", json.dumps({"images": [], "annotations": [{"image_id": [1], "category_id": 1}],
                            "categories": []}).encode(), "image_id must be an int"),
]


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in WHOLE_FILE_CASES],
                         ids=[c[0] for c in WHOLE_FILE_CASES])
def test_whole_file_problems_raise_naming_the_file(tmp_path, content, message):
    path = tmp_path / "instances.json"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as err:
        list(coco.read(path, labelmap=LabelMap.from_classes(LABELMAP)))
    assert str(path) in str(err.value)


def test_images_dir_lookup_by_path_then_basename(tmp_path):
    ann_dir, img_dir = tmp_path / "ann", tmp_path / "pictures"
    ann_dir.mkdir()
    _image(img_dir, "a.png")
    path = _dataset(ann_dir, [_img(1, "train2017/a.png")], [_ann(1, 1, 1, [[0, 0, 3, 0, 3, 3]])])
    (item,) = coco.read(path, labelmap=LabelMap.from_classes(LABELMAP), options=ReadOptions(images_dir=img_dir))
    assert item.error is None and item.image_path == img_dir / "a.png"
    (item,) = coco.read(path, labelmap=LabelMap.from_classes(LABELMAP))
    assert "--images" in str(item.error)


def test_detect(shared_data, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.json").write_bytes(b"\x00\xff{")
    (tmp_path / "numbers.json").write_text("[1, 2, 3]")
    two = tmp_path / "two"
    two.mkdir()
    for name in ("instances_train.json", "instances_val.json"):
        _dataset(two, [], [], name=name)
    assert coco.detect(shared_data / "labelme/data_dataset_coco/annotations.json") == 1.0
    assert coco.detect(shared_data / "labelme/data_dataset_coco") == 0.9
    assert 0 < coco.detect(shared_data / RESULTS) < 0.9
    assert 0 < coco.detect(two) < 0.9
    for not_coco in ("labelme/data_annotated/2011_000003.json", "labelme/data_annotated", "labelme/labels.txt",
                     "labelme/primitives.jpg"):
        assert coco.detect(shared_data / not_coco) == 0.0, not_coco
    for not_coco in ("empty", "garbage.json", "numbers.json", "missing.json"):
        assert coco.detect(tmp_path / not_coco) == 0.0, not_coco
    with pytest.raises(FormatError, match="instances_train.json, instances_val.json"):
        list(coco.read(two, labelmap=LabelMap.from_classes(LABELMAP)))
