"""``export --format parquet``: the manifest as samples / masks / runs tables, read back with pandas and compared
with the store field by field; filters, determinism, atomicity, and the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, MaskInput, load_labelmap
from animeparse.cli.main import cli
from animeparse.demo.synth import generate_face
from animeparse.export import ExportConfig, ExportError, export
from animeparse.formats import parquet as parquet_module
from animeparse.store.prepare import prepare_sample


def build_manifest_store(root: Path) -> Path:
    """Six faces over three splits, with tags, source meta, a near-duplicate group, one sample without masks, and a
    machine layer with scores on some samples (one score left empty), plus the runs that made them."""
    lm = load_labelmap("danbooru-parsing")
    with Dataset.create(root / "store", labelmap=lm) as ds:
        run = ds.start_run("import", params={"src": "synthetic"})
        batch, groups = [], {}
        for i in range(6):
            image, mask = generate_face(11, i, size=48)
            path = root / f"face{i}.png"
            Image.fromarray(image).save(path)
            masks = {} if i == 5 else {"gt": MaskInput(mask)}
            batch.append(prepare_sample(path, labelmap=lm, masks=masks, split=("train", "val", "test")[i % 3],
                                        tags=("hard", "manga")[: i % 3], meta={"index": i, "nested": {"b": 1, "a": 2}}))
        groups = {batch[0].id: batch[0].id, batch[3].id: batch[0].id}
        ds.add_prepared(batch, run_id=run, dup_groups=groups)
        ds.finish_run(run, summary={"added": 6})
        pre = ds.start_run("prelabel", params={"model": "parser"}, models={"parser": "ab" * 32})
        for k, s in enumerate(ds.samples()[:4]):
            mask = ds.read_mask(s.id) if ds.mask_record(s.id) else np.zeros((s.height, s.width), np.uint8)
            ds.put_mask(s.id, "prelabel/p1", MaskInput(mask, origin={"kind": "machine", "run": pre},
                                                        score=None if k == 1 else 0.25 * (k + 1)), run_id=pre)
        ds.finish_run(pre)
    return root / "store"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_manifest_store(tmp_path_factory.mktemp("parquet"))


def _export(store: Path, out: Path, **options):
    with Dataset.open(store) as ds:
        return export(ds, out, ExportConfig(format="parquet", **options))


def test_pandas_round_trip_equals_the_store(tmp_path, store):
    result = _export(store, tmp_path / "pq")
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == ["masks.parquet", "runs.parquet", "samples.parquet"]
    samples = pd.read_parquet(tmp_path / "pq" / "samples.parquet")
    masks = pd.read_parquet(tmp_path / "pq" / "masks.parquet")
    runs = pd.read_parquet(tmp_path / "pq" / "runs.parquet")
    with Dataset.open(store) as ds:
        stored = ds.samples()
        assert result.samples == len(stored) == 6 and result.annotations == sum(ds.layers().values()) == 9
        assert result.by_split == {"test": 2, "train": 2, "val": 2}
        assert list(samples["id"]) == [s.id for s in stored]  # sorted by id
        for row, s in zip(samples.itertuples(index=False), stored):
            assert (row.name, row.source, row.image, row.split, row.status, row.sha256, row.file_sha256,
                    row.phash, row.created_at) == (s.name, s.source, s.image, s.split, s.status, s.sha256,
                                                   s.file_sha256, s.phash, s.created_at)
            assert (int(row.width), int(row.height)) == s.size_wh
            assert list(row.tags) == list(s.tags) and json.loads(row.meta) == s.meta
            assert (None if pd.isna(row.dup_group) else row.dup_group) == s.dup_group
            assert list(row.layers) == [m.layer for m in ds.masks_of(s.id)]
            assert Path(row.root, row.image).read_bytes() == ds.image_path(s).read_bytes()  # root + image joins
        expected = [(m.sample_id, m.layer, m.path, m.sha256, m.score, m.origin, m.created_at)
                    for s in stored for m in ds.masks_of(s.id)]
        got = [(r.sample_id, r.layer, r.path, r.sha256, None if pd.isna(r.score) else r.score, json.loads(r.origin),
                r.created_at) for r in masks.itertuples(index=False)]
        assert got == expected
        by_id = {s.id: s for s in stored}
        assert all(r.split == by_id[r.sample_id].split and r.image == by_id[r.sample_id].image
                   for r in masks.itertuples(index=False))
        for r in masks.itertuples(index=False):  # root + path is the stored mask
            assert np.array_equal(np.asarray(Image.open(Path(r.root, r.path))), ds.read_mask(r.sample_id, r.layer))
        assert [(r.id, r.kind, r.status, json.loads(r.params), json.loads(r.models)) for r in runs.itertuples()] == [
            (r.id, r.kind, r.status, r.params, r.models) for r in ds.runs()]
    # the dtypes pandas users filter on
    assert samples["width"].dtype == np.int32 and masks["score"].dtype == np.float64
    gt_train = masks[(masks.layer == "gt") & (masks.split == "train")]
    assert len(gt_train) == 2


def test_reexport_is_byte_identical(tmp_path, store):
    _export(store, tmp_path / "a")
    _export(store, tmp_path / "b")
    for name in ("samples.parquet", "masks.parquet", "runs.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_split_and_layer_filters(tmp_path, store):
    result = _export(store, tmp_path / "val", splits=("val", "test"))
    samples = pd.read_parquet(tmp_path / "val" / "samples.parquet")
    masks = pd.read_parquet(tmp_path / "val" / "masks.parquet")
    assert result.by_split == {"test": 2, "val": 2} and set(samples.split) == {"val", "test"}
    assert set(masks.sample_id) <= set(samples.id) and set(masks.split) <= {"val", "test"}
    _export(store, tmp_path / "p1", layer="prelabel/p1")
    samples = pd.read_parquet(tmp_path / "p1" / "samples.parquet")
    masks = pd.read_parquet(tmp_path / "p1" / "masks.parquet")
    assert len(samples) == 4 and set(masks.layer) == {"prelabel/p1"} and list(masks.sample_id) == list(samples.id)
    assert masks.score.isna().sum() == 1 and sorted(masks.score.dropna()) == [0.25, 0.75, 1.0]
    with pytest.raises(ExportError, match="no samples with a 'prelabel/nope' mask"):
        _export(store, tmp_path / "none", layer="prelabel/nope")
    assert not (tmp_path / "none").exists() and not list(tmp_path.glob(".none.*"))


def test_failure_midway_leaves_nothing(tmp_path, store, monkeypatch):
    calls = []

    def failing_row(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args)

    real = parquet_module._mask_row
    monkeypatch.setattr(parquet_module, "_mask_row", failing_row)
    with pytest.raises(OSError):
        _export(store, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_cli_parquet_and_images_refused(tmp_path, store):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store.rglob("*")) if p.is_file()}
    r = CliRunner().invoke(cli, ["export", str(store), "--format", "parquet", "--out", str(tmp_path / "m"),
                                 "--split", "train"])
    assert r.exit_code == 0, r.output
    assert "exported 2 samples" in r.output and len(pd.read_parquet(tmp_path / "m" / "samples.parquet")) == 2
    r = CliRunner().invoke(cli, ["export", str(store), "--format", "parquet", "--out", str(tmp_path / "n"),
                                 "--images", "link"])
    assert r.exit_code == 1 and "--images applies to the formats that write image files" in r.output
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store.rglob("*")) if p.is_file()}
    assert after == before
