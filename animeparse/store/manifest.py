"""The SQLite manifest: schema, migrations, connection settings.

``PRAGMA user_version`` holds the schema version. Opening a store applies the pending migrations in one
transaction; a store written by a newer animeparse is refused rather than guessed at.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from ..errors import StoreError
from ..fsutil import on_read_only_fs

__all__ = ["MANIFEST_NAME", "SCHEMA_VERSION", "MIGRATIONS", "connect", "migrate", "now_utc", "schema_version",
           "write_error"]

MANIFEST_NAME = "manifest.sqlite"


def now_utc() -> str:
    """The manifest's timestamps: UTC, to the second, ``YYYY-mm-ddTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Each entry upgrades the schema from version i to i + 1. Never edit a released entry: append a new one.
MIGRATIONS: list[str] = [
    # 0 -> 1: the core tables
    """
    CREATE TABLE samples (
        id          TEXT PRIMARY KEY,              -- first 16 hex of the decoded pixels' SHA-256
        name        TEXT NOT NULL,                 -- original file name (stem kept for exports)
        source      TEXT NOT NULL DEFAULT '',      -- where it came from (path or URI at ingest)
        image       TEXT NOT NULL,                 -- path relative to the store, images/<id><ext>
        width       INTEGER NOT NULL,
        height      INTEGER NOT NULL,
        sha256      TEXT NOT NULL,                 -- pixel SHA-256 (decoded RGB + shape)
        file_sha256 TEXT NOT NULL,                 -- SHA-256 of the stored file's bytes (bit-rot check)
        phash       TEXT NOT NULL DEFAULT '',      -- 256-bit difference hash, hex
        dup_group   TEXT,
        split       TEXT NOT NULL DEFAULT 'train',
        tags        TEXT NOT NULL DEFAULT '[]',    -- JSON list, sorted
        status      TEXT NOT NULL DEFAULT 'unlabeled'
                    CHECK (status IN ('unlabeled', 'prelabeled', 'annotated', 'reviewed')),
        created_at  TEXT NOT NULL
    );
    CREATE INDEX samples_split ON samples(split);
    CREATE INDEX samples_status ON samples(status);
    CREATE TABLE masks (
        sample_id   TEXT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        layer       TEXT NOT NULL,                 -- gt, prelabel/<run>, pseudo/<run>, ...
        path        TEXT NOT NULL,                 -- relative to the store
        sha256      TEXT NOT NULL,                 -- of the PNG file's bytes
        origin      TEXT NOT NULL DEFAULT '{}',    -- JSON: kind (human/machine/import), run, annotator, ...
        score       REAL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (sample_id, layer)
    );
    CREATE INDEX masks_layer ON masks(layer);
    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,                 -- import, prelabel, pseudo, export, ...
        params      TEXT NOT NULL DEFAULT '{}',
        models      TEXT NOT NULL DEFAULT '{}',    -- name -> SHA-256
        versions    TEXT NOT NULL DEFAULT '{}',
        status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
        summary     TEXT NOT NULL DEFAULT '{}',
        started_at  TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,
        kind        TEXT NOT NULL,
        sample_id   TEXT,
        run_id      TEXT,
        data        TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 1 -> 2: lineage for derived stores (manga pseudo) and the history of replaced human masks
    """
    ALTER TABLE samples ADD COLUMN parent_id TEXT;
    ALTER TABLE samples ADD COLUMN parent_run TEXT;
    CREATE TABLE mask_history (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        sample_id   TEXT NOT NULL,
        layer       TEXT NOT NULL,
        path        TEXT NOT NULL,                 -- the old file, moved under masks/_history/
        sha256      TEXT NOT NULL,
        origin      TEXT NOT NULL,
        score       REAL,
        created_at  TEXT NOT NULL,
        replaced_at TEXT NOT NULL
    );
    """,
    # 2 -> 3: per-sample metadata from the source (crop box, COCO image id, Label Studio task ...), JSON
    """
    ALTER TABLE samples ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
    """,
    # 3 -> 4: character identity per sample (SIS-anime), the declared character list with display names, and the
    # attributes computed from a mask (face box, part centres, colours), valid while the mask's SHA-256 matches
    """
    ALTER TABLE samples ADD COLUMN character TEXT;
    CREATE INDEX samples_character ON samples(character);
    CREATE TABLE characters (
        id          TEXT PRIMARY KEY,              -- the id samples carry in samples.character
        name        TEXT NOT NULL DEFAULT '',      -- display name ('' = none)
        declared    INTEGER NOT NULL DEFAULT 0 CHECK (declared IN (0, 1))  -- in the list validate checks against
    );
    CREATE TABLE attributes (
        sample_id   TEXT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        layer       TEXT NOT NULL,
        mask_sha256 TEXT NOT NULL,                 -- of the mask file they were computed from (stale when it differs)
        data        TEXT NOT NULL,                 -- JSON: face_xyxy, eye/nose/mouth centres, colours (Lab + name)
        computed_at TEXT NOT NULL,
        PRIMARY KEY (sample_id, layer)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """Open the manifest in WAL mode with explicit transactions (``isolation_level=None``; use BEGIN ourselves).

    ``readonly`` on a read-only filesystem opens the file as immutable: SQLite could not create the WAL index it
    needs beside it, and nothing can change the file through that mount. ``immutable`` forces that anywhere."""
    immutable = immutable or (readonly and on_read_only_fs(path.parent))
    uri = f"file:{quote(str(path))}?mode={'ro' if readonly else 'rwc'}{'&immutable=1' if immutable else ''}"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode is durable against process crashes (our SIGKILL case); FULL adds power-cut safety
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as err:  # the latter: SQLite's message quotes a garbled name
        code = (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (8, 14):  # SQLITE_READONLY, SQLITE_CANTOPEN: access, not damage
            raise StoreError(f"manifest could not be opened ({err}); SQLite needs to read the file and to write its "
                             "-wal and -shm files beside it: check that they and the folder are readable and "
                             "writable by this user", path=path) from err
        if code == 13 or (code == 10 and _free_bytes(path.parent) < (1 << 20)):  # SQLITE_FULL, or IOERR when full
            raise StoreError(f"manifest could not be opened ({err}): no space left on that filesystem for SQLite's "
                             "-wal and -shm files beside it; free space there, then run the command again",
                             path=path) from err
        if code == 10:  # SQLITE_IOERR
            raise StoreError(f"manifest could not be opened ({err}); check the disk (dmesg) and that the folder is "
                             "writable, then run the command again", path=path) from err
        raise StoreError(f"manifest could not be opened ({err}); the file is damaged or not SQLite", path=path) from err
    return db


def _free_bytes(folder: Path) -> int:
    try:
        st = os.statvfs(folder)
    except OSError:
        return 1 << 62
    return st.f_bavail * st.f_frsize


def write_error(err: sqlite3.OperationalError, path: Path) -> StoreError:
    """A one-line StoreError naming the manifest ``path`` and the fix, for a failed write transaction."""
    code = (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == 13:  # SQLITE_FULL
        message = "no space left to write the manifest (SQLite: database or disk is full); free space on that " \
                  "filesystem, then run the command again (the failed step was not committed)"
    elif code == 8:  # SQLITE_READONLY
        message = f"the manifest cannot be written (SQLite: {err}); the store is on a read-only filesystem or not " \
                  "writable by this user: remount it read-write or fix the permissions"
    elif code == 10:  # SQLITE_IOERR
        message = f"I/O error writing the manifest (SQLite: {err}); check the disk (dmesg), then run the command " \
                  "again (the failed step was not committed)"
    elif code == 5:  # SQLITE_BUSY
        message = f"the manifest stayed locked by another process (SQLite: {err}); wait for it, then run again"
    else:
        message = f"the manifest could not be written (SQLite: {err}); run animeparse validate on the store, " \
                  "then the command again"
    return StoreError(message, path=path)


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, *, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Apply pending migrations up to ``target`` in one transaction; return the version now in force."""
    current = schema_version(db)
    if current < 0:  # MIGRATIONS[-1] would run on a full schema
        raise StoreError(f"manifest schema version {current} is not one animeparse writes; the file header is "
                         "damaged: restore manifest.sqlite from a backup", path=path)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"manifest schema version {current} is newer than this animeparse supports ({SCHEMA_VERSION}); "
            "upgrade animeparse",
            path=path,
        )
    if current >= target:
        return current
    db.execute("BEGIN IMMEDIATE")
    try:
        for version in range(current, target):
            for statement in _split_sql(MIGRATIONS[version]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
        db.execute("COMMIT")
    except BaseException as err:
        db.execute("ROLLBACK")
        if isinstance(err, sqlite3.DatabaseError) and (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF == 1:
            # SQLITE_ERROR ("table samples already exists"): the schema is newer than the version in the header
            raise StoreError(f"manifest says schema version {current} but already holds a later schema ({err}); its "
                             "file header is damaged: restore manifest.sqlite from a backup", path=path) from err
        raise
    return target


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (executescript would COMMIT our transaction implicitly)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
