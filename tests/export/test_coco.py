"""COCO export checked with pycocotools itself: every annotation's annToMask, painted by category, gives the stored
mask back pixel for pixel (literal holes, multi-part classes, single pixels, all 19 ids, generated faces)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from animeparse import Dataset, MaskInput, load_labelmap
from animeparse.demo.synth import generate_face
from animeparse.export import ExportConfig, export

H, W = 48, 64


def literal_masks() -> list[np.ndarray]:
    """HxW uint8 masks drawn by hand: holes with background and with other classes inside, nested islands,
    classes in several parts, single pixels, a diagonal 1-pixel line, ignore, and every id 0..18 overall."""
    a = np.zeros((H, W), np.uint8)
    a[4:30, 4:30] = 1          # skin with two holes:
    a[8:12, 8:12] = 0          #   one of background
    a[16:20, 16:22] = 4        #   one filled by l_eye
    a[2:6, 40:60] = 17         # hair in two parts
    a[40:46, 40:60] = 17
    a[20:40, 34:56] = 16       # cloth ring ...
    a[24:36, 38:52] = 18       # ... around hat, which has a hole holding a cloth island
    a[28:32, 43:47] = 16
    a[45, 2] = 9               # ear_r: a single pixel
    for k in range(8):         # neck_l: a diagonal 1-pixel line
        a[32 + k, 2 + k] = 15
    b = np.zeros((H, W), np.uint8)
    for k, class_id in enumerate([2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14]):
        b[:, 3 + 5 * k: 6 + 5 * k] = class_id  # stripes: one part each
    b[0:3, 0:10] = 255                         # ignore: never exported
    c = np.zeros((H, W), np.uint8)             # all background: an image without annotations
    return [a, b, c]


def build_store(root: Path, *, faces: int = 3, splits: tuple[str, ...] = ("train",)) -> Path:
    """A store with the literal masks and ``faces`` generated faces (96x96), splits assigned round-robin."""
    ds = Dataset.create(root / "store", labelmap=load_labelmap("danbooru-parsing"))
    rng = np.random.default_rng(0)
    pairs = [(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), m) for m in literal_masks()]
    pairs += [generate_face(5, i, size=96) for i in range(faces)]
    for i, (image, mask) in enumerate(pairs):
        path = root / f"s{i}.png"
        Image.fromarray(image).save(path)
        ds.add_sample(path, masks={"gt": MaskInput(mask)}, split=splits[i % len(splits)])
    ds.close()
    return root / "store"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("coco"))


def _export(store: Path, out: Path, **options) -> tuple[dict, COCO]:
    with Dataset.open(store) as ds:
        export(ds, out, ExportConfig(format="coco", **{"workers": 0, **options}))
    path = out / "instances_train.json"
    return json.loads(path.read_text()), COCO(str(path))


def _stored(store: Path) -> dict[str, np.ndarray]:
    with Dataset.open(store) as ds:
        return {s.id: ds.read_mask(s.id) for s in ds.samples()}


def _paint(coco: COCO, image: dict) -> np.ndarray:
    """annToMask of every annotation painted by category; asserts the annotations do not overlap."""
    painted = np.zeros((image["height"], image["width"]), np.int32)
    covered = np.zeros_like(painted)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
        m = coco.annToMask(ann).astype(bool)
        covered += m
        painted[m] = ann["category_id"]
    assert covered.max() <= 1, "annotations of one image overlap"
    return painted


@pytest.mark.parametrize("workers", [0, 2])
def test_anntomask_painted_by_category_equals_store(tmp_path, store, workers):
    data, coco = _export(store, tmp_path / "out", workers=workers, chunk=2)
    stored = _stored(store)
    assert len(data["images"]) == len(stored) == 6
    for image in data["images"]:
        expected = stored[image["sample_id"]]
        assert np.array_equal(_paint(coco, image), np.where(expected == 255, 0, expected)), image["file_name"]
    for ann in data["annotations"]:
        assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
        rle = coco.annToRLE(ann)
        assert ann["area"] == int(coco_mask.area(rle)) == int(coco.annToMask(ann).sum())
        assert ann["bbox"] == coco_mask.toBbox(rle).tolist()
    # one annotation per (image, class present), 255 and background never
    per_image = {}
    for ann in data["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann["category_id"])
    for image in data["images"]:
        present = sorted(set(np.unique(stored[image["sample_id"]]).tolist()) - {0, 255})
        assert per_image.get(image["id"], []) == present


def test_all_ids_categories_and_deterministic_ids(tmp_path, store):
    data, _ = _export(store, tmp_path / "out")
    lm = load_labelmap("danbooru-parsing")
    assert [c["id"] for c in data["categories"]] == list(range(1, 19))
    assert [(c["name"], c["supercategory"]) for c in data["categories"]] == \
        [(c.name, c.supercategory) for c in lm.classes if c.id]
    assert {a["category_id"] for a in data["annotations"]} == set(range(1, 19))  # every id is used
    assert "info" not in data
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))
    assert [i["id"] for i in data["images"]] == list(range(1, 7))
    assert [i["sample_id"] for i in data["images"]] == sorted(i["sample_id"] for i in data["images"])
    assert all(i["file_name"].startswith("images/s") and (tmp_path / "out" / i["file_name"]).is_file()
               for i in data["images"])


def test_output_is_byte_identical_across_runs_and_workers(tmp_path, store):
    _export(store, tmp_path / "a", workers=0)
    _export(store, tmp_path / "b", workers=2, chunk=1)
    a, b = (tmp_path / "a" / "instances_train.json"), (tmp_path / "b" / "instances_train.json")
    assert a.read_bytes() == b.read_bytes()
    data, _ = _export(store, tmp_path / "c", info=True)
    assert data["info"]["date_created"].endswith("Z") and data["info"]["version"] == "danbooru-parsing v2"


def test_include_background(tmp_path, store):
    data, coco = _export(store, tmp_path / "out", include_background=True)
    assert data["categories"][0] == {"id": 0, "name": "background", "supercategory": "background"}
    stored = _stored(store)
    for image in data["images"]:
        expected = stored[image["sample_id"]]
        painted = np.full(expected.shape, -1)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
            painted[coco.annToMask(ann).astype(bool)] = ann["category_id"]
        # every pixel is covered once, by its class; only ignore stays uncovered
        assert np.array_equal(painted, np.where(expected == 255, -1, expected.astype(int)))


def test_instances_are_connected_components(tmp_path, store):
    data, coco = _export(store, tmp_path / "out", instances=True)
    stored = _stored(store)
    for image in data["images"]:
        mask = stored[image["sample_id"]]
        assert np.array_equal(_paint(coco, image), np.where(mask == 255, 0, mask))
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        for class_id in set(np.unique(mask).tolist()) - {0, 255}:
            n, _ = cv2.connectedComponents((mask == class_id).astype(np.uint8), connectivity=8)
            assert sum(a["category_id"] == class_id for a in anns) == n - 1
    literal = next(i["id"] for i in data["images"] if 15 in stored[i["sample_id"]])  # two hair parts, cloth island
    first = coco.loadAnns(coco.getAnnIds(imgIds=[literal]))
    assert sum(a["category_id"] == 17 for a in first) == 2 and sum(a["category_id"] == 16 for a in first) == 2


def test_polygons_keep_holes_as_rle(tmp_path, store, caplog):
    data, coco = _export(store, tmp_path / "out", polygons=True)
    assert "polygons are lossy" in caplog.text
    stored = _stored(store)
    kinds = {}
    for ann in data["annotations"]:
        image = coco.imgs[ann["image_id"]]
        region = stored[image["sample_id"]] == ann["category_id"]
        got = coco.annToMask(ann).astype(bool)
        kinds[(image["file_name"], ann["category_id"])] = type(ann["segmentation"]).__name__
        if isinstance(ann["segmentation"], dict):
            assert np.array_equal(got, region)  # RLE: exact
        else:  # a polygon loses at most the boundary, never the interior
            assert (got & ~region).sum() <= (region ^ cv2.erode(region.astype(np.uint8), None).astype(bool)).sum()
            assert ann["area"] == int(region.sum())
    literal = next(i["file_name"] for i in data["images"] if (i["file_name"], 15) in kinds)
    assert kinds[(literal, 1)] == "dict"      # skin has holes: RLE
    assert kinds[(literal, 18)] == "dict"     # hat has a hole with an island
    assert kinds[(literal, 9)] == "dict"      # a single pixel: no polygon
    assert kinds[(literal, 17)] == "list"     # hair: two plain parts ...
    hair = next(a for a in data["annotations"] if a["category_id"] == 17 and coco.imgs[a["image_id"]]["file_name"]
                == literal)
    assert len(hair["segmentation"]) == 2     # ... two polygons
