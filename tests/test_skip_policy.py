"""The suite's skip policy (tests/conftest.py) can fail: under CI=true an unexpected skip, at run time or when a
whole module skips at import, fails the run; the allow-listed skips (EXPECTED_SKIPS) and deselected ``long`` sweeps
do not; without CI the same skips stay skips. Run as an inner pytest in a subprocess with the real hooks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXPECTED_SKIPS, REPO

TESTS = {
    "test_runtime.py": "import pytest\n\ndef test_skips():\n    pytest.skip('the server is not running')\n",
    "test_missing.py": ("from tests.conftest import require\n\nrequire('no_such_module_for_animeparse')\n\n"
                        "def test_never():\n    pass\n"),
    "test_allowed.py": ("import pytest\n\n"
                        "@pytest.mark.gpu\ndef test_cuda():\n    pytest.skip('needs a CUDA GPU')\n\n"
                        "def test_unmarked_cuda():\n    pytest.skip('needs a CUDA GPU')\n\n"
                        "@pytest.mark.long\ndef test_sweep():\n    raise AssertionError('deselected')\n\n"
                        "def test_plain():\n    pass\n"),
}
CONFTEST = (f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
            "from tests.conftest import pytest_collection_modifyitems, pytest_make_collect_report, "
            "pytest_runtest_makereport  # noqa: F401\n")
INI = "[pytest]\nmarkers =\n    gpu: g\n    long: l\n    server: s\n    ray: r\n    slow: s\n"


def _inner(folder: Path, *, ci: bool) -> tuple[int, str]:
    for name, body in {**TESTS, "conftest.py": CONFTEST, "pytest.ini": INI}.items():
        (folder / name).write_text(body)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "ANIMEPARSE_LONG", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    cmd = [sys.executable, "-m", "pytest", "-v", "-rA", "-p", "no:cacheprovider", "--continue-on-collection-errors",
           str(folder)]
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout + done.stderr


def _outcomes(output: str) -> dict[str, str]:
    """test name -> PASSED / FAILED / SKIPPED, from the -v lines."""
    lines = re.finditer(r"^\S+::(\w+) (PASSED|FAILED|SKIPPED|ERROR)", output, re.M)
    return {m[1]: m[2] for m in lines}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[int, str]]:
    return {ci: _inner(tmp_path_factory.mktemp(f"ci-{ci}"), ci=ci) for ci in (True, False)}


def test_under_ci_unexpected_skips_fail_the_run(runs):
    code, output = runs[True]
    got = _outcomes(output)
    assert code == 1, output[-3000:]
    assert got["test_skips"] == "FAILED" and "unexpected skip under CI=true: the server is not running" in output
    assert got["test_unmarked_cuda"] == "FAILED", output[-3000:]  # the CUDA reason is allowed only with the gpu mark
    assert "no_such_module_for_animeparse is not installed" in output and "ERROR" in output
    assert got["test_cuda"] == "SKIPPED" and got["test_plain"] == "PASSED"
    assert "test_sweep" not in got and "1 deselected" in output


def test_without_ci_the_same_skips_stay_skips(runs):
    code, output = runs[False]
    got = _outcomes(output)
    assert code == 0, output[-3000:]
    assert got["test_skips"] == got["test_unmarked_cuda"] == got["test_cuda"] == "SKIPPED"
    assert "no_such_module_for_animeparse is not installed" in output and "ERROR" not in output


def test_the_allow_list_is_documented():
    doc = (REPO / "docs" / "testing.md").read_text(encoding="utf-8")
    for marker, text, _why in EXPECTED_SKIPS:
        assert text in doc and (marker is None or f"`{marker}`" in doc), text
