"""animeparse.parallel.ordered_map: input order, bounded window, errors, and workers that die with their parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from animeparse.parallel import ordered_map

from .conftest import REPO


def _square(x: int) -> int:
    time.sleep(0.002 * (x % 3))  # finish out of order
    return x * x


def _boom(x: int) -> int:
    if x == 5:
        raise ValueError("item 5")
    return x


_OFFSET = 0


def _set_offset(offset: int) -> None:
    global _OFFSET
    _OFFSET = offset


def _add_offset(x: int) -> int:
    return x + _OFFSET


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_results_come_back_in_input_order(workers):
    assert list(ordered_map(_square, range(40), workers=workers)) == [(x, x * x) for x in range(40)]


def test_initializer_runs_in_the_workers():
    assert [r for _, r in ordered_map(_add_offset, range(5), workers=2, initializer=_set_offset, initargs=(100,))] \
        == [100, 101, 102, 103, 104]


def test_a_worker_error_reaches_the_caller():
    with pytest.raises(ValueError, match="item 5"):
        list(ordered_map(_boom, range(20), workers=2))


def test_the_window_bounds_the_items_taken_ahead():
    taken = []

    def items():
        for i in range(100):
            taken.append(i)
            yield i

    gen = ordered_map(_square, items(), workers=2, window=3)
    next(gen)
    assert len(taken) <= 4  # the window plus the one just yielded
    gen.close()


_CHILD = """
import sys, time
from animeparse.parallel import ordered_map
def nap(x):
    time.sleep(60)
    return x
if __name__ == "__main__":
    for _ in ordered_map(nap, range(4), workers=2):
        pass
"""


def test_workers_die_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, start_new_session=True)
    try:
        deadline, workers = time.monotonic() + 30, []
        while len(workers) < 2 and time.monotonic() < deadline:  # wait until both workers are up
            workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            time.sleep(0.05)
        assert len(workers) == 2, "the pool's workers did not start"
        proc.kill()
        proc.wait(timeout=10)
        deadline, alive = time.monotonic() + 10, workers
        while alive and time.monotonic() < deadline:
            alive = [w for w in workers if _alive(int(w))]
            time.sleep(0.05)
        assert not alive, f"workers {alive} outlived their killed parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
