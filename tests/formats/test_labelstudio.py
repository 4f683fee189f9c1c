"""Label Studio JSON exports: the real polygon export, synthetic brush exports, image lookup, annotation choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse.errors import FormatError, LabelMapError
from animeparse.formats import labelstudio
from animeparse.formats.base import ReadOptions
from animeparse.formats.lsrle import encode_rle
from animeparse.labelmap import LabelMap
from animeparse.rasterize import polygon_to_mask

W, H = 30, 20  # synthetic image size (width x height)
LABELS = LabelMap.from_classes(["skin", "hair"])  # 0 background, 1 skin, 2 hair (hair wins overlaps)


def write_image(folder: Path, name: str, size_wh: tuple[int, int] = (W, H)) -> Path:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size_wh, (40, 80, 120)).save(folder / name)
    return folder / name


def polygon(label: str, points: list[list[float]], rid: str = "p1", size_wh=(W, H)) -> dict:
    return {"id": rid, "type": "polygonlabels", "from_name": "label", "to_name": "image",
            "original_width": size_wh[0], "original_height": size_wh[1], "image_rotation": 0,
            "value": {"points": points, "polygonlabels": [label]}}


def brush(label: str, alpha: np.ndarray, rid: str = "b1") -> dict:
    return {"id": rid, "type": "brushlabels", "from_name": "tag", "to_name": "image",
            "original_width": alpha.shape[1], "original_height": alpha.shape[0], "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_rle(alpha), "brushlabels": [label]}}


def annotation(results: list[dict], aid: int = 1, updated_at: str = "2024-05-01T10:00:00.000000Z",
               cancelled: bool = False) -> dict:
    return {"id": aid, "completed_by": 7, "result": results, "was_cancelled": cancelled,
            "created_at": updated_at, "updated_at": updated_at}


def task(tid: int, image: str, annotations: list[dict], predictions: list[dict] | None = None, **extra) -> dict:
    return {"id": tid, "data": {"image": image}, "annotations": annotations, "predictions": predictions or [],
            **extra}


def write_export(folder: Path, tasks: list[dict] | dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def read_all(src: Path, labelmap: LabelMap = LABELS, **options) -> list:
    return list(labelstudio.read(src, labelmap=labelmap, options=ReadOptions(**options)))


LEFT = [[0, 0], [40, 0], [40, 100], [0, 100]]  # percent: the left 40 % of the image
RIGHT = [[60, 0], [100, 0], [100, 100], [60, 100]]


# --- the real export ---------------------------------------------------------------------------------------------
def test_real_polygon_export(shared_data, tmp_path):
    src = shared_data / "labelstudio-polygon" / "data_polygons.json"
    assert labelstudio.detect(src) == 0.95
    # data.image is "/image2"; the upload is e97d4735-000000000025.jpg, found without its prefix
    write_image(tmp_path, "000000000025.jpg", (640, 426))
    labelmap = LabelMap.from_classes(["Airplane", "Car"])
    [item] = read_all(src, labelmap, images_dir=tmp_path)
    assert item.error is None and item.image_path == tmp_path / "000000000025.jpg"
    assert item.mask_hw.shape == (426, 640) and item.mask_hw.dtype == np.uint8
    result = json.loads(src.read_text())[0]["annotations"][0]["result"][0]
    expected = polygon_to_mask(np.asarray(result["value"]["points"]) / 100 * [640, 426], (426, 640))
    airplane = labelmap.id_of("Airplane")
    np.testing.assert_array_equal(item.mask_hw == airplane, expected)
    assert expected.sum() > 10_000 and set(np.unique(item.mask_hw)) == {0, airplane}
    assert item.meta["ls_task_id"] == 68501 and item.meta["ls_annotation_id"] == 211797
    assert item.meta["annotator"] == 1 and item.meta["from"] == "annotation"


def test_real_export_without_images_says_how_to_fix(shared_data):
    src = shared_data / "labelstudio-polygon" / "data_polygons.json"
    [item] = read_all(src, LabelMap.from_classes(["Airplane", "Car"]))
    message = str(item.error)
    assert isinstance(item.error, FormatError) and item.mask_hw is None
    for part in ("data_polygons.json", "task 68501", "000000000025.jpg", "--images"):
        assert part in message


# --- brush ---------------------------------------------------------------------------------------------------------
def soft_disc() -> np.ndarray:
    """H x W alpha with an anti-aliased edge: 255 inside, ramps through 1..254, 0 outside."""
    y, x = np.mgrid[:H, :W]
    return np.clip((7 - np.hypot(x - 14, y - 9)) * 60 + 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("threshold", [1, 128, 200, 255])
def test_brush_alpha_threshold(tmp_path, threshold):
    alpha = soft_disc()
    assert ((alpha > 0) & (alpha < 255)).sum() > 0  # the fixture really has an anti-aliased edge
    write_image(tmp_path, "a.png")
    src = write_export(tmp_path, [task(1, "/data/upload/1/a.png", [annotation([brush("hair", alpha)])])])
    [item] = read_all(src, alpha_threshold=threshold)
    np.testing.assert_array_equal(item.mask_hw, np.where(alpha >= threshold, 2, 0))


def test_brush_threshold_changes_the_painted_area(tmp_path):
    write_image(tmp_path, "a.png")
    src = write_export(tmp_path, [task(1, "a.png", [annotation([brush("hair", soft_disc())])])])
    low, = read_all(src, alpha_threshold=20)
    high, = read_all(src, alpha_threshold=240)
    assert (low.mask_hw == 2).sum() > (high.mask_hw == 2).sum() > 0


def test_truncated_brush_rle_is_an_error_item_naming_the_file(tmp_path):
    result = brush("hair", soft_disc())
    result["value"]["rle"] = result["value"]["rle"][:20]
    write_image(tmp_path, "a.png")
    src = write_export(tmp_path, [task(5, "a.png", [annotation([result])])])
    [item] = read_all(src)
    assert isinstance(item.error, FormatError) and item.mask_hw is None
    assert "truncated" in str(item.error) and "export.json" in str(item.error) and "task 5" in str(item.error)


def test_overlaps_follow_label_map_priority_not_result_order(tmp_path):
    write_image(tmp_path, "a.png")
    full = [[0, 0], [100, 0], [100, 100], [0, 100]]
    masks = []
    for results in ([polygon("hair", LEFT, "h"), polygon("skin", full, "s")],
                    [polygon("skin", full, "s"), polygon("hair", LEFT, "h")]):
        src = write_export(tmp_path, [task(1, "a.png", [annotation(results)])])
        masks.append(read_all(src)[0].mask_hw)
    np.testing.assert_array_equal(masks[0], masks[1])
    assert masks[0][10, 2] == 2 and masks[0][10, 25] == 1  # hair (higher priority) stays on top of skin


# --- finding the image ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "on_disk", "found"), [
    ("/data/upload/3/b5f5ca91-0.jpg", ["0.jpg"], "0.jpg"),
    ("/data/upload/3/b5f5ca91-0.jpg", ["b5f5ca91-0.jpg", "0.jpg"], "b5f5ca91-0.jpg"),
    ("http://host/static/x.jpg?token=1", ["x.jpg"], "x.jpg"),
    ("s3://bucket/dir/y%20z.jpg", ["y z.jpg"], "y z.jpg"),
    ("/data/local-files/?d=folder/0.jpg", ["folder/0.jpg"], "folder/0.jpg"),
    ("/data/local-files/?d=folder%5C0.jpg", ["folder/0.jpg"], "folder/0.jpg"),
], ids=["upload-prefix-stripped", "prefixed-name-first", "http", "s3-quoted", "local-files", "local-files-windows"])
def test_image_lookup(tmp_path, url, on_disk, found):
    images = tmp_path / "images"
    for name in on_disk:
        write_image(images, name)
    src = write_export(tmp_path / "export", [task(1, url, [annotation([polygon("skin", LEFT)])])])
    [item] = read_all(src, images_dir=images)
    assert item.error is None and item.image_path == images / found and item.meta["image_url"] == url


def test_local_files_path_leaving_the_images_dir_is_refused(tmp_path):
    write_image(tmp_path / "secret", "0.jpg")  # exists, but outside --images
    src = write_export(tmp_path / "export", [task(1, "/data/local-files/?d=../secret/0.jpg",
                                                  [annotation([polygon("skin", LEFT)])])])
    [item] = read_all(src, images_dir=tmp_path / "images")
    assert isinstance(item.error, FormatError) and "outside" in str(item.error) and "task 1" in str(item.error)


def test_missing_image_names_task_file_and_fix(tmp_path):
    src = write_export(tmp_path, [task(42, "/data/upload/1/0a1b2c3d-cat.png", [annotation([polygon("skin", LEFT)])])])
    [item] = read_all(src, images_dir=tmp_path / "nowhere")
    message = str(item.error)
    for part in ("export.json", "task 42", "0a1b2c3d-cat.png", "cat.png", "--images DIR"):
        assert part in message


def test_image_found_beside_the_export_and_by_other_key(tmp_path):
    write_image(tmp_path, "pic.webp")
    t = {"id": 1, "data": {"img_url": "https://x/pic.webp", "caption": "hi"},
         "annotations": [annotation([polygon("skin", LEFT)])]}
    [item] = read_all(write_export(tmp_path, t))  # a single task object, image key not "image"
    assert item.error is None and item.image_path == tmp_path / "pic.webp"


# --- labels, annotations -------------------------------------------------------------------------------------------
def test_unknown_labels_fail_the_whole_file_listing_them(tmp_path):
    write_image(tmp_path, "a.png")
    src = write_export(tmp_path, [
        task(1, "a.png", [annotation([polygon("skin", LEFT), polygon("Tail", RIGHT, "p2")])]),
        task(2, "a.png", [annotation([polygon("Wings", LEFT), polygon("Tail", RIGHT, "p2")])]),
    ])
    items = labelstudio.read(src, labelmap=LABELS)
    with pytest.raises(LabelMapError) as err:
        next(items)
    assert "'Tail' (2x)" in str(err.value) and "'Wings' (1x)" in str(err.value) and "skin" not in str(err.value)
    [item] = read_all(write_export(tmp_path, [task(1, "a.png", [annotation([polygon("Tail", LEFT)])])]),
                      class_map={"Tail": "hair"})
    assert (item.mask_hw == 2).any()  # --map fixes it


@pytest.mark.parametrize(("older", "newer"), [
    (("2024-05-01T10:00:00Z", 9), ("2024-05-01T10:00:00.500000Z", 3)),  # times parsed, not compared as text
    (("2024-05-01T10:00:00Z", 3), ("2024-05-01T10:00:00Z", 9)),  # same time: the higher id
    (("2023-12-31T23:59:59+00:00", 1), ("2024-01-01T00:00:00+00:00", 2)),
], ids=["fraction", "tie-id", "year"])
def test_latest_annotation_wins(tmp_path, older, newer):
    write_image(tmp_path, "a.png")
    old = annotation([polygon("skin", LEFT)], aid=older[1], updated_at=older[0])
    new = annotation([polygon("hair", RIGHT)], aid=newer[1], updated_at=newer[0])
    for order in ([old, new], [new, old]):
        [item] = read_all(write_export(tmp_path, [task(1, "a.png", order)]))
        assert item.meta["ls_annotation_id"] == newer[1] and item.meta["n_annotations"] == 2
        assert (item.mask_hw == 2).any() and not (item.mask_hw == 1).any()


def test_cancelled_annotations_are_ignored_and_predictions_are_the_fallback(tmp_path):
    write_image(tmp_path, "a.png")
    kept = annotation([polygon("skin", LEFT)], aid=1, updated_at="2024-01-01T00:00:00Z")
    cancelled = annotation([polygon("hair", RIGHT)], aid=2, updated_at="2025-01-01T00:00:00Z", cancelled=True)
    prediction = {"id": 77, "model_version": "m1", "result": [polygon("hair", LEFT)],
                  "created_at": "2025-02-01T00:00:00Z"}
    src = write_export(tmp_path, [task(1, "a.png", [kept, cancelled], [prediction]),
                                  task(2, "a.png", [cancelled], [prediction])])
    first, second = read_all(src)
    assert first.meta["ls_annotation_id"] == 1 and first.meta["from"] == "annotation"
    assert (first.mask_hw == 1).any() and not (first.mask_hw == 2).any()
    assert first.meta["n_cancelled"] == 1
    assert second.meta["from"] == "prediction" and second.meta["ls_prediction_id"] == 77
    assert (second.mask_hw == 2).any()


def test_tasks_are_sorted_by_id_and_unlabelled_tasks_have_no_mask(tmp_path):
    write_image(tmp_path, "a.png")
    src = write_export(tmp_path, [task(9, "a.png", [annotation([polygon("skin", LEFT)])]), task(2, "a.png", [])])
    items = read_all(src)
    assert [i.meta["ls_task_id"] for i in items] == [2, 9]
    assert items[0].mask_hw is None and items[0].error is None


# --- geometry and checks -------------------------------------------------------------------------------------------
def test_rectangles_and_ellipses(tmp_path):
    write_image(tmp_path, "a.png", (100, 50))
    rect = {"id": "r", "type": "rectanglelabels", "original_width": 100, "original_height": 50,
            "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["skin"]}}
    rotated = {**rect, "id": "q", "value": {**rect["value"], "x": 50, "y": 10, "rotation": 90,
                                            "rectanglelabels": ["hair"]}}
    ellipse = {"id": "e", "type": "ellipselabels", "original_width": 100, "original_height": 50,
               "value": {"x": 80, "y": 80, "radiusX": 5, "radiusY": 10, "rotation": 0, "ellipselabels": ["skin"]}}
    [item] = read_all(write_export(tmp_path, [task(1, "a.png", [annotation([rect, rotated, ellipse])])]))
    m = item.mask_hw
    assert m[20, 20] == 1 and m[5, 20] == 0  # x 10..40 px, y 10..30 px
    # rotated 90 degrees clockwise about its top-left corner (50, 5): it now spans x 30..50, y 5..35
    assert m[20, 40] == 2 and m[20, 60] == 0
    # ellipse centre (80, 40) px; radiusX is 5 % of the width, radiusY 10 % of the height: both 5 px
    assert m[40, 80] == 1 and m[40, 84] == 1 and m[40, 86] == 0 and m[44, 80] == 1 and m[47, 80] == 0


@pytest.mark.parametrize("points", [[[0, 0], [10, 10]], [[0, 0], [10, float("nan")], [5, 5]], "nope"],
                         ids=["two-points", "nan", "not-a-list"])
def test_bad_polygons_are_error_items(tmp_path, points):
    write_image(tmp_path, "a.png")
    [item] = read_all(write_export(tmp_path, [task(3, "a.png", [annotation([polygon("skin", points)])])]))
    assert isinstance(item.error, FormatError) and "task 3" in str(item.error) and "polygon" in str(item.error)


def test_size_mismatches_are_error_items_naming_both(tmp_path):
    write_image(tmp_path, "a.png", (W + 1, H))
    [item] = read_all(write_export(tmp_path, [task(1, "a.png", [annotation([polygon("skin", LEFT)])])]))
    assert f"{W}x{H}" in str(item.error) and f"{W + 1}x{H}" in str(item.error)
    [item] = read_all(write_export(tmp_path, [task(1, "a.png", [annotation([polygon("skin", LEFT)])])]),
                      resize_masks="nearest")
    assert item.error is None and item.mask_hw.shape == (H, W + 1)  # percent coordinates rasterised at 31x20
    write_image(tmp_path, "a.png")
    results = [polygon("skin", LEFT), polygon("hair", RIGHT, "p2", size_wh=(W * 2, H * 2))]
    [item] = read_all(write_export(tmp_path, [task(1, "a.png", [annotation(results)])]))
    assert "disagree" in str(item.error) and f"{W * 2}x{H * 2}" in str(item.error)


def test_other_result_types_are_counted_not_painted(tmp_path):
    write_image(tmp_path, "a.png")
    choice = {"id": "c", "type": "choices", "value": {"choices": ["ok"]}}
    text = {"id": "t", "type": "textarea", "value": {"text": ["x"]}}
    bare = {"id": "b", "type": "polygon", "original_width": W, "original_height": H, "value": {"points": LEFT}}
    label = {"id": "b", "type": "labels", "value": {"labels": ["hair"]}}
    [item] = read_all(write_export(tmp_path, [task(1, "a.png", [annotation([choice, text, bare, label])])]))
    assert item.meta["ignored_results"] == {"choices": 1, "textarea": 1}
    assert (item.mask_hw == 2).any()  # the bare polygon took its label from the "labels" result with its id


def test_detect(tmp_path):
    huge = brush("hair", np.random.default_rng(0).integers(0, 256, (120, 200), dtype=np.uint8))
    brush_export = write_export(tmp_path / "b", [task(1, "a.png", [annotation([huge])])])
    assert len(brush_export.read_text()) > 1 << 16  # "data" comes after 64 KiB of RLE
    assert labelstudio.detect(brush_export) == 0.95
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    garbage = tmp_path / "g.json"
    garbage.write_bytes(b"\xff\x00 not json")
    for path in (coco, garbage, tmp_path / "missing.json", tmp_path):
        assert labelstudio.detect(path) == 0.0
