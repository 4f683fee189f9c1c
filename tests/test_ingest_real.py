"""End to end through the CLI and the store on the real third-party files in ../shared/data."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.imageio import read_mask

from .formats.test_labelme import VOC_MAP, voc_labelmap


@pytest.fixture()
def voc_store(tmp_path, shared_data):
    (tmp_path / "voc.json").write_text(json.dumps(voc_labelmap(shared_data).to_json()))
    r = CliRunner().invoke(cli, ["init", str(tmp_path / "ds"), "--labelmap", str(tmp_path / "voc.json")])
    assert r.exit_code == 0, r.output
    return tmp_path / "ds"


def _by_name(store: Path) -> dict[str, np.ndarray]:
    with Dataset.open(store) as ds:
        return {Path(s.name).stem: ds.read_mask(s.id) for s in ds.samples()}


def _voc(shared_data: Path, stem: str) -> np.ndarray:
    return read_mask(shared_data / "labelme/data_dataset_voc/SegmentationClass" / f"{stem}.png")


@pytest.mark.parametrize("source,fmt", [("labelme/data_annotated", "labelme"),
                                        ("labelme/data_dataset_coco/annotations.json", "coco")],
                         ids=["labelme", "coco"])
def test_labelme_and_its_coco_export_ingest_to_labelmes_own_masks(shared_data, voc_store, source, fmt):
    maps = [a for k, v in VOC_MAP.items() for a in ("--map", f"{k}={v}")]
    r = CliRunner().invoke(cli, ["ingest", str(shared_data / source), "--into", str(voc_store), *maps])
    assert r.exit_code == 0, r.output
    assert f"({fmt})" in r.output and "3 added, 3 with masks" in r.output
    masks = _by_name(voc_store)
    assert sorted(masks) == ["2011_000003", "2011_000006", "2011_000025"]
    for stem, mask in masks.items():
        voc = _voc(shared_data, stem)
        # labelme's COCO export drops __ignore__ shapes: compare the pixels labelme did not mark as ignore
        compare = voc != 255 if fmt == "coco" else np.ones_like(voc, bool)
        assert int((mask != voc)[compare].sum()) <= 1, stem


def test_coco_results_rle_ingest_needs_images(shared_data, tmp_path):
    r = CliRunner().invoke(cli, ["init", str(tmp_path / "ds")])
    results = shared_data / "coco-rle/instances_val2014_fakesegm100_results.json"
    r = CliRunner().invoke(cli, ["-q", "ingest", str(results), "--into", str(tmp_path / "ds")])
    assert r.exit_code == 1 and "--images" in r.output


def test_crop_faces_from_the_tadne_grid(shared_data, tmp_path):
    from animeparse import read_image

    cascade = shared_data.parent / "models" / "lbpcascade_animeface.xml"
    grid = shared_data / "anime-illustrations" / "tadne-grid-6x6.jpg"
    (tmp_path / "src").mkdir()
    pixels = read_image(grid)
    from PIL import Image

    Image.fromarray(pixels[:1024, :1536]).save(tmp_path / "src" / "six_tiles.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "src" / "blank.png")  # no face
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "ds")])
    r = runner.invoke(cli, ["-q", "ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"),
                            "--crop-faces", str(cascade), "--report", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["code"] for f in report["findings"]] == ["no_face"]
    with Dataset.open(tmp_path / "ds") as ds:
        samples = ds.samples()
        assert len(samples) >= 4  # the cascade finds a face in 33 of the 36 tiles
        for s in samples:
            x0, y0, x1, y1 = s.meta["crop_xyxy"]
            assert s.name.startswith("six_tiles_face") and x1 - x0 == y1 - y0
            assert np.array_equal(ds.read_image(s), pixels[y0:y1, x0:x1])


def test_label_studio_polygon_export_uses_original_size(shared_data, tmp_path):
    from PIL import Image

    from animeparse.rasterize import polygon_to_mask

    export = shared_data / "labelstudio-polygon" / "data_polygons.json"
    (tmp_path / "uploads").mkdir()
    Image.fromarray(np.zeros((426, 640, 3), np.uint8)).save(tmp_path / "uploads" / "000000000025.jpg")
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "ds"), "--classes", "Airplane,Car", "--kind", "other"])
    r = runner.invoke(cli, ["ingest", str(export), "--into", str(tmp_path / "ds"), "--images",
                            str(tmp_path / "uploads")])
    assert r.exit_code == 0, r.output
    assert "(labelstudio)" in r.output and "1 added, 1 with masks" in r.output
    (region,) = json.loads(export.read_text())[0]["annotations"][0]["result"]
    points = np.array(region["value"]["points"]) / 100 * [region["original_width"], region["original_height"]]
    with Dataset.open(tmp_path / "ds") as ds:
        (s,) = ds.samples()
        mask = ds.read_mask(s.id)
        assert mask.shape == (426, 640) and s.meta["ls_task_id"] == 68501
        assert np.array_equal(mask == ds.labelmap.id_of("Airplane"), polygon_to_mask(points, (426, 640)))
        assert ds.mask_record(s.id).origin["ls_annotation_id"] == 211797
