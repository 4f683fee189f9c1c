"""Prelabel runs: SIGKILL then resume without recomputing, sample selection, the GPU refusal, run records."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.prelabel import PrelabelConfig, TrainConfig, prelabel, select_samples, train_parser

from . import make_face_store, save_tiny_sam

N_NEW = 16


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    """4 labelled faces (a 1-epoch parser, run p1, is trained on them) and 16 unlabelled ones, 96 px."""
    root = tmp_path_factory.mktemp("runstore")
    with make_face_store(root, n_train=4, n_unlabeled=N_NEW, size=96) as ds:
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu", run_id="p1"))
    save_tiny_sam(root / "tiny_sam.pth")
    return root / "store"


def _done(db_path, layer):
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return {r[0]: r[1] for r in db.execute("SELECT sample_id, path FROM masks WHERE layer = ?", (layer,))}


def test_sigkill_then_rerun_finishes_without_recomputing(store_root):
    args = ["prelabel", str(store_root), "--run", "k1", "--batch-size", "1", "--device", "cpu",
            "--checkpoint", str(store_root.parent / "tiny_sam.pth")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "animeparse", "-q", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = store_root / "manifest.sqlite"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and len(_done(db, "prelabel/k1")) >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = _done(db, "prelabel/k1")
    assert 3 <= len(done) < N_NEW
    mtimes = {sid: (store_root / path).stat().st_mtime_ns for sid, path in done.items()}
    cached = {p: p.stat().st_mtime_ns for p in (store_root / "cache" / "sam").rglob("*.pt")}
    assert len(cached) >= len(done)

    r = CliRunner().invoke(cli, ["-q", *args, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["skipped_done"] == len(done) and out["computed"] == N_NEW - len(done)
    assert out["encoded"] == N_NEW - len(cached)  # embeddings cached before the kill are not recomputed
    after = _done(db, "prelabel/k1")
    assert len(after) == N_NEW
    assert {sid: (store_root / after[sid]).stat().st_mtime_ns for sid in done} == mtimes
    assert {p: p.stat().st_mtime_ns for p in cached} == cached
    with Dataset.open(store_root) as ds:
        assert ds.run("k1").status == "finished"
        assert {s.status for s in ds.samples(split="new")} == {"prelabeled"}
    r = CliRunner().invoke(cli, ["-q", *args, "--json"])  # nothing left to do
    assert json.loads(r.output)["computed"] == 0


def test_resuming_with_other_models_is_refused(store_root, tmp_path):
    with Dataset.open(store_root, write=True) as ds:
        prelabel(ds, PrelabelConfig(device="cpu", sam="none", run_id="r1", limit=2))
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu", run_id="p2", seed=1))
    r = CliRunner().invoke(cli, ["prelabel", str(store_root), "--run", "r1", "--sam", "none", "--device", "cpu",
                                 "--parser", "p2"])
    assert r.exit_code == 1 and "was started with another parser" in r.output
    r = CliRunner().invoke(cli, ["prelabel", str(store_root), "--run", "r1", "--sam", "none", "--device", "cpu",
                                 "--parser", "p1", "--agree-iou", "0.9"])
    assert r.exit_code == 1 and "was started with agree_iou=0.6" in r.output


def test_selection_options(store_root):
    with Dataset.open(store_root, write=True) as ds:
        labelled = {s.id for s in ds.samples(layer="gt")}
        assert {s.id for s in select_samples(ds, "unlabeled")}.isdisjoint(labelled)
        assert len(select_samples(ds, "all")) == len(ds)
        assert {s.split for s in select_samples(ds, "split:train")} == {"train"}
        first = ds.samples(split="new")[0]
        ds.add_tags(first.id, ["check"])
        assert [s.id for s in select_samples(ds, "tag:check")] == [first.id]
        result = prelabel(ds, PrelabelConfig(device="cpu", sam="none", run_id="lc", only="tag:check"))
        score = ds.mask_record(first.id, "prelabel/lc").score
        assert result.computed == 1 and score is not None
        # the newest prelabel of a sample decides (other samples carry earlier runs' layers)
        assert first.id in {s.id for s in select_samples(ds, "low-confidence", low_confidence_below=score + 0.01)}
        assert first.id not in {s.id for s in select_samples(ds, "low-confidence", low_confidence_below=score - 0.01)}
        assert labelled.isdisjoint(s.id for s in select_samples(ds, "low-confidence", low_confidence_below=1.01))
        limited = prelabel(ds, PrelabelConfig(device="cpu", sam="none", run_id="lim", only="all", limit=3))
        assert limited.computed == 3 and limited.selected == len(ds)
    r = CliRunner().invoke(cli, ["prelabel", str(store_root), "--only", "bogus", "--sam", "none", "--device", "cpu"])
    assert r.exit_code == 1 and "use all, unlabeled, low-confidence" in r.output
    r = CliRunner().invoke(cli, ["prelabel", str(store_root), "stray-word", "--sam", "none"])
    assert r.exit_code == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", [["prelabel", "{ds}", "--gpu", "--sam", "none"],
                                     ["parser", "train", "{ds}", "--gpu", "--epochs", "1"],
                                     ["prelabel", "{ds}", "--device", "cuda:0", "--sam", "none"]],
                         ids=["prelabel", "parser-train", "device-cuda"])
def test_gpu_without_cuda_fails_clearly(store_root, command):
    r = CliRunner().invoke(cli, ["-q", *(c.format(ds=store_root) for c in command)])
    assert r.exit_code == 1
    assert "asked for a CUDA GPU" in r.output and "torch.cuda.is_available() is False" in r.output
    assert "--device cpu" in r.output and len(r.output.strip().splitlines()) == 1


def test_gpu_and_cpu_together_is_a_usage_error(store_root):
    r = CliRunner().invoke(cli, ["prelabel", str(store_root), "--gpu", "--device", "cpu"])
    assert r.exit_code == 2 and "contradict" in r.output
