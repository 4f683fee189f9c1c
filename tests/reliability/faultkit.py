"""Fault injection from outside the product: run an ``animeparse`` command with a few functions patched.

No test hooks live in the production code. This runner patches functions *in the child process* before it calls
:func:`animeparse.cli.main.main`, counts their calls, and at the N-th call of one of them injects a fault::

    python -m tests.reliability.faultkit --count steps.json -- ingest SRC --into DS      # how many steps are there?
    python -m tests.reliability.faultkit --at replace:7 -- ingest SRC --into DS          # SIGKILL before call 7
    python -m tests.reliability.faultkit --at commit:2 --when after -- prelabel DS ...   # SIGKILL after COMMIT 2
    python -m tests.reliability.faultkit --at write:3 --action enospc -- export DS ...    # OSError(ENOSPC) instead
    python -m tests.reliability.faultkit --at ls_call:4 --action pause --pause-file P -- ls pull ...

Steps (``TARGETS``): ``replace`` (``os.replace``: every atomic write and every staged move), ``fsync``
(``os.fsync``), ``commit`` (the COMMIT of :meth:`Dataset.transaction`), ``write`` (``Path.write_bytes``,
``Path.write_text``, ``shutil.copyfile``: the plain file writes of staging and exports), ``ls_call`` (one
Label Studio request, :meth:`Connection._call`) and ``submit`` (a task handed to a worker process,
``ProcessPoolExecutor.submit``). Only calls made by the command's own process are counted (its
worker processes inherit the patches but neither count nor fire), so the counts are the same on every run.

Actions: ``kill`` sends SIGKILL to the process group when the command leads one (start it with
``start_new_session=True``: its worker processes die with it, as with ``kill -9`` of a job), else to itself;
``kill-main`` to the command's own process only (``kill -9 PID``: its worker processes are left orphaned);
``eio`` / ``enospc`` / ``erofs`` raise ``OSError`` with that errno and the path the call was writing; ``pause``
touches ``PAUSE_FILE.K.reached`` at the K-th point reached and waits for ``PAUSE_FILE.K.go`` (a test does something
meanwhile: reads the store, stops a server, fills the disk). ``--when before`` (default) injects before the real
call, ``after`` once it has returned. ``--at`` may be repeated (each point fires once).

``--at TARGET@LABEL`` fires at the first call of TARGET whose label (the path written; for ``ls_call`` what the
request does, such as ``download the export``) contains LABEL: for steps whose count varies between runs (the
polls of a Label Studio export).

``--count FILE`` writes ``{"counts": {"replace": n, ...}, "trace": [[target, label], ...], "fired": n}`` (this
process only) when the command ends, also after an injected error; a killed command writes nothing. The exit
code is the command's. ``--summary LEDGER`` prints the table the tests' ledger adds up to (see :func:`record`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "ACTIONS", "main", "command", "run", "store_state", "tree_state", "sha256_of",
           "integrity_findings", "record", "summary", "table", "RECORDED"]

TARGETS = ("replace", "fsync", "commit", "write", "ls_call", "submit")
ACTIONS = {"kill": None, "kill-main": None, "eio": errno.EIO, "enospc": errno.ENOSPC, "erofs": errno.EROFS,
           "pause": None}
MAIN_PID = os.getpid()
PAUSE_TIMEOUT_S = 300.0
REPO = Path(__file__).resolve().parents[2]
LEDGER_ENV = "ANIMEPARSE_FAULT_LEDGER"
# every record() of this process, with the node id of the test that made it: tests/reliability/test_totals_doc.py
# re-derives docs/reliability.md's fault tables from the run it is part of
RECORDED: list[dict[str, Any]] = []


def command(*args: str, at: str | list[str] | None = None, when: str = "before", action: str = "kill",
            count: Path | str | None = None, pause_file: Path | str | None = None) -> list[str]:
    """The argv that runs ``animeparse ARGS`` under the fault runner (for ``subprocess``)."""
    cmd = [sys.executable, "-m", "tests.reliability.faultkit"]
    if count is not None:
        cmd += ["--count", str(count)]
    if at is not None:
        for point in [at] if isinstance(at, str) else at:
            cmd += ["--at", point]
        cmd += ["--when", when, "--action", action]
    if pause_file is not None:
        cmd += ["--pause-file", str(pause_file)]
    return [*cmd, "--", *args]


def run(*args: str, env: Mapping[str, str] | None = None, timeout: float = 300.0,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``animeparse ARGS`` under the fault runner (:func:`command` takes ``kwargs``) in a session of its own,
    from the repository root; a kill shows as ``returncode == -9``."""
    return subprocess.run(command(*args, **kwargs), cwd=REPO, env={**os.environ, **(env or {})}, text=True,
                          capture_output=True, timeout=timeout, start_new_session=True, stdin=subprocess.DEVNULL)


def store_state(root: Path) -> dict[str, Any]:
    """What must equal an uninterrupted run's: every sample row (id, name, split, status, file SHA-256, parent),
    every mask row (sample, layer, SHA-256) and replaced masks, checked against the files on disk (each file
    present with the recorded SHA-256), plus the files under images/ and masks/ (an orphan would show here)."""
    from animeparse import Dataset

    with Dataset.open(root) as ds:
        samples = ds.samples()
        rows = [(s.id, s.name, s.split, s.status, s.file_sha256, s.parent_id) for s in samples]
        masks, history = [], []
        for s in samples:
            assert sha256_of(ds.image_path(s)) == s.file_sha256, f"{s.image} does not match its row"
            for m in ds.masks_of(s.id):
                assert sha256_of(ds.root / m.path) == m.sha256, f"{m.path} does not match its row"
                masks.append((s.id, m.layer, m.sha256))
            history += [(s.id, h["layer"], h["sha256"]) for layer in {m.layer for m in ds.masks_of(s.id)}
                        for h in ds.mask_history(s.id, layer)]
    files = sorted(p.relative_to(root).as_posix() for folder in ("images", "masks") for p in (root / folder).rglob("*")
                   if p.is_file())
    return {"samples": rows, "masks": masks, "history": sorted(history), "files": files}


def tree_state(root: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file under ``root`` (an export, byte for byte)."""
    return {p.relative_to(root).as_posix(): sha256_of(p) for p in sorted(root.rglob("*")) if p.is_file()}


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def integrity_findings(root: Path) -> list[dict[str, Any]]:
    """``animeparse validate ROOT`` (in this process): its findings of the ``integrity`` and ``files`` checks
    (missing files, bit rot, corrupt or wrong-size files, orphans). The pixel checks are skipped: faults cannot
    change what a mask says, only whether it is there."""
    import tempfile

    from click.testing import CliRunner

    from animeparse.cli.main import cli

    skip = ["values", "label_order", "shapes", "layout", "duplicates", "lr_convention"]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "qa.json"
        result = CliRunner().invoke(cli, ["-q", "validate", str(root), "--workers", "0", "--json", str(report),
                                          *[a for name in skip for a in ("--skip", name)]])
        assert result.exit_code in (0, 1), result.output
        findings = json.loads(report.read_text(encoding="utf-8"))["findings"]
    return [f for f in findings if f["check"] in ("integrity", "files")]


def record(case: str, *, faults: int, samples: int, lost: int, doubled: int, note: str = "") -> None:
    """Append one case's figures to the ledger named by ``$ANIMEPARSE_FAULT_LEDGER`` (nothing when unset):
    ``faults`` injected, ``samples`` checked afterwards (files, for exports), how many were ``lost`` or
    ``doubled``; ``note``: a measured detail (a restart time). :func:`summary` adds them up per case."""
    row = {"case": case, "faults": faults, "samples": samples, "lost": lost, "doubled": doubled, "note": note}
    RECORDED.append({**row, "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]})
    path = os.environ.get(LEDGER_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def summary(ledger: Path) -> str:
    """The ledger as a markdown table: one row per case (its runs added up, its notes listed), then the totals."""
    return table([json.loads(line) for line in Path(ledger).read_text(encoding="utf-8").splitlines() if line.strip()])


def table(rows: list[dict[str, Any]]) -> str:
    """Records (:func:`record`'s fields) as the markdown table of docs/reliability.md."""
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(r["case"], {"runs": 0, "faults": 0, "samples": 0, "lost": 0, "doubled": 0,
                                          "notes": []})
        g["runs"] += 1
        for k in ("faults", "samples", "lost", "doubled"):
            g[k] += r[k]
        if r.get("note") and r["note"] not in g["notes"]:
            g["notes"].append(r["note"])
    out = ["| case | runs | faults injected | samples checked | lost | doubled | measured |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for name, g in sorted(groups.items()):
        notes = "; ".join(g["notes"][:3]) + (" ..." if len(g["notes"]) > 3 else "")
        out.append(f"| {name} | {g['runs']} | {g['faults']} | {g['samples']} | {g['lost']} | {g['doubled']} | "
                   f"{notes} |")
    total = {k: sum(g[k] for g in groups.values()) for k in ("runs", "faults", "samples", "lost", "doubled")}
    out.append(f"| **total** | **{total['runs']}** | **{total['faults']}** | **{total['samples']}** | "
               f"**{total['lost']}** | **{total['doubled']}** | |")
    return "\n".join(out)


@dataclass(frozen=True)
class Point:
    """Where to inject: call ``n`` of ``target``, or (``label``) its first call whose label contains ``label``."""

    target: str
    n: int = 0
    label: str | None = None

    @classmethod
    def parse(cls, text: str) -> Point:
        if "@" in text:
            target, _, label = text.partition("@")
            if target in TARGETS and label:
                return cls(target, label=label)
        else:
            target, _, k = text.partition(":")
            if target in TARGETS and k.isdigit() and int(k) >= 1:
                return cls(target, n=int(k))
        raise ValueError(f"--at {text}: use TARGET:N (N >= 1) or TARGET@LABEL, TARGET one of {', '.join(TARGETS)}")


class Injector:
    """Counts calls per target; fires ``action`` at each of ``points`` (each once)."""

    def __init__(self, points: list[Point], when: str, action: str, pause_file: Path | None) -> None:
        self.points, self.when, self.action, self.pause_file = points, when, action, pause_file
        self.counts = dict.fromkeys(TARGETS, 0)
        self.trace: list[tuple[str, str]] = []
        self.fired: list[Point] = []

    def step(self, target: str, phase: str, path: Any = None) -> None:
        """Called twice per counted call: phase ``before`` (counts it) and ``after``."""
        if os.getpid() != MAIN_PID:
            return
        label = "" if path is None else os.fsdecode(path)
        if phase == "before":
            self.counts[target] += 1
            self.trace.append((target, label))
        if phase != self.when:
            return
        for point in self.points:
            if point.target != target or point in self.fired:
                continue
            if (point.label in label) if point.label is not None else self.counts[target] == point.n:
                self.fired.append(point)
                self.fire(path)

    def fire(self, path: Any) -> None:
        if self.action in ("kill", "kill-main"):
            sys.stderr.flush()
            if self.action == "kill" and os.getpgid(0) == MAIN_PID:
                os.killpg(MAIN_PID, signal.SIGKILL)
            os.kill(MAIN_PID, signal.SIGKILL)
        if self.action == "pause":
            assert self.pause_file is not None  # checked in main
            stem = f"{self.pause_file}.{len(self.fired)}"
            Path(f"{stem}.reached").touch()
            deadline = time.monotonic() + PAUSE_TIMEOUT_S
            while not Path(f"{stem}.go").exists():
                if time.monotonic() > deadline:
                    raise SystemExit(f"faultkit: nobody released {stem} in {PAUSE_TIMEOUT_S:.0f} s")
                time.sleep(0.01)
            return
        code = ACTIONS[self.action]
        assert code is not None
        raise OSError(code, os.strerror(code), None if path is None else os.fspath(path))


def _wrap(inj: Injector, target: str, fn: Callable[..., Any], path_of: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def patched(*args: Any, **kwargs: Any) -> Any:
        inj.step(target, "before", path_of(*args, **kwargs))
        result = fn(*args, **kwargs)
        inj.step(target, "after", path_of(*args, **kwargs))
        return result

    return patched


def install(inj: Injector) -> None:
    """Patch the targets in this process (before the CLI is imported, so nothing holds the originals)."""
    os.replace = _wrap(inj, "replace", os.replace, lambda src, dst, *a, **k: dst)  # type: ignore[assignment]
    os.fsync = _wrap(inj, "fsync", os.fsync, lambda fd: None)  # type: ignore[assignment]
    Path.write_bytes = _wrap(inj, "write", Path.write_bytes, lambda self, *a, **k: self)  # type: ignore[method-assign]
    Path.write_text = _wrap(inj, "write", Path.write_text, lambda self, *a, **k: self)  # type: ignore[method-assign]
    shutil.copyfile = _wrap(inj, "write", shutil.copyfile, lambda src, dst, *a, **k: dst)  # type: ignore[assignment]

    import concurrent.futures as cf

    cf.ProcessPoolExecutor.submit = _wrap(inj, "submit", cf.ProcessPoolExecutor.submit,  # type: ignore[method-assign]
                                          lambda self, fn, *a, **k: getattr(fn, "__qualname__", None))

    from animeparse.store import Dataset

    original = Dataset.transaction

    @contextlib.contextmanager
    def transaction(self: Dataset) -> Any:
        with original(self) as db:
            yield db
            inj.step("commit", "before", self.root / "manifest.sqlite")  # the body is done; COMMIT comes next
        inj.step("commit", "after", self.root / "manifest.sqlite")

    Dataset.transaction = transaction  # type: ignore[method-assign]

    try:
        from animeparse.annotate.client import Connection
    except ImportError:  # the labelstudio extra is optional; ls_call then counts nothing
        return
    Connection._call = _wrap(inj, "ls_call", Connection._call, lambda self, what, fn: what)  # type: ignore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.faultkit",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=Path, help="write the calls per target as JSON here when the command ends")
    parser.add_argument("--at", metavar="TARGET:N|TARGET@LABEL", action="append", default=[],
                        help=f"inject at call N (1-based) of TARGET ({', '.join(TARGETS)}), or at its first call "
                             "whose label contains LABEL; repeatable (pauses at each, in order)")
    parser.add_argument("--when", choices=("before", "after"), default="before")
    parser.add_argument("--action", choices=tuple(ACTIONS), default="kill")
    parser.add_argument("--pause-file", type=Path, help="for --action pause: the marker files' stem")
    parser.add_argument("--summary", type=Path, metavar="LEDGER",
                        help="print the markdown table of a ledger written by the tests, and exit")
    parser.add_argument("--update-docs", metavar="NAME",
                        help="with --summary: write the table between the markers <!-- faults-table: NAME --> and "
                             "<!-- /faults-table: NAME --> of docs/reliability.md instead of printing it")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the animeparse arguments")
    opts = parser.parse_args(argv)
    if opts.summary is not None:
        table = summary(opts.summary)
        if opts.update_docs is None:
            print(table)
            return 0
        docs = REPO / "docs" / "reliability.md"
        text = docs.read_text(encoding="utf-8")
        start, end = f"<!-- faults-table: {opts.update_docs} -->", f"<!-- /faults-table: {opts.update_docs} -->"
        if start not in text or end not in text:
            parser.error(f"{docs} has no {start} ... {end} markers")
        head, rest = text.split(start, 1)
        docs.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
        return 0
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    try:
        points = [Point.parse(text) for text in opts.at]
    except ValueError as err:
        parser.error(str(err))
    if opts.action == "pause" and opts.pause_file is None:
        parser.error("--action pause needs --pause-file")
    inj = Injector(points, opts.when, opts.action, opts.pause_file)
    install(inj)
    from animeparse.cli.main import cli

    code: int | str | None = 0
    try:
        cli.main(args=args, prog_name="animeparse", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
    finally:
        if opts.count is not None:
            with open(opts.count, "w", encoding="utf-8") as fh:  # builtins.open: not a counted step
                json.dump({"counts": inj.counts, "trace": inj.trace, "fired": len(inj.fired)}, fh, sort_keys=True)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
