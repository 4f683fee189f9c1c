"""Shared fixtures: tiny images with literal masks, a fresh store, the real third-party data beside the checkout.

Also the suite's policy on skips and markers (see docs/testing.md, "Markers and skips"):

- ``require(module, extra=...)`` imports an optional dependency for a test: it skips on a developer machine
  without it and **fails under CI** (``CI`` set, as ``.ci/run`` does), so a missing dependency never passes as a skip;
- under CI any skip not in :data:`EXPECTED_SKIPS` fails the run (during collection too);
- the markers ``server`` and ``ray`` are added here from the fixtures a test uses (:data:`FIXTURE_MARKERS`), so
  ``-m "not server"`` stays right when a test starts using a server; ``gpu``, ``long`` and ``slow`` are set in the
  test modules, or here by node id (:data:`PATH_MARKERS`) where a module cannot carry them; ``long`` tests
  (every-step sweeps) are deselected unless ``-m`` names ``long`` or ``ANIMEPARSE_LONG=1``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, load_labelmap

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ANIMEPARSE_SHARED_DATA", REPO.parent / "shared" / "data"))
ON_CI = bool(os.environ.get("CI"))  # the same test as the fixtures' own `if os.environ.get("CI")`

# Skips expected on a CI runner, as (marker the test must carry or None, text the skip reason must contain, why).
# Anything else that skips under CI fails the run: a missing package, server, data file or model is a failure there.
EXPECTED_SKIPS: tuple[tuple[str | None, str, str], ...] = (
    ("gpu", "needs a CUDA GPU", "CUDA-only tests: CI runners have no GPU"),
    # the opposite case: tests of the error a CPU-only machine gives, skipped on a machine that has CUDA
    (None, "this machine has CUDA", "prelabel's no-CUDA error, on a runner with a GPU"),
    (None, "checks the error on a machine without CUDA", "the translator's no-CUDA error, on a runner with a GPU"),
)

# fixture -> marker: a test that uses the fixture (directly or through another fixture) carries the marker
FIXTURE_MARKERS = {
    "ls_server": "server",  # a real Label Studio server (tests/annotate/conftest.py)
    "fo_db": "server",  # the FiftyOne database: a real mongod (tests/view/conftest.py)
    "chromium": "server",  # headless Chromium for the FiftyOne app screenshot
    "ray_address": "ray",  # a local Ray instance (tests/distributed/conftest.py)
}
# node id prefix -> markers, for tests whose modules carry no pytestmark of their own: the Ray suite's local-engine
# references, and the slow cases of tests/prelabel/ (being rewritten in parallel: marked from here; a renamed test
# just runs in --fast until it is listed again)
PATH_MARKERS: dict[str, tuple[str, ...]] = {
    "tests/distributed/": ("ray",),
    "tests/prelabel/test_prelabel_run.py::test_sigkill_then_rerun": ("slow",),  # kills a prelabel subprocess
}


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for a module, like each Ray worker here: on a shared 2-core runner torch's thread
    pool spins against the other processes (a training step took 13 s with two threads, 0.5 s with one);
    restored after the module."""
    torch = require("torch", extra="sam")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def require(module: str, *, extra: str = "test") -> ModuleType:
    """Import ``module`` for a test (at module level or inside a test): skip without it on a developer machine,
    fail under CI. ``extra``: the setup.cfg extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        message = f"{module} is not installed ({err}); pip install -e '.[{extra}]'"
    if ON_CI:  # outside the except block: the message alone, without the ImportError's traceback chained to it
        pytest.fail(f"{message} (CI: a missing dependency fails instead of skipping)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def _long_requested(config: pytest.Config) -> bool:
    return "long" in (config.getoption("markexpr") or "") or os.environ.get("ANIMEPARSE_LONG") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in names and not item.get_closest_marker(marker):
                item.add_marker(marker)
        for prefix, markers in PATH_MARKERS.items():
            if item.nodeid.startswith(prefix):
                for marker in markers:
                    item.add_marker(marker)
    if not _long_requested(config):
        # the every-step sweeps run only when asked (pytest -m long, ANIMEPARSE_LONG=1): deselected, not skipped
        keep = [item for item in items if not item.get_closest_marker("long")]
        if len(keep) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("long")])
            items[:] = keep


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _expected_skip(item: pytest.Item | None, reason: str) -> bool:
    return any(text in reason and (marker is None or (item is not None and item.get_closest_marker(marker)))
               for marker, text, _ in EXPECTED_SKIPS)


def _fail_unexpected_skip(report: pytest.CollectReport | pytest.TestReport, item: pytest.Item | None) -> None:
    if not ON_CI or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if _expected_skip(item, reason):
        return
    report.outcome = "failed"
    report.longrepr = (f"unexpected skip under CI=true: {reason}\nCI fails every skip that is not listed in "
                       "EXPECTED_SKIPS (tests/conftest.py); install what is missing, or list the skip there with why")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    _fail_unexpected_skip(outcome.get_result(), item)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    """A module that skips as a whole (a failed import at module level) is a collection report, not a test's."""
    outcome = yield
    _fail_unexpected_skip(outcome.get_result(), None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (see its README). Missing data fails under CI rather than skipping silently."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared test data not found at {SHARED_DATA}")
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def danbooru():
    return load_labelmap("danbooru-parsing")


def make_pair(folder: Path, stem: str, *, size_hw: tuple[int, int] = (24, 32), seed: int = 0,
              ids: tuple[int, ...] = (0, 1, 17)) -> tuple[Path, Path, np.ndarray]:
    """Write images/<stem>.png (random RGB) and masks/<stem>.png (L-mode ids, literal stripes); return paths + mask."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    for k, cid in enumerate(ids):
        mask[:, k * w // len(ids):] = cid
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    ip, mp = folder / "images" / f"{stem}.png", folder / "masks" / f"{stem}.png"
    Image.fromarray(image).save(ip)
    Image.fromarray(mask, mode="L").save(mp)
    return ip, mp, mask


@pytest.fixture()
def store(tmp_path, danbooru):
    ds = Dataset.create(tmp_path / "store", labelmap=danbooru)
    yield ds
    ds.close()
