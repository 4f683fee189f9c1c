"""Fixtures for the FiftyOne bridge: one real FiftyOne database per test session, small stores with literal masks,
and Chromium for the app screenshot.

The database (a ``mongod`` started by :class:`animeparse.view.FiftyOneDB` in a temp folder) lives for the whole
session; teardown stops it and fails if any process still uses the folder. Without fiftyone (the ``fiftyone``
extra) or Chromium the tests skip on a developer machine and fail under CI; under CI a missing Chromium is first
installed with apt-get (logged in the terminal summary).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, MaskInput, load_labelmap

_NOTES: list[str] = []  # shown at the end of the run


def _unavailable(message: str) -> None:
    """Under CI a missing dependency is a failure; on a developer machine the tests skip."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def processes_using(path: Path) -> list[int]:
    """PIDs whose command line mentions ``path`` (the mongod of a database folder, say)."""
    needle = os.fsencode(str(path))
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if needle in cmdline and state != "Z" and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session")
def fo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """An open :class:`FiftyOneDB` on a temp folder, shared by the session; stopped and checked at the end."""
    if importlib.util.find_spec("fiftyone") is None:
        _unavailable("fiftyone is not installed: pip install -e '.[fiftyone]'")
    from animeparse.view import FiftyOneDB

    t0 = time.monotonic()
    db = FiftyOneDB(tmp_path_factory.mktemp("fiftyone-db")).open()
    _NOTES.append(f"FiftyOne database: mongod {db.pid} started in {time.monotonic() - t0:.1f} s")
    try:
        yield db
    finally:
        db.close()
        left = processes_using(db.db_dir)
        for pid in left:  # never leave a stray mongod on a shared machine, even when the test fails
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes still using the FiftyOne database after close: {left}"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (``/usr/bin/chromium``); under CI installed with apt-get when missing."""
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe is None and os.environ.get("CI") and shutil.which("apt-get"):
        t0 = time.monotonic()
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = [["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]]
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
        exe = shutil.which("chromium")
        _NOTES.append(f"installed chromium with apt-get in {time.monotonic() - t0:.0f} s (CI set-up)")
    if exe is None:
        _unavailable("chromium not found: apt-get install chromium (Debian) to run the app screenshot test")
    assert exe is not None
    return exe


@pytest.fixture()
def labelmap():
    return load_labelmap("danbooru-parsing")


def stripes(size_hw: tuple[int, int], ids: tuple[int, ...], *, shift: int = 0) -> np.ndarray:
    """HxW uint8: vertical bands of ``ids`` from left to right, moved ``shift`` columns right (wrapping)."""
    h, w = size_hw
    mask = np.zeros((h, w), np.uint8)
    for k, cid in enumerate(ids):
        mask[:, k * w // len(ids):] = cid
    return np.roll(mask, shift, axis=1)


def make_store(root: Path, labelmap, specs: list[dict]) -> list[str]:
    """A store with one sample per spec: ``image`` (HxWx3, default random by index), ``gt`` / ``pre`` masks
    (layer ``prelabel/run1``), ``score``, ``split``; returns the sample ids in spec order."""
    ds = Dataset.create(root, labelmap=labelmap)
    ids = []
    try:
        for i, spec in enumerate(specs):
            mask = spec.get("gt", spec.get("pre"))
            h, w = mask.shape if mask is not None else (16, 24)
            image = spec.get("image")
            if image is None:
                image = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
            path = root.parent / f"{root.name}-src-{i}.png"
            Image.fromarray(image).save(path)
            masks = {}
            if spec.get("gt") is not None:
                masks["gt"] = MaskInput(mask_hw=spec["gt"], origin={"kind": "human"})
            if spec.get("pre") is not None:
                masks["prelabel/run1"] = MaskInput(mask_hw=spec["pre"], origin={"kind": "machine"},
                                                   score=spec.get("score"))
            sample, _ = ds.add_sample(path, masks=masks, split=spec.get("split", "train"), name=f"s{i}.png")
            ids.append(sample.id)
    finally:
        ds.close()
    return ids


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for note in _NOTES:
        terminalreporter.write_line(f"view tests: {note}")


def independent_iou(pred: np.ndarray, gt: np.ndarray, ids, ignore: int = 255) -> dict[int, float]:
    """IoU with explicit set operations per class (no confusion matrix): the reference for the mirror's fields."""
    keep = gt != ignore
    out = {}
    for c in ids:
        p, g = (pred == c) & keep, (gt == c) & keep
        union = np.logical_or(p, g).sum()
        if union:
            out[c] = float(np.logical_and(p, g).sum() / union)
    return out
