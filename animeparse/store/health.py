"""The manifest's health: SQLite's own consistency checks on ``manifest.sqlite``, and what they cannot see.

A damaged page in an index does not stop SQLite from opening the file, and most queries still answer (from the
table, or wrongly from the index), so nothing else would notice. One :class:`ManifestProblem` per problem found:

- the schema (``sqlite_master``) differs from the one animeparse's migrations make (a garbled column name);
- ``PRAGMA integrity_check`` reports a problem, or cannot finish;
- ``PRAGMA foreign_key_check`` finds rows pointing at missing rows (a mask row whose sample was deleted outside
  animeparse);
- a text value is not UTF-8 (SQLite keeps no checksum of its pages, so a changed byte inside a value passes
  integrity_check; this is the part of such damage that would stop every reader).

The SQL lives here, in the store; ``validate``'s ``manifest`` check (:mod:`animeparse.qa.manifest`) words the
findings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from .manifest import MANIFEST_NAME, connect, migrate

__all__ = ["ManifestProblem", "manifest_problems", "MAX_PROBLEMS"]


@dataclass(frozen=True)
class ManifestProblem:
    """``what`` happened, the ``problems`` (at most MAX_PROBLEMS lines) and the ``fix``."""

    what: str
    problems: list[str]
    fix: str


MAX_PROBLEMS = 20  # problem lines kept in a finding; SQLite's integrity_check stops after this many too
_REBUILD = (f"if only indexes are named, rebuild them with: sqlite3 {MANIFEST_NAME} REINDEX (no writer running); "
            f"otherwise restore {MANIFEST_NAME} from a backup, or salvage its rows with the sqlite3 shell's .recover")
_RESTORE = f"restore {MANIFEST_NAME} from a backup, or salvage its rows with the sqlite3 shell's .recover"
_DAMAGE = (sqlite3.DatabaseError, UnicodeDecodeError)  # sqlite3 raises the latter for a garbled name in a message


def manifest_problems(root: Path) -> Iterator[ManifestProblem]:
    """The four checks of the module docstring on ``root``'s manifest, on a read-only connection of its own."""
    try:
        db = connect(Path(root) / MANIFEST_NAME, readonly=True)
    except StoreError as err:
        yield _corrupt(f"{MANIFEST_NAME} could not be opened ({err.args[0]})", [str(err.args[0])], _RESTORE)
        return
    try:
        for name, run in (("schema", _schema), ("integrity_check", _integrity), ("foreign_key_check", _foreign),
                          ("text check", _text)):
            try:
                yield from run(db)
            except _DAMAGE as err:
                yield _corrupt(f"the {name} of {MANIFEST_NAME} stopped: {err}", [str(err)], _RESTORE)
    finally:
        db.close()


def _schema(db: sqlite3.Connection) -> Iterator[ManifestProblem]:
    reference = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(reference, path=Path(":memory:"))
        expected = _objects(reference)
    finally:
        reference.close()
    found = _objects(db)
    problems = [f"{kind} {name}: {'missing' if name not in found else 'differs'}" for name, kind in
                sorted((n, v[0]) for n, v in expected.items() if found.get(n) != v)]
    problems += [f"{found[n][0]} {n!r}: not animeparse's" for n in sorted(found.keys() - expected.keys())]
    if problems:
        yield _corrupt(f"the schema of {MANIFEST_NAME} is not the one animeparse made ({problems[0]}"
                       f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''})", problems, _RESTORE)


def _objects(db: sqlite3.Connection) -> dict[str, tuple[str, str, str | None]]:
    """Schema objects by name: (type, table, CREATE statement)."""
    return {str(r[1]): (str(r[0]), str(r[2]), r[3]) for r in db.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'")}


def _integrity(db: sqlite3.Connection) -> Iterator[ManifestProblem]:
    lines = [str(r[0]) for r in db.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})")]
    problems = [p for line in lines for p in line.splitlines() if p and p != "*** in database main ***"]
    if problems != ["ok"]:
        yield _corrupt(f"SQLite's integrity_check of {MANIFEST_NAME} reports {len(problems)} problem"
                       f"{'s' if len(problems) != 1 else ''} (first: {problems[0]})", problems, _REBUILD)


def _foreign(db: sqlite3.Connection) -> Iterator[ManifestProblem]:
    orphans = db.execute("PRAGMA foreign_key_check").fetchall()
    if orphans:
        rows = [f"{r[0]} rowid {r[1]} -> missing {r[2]} row" for r in orphans[:MAX_PROBLEMS]]
        yield _corrupt(f"{len(orphans)} manifest rows point at rows that do not exist (first: {rows[0]}): rows "
                       "were deleted outside animeparse", rows,
                       f"restore {MANIFEST_NAME} from a backup, or delete those rows with the sqlite3 shell")


def _text(db: sqlite3.Connection) -> Iterator[ManifestProblem]:
    """Rows holding text that is not UTF-8, read as bytes (one pass over every table)."""
    db.text_factory = bytes
    problems: list[str] = []
    count = 0
    try:
        tables = [r[0].decode("utf-8", "replace") for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            for row in db.execute(f"SELECT rowid, * FROM {quoted}"):
                if any(isinstance(v, bytes) and not _utf8(v) for v in row[1:]):
                    count += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(f"{table} rowid {row[0]}")
    finally:
        db.text_factory = str
    if count:
        yield _corrupt(f"{count} manifest rows hold text that is not UTF-8 (first: {problems[0]}): bytes changed "
                       "inside the file", problems, _RESTORE)


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _corrupt(what: str, problems: list[str], fix: str) -> ManifestProblem:
    return ManifestProblem(what, problems[:MAX_PROBLEMS], fix)
