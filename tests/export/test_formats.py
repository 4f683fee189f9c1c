"""Each export layout, the options, refusals, atomicity, and that the store is only read."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, load_labelmap
from animeparse.export import EXPORTERS, ExportConfig, ExportError, export
from animeparse.export.base import SampleJob, WorkContext, palette_png_to_grey
from animeparse.formats.celebamask import work as celebamask_work
from animeparse.formats.lsrle import encode_rle, rle_to_alpha
from animeparse.imageio import encode_mask_png, read_mask

from ..conftest import require
from .test_coco import build_store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("formats"), faces=2, splits=("train", "val"))


def _run(store: Path, out: Path, fmt: str, **options):
    with Dataset.open(store) as ds:
        return export(ds, out, ExportConfig(format=fmt, **{"workers": 0, **options}))


def _samples(store: Path) -> list[tuple[str, str, str, np.ndarray, Path]]:
    """(id, stem, split, mask, image path) in sample-id order."""
    with Dataset.open(store) as ds:
        return [(s.id, Path(s.name).stem, s.split, ds.read_mask(s.id), ds.image_path(s)) for s in ds.samples()]


def test_danbooru_parsing_layout(tmp_path, store):
    result = _run(store, tmp_path / "dp", "danbooru-parsing")
    assert result.by_split == {"train": 3, "val": 2}
    assert sorted(p.name for p in (tmp_path / "dp").iterdir()) == ["anime_face_train", "anime_face_val",
                                                                    "anime_seg_train", "anime_seg_val"]
    for _, stem, split, mask, image in _samples(store):
        seg = tmp_path / "dp" / f"anime_seg_{split}" / f"{stem}.png"
        with Image.open(seg) as img:
            assert img.mode == "L"  # the seed's loader calls .convert('L'): never P-mode
            assert np.array_equal(np.asarray(img), mask)
        assert (tmp_path / "dp" / f"anime_face_{split}" / f"{stem}.png").read_bytes() == image.read_bytes()


def test_index_png_layout_and_palette_mode(tmp_path, store):
    _run(store, tmp_path / "l", "index-png")
    _run(store, tmp_path / "p", "index-png", palette_mode="p")
    lm = load_labelmap("danbooru-parsing")
    assert json.loads((tmp_path / "l" / "labelmap.json").read_text()) == lm.to_json()
    samples = _samples(store)
    assert (tmp_path / "l" / "splits" / "val.txt").read_text().split() == sorted(s[1] for s in samples
                                                                                if s[2] == "val")
    for _, stem, _, mask, _ in samples:
        with Image.open(tmp_path / "l" / "masks" / f"{stem}.png") as img:
            assert img.mode == "L" and np.array_equal(np.asarray(img), mask)
        with Image.open(tmp_path / "p" / "masks" / f"{stem}.png") as img:
            assert img.mode == "P" and np.array_equal(np.asarray(img), mask)
            assert img.getpalette()[:57] == lm.palette()[:57]


def test_palette_png_to_grey_is_pixel_identical():
    mask = np.random.default_rng(1).integers(0, 19, (37, 53), dtype=np.uint8)
    grey = palette_png_to_grey(encode_mask_png(mask, palette=load_labelmap("danbooru-parsing").palette()))
    assert grey is not None and np.array_equal(read_mask("x.png", data=grey), mask)
    assert palette_png_to_grey(encode_mask_png(mask)) is None  # already L-mode: the caller re-encodes


def test_celebamask_layout_mapping_and_ignore(tmp_path, store):
    _run(store, tmp_path / "cm", "celebamask")
    root = tmp_path / "cm"
    rows = list(csv.DictReader((root / "CelebA-HQ-to-animeparse-mapping.csv").open()))
    samples = _samples(store)
    assert [r["sample_id"] for r in rows] == [s[0] for s in samples] and rows[0]["idx"] == "0"
    lm = load_labelmap("danbooru-parsing")
    for idx, (_sid, _, _, mask, image) in enumerate(samples):
        assert (root / "CelebA-HQ-img" / f"{idx}.png").read_bytes() == image.read_bytes()
        parts = sorted((root / "CelebAMask-HQ-mask-anno" / "0").glob(f"{idx:05d}_*.png"))
        names = {p.stem.split("_", 1)[1] for p in parts}
        want = {lm.name_of(i) for i in np.unique(mask) if i not in (0, 255)} | ({"ignore"} if 255 in mask else set())
        assert names == want
        for p in parts:
            with Image.open(p) as img:
                arr = np.asarray(img)
            assert img.mode == "L" and set(np.unique(arr)) <= {0, 255}
            class_id = 255 if p.stem.endswith("_ignore") else lm.id_of(p.stem.split("_", 1)[1])
            assert np.array_equal(arr == 255, mask == class_id)


def test_celebamask_folders_hold_2000_ids(tmp_path, store):
    with Dataset.open(store) as ds:
        s = ds.samples()[0]
        rec = ds.mask_record(s.id)
        job = SampleJob(index=4123, sample_id=s.id, name=s.name, stem="x", ext=".png", split="train", width=s.width,
                        height=s.height, image_src=str(ds.image_path(s)), mask_src=str(ds.root / rec.path),
                        image_out="CelebA-HQ-img/4123.png")
        celebamask_work(job, WorkContext(config=ExportConfig(format="celebamask"), labelmap=ds.labelmap,
                                         root=str(tmp_path)))
    assert sorted(p.parent.name for p in tmp_path.rglob("04123_*.png")) and \
        {p.parent.name for p in tmp_path.rglob("04123_*.png")} == {"2"}


def test_labelstudio_tasks_config_and_kind(tmp_path, store):
    _run(store, tmp_path / "gt", "labelstudio")
    tasks = json.loads((tmp_path / "gt" / "tasks.json").read_text())
    samples = _samples(store)
    assert [t["id"] for t in tasks] == list(range(1, len(samples) + 1))
    config = (tmp_path / "gt" / "label_config.xml").read_text()
    assert '<BrushLabels name="tag" toName="image">' in config and '"hair"' in config and '"__ignore__"' in config
    for task, (sid, stem, split, mask, _) in zip(tasks, samples):
        assert task["data"] == {"image": f"/data/local-files/?d=images/{stem}.png", "sample_id": sid, "split": split}
        assert "predictions" not in task  # gt -> annotations by default
        (annotation,) = task["annotations"]
        for region in annotation["result"]:
            label = region["value"]["brushlabels"][0]
            class_id = 255 if label == "__ignore__" else load_labelmap("danbooru-parsing").id_of(label)
            want = (mask == class_id).astype(np.uint8) * 255
            assert region["value"]["rle"] == encode_rle(want)  # label-studio-sdk's mask2rle, bit for bit
            assert np.array_equal(rle_to_alpha(region["value"]["rle"], shape_hw=mask.shape, source="t"), want)
            assert (region["original_width"], region["original_height"]) == (mask.shape[1], mask.shape[0])
    _run(store, tmp_path / "pred", "labelstudio", ls_as="predictions")
    task = json.loads((tmp_path / "pred" / "tasks.json").read_text())[0]
    assert "annotations" not in task and task["predictions"][0]["model_version"] == "animeparse:gt"


def test_labelme_shapes_in_priority_order_and_lossy_warning(tmp_path, store):
    result = _run(store, tmp_path / "lm", "labelme")
    assert any("lossy" in w for w in result.warnings)
    lm = load_labelmap("danbooru-parsing")
    for _, stem, split, mask, _ in _samples(store):
        doc = json.loads((tmp_path / "lm" / split / f"{stem}.json").read_text())
        assert doc["imagePath"] == f"{stem}.png" and (doc["imageHeight"], doc["imageWidth"]) == mask.shape
        prios = [lm[s["label"]].priority if s["label"] != "__ignore__" else 10**6 for s in doc["shapes"]]
        assert prios == sorted(prios)
        if 9 in mask:  # the single pixel: a 2-point rectangle
            assert any(s["label"] == "ear_r" and s["shape_type"] == "rectangle" for s in doc["shapes"])


def test_images_link_and_none(tmp_path, store):
    _run(store, tmp_path / "link", "coco", images="link")
    _run(store, tmp_path / "none", "coco", images="none")
    for _, stem, _, _, image in _samples(store):
        assert os.stat(tmp_path / "link" / "images" / f"{stem}.png").st_ino == os.stat(image).st_ino
    assert not (tmp_path / "none" / "images").exists()
    # the JSON does not depend on where the images went
    assert (tmp_path / "link" / "instances_val.json").read_bytes() == (tmp_path / "none" / "instances_val.json"
                                                                        ).read_bytes()


def test_split_filter_and_per_split_coco_files(tmp_path, store):
    result = _run(store, tmp_path / "v", "coco", splits=("val",))
    assert result.by_split == {"val": 2} and [p.name for p in (tmp_path / "v").glob("*.json")] == ["instances_val.json"]
    _run(store, tmp_path / "all", "coco")
    ids = [i["id"] for f in ("train", "val") for i in json.loads((tmp_path / "all" / f"instances_{f}.json")
                                                                  .read_text())["images"]]
    assert sorted(ids) == list(range(1, 6))  # image ids are unique across the split files


@pytest.mark.parametrize("options,message", [
    ({"format": "nope"}, "unknown export format"),
    ({"format": "danbooru-parsing", "instances": True}, "--instances applies to --format coco"),
    ({"format": "coco", "palette_mode": "p"}, "--palette-mode applies to --format index-png"),
    ({"format": "index-png", "ls_as": "annotations"}, "--as applies to --format labelstudio"),
    ({"format": "coco", "images": "symlink"}, "images must be one of"),
    ({"format": "coco", "layer": "../x"}, "invalid layer"),
    ({"format": "coco", "layer": "prelabel/none"}, "no samples have a 'prelabel/none' mask"),
    ({"format": "coco", "splits": ("nope",)}, "in split"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_refusals(tmp_path, store, options, message):
    with Dataset.open(store) as ds, pytest.raises(Exception, match=message):
        export(ds, tmp_path / "out", ExportConfig(**{"workers": 0, **options}))
    assert not (tmp_path / "out").exists()


def test_refuses_output_inside_the_store(tmp_path, store):
    with Dataset.open(store) as ds, pytest.raises(ExportError, match="inside the store"):
        export(ds, store / "masks" / "export", ExportConfig(format="coco", workers=0))


# manifest-only formats (parquet) read no mask file: their atomicity is tested in test_parquet.py
@pytest.mark.parametrize("fmt", sorted(n for n, m in EXPORTERS.items() if not getattr(m, "MANIFEST_ONLY", False)))
def test_failure_leaves_nothing_and_store_is_only_read(tmp_path, fmt):
    root = build_store(tmp_path, faces=1)
    if fmt == "sis-anime":  # it refuses samples without a character before reading any mask
        with Dataset.open(root, write=True) as ds:
            ds.set_character([s.id for s in ds.samples()], "nino")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
    with Dataset.open(root) as ds:
        victim = ds.root / ds.mask_record(ds.samples()[-1].id).path
    victim.rename(victim.with_suffix(".bak"))  # a mask vanishing under the export (a concurrent writer)
    with Dataset.open(root) as ds, pytest.raises(ExportError, match="sample"):
        export(ds, tmp_path / "out", ExportConfig(format=fmt, workers=2, chunk=1))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    victim.with_suffix(".bak").rename(victim)
    with Dataset.open(root) as ds:
        export(ds, tmp_path / "out", ExportConfig(format=fmt, workers=0))
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
    assert after == before  # export opens the store read-only and writes nothing there


def test_labelstudio_rle_equals_label_studio_sdk(tmp_path, store):
    """Where label-studio-sdk is installed (the labelstudio extra), its own mask2rle gives the same bytes."""
    brush = require("label_studio_sdk.converter.brush", extra="labelstudio")
    _run(store, tmp_path / "ls", "labelstudio", images="none")
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    lm = load_labelmap("danbooru-parsing")
    for task, (_, _, _, mask, _) in zip(tasks, _samples(store)):
        for region in task["annotations"][0]["result"]:
            label = region["value"]["brushlabels"][0]
            class_id = 255 if label == "__ignore__" else lm.id_of(label)
            assert region["value"]["rle"] == brush.mask2rle((mask == class_id).astype(np.uint8) * 255)
