"""Concurrency: one writer at a time (a second one is refused, naming the holder's PID), a stale lock left by a
killed writer is recovered (also when its worker processes outlive it), and readers (``Dataset.open``, ``info``,
``validate``, ``export``) see a consistent store while an ingest runs in another process.

The writer is driven by the fault runner (tests/reliability/faultkit.py): paused at chosen steps (files of a batch
moved in but not committed; a batch committed) so the readers look at the store at those exact moments, then let
go while the readers keep polling until it ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from animeparse import Dataset, LockError, load_labelmap
from animeparse.cli.main import cli

from . import faultkit
from .faultkit import integrity_findings, record, store_state

pytestmark = pytest.mark.slow  # ingests of 150 faces in subprocesses, paused, killed and polled
N_MANY = 150  # three commit batches of ingest (64 each)


def invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("concurrency")
    r = invoke(["-q", "demo-data", str(root / "src"), "-n", str(N_MANY), "--seed", "7", "--size", "64"])
    assert r.exit_code == 0, r.output
    return root / "src"


def new_store(path: Path) -> Path:
    Dataset.create(path, labelmap=load_labelmap("danbooru-parsing")).close()
    return path


def paused_ingest(src: Path, store: Path, points: list[str], pause: Path, *,
                  action: str = "pause") -> subprocess.Popen[str]:
    """``animeparse ingest`` under the fault runner, in its own session (its workers with it)."""
    return subprocess.Popen(faultkit.command("-q", "ingest", str(src), "--into", str(store), at=points, action=action,
                                             pause_file=pause), cwd=faultkit.REPO, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the writer ended (exit {proc.returncode}) before {path.name}"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.02)


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill the writer's whole session (its worker processes too) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def lock_pid(store: Path) -> int | None:
    first = (store / ".lock").read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
    return int(first) if first.isdigit() else None


# -- one writer at a time --------------------------------------------------------------------------------------------
def test_second_writer_is_refused_with_the_holders_pid_and_readers_are_not(faces, tmp_path):
    store = new_store(tmp_path / "ds")
    proc = paused_ingest(faces, store, ["commit:2"], tmp_path / "p")  # holding the lock, the first batch in flight
    try:
        wait_for(tmp_path / "p.1.reached", proc)
        for args in (["ingest", str(faces), "--into", str(store)], ["split", str(store)]):
            r = invoke(["-q", *args])
            assert r.exit_code == 1, r.output
            line = [x for x in r.output.splitlines() if x.startswith("Error:")][-1]
            assert f"PID {proc.pid}" in line and "ingest" in line and "wait for it to finish" in line, line
        with pytest.raises(LockError) as err:
            Dataset.open(store, write=True)
        assert err.value.pid == proc.pid
        info = invoke(["info", str(store)])  # readers are never blocked
        assert info.exit_code == 0 and "samples         0" in info.output, info.output
        (tmp_path / "p.1.go").touch()
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            stop(proc)
    assert invoke(["-q", "split", str(store)]).exit_code == 0  # the lock is free once the writer ended
    assert len(store_state(store)["samples"]) == N_MANY
    record("concurrency: second writer refused with the holder's PID", faults=3, samples=N_MANY, lost=0, doubled=0)


# -- stale locks -----------------------------------------------------------------------------------------------------
def test_lock_of_a_killed_writer_is_recovered(faces, tmp_path):
    store = new_store(tmp_path / "ds")
    killed = faultkit.run("-q", "ingest", str(faces), "--into", str(store), at="replace:200")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    dead = lock_pid(store)
    assert dead is not None and dead != os.getpid()  # the dead writer's PID is still written in the lock file
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    with Dataset.open(store) as ds:
        partial = len(ds)
    assert 0 < partial < N_MANY  # killed in the middle: the first batch is in, the second was not
    r = invoke(["-q", "ingest", str(faces), "--into", str(store)])  # the kernel freed the flock: no stale lock
    assert r.exit_code == 0, r.output
    assert len(store_state(store)["samples"]) == N_MANY and integrity_findings(store) == []
    assert (store / ".lock").read_text() == ""  # released cleanly: nothing stale left to read
    record("stale lock: writer SIGKILLed, next writer proceeds", faults=1, samples=N_MANY, lost=0, doubled=0)


def test_lock_file_content_never_decides(faces, tmp_path):
    """The PID written in .lock only names the holder: a live process's PID (a reused PID) or garbage in a lock
    nobody holds blocks nothing, and a holder's refusal names the real holder."""
    store = new_store(tmp_path / "ds")
    for planted in (f"{os.getpid()}\nsomehost animeparse ingest (planted)\n", "not a pid\n\x00\xff"):
        (store / ".lock").write_text(planted, encoding="utf-8", errors="surrogateescape")
        with Dataset.open(store, write=True) as ds:
            assert lock_pid(store) == os.getpid() and "planted" not in (store / ".lock").read_text()
            assert len(ds) == 0
    proc = paused_ingest(faces, store, ["commit:1"], tmp_path / "p")
    try:
        wait_for(tmp_path / "p.1.reached", proc)
        assert lock_pid(store) == proc.pid
        with pytest.raises(LockError, match=f"PID {proc.pid}"):
            Dataset.open(store, write=True)
        (store / ".lock").write_text("12345\n", encoding="utf-8")  # someone edits the file: the flock still holds
        with pytest.raises(LockError):
            Dataset.open(store, write=True)
    finally:
        stop(proc)
    with Dataset.open(store, write=True):  # the holder was killed: free again
        pass
    record("stale lock: planted PIDs and garbage in .lock ignored", faults=3, samples=0, lost=0, doubled=0)


def test_workers_of_a_killed_writer_die_with_it_and_hold_no_lock(faces, tmp_path):
    """``kill -9`` of the ingest process alone: its decoding workers die with it (``PR_SET_PDEATHSIG``, see
    animeparse/parallel.py) instead of living on as orphans, and none keeps the store locked (they inherit the lock's
    descriptor through fork, so each closes it at once)."""
    store = new_store(tmp_path / "ds")
    # kill-main: SIGKILL to the ingest process only, after it has handed 20 items to its 2 worker processes
    proc = subprocess.Popen(faultkit.command("-q", "ingest", str(faces), "--into", str(store), "--workers", "2",
                                             at="submit:20", action="kill-main"), cwd=faultkit.REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.wait(timeout=120) == -signal.SIGKILL
        deadline, left = time.monotonic() + 20, ["?"]
        while left and time.monotonic() < deadline:
            left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
            time.sleep(0.1)
        assert not left, f"worker processes {left} outlived the killed writer"
        r = invoke(["-q", "ingest", str(faces), "--into", str(store)])
        assert r.exit_code == 0, r.output  # not "another animeparse process is writing (PID <dead>)"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left of the killed writer's session
    assert len(store_state(store)["samples"]) == N_MANY and integrity_findings(store) == []
    record("stale lock: writer killed alone, its workers die with it and hold no lock", faults=1, samples=N_MANY,
           lost=0, doubled=0)


# -- readers during a write ------------------------------------------------------------------------------------------
def check_reader_view(store: Path, export_to: Path | None = None) -> int:
    """Open the store read-only and check every sample it shows: image and masks present with their SHA-256s.
    Optionally run ``info``, ``validate`` and ``export`` too. Returns the samples seen."""
    with Dataset.open(store) as ds:
        samples = ds.samples()
        for s in samples:
            assert hashlib.sha256(ds.image_path(s).read_bytes()).hexdigest() == s.file_sha256
            for m in ds.masks_of(s.id):
                assert hashlib.sha256((ds.root / m.path).read_bytes()).hexdigest() == m.sha256
    if export_to is not None:
        info = invoke(["info", str(store)])
        assert info.exit_code == 0 and f"samples         {len(samples)}" in info.output, info.output
        # files of the batch in flight have no row yet: at most orphan warnings, never a missing file or bit rot
        findings = integrity_findings(store)
        assert [f for f in findings if f["severity"] == "error"] == [], findings
        assert {f["code"] for f in findings} <= {"orphan_file"}
        r = invoke(["-q", "export", str(store), "--format", "coco", "--out", str(export_to), "--workers", "0"])
        assert r.exit_code == 0, r.output
        coco = json.loads((export_to / "instances_train.json").read_text())
        assert len(coco["images"]) >= len(samples)  # a commit may land between our look and the export's
        for image in coco["images"]:
            with Dataset.open(store) as ds:
                s = ds.sample(image["sample_id"])
                assert (export_to / image["file_name"]).read_bytes() == ds.image_path(s).read_bytes()
    return len(samples)


def test_readers_see_a_consistent_store_while_an_ingest_runs(faces, tmp_path):
    store = new_store(tmp_path / "ds")
    # pause 1: batch 2 half moved in (the first 64 committed); pause 2: batch 2 all moved in, its COMMIT next
    proc = paused_ingest(faces, store, ["replace:192", "commit:3"], tmp_path / "p")
    seen, polls = [], 0
    try:
        for k in (1, 2):
            wait_for(tmp_path / f"p.{k}.reached", proc)
            seen.append(check_reader_view(store, tmp_path / f"export-{k}"))
            (tmp_path / f"p.{k}.go").touch()
        while proc.poll() is None:  # and while it runs on: poll as fast as we can
            seen.append(check_reader_view(store))
            polls += 1
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            stop(proc)
    assert seen[:2] == [64, 64] and seen == sorted(seen)  # whole batches only, never going back
    assert check_reader_view(store, tmp_path / "export-end") == N_MANY
    record("readers (open, info, validate, export) during an ingest", faults=2, samples=N_MANY, lost=0, doubled=0,
           note=f"{len(seen)} consistent views, {polls} of them free polls")
