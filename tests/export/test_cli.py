"""``animeparse export`` through Click: options map onto the config, errors are one line, docs mention every option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.formats.lsrle import encode_rle

from ..conftest import REPO
from .test_coco import build_store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("cli"), faces=1, splits=("train", "test"))


def test_export_coco_from_the_command_line(tmp_path, store):
    out = tmp_path / "coco"
    r = CliRunner().invoke(cli, ["export", str(store), "--format", "coco", "--out", str(out), "--split", "test",
                                 "--instances", "--images", "none", "--workers", "0"])
    assert r.exit_code == 0, r.output
    assert "exported 2 samples" in r.output and "test 2" in r.output
    data = json.loads((out / "instances_test.json").read_text())
    assert len(data["images"]) == 2 and not (out / "images").exists()


def test_export_labelstudio_predictions_and_palette(tmp_path, store):
    """The options reach the files: --as predictions puts every class of every mask (its exact brush RLE) under
    predictions and nothing under annotations; --images link hard-links the store's images; --palette-mode p writes
    P-mode PNGs whose indices are the class ids and whose palette is the label map's colours."""
    with Dataset.open(store) as ds:
        stored = {s.id: (Path(s.name).stem, ds.read_mask(s.id), ds.image_path(s)) for s in ds.samples()}
        colors = ds.labelmap.colors_array()
        name_of = ds.labelmap.name_of
    r = CliRunner().invoke(cli, ["-q", "export", str(store), "--format", "labelstudio", "--out", str(tmp_path / "ls"),
                                 "--as", "predictions", "--images", "link"])
    assert r.exit_code == 0, r.output
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert sorted(t["data"]["sample_id"] for t in tasks) == sorted(stored)
    for task in tasks:
        stem, mask, image = stored[task["data"]["sample_id"]]
        assert not task.get("annotations") and len(task["predictions"]) == 1
        regions = {r["value"]["brushlabels"][0]: r["value"]["rle"] for r in task["predictions"][0]["result"]}
        expected = {("__ignore__" if c == 255 else name_of(int(c))): encode_rle(np.where(mask == c, 255, 0)
                                                                                .astype(np.uint8))
                    for c in np.unique(mask) if c != 0}
        assert regions == expected, stem
        linked = tmp_path / "ls" / "images" / f"{stem}.png"
        assert linked.samefile(image)  # a hard link to the store's file (same filesystem here)
    r = CliRunner().invoke(cli, ["-q", "export", str(store), "--format", "index-png", "--out", str(tmp_path / "ip"),
                                 "--palette-mode", "p"])
    assert r.exit_code == 0, r.output
    for stem, mask, _ in stored.values():
        with Image.open(tmp_path / "ip" / "masks" / f"{stem}.png") as png:
            assert png.mode == "P"
            palette = np.asarray(png.getpalette() or [], np.uint8).reshape(-1, 3)
            assert np.array_equal(np.asarray(png), mask), stem
        present = np.unique(mask)
        assert np.array_equal(palette[present], colors[present]), stem


@pytest.mark.parametrize("args,message", [
    (["--format", "danbooru-parsing", "--polygons"], "--polygons applies to --format coco"),
    (["--format", "coco", "--layer", "prelabel/x"], "no samples have a 'prelabel/x' mask"),
    (["--format", "celebamask", "--include-background"], "--include-background applies"),
    (["--format", "coco", "--info", "--as", "annotations"], "--as applies"),
])
def test_refusals_are_one_line_errors(tmp_path, store, args, message):
    r = CliRunner().invoke(cli, ["export", str(store), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_refuses_non_empty_out(tmp_path, store):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("keep")
    r = CliRunner().invoke(cli, ["export", str(store), "--format", "coco", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "not empty" in r.output and (tmp_path / "o" / "x").read_text() == "keep"


def test_every_format_is_in_the_docs():
    """Every format in docs/export.md (the options in docs/cli.md are checked by tests/test_cli.py)."""
    for name in ("coco", "danbooru-parsing", "celebamask", "index-png", "labelme", "labelstudio"):
        assert f"`{name}`" in (REPO / "docs" / "export.md").read_text()
