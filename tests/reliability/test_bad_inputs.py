"""Every case of the bad-input corpus (:mod:`tests.reliability.corpus`) through the real CLI, in process.

Per case: exactly one ``Error:`` line on stderr naming the file and the problem, no traceback, the documented exit
code; a refusal leaves the store byte-identical (every file under it, the manifest included, compared after the
command has closed it: SQLite's -wal/-shm files must be gone again too) and creates nothing it was asked to make;
``--on-error skip`` adds exactly the samples an ingest of the good files alone adds. The outcome of every case is
one row of the table in docs/reliability.md (``python scripts/make_bad_corpus.py --run --update-docs``
regenerates it), and a test checks that table against the corpus and these results.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from animeparse import Dataset
from animeparse.cli.main import cli

from .corpus import SIZE, Case, build_corpus, rgb, save, stripes

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "reliability.md"
SECTION = "<!-- section: bad-inputs (tests/reliability/test_bad_inputs.py) -->"
_NOTICE = re.compile(r"^format: \S+ \(confidence [0-9.]+; force another with --format\)$")


# -- running a case (shared with scripts/make_bad_corpus.py) ------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: files by SHA-256 of their bytes, folders and symlinks by kind. "Byte-identical"
    means this dict is equal: the same names, the same bytes (manifest.sqlite and the writer lock file included);
    times and inode numbers are not compared."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = f"link:{os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_template(folder: Path) -> Path:
    """A small good store (2 samples, one ingest run) every template case starts from: a refusal must leave an
    existing store's rows and files alone, not only an empty one's."""
    src = folder / "template-src"
    for i in range(2):
        save(src / "images" / f"t{i}.png", rgb(500 + i, SIZE))
        save(src / "masks" / f"t{i}.png", stripes())
    runner = CliRunner()
    for args in (["init", str(folder / "template")],
                 ["-q", "ingest", str(src), "--into", str(folder / "template"), "--workers", "0"]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 0, r.output
    return folder / "template"


def sample_ids(store: Path) -> dict[str, str]:
    """id -> name of every sample in a store."""
    with Dataset.open(store) as ds:
        return {s.id: s.name for s in ds.samples()}


@dataclass
class Run:
    """One command. ``stderr``: what Python wrote to sys.stderr plus what C code wrote to file descriptor 2
    (libpng, OpenCV's logger), which CliRunner alone would miss; ``error_lines``: its lines that count."""

    exit_code: int
    stdout: str
    stderr: str
    crashed: str | None  # the exception a command let escape (CliRunner catches it), with its type
    error_lines: list[str]
    tolerated: list[str]

    @property
    def line(self) -> str:
        return self.error_lines[0] if len(self.error_lines) == 1 else " | ".join(self.error_lines)


@dataclass
class Outcome:
    """What one case did. ``lost``: good samples that should be in the store and are not (before-samples gone,
    good-only samples not added by the skip run, expected names missing)."""

    case: Case
    runs: list[Run] = field(default_factory=list)
    store_unchanged: bool | None = None
    made_nothing: bool | None = None
    added: int = 0
    good_added: int | None = None
    same_as_good: bool | None = None
    names: list[str] = field(default_factory=list)
    lost: int = 0
    executed: bool = False
    message: str = ""  # the first run's error line, paths shortened to {case} and {work}

    @property
    def problems(self) -> list[str]:
        """Every way this case failed its contract (empty: passed)."""
        c, out = self.case, []
        expected_codes = [c.exit_code] + ([1] if c.outcome == "skip" else [])
        for run, code in zip(self.runs, expected_codes):
            if run.crashed:
                out.append(f"crashed: {run.crashed}")
            if "Traceback" in run.stdout + run.stderr:
                out.append("traceback in the output")
            if run.exit_code != code:
                out.append(f"exit code {run.exit_code}, expected {code}")
            if code == 0 and run.error_lines:
                out.append(f"stderr not empty: {run.line}")
            if code != 0:
                if len(run.error_lines) != 1 or not run.error_lines[0].startswith("Error: "):
                    out.append(f"expected one 'Error:' line on stderr, got {run.error_lines}")
                missing = [f for f in c.fragments if f not in run.line]
                if missing:
                    out.append(f"error line lacks {missing}: {run.line}")
        if self.store_unchanged is False:
            out.append("store changed by a refused run")
        if self.made_nothing is False:
            out.append("a refused command left files behind")
        if c.outcome == "skip":
            if not self.good_added:
                out.append("the good-only ingest added nothing: the skip check could not fail")
            if not self.same_as_good:
                out.append(f"skip run added {self.added} samples, the good files alone {self.good_added}")
        if c.outcome == "accept" and sorted(self.names) != sorted(c.expect_names):
            out.append(f"added names {self.names}, expected {list(c.expect_names)}")
        if self.lost:
            out.append(f"{self.lost} samples lost")
        if self.executed:
            out.append("a hostile pickle was executed")
        return out

    def result(self) -> str:
        """The docs table's result column."""
        if self.problems:
            return "FAILED: " + "; ".join(self.problems)
        c = self.case
        seen = sorted({ln.split(":")[0] for r in self.runs for ln in r.tolerated})
        also = f" (stderr also has {', '.join(seen)}'s own line: known, see below)" if seen else ""
        if c.outcome == "refuse":
            kept = ["store unchanged"] if c.store != "none" else []
            kept += ["nothing created"] if any("{tmp}" in a for a in c.args) else []
            return f"refused, exit {c.exit_code}, {', '.join(kept)}{also}"
        if c.outcome == "skip":
            return f"refused, store unchanged; with --on-error skip: {self.added} added = good files alone{also}"
        return f"accepted: {', '.join(sorted(n if len(n) < 40 else n[:12] + '...' + n[-8:] for n in self.names))}"


@contextmanager
def _fd2_captured() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temp file for the block; the list gets what was written there."""
    got: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield got
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            got.append(tmp.read().decode("utf-8", "replace"))


def invoke(args: list[str], tolerated: tuple[str, ...] = ()) -> Run:
    with _fd2_captured() as fd2:
        result = CliRunner().invoke(cli, ["-q", *args])
    crashed = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crashed = f"{type(result.exception).__name__}: {result.exception}"
    stderr = fd2[0] + result.stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not _NOTICE.match(ln)]
    if result.exit_code == 2:  # Click's usage errors: the usage line and a hint come before the Error: line
        lines = [ln for ln in lines if not ln.startswith(("Usage: ", "Try '"))]
    allowed = [ln for ln in lines if ln.startswith(tolerated)] if tolerated else []
    return Run(result.exit_code, result.stdout, stderr, crashed, [ln for ln in lines if ln not in allowed], allowed)


def run_case(case: Case, corpus: Path, template: Path, work: Path) -> Outcome:
    """Run one case in ``work`` (an empty folder of its own); never raises for a misbehaving command."""
    out = Outcome(case)
    case_dir = corpus / case.id
    scratch = work / "scratch"
    scratch.mkdir(parents=True)
    store = work / "store"
    if case.store == "template":
        shutil.copytree(template, store, symlinks=True)
    elif case.store == "own":
        shutil.copytree(case_dir / "ds", store, symlinks=True)

    def args(template_args: tuple[str, ...], store_path: Path = store) -> list[str]:
        return [a.replace("{case}", str(case_dir)).replace("{store}", str(store_path)).replace("{tmp}", str(scratch))
                for a in template_args]

    before = snapshot(store) if store.exists() else {}
    ids_before = sample_ids(store) if case.store == "template" else {}
    out.runs.append(invoke(args(case.args), case.tolerated))
    if case.outcome in ("refuse", "skip"):
        if store.exists():
            out.store_unchanged = snapshot(store) == before
        out.made_nothing = not any(scratch.iterdir())
    if case.outcome == "skip":
        out.runs.append(invoke([*args(case.args), "--on-error", "skip"], case.tolerated))
    if case.store == "template":
        ids_after = sample_ids(store)
        out.lost = len(ids_before.keys() - ids_after.keys())
        new = {i: n for i, n in ids_after.items() if i not in ids_before}
        out.added, out.names = len(new), sorted(new.values())
        if case.outcome == "skip":
            assert case.good_args is not None
            good_store = work / "good-store"
            shutil.copytree(template, good_store, symlinks=True)
            invoke(args(case.good_args, good_store))
            good = sample_ids(good_store).keys() - ids_before.keys()
            out.good_added = len(good)
            out.same_as_good = good == new.keys()
            out.lost += len(good - new.keys())
        if case.outcome == "accept":
            out.lost += len(set(case.expect_names) - set(out.names))
    out.executed = bool(case.marker and os.path.lexists(case.marker))
    out.message = out.runs[0].line.replace(str(case_dir), "{case}").replace(str(work), "{work}")
    return out


def totals(outcomes: list[Outcome]) -> dict[str, int]:
    by = Counter(o.case.outcome for o in outcomes)
    return {"cases": len(outcomes), "refused": by["refuse"], "skipped": by["skip"], "accepted": by["accept"],
            "commands run": sum(len(o.runs) for o in outcomes), "failed": sum(bool(o.problems) for o in outcomes),
            "samples lost": sum(o.lost for o in outcomes)}


def render_section(outcomes: list[Outcome]) -> str:
    """The bad-inputs section of docs/reliability.md (between its marker and the next one)."""
    t = totals(outcomes)
    readers = Counter(o.case.reader for o in outcomes)
    rows = ["| case | reader | bad input | command | expected | result | what the user sees (first run) |",
            "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        c = o.case
        shown = o.message if len(o.message) <= 240 else o.message[:237] + "..."
        rows.append(f"| `{c.id}` | {c.reader} | {_cell(c.problem)} | `{c.command}` | {c.outcome} | "
                    f"{_cell(o.result())} | {_cell(shown) or '(nothing: exit 0)'} |")
    return "\n".join([
        "## Bad inputs",
        "",
        f"**{t['cases']} bad inputs tried** ({', '.join(f'{n} {r}' for r, n in readers.items())}): "
        f"**{t['refused']} refused** outright, **{t['skipped']} refused and then skipped** with `--on-error skip`, "
        f"**{t['accepted']} accepted** (odd but valid); {t['commands run']} commands run, "
        f"**{t['failed']} failed**, **samples lost: {t['samples lost']}**.",
        "",
        _PROSE,
        "",
        *rows,
        "",
    ])


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("`", "'")


def without_messages(section: str) -> str:
    """A section with the last table column (the messages, whose wording comes partly from Pillow, torch and
    SQLite and so changes with their versions) cut off: what the docs test compares exactly."""
    return "\n".join(ln.rsplit(" | ", 1)[0] if ln.startswith("| ") else ln for ln in section.strip().splitlines())


_PROSE = """\
The corpus is generated, never collected by hand: `tests/reliability/corpus.py` writes every case (a source
folder, an annotation file, a damaged store, a checkpoint) and says how to run it and what must come out.
`python scripts/make_bad_corpus.py [FOLDER]` writes it to `tests/reliability/corpus/` (git-ignored) or FOLDER to
look at, with a `cases.json` listing each case's command line.

Each case runs through the real CLI (`animeparse -q ...`, in process with Click's CliRunner; ingest cases decode
in process with `--workers 0`, one with `--workers 2`) and must give:

- **one line on stderr**, `Error: ...`, naming the offending file (its name or path) and the problem; no
  traceback, no exception escaping the command. Both Python's `sys.stderr` and file descriptor 2 are read, so
  what C libraries print (libpng, OpenCV) counts too; only the `format: ...` notice of auto-detection may appear
  besides. For ingest the line quotes the first refused item (`...; first: FILE: problem`);
- **the documented exit code**: 1 for a refused input; 2 for a usage error (Click prints its usage line and a
  hint before the `Error:` line; those two are allowed);
- **refuse**: the store is byte-identical afterwards. That means: the same set of entries under the store folder
  (files, folders, symlinks), each file with the same bytes (SHA-256), `manifest.sqlite` and the writer lock file
  `.lock` included, compared after the command has closed the store, so SQLite's `-wal`/`-shm` files must have
  gone away again as well. Modification times are not compared (opening a store for writing takes the lock,
  which writes the holder into `.lock` and truncates it again). A command that makes something (`init`, `pseudo
  manga --out`) must leave nothing behind: no folder, no temp folder beside it. Ingest, prelabel and
  pseudo cases run against a store that already holds two samples, so a refusal must keep existing rows and files;
- **skip** (a bad item among good ones): refused like the above by default, and with `--on-error skip` exactly
  the samples an ingest of the good files alone adds (the same sample ids, from a separate run over a source
  without the bad files into another copy of the store); exit code 1 and one line naming the first skipped item;
- **accept** (odd but valid: a 254-byte file name, two names differing only in case): exit 0 and exactly the
  expected sample names. Names differing only in case are two samples (file names are case-sensitive on Linux
  and sample ids are pixel hashes, so nothing collides; exports add the sample id when two stems collide
  case-insensitively); when the two files hold the same pixels the first in byte order (`Face.png`) is added and
  the second is an exact duplicate, skipped and reported like any other;
- hostile pickles (`checkpoint-*-pickle-code`) carry an object whose unpickling would create a marker folder:
  `weights_only=True` refuses it, the message names what it would have imported, and the marker must not exist.

Non-UTF-8 file names are refused per item: such a name cannot be stored as text, exported or shown without
guessing an encoding; the message gives it with the bad bytes escaped (`caf\\xe9-latin1.png`) and how to rename.

Known, and counted as passing only because it is listed here: `image-png-forged-crc` is a PNG whose garbage pixel
data carries recomputed CRCs, so every chunk checks out and the file reaches OpenCV's fast PNG decoder, whose
libpng prints `libpng error: IDAT: invalid code lengths set` to the process's stderr before animeparse's own
`Error:` line (the item is refused correctly). Files damaged by accident (truncation, flipped or overwritten
bytes) fail a CRC and never reach OpenCV.

Run: `pytest tests/reliability/test_bad_inputs.py` (8 to 18 s on this shared 2-core machine; part of the default
run, nothing is marked `long`). Regenerate this section from a fresh run: `python scripts/make_bad_corpus.py --run
--update-docs`; `test_docs_table_is_current` fails when the table and the results of a run disagree."""


# -- pytest ------------------------------------------------------------------------------------------------------
_CORPUS: tuple[Path, list[Case]] | None = None


def corpus() -> tuple[Path, list[Case]]:
    """The corpus, built once per process into a temp folder (removed at exit)."""
    global _CORPUS
    if _CORPUS is None:
        import atexit

        root = Path(tempfile.mkdtemp(prefix="animeparse-bad-corpus-"))
        atexit.register(shutil.rmtree, root, True)
        _CORPUS = (root / "corpus", build_corpus(root / "corpus"))
    return _CORPUS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        cases = corpus()[1]
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


_RESULTS: dict[str, Outcome] = {}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("bad-inputs"))


def test_bad_input(case: Case, template: Path, tmp_path: Path) -> None:
    outcome = run_case(case, corpus()[0], template, tmp_path)
    _RESULTS[case.id] = outcome
    assert not outcome.problems, f"{case.id} ({case.problem}):\n  " + "\n  ".join(outcome.problems) + \
        "".join(f"\n  run {k}: exit {r.exit_code}, stderr {r.stderr!r}, stdout {r.stdout[-800:]!r}"
                for k, r in enumerate(outcome.runs))


def test_corpus_covers_every_reader() -> None:
    cases = corpus()[1]
    assert len({c.id for c in cases}) == len(cases)
    by_reader = Counter(c.reader for c in cases)
    for reader in ("image decode", "index-folder", "palette", "celebamask", "coco", "labelme", "labelstudio",
                   "label map", "dataset card", "parser checkpoint", "SAM checkpoint", "translator"):
        assert by_reader[reader] >= 3, (reader, by_reader)
    for c in cases:
        assert c.outcome == "accept" or len(c.fragments) >= 2 or c.id.endswith("is-a-folder"), c.id
        assert c.outcome != "skip" or c.good_args, c.id


def test_docs_table_is_current() -> None:
    """docs/reliability.md lists every case with the result this run observed, and the totals (run after the
    cases; on a partial run only the listed rows are compared)."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(SECTION) + len(SECTION)
    end = text.index("<!-- section:", start)
    section = text[start:end]
    cases = corpus()[1]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", section, re.M)}
    assert sorted(rows) == sorted(c.id for c in cases), "regenerate: python scripts/make_bad_corpus.py --run " \
                                                        "--update-docs"
    for case_id, outcome in _RESULTS.items():
        assert f"| {_cell(outcome.result())} |" in rows[case_id], \
            f"{case_id}: docs row out of date; regenerate with python scripts/make_bad_corpus.py --run --update-docs"
    if len(_RESULTS) == len(cases):
        assert without_messages(render_section([_RESULTS[c.id] for c in cases])) == without_messages(section), \
            "regenerate: python scripts/make_bad_corpus.py --run --update-docs"
