"""``pseudo manga --engine ray`` on the session's local Ray instance: the local engine's images and masks byte for
byte, a killed driver resumed without duplicates, and a clear refusal (nothing created) when workers cannot read
the parent store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, MaskInput
from animeparse.cli.main import cli
from animeparse.translate.pseudo import PseudoConfig, make_manga

from ..prelabel import make_face_store

VARIANTS = 2
PARENTS = 19  # 16 with gt, 1 with only a prelabel layer, 1 face and 1 plain picture of another size with no mask
ARGS = ["--variants", str(VARIANTS), "--batch-size", "2", "--seed", "3"]



pytestmark = pytest.mark.usefixtures("one_torch_thread")

@pytest.fixture(scope="module")
def parent(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("raypseudo")
    with make_face_store(root, n_train=16, n_unlabeled=2, size=320) as ds:
        first_unlabeled = ds.samples(split="new")[0]
        mask = np.zeros((320, 320), np.uint8)
        mask[80:240, 80:240] = 1
        ds.put_mask(first_unlabeled.id, "prelabel/r1", MaskInput(mask, origin={"kind": "machine", "run": "r1"},
                                                                 score=0.5))
        plain = np.random.default_rng(7).integers(0, 256, (150, 200, 3), dtype=np.uint8)
        Image.fromarray(plain).save(root / "plain.png")
        ds.add_sample(root / "plain.png", split="new")
        assert len(ds) == PARENTS
    return root / "store"


def _outputs(store: Path) -> dict[tuple[str, int], tuple]:
    """{(parent id, variant): (sample id, image file SHA-256, {layer: mask SHA-256})} of a derived store."""
    db = store / "manifest.sqlite"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        masks: dict[str, dict[str, str]] = {}
        for sid, layer, sha in con.execute("SELECT sample_id, layer, sha256 FROM masks"):
            masks.setdefault(sid, {})[layer] = sha
        rows = con.execute("SELECT id, parent_id, json_extract(meta, '$.variant'), file_sha256 FROM samples")
        return {(pid, int(v)): (sid, fsha, masks.get(sid, {})) for sid, pid, v, fsha in rows}


@pytest.fixture(scope="module")
def local_out(parent, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("pseudo-local") / "manga"
    result = make_manga(parent, out, config=PseudoConfig(variants=VARIANTS, batch_size=2, seed=3, device="cpu"))
    assert result.translated == PARENTS * VARIANTS and result.duplicates == 0
    outputs = _outputs(out)
    # the prelabel-only sample is one region: pre-labels are carried only with --layer prelabel
    assert {tuple(sorted(m)) for _, _, m in outputs.values()} == {("gt",), ()}
    return outputs


def test_ray_gives_the_local_images_and_masks(parent, local_out, ray_address, tmp_path):
    out = tmp_path / "manga"
    r = CliRunner().invoke(cli, ["pseudo", "manga", str(parent), "--out", str(out), *ARGS, "--engine", "ray",
                                 "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert f"{PARENTS * VARIANTS} translated, 0 already there" in r.output and "x 2 Ray workers" in r.output
    assert _outputs(out) == local_out
    with Dataset.open(out) as ds:
        (run,) = ds.runs(kind="pseudo")
        assert run.params["engine"] == "ray" and run.summary["workers"] == 2
        assert {s.meta["translator"] for s in ds.samples()} == {"manga-v2"}
        assert {s.source.partition("#")[0] for s in ds.samples()} == {str(parent)}  # the driver's path


def test_killed_ray_run_resumes_without_duplicates(parent, local_out, ray_address, tmp_path):
    out = tmp_path / "manga"
    args = ["pseudo", "manga", str(parent), "--out", str(out), *ARGS, "--engine", "ray", "--workers", "2"]
    # the fixture's process set RAY_AUTH_MODE=token; the child reads the same ~/.ray/auth_token
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "animeparse", "-q", *args, "--ray-address", ray_address],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None and _count(out) < 2:
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed = _count(out)
    assert 2 <= killed < PARENTS * VARIANTS

    r = CliRunner().invoke(cli, [*args])
    assert r.exit_code == 0, r.output
    assert f"{PARENTS * VARIANTS - killed} translated, {killed} already there, 0 duplicate" in r.output
    assert _outputs(out) == local_out
    with sqlite3.connect(f"file:{out / 'manifest.sqlite'}?mode=ro", uri=True) as con:
        added = con.execute("SELECT sample_id FROM events WHERE kind = 'add_sample'").fetchall()
    assert len(added) == len(set(added)) == PARENTS * VARIANTS  # nothing committed twice


def _count(store: Path) -> int:
    db = store / "manifest.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return int(con.execute("SELECT count(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:  # being created
        return 0


def test_worker_that_cannot_read_the_parent_store_creates_nothing(parent, ray_address, tmp_path):
    out = tmp_path / "manga"
    r = CliRunner().invoke(cli, ["-q", "pseudo", "manga", str(parent), "--out", str(out), "--engine", "ray",
                                 "--worker-store", "/nonexistent/anime"])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "cannot read the store" in lines[0] and "/nonexistent/anime" in lines[0]
    assert not out.exists()


def test_workers_option_needs_the_ray_engine(parent, tmp_path):
    r = CliRunner().invoke(cli, ["pseudo", "manga", str(parent), "--out", str(tmp_path / "m"), "--workers", "2"])
    assert r.exit_code == 1 and "needs --engine ray" in r.output
    assert not (tmp_path / "m").exists()
