"""Faults injected from outside the product (tests/reliability/faultkit.py): SIGKILL at many steps of every long
command then a re-run, an I/O error on write, a full disk, a read-only store, a Label Studio server that stops in
the middle of a pull, checkpoints whose SHA-256 does not match.

A kill test runs the command once uninterrupted (the reference, which also counts its steps), then for each kill
point: a fresh copy of the starting state, the command killed by SIGKILL at that step (checked: it really died
there), a re-run to completion, and then the final state compared with the reference's: the same sample ids, mask
SHA-256s per layer, files on disk (no orphan) and, for exports, the same files byte for byte; ``animeparse
validate`` finds nothing in its integrity checks. CI kills each command before its first file step, after its
middle one and before its middle commit (exports: the final rename); ``pytest -m long tests/reliability`` kills it
at every step, before and after each call. With
``ANIMEPARSE_FAULT_LEDGER=FILE`` every case appends its figures (faults injected, samples checked, lost,
doubled) to FILE; ``python -m tests.reliability.faultkit --summary FILE`` prints the table of docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, load_labelmap
from animeparse.cli.main import cli
from animeparse.demo.synth import generate_face

from ..annotate.conftest import ls_server, start_server, stop_server  # noqa: F401 - the session's one server
from . import faultkit
from .faultkit import integrity_findings, record, store_state, tree_state

pytestmark = pytest.mark.slow  # every case runs the CLI in subprocesses, killed and re-run
N_FACES, SIZE = 12, 64
KILLED = -signal.SIGKILL


# -- helpers ---------------------------------------------------------------------------------------------------------
# tests marked ``long`` run with ``-m long`` (or ``ANIMEPARSE_LONG=1``); otherwise tests/conftest.py deselects them
def save_random_parser(path: Path) -> Path:
    """A randomly initialised small ParserNet saved in the real checkpoint layout (what ``parser train`` writes)."""
    import torch

    from animeparse.prelabel.parser import CHECKPOINT_FORMAT
    from animeparse.prelabel.parser_net import ParserArch, ParserNet

    labelmap = load_labelmap("danbooru-parsing")
    torch.manual_seed(0)
    arch = ParserArch(num_classes=len(labelmap), widths=(8, 8, 16, 16))
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": 1, "arch": arch.to_json(), "size": SIZE,
                "labelmap": json.dumps(labelmap.to_json(), sort_keys=True), "state_dict": ParserNet(arch).state_dict(),
                "epoch": 1, "epochs": 1, "done": True}, path)
    return path


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env)


def one_error_line(text: str) -> str:
    """The command's error: exactly one ``Error:`` line and no traceback."""
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, text[-3000:]
    return lines[0]


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


@dataclass(frozen=True)
class Scenario:
    """A command under test: how to make its starting state, its arguments, and what must match the reference."""

    name: str
    kind: str  # store: the command writes a store (compared by store_state); tree: an export (files, bytes)
    steps: tuple[str, str]  # the targets swept: (files, commits) for stores, (files, the final rename) for exports
    setup: Callable[[Path, Path], Path]  # (work, tmp) -> the output (store or export folder)
    args: Callable[[Path, Path], list[str]]  # (work, output) -> animeparse arguments
    env: dict[str, str] | None = None

    def state(self, out: Path) -> dict[str, Any]:
        if self.kind == "tree":
            return {"files": tree_state(out)}
        state = store_state(out)
        conf = out / "runs" / "k1" / "confidence"
        if conf.is_dir():  # prelabel's per-pixel confidence maps: the same bytes too
            state["confidence"] = tree_state(conf)
        return state


def _empty_store(work: Path, tmp: Path) -> Path:
    Dataset.create(tmp / "ds", labelmap=load_labelmap("danbooru-parsing")).close()
    return tmp / "ds"


SCENARIOS = {
    "ingest": Scenario("ingest", "store", ("replace", "commit"), _empty_store,
                       lambda w, o: ["-q", "ingest", str(w / "src"), "--into", str(o)]),
    "prelabel": Scenario("prelabel", "store", ("replace", "commit"), lambda w, t: copy_store(w / "base", t / "ds"),
                         lambda w, o: ["-q", "prelabel", str(o), "--parser", str(w / "parser.pt"), "--sam", "none",
                                       "--device", "cpu", "--only", "all", "--run", "k1", "--batch-size", "1"]),
    "pseudo-manga": Scenario("pseudo-manga", "store", ("replace", "commit"), lambda w, t: t / "manga",
                             lambda w, o: ["-q", "pseudo", "manga", str(w / "base"), "--out", str(o), "--device",
                                           "cpu", "--batch-size", "4"]),
    "export-coco": Scenario("export-coco", "tree", ("write", "replace"), lambda w, t: t / "out",
                            lambda w, o: ["-q", "export", str(w / "base"), "--format", "coco", "--out", str(o),
                                          "--workers", "0"]),
    "export-danbooru": Scenario("export-danbooru", "tree", ("write", "replace"), lambda w, t: t / "out",
                                lambda w, o: ["-q", "export", str(w / "base"), "--format", "danbooru-parsing",
                                              "--out", str(o), "--workers", "0"]),
}


@dataclass
class Reference:
    counts: dict[str, int]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 generated faces (64 px), a store with them ingested, and a random parser in the real layout."""
    root = tmp_path_factory.mktemp("faults")
    r = invoke(["-q", "demo-data", str(root / "src"), "-n", str(N_FACES), "--seed", "0", "--size", str(SIZE)])
    assert r.exit_code == 0, r.output
    _empty_store(root, root)
    (root / "ds").rename(root / "base")
    r = invoke(["-q", "ingest", str(root / "src"), "--into", str(root / "base"), "--workers", "0"])
    assert r.exit_code == 0, r.output
    save_random_parser(root / "parser.pt")
    return root


_REFERENCES: dict[tuple[Path, str], Reference] = {}


def reference(work: Path, scn: Scenario, tmp_root: Path) -> Reference:
    """The uninterrupted run (counted by the fault runner), once per scenario."""
    key = (work, scn.name)
    if key not in _REFERENCES:
        tmp = tmp_root / f"ref-{scn.name}"
        tmp.mkdir()
        out = scn.setup(work, tmp)
        r = faultkit.run(*scn.args(work, out), count=tmp / "count.json", env=scn.env)
        assert r.returncode == 0, r.stderr[-3000:]
        counts = json.loads((tmp / "count.json").read_text())["counts"]
        _REFERENCES[key] = Reference(counts=counts, state=scn.state(out))
    return _REFERENCES[key]


def lost_and_doubled(ref: dict[str, Any], got: dict[str, Any]) -> tuple[int, int, int]:
    """(samples in the reference, samples lost, samples doubled); exports count files."""
    if "samples" in ref:
        want, have = [r[0] for r in ref["samples"]], [r[0] for r in got["samples"]]
        extra_masks = max(0, len(got["masks"]) - len(ref["masks"])) + len(got["history"]) - len(ref["history"])
        return len(want), len(set(want) - set(have)), max(0, len(have) - len(set(want) & set(have))) + extra_masks
    want_f, have_f = set(ref["files"]), set(got["files"])
    return len(want_f), len(want_f - have_f), len(have_f - want_f)


def point(count: int, where: str) -> int:
    return {"first": 1, "middle": (count + 1) // 2, "last": count}[where]


def kill_rerun_compare(scn: Scenario, work: Path, tmp: Path, ref: Reference, target: str, k: int,
                       when: str) -> None:
    """Kill the command at call ``k`` of ``target`` (``when`` the call), re-run it, compare with the reference."""
    out = scn.setup(work, tmp)
    killed = faultkit.run(*scn.args(work, out), at=f"{target}:{k}", when=when, env=scn.env)
    assert killed.returncode == KILLED, f"not killed at {target}:{k} {when} (exit {killed.returncode}): " \
                                        f"{killed.stderr[-2000:]}"
    if scn.kind == "store" and (out / "animeparse.json").exists():
        with Dataset.open(out) as ds:  # whatever moment it died, the store opens
            assert len(ds) <= len(ref.state["samples"])
    if scn.kind == "tree" and out.exists():  # killed after the final rename: complete, and never merged into
        assert scn.state(out) == ref.state
        refused = invoke(scn.args(work, out), env=scn.env)
        assert refused.exit_code == 1 and "exists and is not empty" in refused.output
    else:
        rerun = invoke(scn.args(work, out), env=scn.env)
        assert rerun.exit_code == 0, rerun.output
    got = scn.state(out)
    samples, lost, doubled = lost_and_doubled(ref.state, got)
    record(f"SIGKILL + re-run: {scn.name}", faults=1, samples=samples, lost=lost, doubled=doubled)
    assert (lost, doubled) == (0, 0)
    assert got == ref.state
    if scn.kind == "store":
        assert integrity_findings(out) == []
        assert not list(out.rglob(".*.tmp"))


# -- 1. SIGKILL then re-run ------------------------------------------------------------------------------------------
# (target index in Scenario.steps, position, before/after the call): CI's share; the long sweep does every step
CI_POINTS = [(0, "first", "before"), (0, "middle", "after"), (1, "middle", "before")]


@pytest.mark.parametrize("where", CI_POINTS, ids=lambda p: f"{('files', 'commit')[p[0]]}-{p[1]}-{p[2]}")
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sigkill_then_rerun_equals_uninterrupted(name, where, work, tmp_path, tmp_path_factory):
    scn = SCENARIOS[name]
    ref = reference(work, scn, tmp_path_factory.getbasetemp())
    which, pos, when = where
    target = scn.steps[which]
    count = ref.counts[target]
    assert count >= 1, f"{name} made no {target} calls: {ref.counts}"
    kill_rerun_compare(scn, work, tmp_path, ref, target, point(count, pos), when)


@pytest.mark.long
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sigkill_at_every_step(name, work, tmp_path, tmp_path_factory):
    """Every call of both swept targets, before and after it (the long sweep)."""
    scn = SCENARIOS[name]
    ref = reference(work, scn, tmp_path_factory.getbasetemp())
    for target in scn.steps:
        for k in range(1, ref.counts[target] + 1):
            for when in ("before", "after"):
                tmp = tmp_path / f"{target}-{k}-{when}"
                tmp.mkdir()
                kill_rerun_compare(scn, work, tmp, ref, target, k, when)


def test_the_fault_runner_counts_the_same_steps_every_time(work, tmp_path, tmp_path_factory):
    """Kill points are chosen by step count, so the count must not depend on timing; and a point past the last
    step is never reached (the run finishes)."""
    scn = SCENARIOS["ingest"]
    ref = reference(work, scn, tmp_path_factory.getbasetemp())
    out = scn.setup(work, tmp_path)
    r = faultkit.run(*scn.args(work, out), count=tmp_path / "c.json", at=f"replace:{ref.counts['replace'] + 1}")
    assert r.returncode == 0, r.stderr
    again = json.loads((tmp_path / "c.json").read_text())
    assert again["counts"] == ref.counts and again["fired"] == 0


# -- 2. an I/O error on write ----------------------------------------------------------------------------------------
EIO_CASES = [("ingest", "replace"), ("ingest", "commit"), ("prelabel", "replace"), ("pseudo-manga", "replace"),
             ("export-coco", "write"), ("export-danbooru", "write")]


@pytest.mark.parametrize("name,target", EIO_CASES, ids=[f"{n}-{t}" for n, t in EIO_CASES])
def test_io_error_fails_cleanly_then_rerun_finishes(name, target, work, tmp_path, tmp_path_factory):
    scn = SCENARIOS[name]
    ref = reference(work, scn, tmp_path_factory.getbasetemp())
    (tmp_path / "a").mkdir()
    out = scn.setup(work, tmp_path / "a")
    k = point(ref.counts[target], "middle")
    r = faultkit.run(*scn.args(work, out), at=f"{target}:{k}", action="eio", env=scn.env)
    assert r.returncode == 1, r.stderr[-3000:]
    line = one_error_line(r.stderr)
    assert "Input/output error (EIO)" in line and "dmesg" in line
    named = out if scn.kind == "store" else out.parent
    assert str(named) in line, line  # the path being written: in the store, or the export's temp folder
    if scn.kind == "store":
        assert integrity_findings(out) == []  # opens, validates, and no orphan: the failed step took its files back
        assert not [p for p in out.rglob("*.tmp")]
    else:
        assert not out.exists() and list(out.parent.iterdir()) == []  # nothing half-written, no temp folder left
    rerun = invoke(scn.args(work, out), env=scn.env)
    assert rerun.exit_code == 0, rerun.output
    got = scn.state(out)
    samples, lost, doubled = lost_and_doubled(ref.state, got)
    record(f"EIO on write + re-run: {name}", faults=1, samples=samples, lost=lost, doubled=doubled)
    assert got == ref.state


# -- 3. a full disk --------------------------------------------------------------------------------------------------
def _can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, or a container that allows it)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", tmp], capture_output=True)
        if made.returncode != 0:
            return False
        subprocess.run(["umount", tmp], check=True, capture_output=True)
    return True


# ANIMEPARSE_NO_MOUNT=1 runs the fallbacks (injected errors) where mounting is allowed, to check them
MOUNT = os.environ.get("ANIMEPARSE_NO_MOUNT") != "1" and shutil.which("mount") is not None and _can_mount()
DISK = "tmpfs" if MOUNT else "injected-enospc-mount-not-permitted"


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path, *, leave_bytes: int = 0) -> Path:
    """Write a filler file until the filesystem has at most ``leave_bytes`` free (tmpfs counts whole pages)."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 4096
    with open(filler, "ab") as fh:
        try:
            while os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize > leave_bytes:
                fh.write(chunk * 16 if os.statvfs(folder).f_bavail > 64 else chunk)
                fh.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended (exit {proc.returncode}) before reaching the pause: {err[-3000:]}")
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.02)


def paused(args: list[str], at: str, pause: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(faultkit.command(*args, at=at, action="pause", pause_file=pause), cwd=faultkit.REPO,
                            env={**os.environ, **(env or {})}, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("moment", ["before-the-run", "while-staging", "before-the-commit"])
@pytest.mark.parametrize("disk", [DISK])
def test_full_disk_during_ingest(disk, moment, work, tmp_path, tmp_path_factory):
    """The store on a small filesystem that fills up: before the run (the staged files do not fit) or right
    before the batch is committed (SQLite cannot grow its log). One line naming the place and "no space", nothing
    half-written; once space is freed the re-run equals an uninterrupted ingest."""
    scn = SCENARIOS["ingest"]
    ref = reference(work, scn, tmp_path_factory.getbasetemp())
    args = lambda o: scn.args(work, o)  # noqa: E731
    if not MOUNT:  # CI without mount rights: the same failures, injected
        out = scn.setup(work, tmp_path)
        at = {"before-the-run": "commit:1", "while-staging": "replace:1", "before-the-commit": "commit:2"}[moment]
        r = faultkit.run(*args(out), at=at, action="enospc")
        line = one_error_line(r.stderr)
        assert r.returncode == 1 and "No space left on device" in line and str(out) in line
        assert integrity_findings(out) == [] and store_state(out)["samples"] == []
        assert invoke(args(out)).exit_code == 0 and store_state(out) == ref.state
        record(f"full disk ({disk}): ingest", faults=1, samples=N_FACES, lost=0, doubled=0)
        return
    with tmpfs(tmp_path / "fs", 4096) as fs:
        out = scn.setup(work, fs)
        if moment != "before-the-commit":  # 16 KiB: not even SQLite's index; 96 KiB: the staged files do not fit
            filler = fill(fs, leave_bytes=(16 if moment == "before-the-run" else 96) * 1024)
            r = faultkit.run(*args(out))
            stderr = r.stderr
            assert r.returncode == 1, stderr
        else:
            proc = paused(args(out), "commit:2", fs / "pause")  # commit 1 starts the run, 2 is the batch
            try:
                wait_for(fs / "pause.1.reached", proc)
                filler = fill(fs)
                (fs / "pause.1.go").touch()
                _, stderr = proc.communicate(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
            assert proc.returncode == 1, stderr
        line = one_error_line(stderr)
        assert ("No space left on device" in line or "no space left" in line) and str(fs) in line, line
        assert "free space" in line
        filler.unlink()  # first: on a full disk even a reader cannot open the store (SQLite's index needs 32 KiB)
        assert integrity_findings(out) == []  # nothing half-written: opens, validates, no orphan files
        assert store_state(out)["samples"] == [] and not [p for p in out.rglob("*.tmp")]
        rerun = invoke(args(out))
        assert rerun.exit_code == 0, rerun.output
        got = store_state(out)
    samples, lost, doubled = lost_and_doubled(ref.state, got)
    record(f"full disk ({disk}): ingest", faults=1, samples=samples, lost=lost, doubled=doubled)
    assert got == ref.state


@pytest.mark.parametrize("name", ["export-coco", "export-danbooru"])
@pytest.mark.parametrize("disk", [DISK])
def test_full_disk_during_export(disk, name, work, tmp_path, tmp_path_factory):
    """The export target on a filesystem that cannot hold it: one line naming it and "no space", no folder and
    no temp folder left there; with space the re-run writes the reference's files byte for byte."""
    scn = SCENARIOS[name]
    ref = reference(work, scn, tmp_path_factory.getbasetemp())
    if not MOUNT:
        out = scn.setup(work, tmp_path)
        r = faultkit.run(*scn.args(work, out), at=f"write:{point(ref.counts['write'], 'middle')}", action="enospc")
        line = one_error_line(r.stderr)
        assert r.returncode == 1 and "No space left on device" in line and list(tmp_path.iterdir()) == []
        assert invoke(scn.args(work, out)).exit_code == 0 and scn.state(out) == ref.state
        record(f"full disk ({disk}): {name}", faults=1, samples=len(ref.state["files"]), lost=0, doubled=0)
        return
    with tmpfs(tmp_path / "fs", 4096) as fs:
        filler = fill(fs, leave_bytes=32 * 1024)
        out = fs / "out"
        r = faultkit.run(*scn.args(work, out))
        assert r.returncode == 1, r.stderr
        line = one_error_line(r.stderr)
        assert "No space left on device" in line and str(fs) in line and "free space" in line, line
        assert sorted(p.name for p in fs.iterdir()) == ["filler.bin"]  # no out, no temp folder
        filler.unlink()
        rerun = invoke(scn.args(work, out))
        assert rerun.exit_code == 0, rerun.output
        got = scn.state(out)
    samples, lost, doubled = lost_and_doubled(ref.state, got)
    record(f"full disk ({disk}): {name}", faults=1, samples=samples, lost=lost, doubled=doubled)
    assert got == ref.state


# -- 4. a read-only store --------------------------------------------------------------------------------------------
RO = "bind-mount-ro" if MOUNT else "injected-erofs-mount-not-permitted"


@pytest.fixture()
def ro_store(work: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a read-only view of a copy of the base store, the writable copy); without mount rights both are the
    writable copy and the writers get EROFS injected instead."""
    rw = copy_store(work / "base", tmp_path / "rw")
    if not MOUNT:
        yield rw, rw
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "--bind", str(rw), str(ro)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True, capture_output=True)
        yield ro, rw
    finally:
        subprocess.run(["umount", str(ro)], check=True, capture_output=True)


@pytest.mark.parametrize("mode", [RO])
def test_read_only_store_refuses_writers_and_serves_readers(mode, ro_store, work, tmp_path, tmp_path_factory):
    ro, rw = ro_store
    before = tree_state(rw)
    writers = {"ingest": ["ingest", str(work / "src"), "--into", str(ro)],
               "prelabel": ["prelabel", str(ro), "--parser", str(work / "parser.pt"), "--sam", "none", "--device",
                            "cpu"],
               "split": ["split", str(ro)]}
    for name, args in writers.items():
        if MOUNT:
            r = invoke(["-q", *args])
            assert r.exit_code == 1, (name, r.output)
            line = one_error_line(r.output)
            assert "read-only filesystem" in line and str(ro) in line and "info, validate, export" in line, line
        else:  # the first write fails with EROFS, as it would on a read-only mount
            r = faultkit.run("-q", *args, at="commit:1", action="erofs")
            assert r.returncode == 1, (name, r.stderr[-3000:])
            line = one_error_line(r.stderr)
            assert "Read-only file system (EROFS)" in line and "remount it read-write" in line, line
            assert store_state(rw)["samples"] == store_state(work / "base")["samples"]
    info = invoke(["info", str(ro)])
    assert info.exit_code == 0 and f"samples         {N_FACES}" in info.output, info.output
    assert integrity_findings(ro) == []
    validate = invoke(["-q", "validate", str(ro), "--workers", "0"])
    assert validate.exit_code == 0, validate.output
    with Dataset.open(ro) as ds:
        assert len(ds) == N_FACES and ds.read_mask(ds.samples()[0].id) is not None
    exported = invoke(["-q", "export", str(ro), "--format", "coco", "--out", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    ref = reference(work, SCENARIOS["export-coco"], tmp_path_factory.getbasetemp())
    assert tree_state(tmp_path / "out") == ref.state["files"]  # the same export as from the writable store
    if MOUNT:
        assert tree_state(rw) == before
    record(f"read-only store ({mode}): 3 writers refused, 4 readers served", faults=3, samples=N_FACES, lost=0,
           doubled=0)


def test_a_new_store_is_readable_by_others_as_the_umask_says(tmp_path):
    """``init`` builds the store in a temp folder (mkdtemp: mode 0700) and renames it: a shared store must not
    end up readable by its creator alone."""
    umask = os.umask(0o022)
    os.umask(umask)
    assert invoke(["init", str(tmp_path / "ds")]).exit_code == 0
    assert (tmp_path / "ds").stat().st_mode & 0o777 == 0o777 & ~umask


# -- 5. the Label Studio server stops in the middle of a pull; SIGKILL during a pull ---------------------------------
PROJECT = "reliability-faults"
N_ANNOTATED = 5


def annotation_of(mask: np.ndarray, labelmap: Any) -> list[dict[str, Any]]:
    """Brush results the way the editor saves them, one per class present."""
    from animeparse.formats.lsrle import encode_rle

    h, w = mask.shape
    return [{"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": w,
             "original_height": h, "image_rotation": 0,
             "value": {"format": "rle", "rle": encode_rle(np.where(mask == c, 255, 0).astype(np.uint8)),
                       "brushlabels": [labelmap.name_of(int(c))]}} for c in np.unique(mask) if c != 0]


@dataclass(frozen=True)
class LsWorld:
    base: Path  # the store after push, before any pull
    env: dict[str, str]
    url: str
    token: str


@pytest.fixture(scope="module")
def ls_world(ls_server, tmp_path_factory) -> LsWorld:  # noqa: F811 - the imported fixture
    from animeparse.annotate import Connection, PushConfig, push

    labelmap = load_labelmap("danbooru-parsing")
    root = tmp_path_factory.mktemp("ls-faults")
    truth: dict[str, np.ndarray] = {}
    with Dataset.create(root / "base", labelmap=labelmap) as ds:
        for i in range(N_ANNOTATED + 1):
            image, mask = generate_face(21, i, size=SIZE)
            Image.fromarray(image).save(root / f"face{i}.png")
            sample, _ = ds.add_sample(root / f"face{i}.png")
            truth[sample.id] = mask
        conn = Connection.open(ls_server.url, ls_server.token)
        report = push(ds, conn, PushConfig(project=PROJECT, layer="none", images="local-files",
                                           document_root=ls_server.files_root))
    tasks = {t.data["sample_id"]: t.id for t in conn.tasks(report.project_id)}
    for sid in sorted(tasks)[:N_ANNOTATED]:  # one task stays unannotated
        conn._client.annotations.create(tasks[sid], result=annotation_of(truth[sid], labelmap), was_cancelled=False)
    return LsWorld(base=root / "base", env={"LABEL_STUDIO_URL": ls_server.url,
                                           "LABEL_STUDIO_API_KEY": ls_server.token},
                   url=ls_server.url, token=ls_server.token)


def pull_args(store: Path) -> list[str]:
    return ["-q", "ls", "pull", str(store), "--project", PROJECT]


def pull_state(store: Path) -> dict[str, Any]:
    state = store_state(store)
    with Dataset.open(store) as ds:  # who annotated what, as provenance says: the same after any fault
        state["origins"] = sorted((s.id, str(r.origin.get("annotator")), r.origin.get("annotation_id"))
                                  for s in ds.samples() if (r := ds.mask_record(s.id, "gt")) is not None)
    return state


@pytest.fixture(scope="module")
def pull_reference(ls_world: LsWorld, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    tmp = tmp_path_factory.mktemp("ls-ref")
    store = copy_store(ls_world.base, tmp / "ds")
    r = faultkit.run(*pull_args(store), count=tmp / "count.json", env=ls_world.env)
    assert r.returncode == 0, r.stderr[-3000:]
    state = pull_state(store)
    assert len(state["origins"]) == N_ANNOTATED and all("@" in o[1] for o in state["origins"])
    return Reference(counts=json.loads((tmp / "count.json").read_text())["counts"], state=state)


PULL_POINTS = [("replace", "first", "after"), ("replace", "last", "before"), ("commit", "middle", "before")]


@pytest.mark.parametrize("target,pos,when", PULL_POINTS, ids=["-".join(p) for p in PULL_POINTS])
def test_sigkill_during_pull_then_rerun(target, pos, when, ls_world, pull_reference, tmp_path):
    store = copy_store(ls_world.base, tmp_path / "ds")
    k = point(pull_reference.counts[target], pos)
    r = faultkit.run(*pull_args(store), at=f"{target}:{k}", when=when, env=ls_world.env)
    assert r.returncode == KILLED, r.stderr[-3000:]
    rerun = invoke(pull_args(store), env=ls_world.env)
    assert rerun.exit_code == 0, rerun.output
    got = pull_state(store)
    samples, lost, doubled = lost_and_doubled(pull_reference.state, got)
    record("SIGKILL + re-run: ls pull", faults=1, samples=samples, lost=lost, doubled=doubled)
    assert got == pull_reference.state and integrity_findings(store) == []


@pytest.mark.long
def test_sigkill_at_every_step_of_a_pull(ls_world, pull_reference, tmp_path):
    for target in ("replace", "commit"):
        for k in range(1, pull_reference.counts[target] + 1):
            for when in ("before", "after"):
                store = copy_store(ls_world.base, tmp_path / f"{target}-{k}-{when}")
                r = faultkit.run(*pull_args(store), at=f"{target}:{k}", when=when, env=ls_world.env)
                assert r.returncode == KILLED, r.stderr[-3000:]
                assert invoke(pull_args(store), env=ls_world.env).exit_code == 0
                got = pull_state(store)
                samples, lost, doubled = lost_and_doubled(pull_reference.state, got)
                record("SIGKILL + re-run: ls pull", faults=1, samples=samples, lost=lost, doubled=doubled)
                assert got == pull_reference.state


@pytest.mark.parametrize("request_label", ["download the export", "list users"])
def test_server_stops_mid_pull_then_pull_resumes_after_restart(request_label, ls_server, ls_world,  # noqa: F811
                                                               pull_reference, tmp_path):
    """The pull pauses just before a request, the server is stopped (its process group killed), the pull goes on:
    one line naming the URL (never the token), nothing stored; the server comes back and the pull completes."""
    store = copy_store(ls_world.base, tmp_path / "ds")
    proc = paused(pull_args(store), f"ls_call@{request_label}", tmp_path / "pause", env=ls_world.env)
    try:
        wait_for(tmp_path / "pause.1.reached", proc)
        stop_server(ls_server)
        (tmp_path / "pause.1.go").touch()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        restart_s = start_server(ls_server)
    assert proc.returncode == 1, err[-3000:]
    line = one_error_line(err)
    assert f"cannot reach Label Studio at {ls_world.url}" in line and "--url" in line, line
    assert ls_world.token not in out + err
    with Dataset.open(store) as ds:
        assert ds.layers() == {} and [r.status for r in ds.runs(kind="ls-pull")] == ["failed"]
    assert integrity_findings(store) == []
    rerun = invoke(pull_args(store), env=ls_world.env)
    assert rerun.exit_code == 0, rerun.output
    got = pull_state(store)
    samples, lost, doubled = lost_and_doubled(pull_reference.state, got)
    record(f"Label Studio stopped mid-pull (before: {request_label}), restarted, re-run", faults=1,
           samples=samples, lost=lost, doubled=doubled, note=f"restart {restart_s:.0f} s")
    assert got == pull_reference.state


# -- 6. checkpoints whose SHA-256 does not match ---------------------------------------------------------------------
def test_fetch_from_a_file_url_with_other_bytes_is_refused_and_removed(tmp_path):
    from animeparse.prelabel.models import MODELS

    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"not the checkpoint" * 1000)
    cache = tmp_path / "cache"
    r = invoke(["-q", "models", "fetch", "sam-vit-b", "--cache-dir", str(cache), "--url", wrong.as_uri()])
    assert r.exit_code == 1
    line = one_error_line(r.output)
    assert "does not match the published checkpoint" in line and MODELS["sam-vit-b"].sha256 in line
    assert "the file was removed" in line and list(cache.iterdir()) == []
    record("checkpoint SHA-256 mismatch: fetch from file:// refused", faults=1, samples=0, lost=0, doubled=0)


def test_changed_cached_checkpoint_is_refused_by_prelabel_and_removed_by_fetch(work, tmp_path, monkeypatch):
    """A cached SAM whose bytes changed after its fetch: prelabel refuses it (keeps the file, names the fix),
    ``models fetch`` verifies it, removes it and says to fetch again."""
    import torch

    from animeparse.prelabel import models
    from animeparse.prelabel.models import ModelSpec

    from ..prelabel import save_tiny_sam

    cache = tmp_path / "cache"
    cache.mkdir()
    good = save_tiny_sam(tmp_path / "tiny.pth")
    data = good.read_bytes()
    spec = ModelSpec("sam-vit-b", "https://example.invalid/sam_vit_b_01ec64.pth", faultkit.sha256_of(good), len(data),
                     "vit_b")
    monkeypatch.setitem(models.MODELS, "sam-vit-b", spec)  # the table entry of a checkpoint small enough to test
    cached = cache / spec.filename
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF  # same size, one byte changed: only the SHA-256 can tell
    cached.write_bytes(bytes(changed))
    store = copy_store(work / "base", tmp_path / "ds")
    r = invoke(["-q", "prelabel", str(store), "--parser", str(work / "parser.pt"), "--sam", "vit_b", "--cache-dir",
                str(cache), "--device", "cpu"])
    assert r.exit_code == 1
    line = one_error_line(r.output)
    assert "changed after it was fetched; refused" in line and spec.sha256 in line and "models fetch" in line, line
    assert cached.read_bytes() == bytes(changed)  # kept: prelabel only reads the cache
    with Dataset.open(store) as ds:
        assert ds.runs(kind="prelabel") == []  # refused before anything was recorded
    r = invoke(["-q", "models", "fetch", "sam-vit-b", "--cache-dir", str(cache)])
    assert r.exit_code == 1 and "it was removed: fetch it again" in one_error_line(r.output)
    assert not cached.exists()
    cached.write_bytes(data[:-10])  # a truncated file: refused on its size alone
    r = invoke(["-q", "prelabel", str(store), "--parser", str(work / "parser.pt"), "--sam", "auto", "--cache-dir",
                str(cache), "--device", "cpu"])
    assert r.exit_code == 1 and f"is {len(data) - 10} bytes" in one_error_line(r.output)
    assert torch.load(good, weights_only=True)  # the original is intact: the refusals were about the cache
    record("checkpoint SHA-256 mismatch: changed cached file refused (prelabel, fetch)", faults=2, samples=0, lost=0,
           doubled=0)
