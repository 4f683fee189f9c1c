"""``ingest --engine ray`` on the fixture's local Ray instance: the same store as ``--engine local`` (ids, files,
masks, duplicates, near-duplicate groups, the report, refusals), a worker that cannot read the store stops the run
with one line and the store untouched, and a driver killed mid-commit is resumed without duplicate rows."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import AnimeparseError, Dataset
from animeparse.cli.main import cli
from animeparse.distributed import EngineConfig, check_workers_see_path, ray_session
from animeparse.distributed.tasks import swap_root
from animeparse.ingest import IngestConfig, IngestError, ingest

from ..test_ingest import faces, snapshot


def _state(ds: Dataset) -> list[tuple]:
    """Every sample and mask row, but the run ids (new in every run)."""
    return [(s.id, s.name, s.file_sha256, s.split, s.dup_group, s.status, s.meta,
             [(m.layer, m.path, m.sha256, {k: v for k, v in m.origin.items() if k != "run"})
              for m in ds.masks_of(s.id)]) for s in ds.samples()]


def _report(report) -> tuple:
    return (report.seen, report.added, report.with_mask, report.duplicates, report.near_duplicates, report.refused,
            [(f.severity, f.code, f.file, f.message) for f in report.findings])


@pytest.fixture()
def src(tmp_path):
    """12 faces plus a near duplicate (JPEG re-encode), an exact duplicate under another name, a mask of the
    wrong size and an image that does not decode."""
    src = tmp_path / "src"
    faces(src, 12)
    image = np.asarray(Image.open(src / "images" / "f0.png"))
    Image.fromarray(image).save(src / "images" / "f0near.jpg", quality=92)
    Image.fromarray(np.asarray(Image.open(src / "images" / "f3.png"))).save(src / "images" / "f3copy.png",
                                                                          compress_level=0)
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(src / "masks" / "f7.png")
    (src / "images" / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return src


def test_ray_ingest_equals_local(tmp_path, src, danbooru, ray_address):
    # the workers reach the store through another path (as on nodes that mount it elsewhere): staged files are
    # written there and renamed into place by the driver at its own path
    (tmp_path / "mount").symlink_to(tmp_path / "ray", target_is_directory=True)
    ray_engine = EngineConfig(engine="ray", workers=2, worker_store=str(tmp_path / "mount"))
    results = {}
    for name, engine in (("local", None), ("ray", ray_engine)):
        with Dataset.create(tmp_path / name, labelmap=danbooru) as ds:
            before = snapshot(ds.root)
            with pytest.raises(IngestError) as refused:  # --on-error fail: refused alike, nothing written
                ingest(ds, src, IngestConfig(workers=2), engine=engine)
            assert snapshot(ds.root) == before
            report = ingest(ds, src, IngestConfig(workers=2, on_error="skip"), engine=engine)
            again = ingest(ds, src, IngestConfig(workers=2, on_error="skip"), engine=engine)
            results[name] = (_report(refused.value.report), _report(report), _report(again), _state(ds),
                             snapshot(ds.root / "masks"), sorted(p.name for p in (ds.root / "images").iterdir()))
            assert not list(ds.root.glob(".staging-*"))
    local, ray = results["local"], results["ray"]
    assert ray[0] == local[0] and ray[1] == local[1] and ray[2] == local[2]
    assert ray[3] == local[3] and ray[4] == local[4] and ray[5] == local[5]
    assert local[1][:6] == (15, 12, 11, 1, 1, 2)  # seen, added, with mask, exact dups, near dups, refused
    assert local[2][1] == 0 and local[2][3] == 13  # the re-run adds nothing
    groups = {row[1]: row[4] for row in local[3]}
    assert groups["f0.png"] == groups["f0near.jpg"] is not None


def test_swap_root_moves_only_paths_under_the_root():
    assert swap_root("/data/store/.staging-x/a.png", "/data/store", "/mnt/s") == "/mnt/s/.staging-x/a.png"
    assert swap_root("/data/store", "/data/store/", "/mnt/s") == "/mnt/s"
    assert swap_root("/data/storex/a.png", "/data/store", "/mnt/s") == "/data/storex/a.png"
    assert swap_root("/src/a.png", "/data/store", "/mnt/s") == "/src/a.png"


def test_worker_that_cannot_read_the_store_or_source_stops_with_one_line(tmp_path, src, danbooru, ray_address):
    Dataset.create(tmp_path / "ds", labelmap=danbooru).close()
    before = snapshot(tmp_path / "ds")
    r = CliRunner().invoke(cli, ["-q", "ingest", str(src), "--into", str(tmp_path / "ds"), "--engine", "ray",
                                 "--ray-address", ray_address, "--worker-store", "/nonexistent"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = [x for x in r.output.splitlines() if x.startswith("Error")]
    assert "cannot read the store" in line and "/nonexistent/labelmap.json" in line and "--worker-store" in line
    assert snapshot(tmp_path / "ds") == before
    # a node that mounts another folder at SRC's path (simulated with the probe's worker path): named, refused
    other = tmp_path / "elsewhere"
    other.mkdir()
    with ray_session(EngineConfig(engine="ray")) as ray:
        with pytest.raises(AnimeparseError, match=f"cannot use the source {other}.*other files than on the driver"):
            check_workers_see_path(ray, src, what="source", worker_path=str(other))
        with pytest.raises(AnimeparseError, match="cannot use the source /nope/src.*No such file"):
            check_workers_see_path(ray, src, what="source", worker_path="/nope/src")
        check_workers_see_path(ray, tmp_path / "ds", what="store", write=True)  # the same folder: accepted
    assert snapshot(tmp_path / "ds") == before  # the write probe cleans up after itself


def test_killed_mid_commit_then_rerun_equals_uninterrupted(tmp_path, danbooru, ray_address):
    n = 150  # three commit batches of 64: killed after the first it sees
    faces(tmp_path / "src", n, size=48)
    with Dataset.create(tmp_path / "ref", labelmap=danbooru) as ref:
        ingest(ref, tmp_path / "src", IngestConfig(near_dup_bits=-1))
        expected = [row[:3] + row[4:] for row in _state(ref)]  # all but the split: the same here
    Dataset.create(tmp_path / "ds", labelmap=danbooru).close()
    cmd = [sys.executable, "-m", "animeparse", "-q", "ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"),
           "--near-dup-bits", "-1", "--engine", "ray", "--ray-address", ray_address, "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = f"file:{tmp_path / 'ds' / 'manifest.sqlite'}?mode=ro"
    rows, deadline = 0, time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with contextlib.closing(sqlite3.connect(manifest, uri=True)) as db:
                rows = db.execute("SELECT count(*) FROM samples").fetchone()[0]
        except sqlite3.OperationalError:  # the writer holds an exclusive lock for a moment
            rows = 0
        if rows:  # a batch is committed: kill the driver before the rest
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the ingest ended before a batch was seen committed"
    with Dataset.open(tmp_path / "ds") as d:
        partial = len(d)
    assert 0 < partial < n
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with Dataset.open(tmp_path / "ds") as d:
        got = [row[:3] + row[4:] for row in _state(d)]
        assert not list(d.root.glob(".*.tmp"))
        runs = d.runs(kind="import")
    assert got == expected  # every sample once: the primary key would refuse a second row, this checks none is lost
    assert len(runs) == 2 and runs[0].status != "finished"  # the killed run never finished
    assert runs[1].status == "finished" and runs[1].summary["added"] == n - partial
    shutil.rmtree(tmp_path / "src")
