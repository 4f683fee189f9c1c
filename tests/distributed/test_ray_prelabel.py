"""``prelabel --engine ray`` on the session's local Ray instance: the local engine's masks byte for byte, a killed
driver resumed without committing anything twice, and a clear refusal when workers cannot read the store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.prelabel import TrainConfig, train_parser

from ..prelabel import make_face_store, save_tiny_sam

N_NEW = 12



pytestmark = pytest.mark.usefixtures("one_torch_thread")

@pytest.fixture(scope="module")
def store_root(tmp_path_factory) -> Path:
    """2 labelled faces (a 1-epoch parser, run p1, trained on them) and N_NEW unlabelled ones, 64 px; a tiny SAM."""
    root = tmp_path_factory.mktemp("rayprelabel")
    with make_face_store(root, n_train=2, n_unlabeled=N_NEW, size=64) as ds:
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu", run_id="p1"))
    save_tiny_sam(root / "tiny_sam.pth")
    return root / "store"


def _masks(db: Path, layer: str) -> dict[str, str]:
    """{sample id: mask SHA-256} of a layer, read straight from the manifest."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return dict(con.execute("SELECT sample_id, sha256 FROM masks WHERE layer = ?", (layer,)).fetchall())


def _prelabel(*args: str) -> dict:
    r = CliRunner().invoke(cli, ["-q", "prelabel", *args, "--json"])
    assert r.exit_code == 0, r.output
    assert r.output.lstrip().startswith("{"), f"--json printed more than the JSON: {r.output[:2000]!r}"
    return json.loads(r.output)


def test_ray_gives_the_local_masks_confidences_and_scores(store_root, ray_address):
    common = [str(store_root), "--sam", "none", "--batch-size", "3"]  # 12 samples: the last batch is short too
    local = _prelabel(*common, "--run", "eq-local", "--device", "cpu")
    ray = _prelabel(*common, "--run", "eq-ray", "--engine", "ray", "--workers", "2")
    assert (local["engine"], local["workers"]) == ("local", None)
    assert (ray["engine"], ray["workers"], ray["computed"]) == ("ray", 2, N_NEW)
    db = store_root / "manifest.sqlite"
    masks = _masks(db, "prelabel/eq-local")
    assert len(masks) == N_NEW and _masks(db, "prelabel/eq-ray") == masks
    with Dataset.open(store_root) as ds:
        for sid in masks:
            assert ds.mask_record(sid, "prelabel/eq-ray").score == ds.mask_record(sid, "prelabel/eq-local").score
            conf = [(store_root / "runs" / run / "confidence" / f"{sid}.png").read_bytes()
                    for run in ("eq-local", "eq-ray")]
            assert conf[0] == conf[1]
        run = ds.run("eq-ray")
        assert run.status == "finished" and run.params["engine"] == "ray"
        assert run.summary["workers"] == 2 and ds.run("eq-local").params["engine"] == "local"


def test_killed_ray_run_resumes_without_duplicates_to_the_local_result(store_root, ray_address):
    """SIGKILL the driver (a subprocess joined to the session's Ray) after it committed a few samples; the same
    --run finishes the rest, commits no sample twice, and equals an uninterrupted local run (parser + tiny SAM)."""
    sam = ["--checkpoint", str(store_root.parent / "tiny_sam.pth"), "--batch-size", "1"]
    local = _prelabel(str(store_root), *sam, "--run", "kill-local", "--device", "cpu", "--no-cache")
    args = ["prelabel", str(store_root), *sam, "--run", "kill-ray", "--engine", "ray", "--workers", "2"]
    # the fixture's process set RAY_AUTH_MODE=token; the child reads the same ~/.ray/auth_token
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "animeparse", "-q", *args, "--ray-address", ray_address],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = store_root / "manifest.sqlite"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None and len(_masks(db, "prelabel/kill-ray")) < 2:
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    before = _masks(db, "prelabel/kill-ray")
    assert 2 <= len(before) < N_NEW

    out = _prelabel(*args[1:])
    assert out["skipped_done"] == len(before) and out["computed"] == N_NEW - len(before)
    assert _masks(db, "prelabel/kill-ray") == _masks(db, local["layer"])
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        commits = con.execute("SELECT sample_id FROM events WHERE run_id = 'kill-ray' AND kind IN "
                              "('put_mask', 'replace_mask')").fetchall()
    assert sorted(commits) == sorted(set(commits)) and len(commits) == N_NEW  # each sample committed once
    with Dataset.open(store_root) as ds:
        assert ds.run("kill-ray").status == "finished"


def test_worker_that_cannot_read_the_store_stops_before_writing(store_root, ray_address):
    with Dataset.open(store_root) as ds:
        runs, layers = [r.id for r in ds.runs()], ds.layers()
    r = CliRunner().invoke(cli, ["-q", "prelabel", str(store_root), "--sam", "none", "--run", "blind",
                                 "--engine", "ray", "--worker-store", "/nonexistent/store"])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "cannot read the store" in lines[0] and "/nonexistent/store" in lines[0]
    assert "--worker-store" in lines[0]
    with Dataset.open(store_root) as ds:
        assert [r.id for r in ds.runs()] == runs and ds.layers() == layers
    assert not (store_root / "runs" / "blind").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--workers", "2"], "--workers sets the Ray actor pool; it needs --engine ray"),
    (["--worker-store", "/x"], "need --engine ray"),
    (["--engine", "ray", "--gpu"], "pass --gpus-per-worker"),
], ids=["workers-local", "worker-store-local", "gpu-without-gpus-per-worker"])
def test_engine_option_refusals(store_root, extra, message):
    r = CliRunner().invoke(cli, ["prelabel", str(store_root), "--sam", "none", "--run", "refused", *extra])
    assert r.exit_code == 1 and message in r.output, r.output
    with Dataset.open(store_root) as ds:
        assert ds.run("refused") is None


def test_worker_error_stops_the_run_after_committing_the_batches_before_it(tmp_path, ray_address):
    """An image a worker cannot decode comes back as the local engine's error (one line naming the file), in
    order: every batch before it is committed, none after, and the run is recorded as failed."""
    with make_face_store(tmp_path, n_train=1, n_unlabeled=5, size=64) as ds:
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu", run_id="p1"))
        todo = ds.samples(split="new")  # the order prelabel takes them in
    bad = todo[2]
    (tmp_path / "store" / bad.image).write_bytes(b"not an image")
    r = CliRunner().invoke(cli, ["-q", "prelabel", str(tmp_path / "store"), "--sam", "none", "--batch-size", "1",
                                 "--run", "err", "--engine", "ray", "--workers", "2"])
    assert r.exit_code == 1, r.output
    # Ray itself may add a "(raylet) ... will be retried" line for the actors it stops when the run ends early
    ours = [line for line in r.output.splitlines() if line.strip() and "(raylet)" not in line]
    assert len(ours) == 1 and ours[0].startswith("Error: on Ray worker") and bad.image in ours[0], r.output
    assert set(_masks(tmp_path / "store" / "manifest.sqlite", "prelabel/err")) == {s.id for s in todo[:2]}
    with Dataset.open(tmp_path / "store") as ds:
        assert ds.run("err").status == "failed"
