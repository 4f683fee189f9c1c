"""``export --engine ray`` on the fixture's local Ray instance: byte-identical to ``--engine local``, a worker
that cannot read the store or a sample failing on a worker stops the export with one line and nothing left behind,
and the parquet manifest export is read by Ray Data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.distributed import EngineConfig
from animeparse.export import ExportConfig, ExportError, export

from ..export.test_coco import build_store
from ..export.test_parquet import build_manifest_store


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("ray-export"), faces=3, splits=("train", "val"))


@pytest.mark.parametrize("fmt,options", [
    ("coco", {"instances": True}),
    ("danbooru-parsing", {}),
    ("labelstudio", {}),
], ids=["coco", "danbooru-parsing", "labelstudio"])
def test_ray_export_is_byte_identical_to_local(tmp_path, store, fmt, options, ray_address):
    with Dataset.open(store) as ds:
        local = export(ds, tmp_path / "local", ExportConfig(format=fmt, workers=2, chunk=2, **options))
        ray = export(ds, tmp_path / "ray", ExportConfig(format=fmt, chunk=2, **options),
                     engine=EngineConfig(engine="ray", workers=2))
    assert (ray.samples, ray.by_split, ray.annotations, ray.files) == (local.samples, local.by_split,
                                                                       local.annotations, local.files)
    assert tree(tmp_path / "ray") == tree(tmp_path / "local") and len(tree(tmp_path / "local")) >= 6
    assert not list(tmp_path.glob(".ray.*"))


def test_cli_ray_export_and_unreadable_store(tmp_path, store, ray_address):
    before = tree(store)
    base = ["-q", "export", str(store), "--format", "danbooru-parsing", "--engine", "ray", "--ray-address",
            ray_address]
    (tmp_path / "mount").symlink_to(store, target_is_directory=True)  # the store as workers mounted elsewhere see it
    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "dp"), "--workers", "3", "--worker-store",
                                 str(tmp_path / "mount")])
    assert r.exit_code == 0, r.output
    with Dataset.open(store) as ds:
        export(ds, tmp_path / "dp-local", ExportConfig(format="danbooru-parsing", workers=0))
    assert tree(tmp_path / "dp") == tree(tmp_path / "dp-local")
    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "bad"), "--worker-store", "/nonexistent"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = [x for x in r.output.splitlines() if x.startswith("Error")]
    assert "cannot read the store" in line and "/nonexistent/labelmap.json" in line
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad.*"))
    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "gpu"), "--gpus-per-worker", "1"])
    assert r.exit_code == 1 and "--gpus-per-worker" in r.output and not (tmp_path / "gpu").exists()
    assert tree(store) == before  # the store is only read


def test_sample_failing_on_a_worker_is_one_error_and_leaves_nothing(tmp_path, ray_address):
    root = build_store(tmp_path, faces=1)
    with Dataset.open(root) as ds:
        victim_id = ds.samples()[1].id
        victim = ds.root / ds.mask_record(victim_id).path
    victim.rename(victim.with_suffix(".bak"))  # a mask vanishing under the export (a concurrent writer)
    with Dataset.open(root) as ds, pytest.raises(ExportError, match=f"sample {victim_id}"):
        export(ds, tmp_path / "out", ExportConfig(format="coco", chunk=1),
               engine=EngineConfig(engine="ray", workers=2))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_parquet_export_reads_in_ray_data(tmp_path, ray_address):
    import ray

    root = build_manifest_store(tmp_path)
    with Dataset.open(root) as ds:
        result = export(ds, tmp_path / "pq", ExportConfig(format="parquet"), engine=EngineConfig(engine="ray"))
        stored = ds.samples()
        masks = [ds.masks_of(s.id) for s in stored]
    # one Ray Data read (each costs seconds on 2 cores): the samples table, with its list<string> columns
    rows = ray.data.read_parquet(str(tmp_path / "pq" / "samples.parquet")).take_all()
    assert result.samples == len(stored) == len(rows)
    assert sorted((r["id"], r["split"], list(r["tags"]), list(r["layers"])) for r in rows) == [
        (s.id, s.split, list(s.tags), [m.layer for m in ds_masks]) for s, ds_masks in zip(stored, masks)]
