"""The demo end to end, and SIGKILL at many moments followed by a re-run that finishes it."""

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli

N, SIZE = 8, 128


def _state(store):
    """Everything that must match an uninterrupted run: sample rows, mask hashes, and files on disk."""
    with Dataset.open(store) as ds:
        rows = sorted((s.id, s.name, s.split, s.status, s.file_sha256) for s in ds.samples())
        masks = sorted((m.sample_id, m.layer, m.sha256) for s in ds.samples() for m in ds.masks_of(s.id))
        for s in ds.samples():  # integrity: every row's files exist with the recorded hashes
            assert hashlib.sha256(ds.image_path(s).read_bytes()).hexdigest() == s.file_sha256
            for m in ds.masks_of(s.id):
                assert hashlib.sha256((ds.root / m.path).read_bytes()).hexdigest() == m.sha256
        files = sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()
                       and p.parent.name != "runs" and not p.name.startswith(("manifest.sqlite", ".lock")))
    return rows, masks, files


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    r = CliRunner().invoke(cli, ["-q", "demo", str(root), "-n", str(N), "--size", str(SIZE)])
    assert r.exit_code == 0, r.output
    return root, _state(root / "store"), r.output


def test_demo_end_to_end(reference):
    root, (rows, masks, files), output = reference
    assert len(rows) == N and len(masks) == N
    assert all(status == "annotated" for *_, status, _ in rows)
    with Dataset.open(root / "manga") as manga:
        assert len(manga) == N and all(s.parent_id for s in manga.samples())
    assert (root / "manga-sheet.png").stat().st_size > 0 and (root / "export-coco").is_dir()
    assert str(root / "store") in output and "gt" in output
    r = CliRunner().invoke(cli, ["info", str(root / "store")])
    assert r.exit_code == 0 and f"samples         {N}" in r.output


def _count(store):
    try:
        db = sqlite3.connect(f"file:{store / 'manifest.sqlite'}?mode=ro", uri=True, timeout=0.05)
        return db.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.Error:
        return -1


# kill points: while generating (by generated-file count), during init, and after k samples were committed
KILLS = [("raw", 2), ("raw", 7), ("store", 0), ("samples", 1), ("samples", 4), ("samples", 7),
         ("file", "validate.json"), ("file", "export-coco"), ("file", "manga")]


@pytest.mark.parametrize("where,k", KILLS, ids=[f"{w}-{k}" for w, k in KILLS])
def test_sigkill_then_rerun_finishes_with_the_same_store(tmp_path, reference, where, k):
    _, expected, _ = reference
    cmd = [sys.executable, "-m", "animeparse.cli", "-q", "demo", str(tmp_path), "-n", str(N), "--size", str(SIZE)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if where == "raw" and len(list((tmp_path / "raw" / "masks").glob("*.png"))) >= k:
                break
            if where == "store" and (tmp_path / "store").exists():
                break
            if where == "samples" and (tmp_path / "store").exists() and _count(tmp_path / "store") >= k:
                break
            if where == "file" and (tmp_path / k).exists():
                break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if (tmp_path / "store" / "animeparse.json").exists():
        with Dataset.open(tmp_path / "store") as ds:  # whatever moment it died, the store opens
            assert len(ds) <= N
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert _state(tmp_path / "store") == expected
    assert not [p for p in tmp_path.rglob("*.tmp")]
    ref_root = reference[0]
    with Dataset.open(tmp_path / "manga") as got, Dataset.open(ref_root / "manga") as ref:
        assert [(s.id, s.parent_id) for s in got.samples()] == [(s.id, s.parent_id) for s in ref.samples()]
    for out in ("export-coco", "export-danbooru-parsing"):  # exports finished and equal to the reference's
        assert sorted(p.relative_to(tmp_path / out) for p in (tmp_path / out).rglob("*")) == \
            sorted(p.relative_to(ref_root / out) for p in (ref_root / out).rglob("*"))
