"""The demo end to end, and SIGKILL at many moments followed by a re-run that finishes it."""

import csv
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.imageio import read_image
from animeparse.ingest import IngestConfig, ingest

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
    r = CliRunner().invoke(cli, ["demo", str(root), "-n", str(N), "--size", str(SIZE)])
    assert r.exit_code == 0, r.output
    return root, _state(root / "store"), r.output


def test_demo_end_to_end(reference):
    root, (rows, masks, files), output = reference
    assert len(rows) == N and len(masks) == N
    assert all(status == "annotated" for *_, status, _ in rows)
    with Dataset.open(root / "manga") as manga:
        assert len(manga) == N and all(s.parent_id for s in manga.samples())
    assert str(root / "store") in output and "gt" in output
    r = CliRunner().invoke(cli, ["info", str(root / "store")])
    assert r.exit_code == 0 and f"samples         {N}" in r.output


def _read_back(tmp_path, sources, labelmap, fmt):
    """An export ingested into a fresh store: sample id (a pixel hash) -> HxW uint8 mask."""
    with Dataset.create(tmp_path / f"back-{fmt}", labelmap=labelmap) as back:
        for src in sources:
            report = ingest(back, src, IngestConfig(format=fmt, workers=0, near_dup_bits=-1))
            assert report.format == fmt and report.added > 0, src
        return {s.id: back.read_mask(s.id) for s in back.samples()}


def test_demo_outputs_hold_the_store(reference, tmp_path):
    """The demo's outputs carry the store's data, not just exist: both exports read back to the store's masks
    pixel for pixel, the validate report and the stats agree with the store, the contact sheet shows masks."""
    root, (rows, _, _), _ = reference
    with Dataset.open(root / "store") as ds:
        labelmap = ds.labelmap
        store = {s.id: (s.split, ds.read_mask(s.id)) for s in ds.samples()}
        colors = labelmap.colors_array()
    coco = sorted((root / "export-coco").glob("instances_*.json"))  # one per split
    for sources, fmt in ((coco, "coco"), ([root / "export-danbooru-parsing"], "index-folder")):
        back = _read_back(tmp_path, sources, labelmap, fmt)
        assert set(back) == set(store), fmt
        for sid, (_, mask) in store.items():
            assert np.array_equal(back[sid], mask), (fmt, sid)
    for split in {split for split, _ in store.values()}:  # COCO: one instances file per split, with its samples
        data = json.loads((root / "export-coco" / f"instances_{split}.json").read_text())
        assert len(data["images"]) == sum(s == split for s, _ in store.values())
        assert {c["id"] for c in data["categories"]} <= {c.id for c in labelmap.classes}

    report = json.loads((root / "validate.json").read_text())
    assert report["counts"]["error"] == 0 and report["samples"] == N
    with open(root / "stats" / "classes.csv", newline="") as fh:
        pixels = {int(r["id"]): int(r["pixels"]) for r in csv.DictReader(fh)}
    assert pixels == {c: n for c, n in enumerate(np.bincount(np.concatenate([m.ravel() for _, m in store.values()]),
                                                             minlength=256)) if c in pixels}
    assert sum(pixels.values()) == sum(m.size for _, m in store.values())

    sheet = read_image(root / "manga-sheet.png")  # HxWx3: rows of input, coloured mask, manga variants
    assert sheet.shape[0] >= 4 * 128 and sheet.shape[1] >= 3 * 128
    seen = {tuple(c) for c in np.unique(sheet.reshape(-1, 3), axis=0)}
    common = [c for c in range(1, len(labelmap)) if sum((m == c).any() for _, m in store.values()) == N]
    assert common and all(tuple(colors[c]) in seen for c in common), "the mask column lost the label-map colours"


def _count(store):
    try:
        db = sqlite3.connect(f"file:{store / 'manifest.sqlite'}?mode=ro", uri=True, timeout=0.05)
        return db.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.Error:
        return -1


# kill points: while generating (by generated-file count), during init, and after k samples were committed
KILLS = [("raw", 2), ("raw", 7), ("store", 0), ("samples", 1), ("samples", 4), ("samples", 7),
         ("file", "validate.json"), ("file", "export-coco"), ("file", "manga")]


@pytest.mark.slow  # two demo subprocesses per case
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
