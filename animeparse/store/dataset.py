"""The dataset store: a folder with the card, the locked label map, ``manifest.sqlite`` and files by layer.

Writes go file-first (temp + ``os.replace``), row-second, in one SQLite transaction per sample, so a crash leaves
at worst an orphan file, which the next writer removes on open (:meth:`Dataset.repair`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._version import __version__
from ..errors import FormatError, LabelMapError, StoreError
from ..fsutil import (
    TMP_SUFFIX,
    atomic_write_bytes,
    atomic_write_json,
    current_umask,
    fsync_dir,
    on_read_only_fs,
    sync_all,
)
from ..imageio import encode_mask_png, read_image, read_mask
from ..labelmap import LabelMap
from .card import CARD_NAME, LABELMAP_NAME, DatasetCard, read_card, write_card
from .lock import WriterLock
from .manifest import SCHEMA_VERSION, connect, migrate, schema_version, write_error
from .prepare import MaskInput, PreparedSample, check_mask, prepare_sample
from .records import STATUSES, MaskRecord, RunRecord, Sample, check_layer, is_human_layer

__all__ = ["Dataset", "DatasetInfo", "MANIFEST_NAME", "new_run_id"]

log = logging.getLogger(__name__)
MANIFEST_NAME = "manifest.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DatasetInfo:
    """Counts for ``animeparse info``."""

    root: str
    name: str
    labelmap: str
    lr_convention: str
    samples: int
    by_split: dict[str, int]
    by_status: dict[str, int]
    by_layer: dict[str, int]
    runs: int


class Dataset:
    """An opened store. Read methods work in any mode; write methods need ``open(..., write=True)``,
    which holds the single-writer lock until :meth:`close`."""

    def __init__(self, root: Path, card: DatasetCard, labelmap: LabelMap, db: sqlite3.Connection,
                 lock: WriterLock | None) -> None:
        self.root = root
        self.card = card
        self.labelmap = labelmap
        self._db = db
        self._lock = lock
        self._palette = labelmap.palette()
        self._valid = labelmap.valid_lut()

    # -- lifecycle ----------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path | str, *, labelmap: LabelMap, name: str | None = None, lr_convention: str = "subject",
               kind: str = "face", description: str = "", exist_ok: bool = False,
               parent: str | None = None) -> Dataset:
        """Create a store at ``root`` (absent or an empty folder) and open it for writing.

        Built in a temp folder beside ``root`` and renamed into place, so a killed ``init`` leaves nothing half made.
        With ``exist_ok`` an existing store with the same label map is opened instead. ``parent``: the store a
        derived store (manga pseudo data) was made from, recorded in its card.
        """
        root = Path(root).absolute()
        if (root / CARD_NAME).exists():
            if not exist_ok:
                raise StoreError("a store already exists here; open it, or choose another folder", path=root)
            ds = cls.open(root, write=True)
            if ds.card.labelmap["sha256"] != labelmap.sha256:
                ds.close()
                raise LabelMapError(
                    f"the store's locked label map is {ds.card.labelmap['name']} v{ds.card.labelmap['version']}, "
                    f"not {labelmap.name} v{labelmap.version}; use another folder or the store's map", path=root)
            return ds
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise StoreError("folder exists and is not empty; choose a new or empty folder", path=root)
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.init-", dir=root.parent))
        try:
            os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders; a store gets the usual permissions
            for sub in ("images", "masks", "runs"):
                (tmp / sub).mkdir()
            atomic_write_json(tmp / LABELMAP_NAME, labelmap.to_json())
            card = DatasetCard(
                name=name or root.name, lr_convention=lr_convention, kind=kind, description=description, parent=parent,
                labelmap={"name": labelmap.name, "version": labelmap.version, "sha256": labelmap.sha256},
                created_by=f"animeparse {__version__}", created_at=_now())
            write_card(tmp, card)
            db = connect(tmp / MANIFEST_NAME)
            migrate(db, path=tmp / MANIFEST_NAME)
            db.close()
            os.replace(tmp, root)  # rename(2) may replace an empty folder
            fsync_dir(root.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(root, write=True)

    @classmethod
    def open(cls, root: Path | str, *, write: bool = False) -> Dataset:
        """Open a store; with ``write`` take the writer lock (LockError names the holder) and clean up after crashes."""
        root = Path(root).absolute()
        card = read_card(root)
        labelmap = _read_locked_labelmap(root, card)
        lock = WriterLock(root) if write else None
        if lock:
            lock.acquire()
        db = None
        try:
            # a reader of a store on a read-only filesystem opens the manifest read-only (as immutable: see connect)
            frozen = not write and on_read_only_fs(root)
            db = connect(root / MANIFEST_NAME, readonly=frozen)
            if write:
                migrate(db, path=root / MANIFEST_NAME)
            elif schema_version(db) != SCHEMA_VERSION:
                if frozen:
                    raise StoreError(f"the manifest is schema version {schema_version(db)}, this animeparse needs "
                                     f"{SCHEMA_VERSION}, and the store is on a read-only filesystem, so it cannot be "
                                     "upgraded: open it once where it is writable (animeparse info DS), or use the "
                                     "animeparse that wrote it", path=root)
                # an older manifest is migrated once, under the writer lock, even by a reader
                with WriterLock(root):
                    migrate(db, path=root / MANIFEST_NAME)
            ds = cls(root, card, labelmap, db, lock)
            if write:
                ds.repair()
            return ds
        except BaseException:
            if db is not None:  # closed now, not at garbage collection: a refused open leaves no -wal/-shm behind
                db.close()
            if lock:
                lock.release()
            raise

    def close(self) -> None:
        self._db.close()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads --------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def __contains__(self, sample_id: object) -> bool:
        return self._db.execute("SELECT 1 FROM samples WHERE id = ?", (sample_id,)).fetchone() is not None

    def sample(self, sample_id: str) -> Sample:
        row = self._db.execute("SELECT * FROM samples WHERE id = ?", (sample_id,)).fetchone()
        if row is None:
            raise StoreError(f"no sample {sample_id!r} in this store", path=self.root, sample_id=sample_id)
        return Sample.from_row(row)

    def samples(self, *, split: str | None = None, status: str | None = None, tag: str | None = None,
                layer: str | None = None) -> list[Sample]:
        """Samples sorted by id, optionally filtered (``layer``: only those that have that mask layer)."""
        sql, args = "SELECT * FROM samples s WHERE 1", []
        if split is not None:
            sql, args = sql + " AND split = ?", [*args, split]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        if tag is not None:
            sql, args = sql + " AND EXISTS (SELECT 1 FROM json_each(s.tags) WHERE value = ?)", [*args, tag]
        if layer is not None:
            sql = sql + " AND EXISTS (SELECT 1 FROM masks m WHERE m.sample_id = s.id AND m.layer = ?)"
            args = [*args, layer]
        return [Sample.from_row(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def image_path(self, sample: Sample | str) -> Path:
        sample = self.sample(sample) if isinstance(sample, str) else sample
        return self.root / sample.image

    def read_image(self, sample: Sample | str) -> npt.NDArray[np.uint8]:
        """HxWx3 uint8 RGB of a sample."""
        return read_image(self.image_path(sample))

    def mask_record(self, sample_id: str, layer: str = "gt") -> MaskRecord | None:
        row = self._db.execute("SELECT * FROM masks WHERE sample_id = ? AND layer = ?", (sample_id, layer)).fetchone()
        return MaskRecord.from_row(row) if row else None

    def masks_of(self, sample_id: str) -> list[MaskRecord]:
        rows = self._db.execute("SELECT * FROM masks WHERE sample_id = ? ORDER BY layer", (sample_id,))
        return [MaskRecord.from_row(r) for r in rows]

    def read_mask(self, sample_id: str, layer: str = "gt") -> npt.NDArray[np.uint8] | None:
        """HxW uint8 class ids of a layer, or None when the sample has no mask in that layer."""
        rec = self.mask_record(sample_id, layer)
        return None if rec is None else read_mask(self.root / rec.path)

    def layers(self) -> dict[str, int]:
        rows = self._db.execute("SELECT layer, count(*) FROM masks GROUP BY layer ORDER BY layer")
        return {r[0]: int(r[1]) for r in rows}

    def runs(self, *, kind: str | None = None) -> list[RunRecord]:
        sql, args = "SELECT * FROM runs", ()
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [RunRecord.from_row(r) for r in self._db.execute(sql + " ORDER BY started_at, id", args)]

    def run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def mask_history(self, sample_id: str, layer: str = "gt") -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM mask_history WHERE sample_id = ? AND layer = ? ORDER BY id",
                                (sample_id, layer))
        return [dict(r) for r in rows]

    def info(self) -> DatasetInfo:
        def grouped(sql: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in self._db.execute(sql)}

        return DatasetInfo(
            root=str(self.root), name=self.card.name,
            labelmap=f"{self.labelmap.name} v{self.labelmap.version}", lr_convention=self.card.lr_convention,
            samples=len(self), by_split=grouped("SELECT split, count(*) FROM samples GROUP BY split ORDER BY split"),
            by_status={s: n for s in STATUSES
                       if (n := int(self._db.execute("SELECT count(*) FROM samples WHERE status = ?",
                                                      (s,)).fetchone()[0]))},
            by_layer=self.layers(), runs=int(self._db.execute("SELECT count(*) FROM runs").fetchone()[0]))

    # -- writes -------------------------------------------------------------------------------------------------
    def _need_write(self) -> None:
        if self._lock is None or not self._lock.held:
            raise StoreError("store is open read-only; open it with write=True", path=self.root)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        self._need_write()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise write_error(err, self.root / MANIFEST_NAME) from err
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as err:
            # a failed COMMIT (disk full, I/O error) may have ended the transaction already; a second error from
            # ROLLBACK must not hide the first
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if isinstance(err, sqlite3.OperationalError):
                raise write_error(err, self.root / MANIFEST_NAME) from err
            raise

    def add_sample(self, image_path: Path | str, *, name: str | None = None, source: str | None = None,
                   split: str = "train", tags: tuple[str, ...] | list[str] = (),
                   masks: Mapping[str, MaskInput] | None = None, run_id: str | None = None,
                   parent_id: str | None = None, parent_run: str | None = None,
                   meta: Mapping[str, Any] | None = None) -> tuple[Sample, bool]:
        """Add an image (and masks by layer) in one transaction; return (sample, added).

        The sample id is the first 16 hex digits of the decoded pixels' SHA-256, so the same picture is stored once:
        adding it again returns the existing sample with ``added=False`` and stores no new masks.
        Raises FormatError naming the file when the image does not decode or a mask does not fit it.
        """
        self._need_write()
        prepared = prepare_sample(image_path, labelmap=self.labelmap, masks=masks, name=name, source=source,
                                  split=split, tags=tuple(tags), meta=meta, parent_id=parent_id, parent_run=parent_run)
        (added,) = self.add_prepared([prepared], run_id=run_id)
        return self.sample(prepared.id), added

    def add_prepared(self, batch: list[PreparedSample], *, run_id: str | None = None,
                     dup_groups: Mapping[str, str] | None = None) -> list[bool]:
        """Commit prepared samples: files first, then all their rows in one transaction; return added flags.

        Samples already in the store (or earlier in the batch) are skipped. ``dup_groups`` maps sample ids (new or
        existing) to a near-duplicate group id, set in the same transaction.
        """
        self._need_write()
        seen: set[str] = set()
        todo: list[PreparedSample] = []
        added: list[bool] = []
        for p in batch:
            fresh = p.id not in seen and p.id not in self
            seen.add(p.id)
            added.append(fresh)
            if fresh:
                todo.append(p)
        placed: list[tuple[str, Path]] = []  # files moved into place, for the clean-up if the batch fails
        try:
            rows = self._place_files(todo, placed)
            if any(p.staged for p in todo):
                sync_all()  # staged files were written without fsync; make them durable before rows point at them
            now = _now()
            with self.transaction() as db:
                for p, rel_image, masks in rows:
                    db.execute(
                        "INSERT INTO samples (id, name, source, image, width, height, sha256, file_sha256, phash, "
                        "split, tags, status, created_at, parent_id, parent_run, meta) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (p.id, p.name, p.source, rel_image, p.width, p.height, p.sha256, p.file_sha256, p.phash,
                         p.split, json.dumps(list(p.tags)), _status_after("unlabeled", [m[1] for m in masks]), now,
                         p.parent_id, p.parent_run, json.dumps(dict(p.meta), sort_keys=True, default=str)))
                    for m in masks:
                        db.execute("INSERT INTO masks VALUES (?,?,?,?,?,?,?)", (*m, now))
                    self._event(db, "add_sample", p.id, run_id, {"name": p.name, "layers": [m[1] for m in masks]})
                for sid, group in (dup_groups or {}).items():
                    db.execute("UPDATE samples SET dup_group = ? WHERE id = ?", (group, sid))
        except BaseException:
            # the batch was not committed (a full disk, an I/O error): take its files back out so the store is as
            # it was; a file whose row did get in is kept. A killed process leaves them to repair() instead.
            for sid, path in placed:
                with contextlib.suppress(Exception):
                    if sid not in self:
                        path.unlink(missing_ok=True)
            raise
        return added

    def put_mask(self, sample_id: str, layer: str, mask: MaskInput, *, replace: bool = False,
                 run_id: str | None = None) -> MaskRecord:
        """Store a mask layer for an existing sample.

        A machine origin may not write a human layer (``gt``). An existing human mask is replaced only with
        ``replace=True``; the old file stays on disk and is listed by :meth:`mask_history`. Machine layers are
        overwritten freely (re-running the same run).
        """
        self._need_write()
        check_layer(layer)
        sample = self.sample(sample_id)
        if is_human_layer(layer) and mask.origin.get("kind") == "machine":
            raise StoreError(f"a machine result cannot be written to the human layer {layer!r}; use a "
                             "'prelabel/RUN' layer", path=self.root, sample_id=sample_id)
        check_mask(mask.mask_hw, (sample.height, sample.width), self.labelmap,
                   where=mask.source or f"mask for sample {sample_id}", image_name=sample.name)
        old = self.mask_record(sample_id, layer)
        if old is not None and is_human_layer(layer) and not replace:
            raise StoreError(f"sample {sample_id} already has a human {layer!r} mask; pass --force (replace=True) "
                             "to replace it (the old one is kept in the history)", path=self.root, sample_id=sample_id)
        row = self._write_mask_file(sample_id, layer, mask.mask_hw, mask, version_tag="" if old is None else "new")
        now = _now()
        try:
            with self.transaction() as db:
                if old is not None and is_human_layer(layer):
                    db.execute("INSERT INTO mask_history (sample_id, layer, path, sha256, origin, score, created_at,"
                               " replaced_at) VALUES (?,?,?,?,?,?,?,?)", (sample_id, layer, old.path, old.sha256,
                                                                          json.dumps(old.origin), old.score,
                                                                          old.created_at, now))
                db.execute("INSERT OR REPLACE INTO masks VALUES (?,?,?,?,?,?,?)", (sample_id, *row, now))
                db.execute("UPDATE samples SET status = ? WHERE id = ?",
                           (_status_after(sample.status, [layer]), sample_id))
                self._event(db, "replace_mask" if old else "put_mask", sample_id, run_id, {"layer": layer})
        except BaseException:
            # not committed: remove the new file, unless a committed row (current or history) names that path:
            # the same bytes were stored before
            with contextlib.suppress(Exception):
                named = self._db.execute("SELECT 1 FROM masks WHERE path = ? UNION ALL SELECT 1 FROM mask_history "
                                         "WHERE path = ?", (row[1], row[1])).fetchone()
                if named is None:
                    (self.root / row[1]).unlink(missing_ok=True)
            raise
        if old is not None and not is_human_layer(layer) and old.path != row[1]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / old.path)
        rec = self.mask_record(sample_id, layer)
        assert rec is not None  # just committed
        return rec

    def set_split(self, sample_ids: list[str], split: str) -> None:
        self.set_splits({sid: split for sid in sample_ids})

    def set_splits(self, assignment: Mapping[str, str], *, add_tags: tuple[str, ...] | list[str] = ()) -> None:
        """Move samples to splits ({id: split}) and add ``add_tags`` to each, all in one transaction."""
        with self.transaction() as db:
            for sid, split in assignment.items():
                row = db.execute("SELECT tags FROM samples WHERE id = ?", (sid,)).fetchone()
                if row is None:
                    raise StoreError(f"no sample {sid!r} in this store", path=self.root, sample_id=sid)
                tags = sorted({*json.loads(row[0]), *add_tags})
                db.execute("UPDATE samples SET split = ?, tags = ? WHERE id = ?", (split, json.dumps(tags), sid))

    def add_tags(self, sample_id: str, tags: list[str]) -> None:
        with self.transaction() as db:
            old = json.loads(db.execute("SELECT tags FROM samples WHERE id = ?", (sample_id,)).fetchone()[0])
            db.execute("UPDATE samples SET tags = ? WHERE id = ?", (json.dumps(sorted({*old, *tags})), sample_id))

    def set_status(self, sample_id: str, status: str) -> None:
        if status not in STATUSES:
            raise StoreError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        with self.transaction() as db:
            db.execute("UPDATE samples SET status = ? WHERE id = ?", (status, sample_id))

    def start_run(self, kind: str, *, params: Mapping[str, Any] | None = None, models: Mapping[str, Any] | None = None,
                  run_id: str | None = None) -> str:
        """Record a run (or resume an unfinished one with the same id) and return its id."""
        run_id = run_id or new_run_id(kind)
        existing = self.run(run_id)
        if existing is not None:
            return run_id
        import platform

        versions = {"animeparse": __version__, "python": platform.python_version(), "numpy": np.__version__}
        with self.transaction() as db:
            db.execute("INSERT INTO runs (id, kind, params, models, versions, started_at) VALUES (?,?,?,?,?,?)",
                       (run_id, kind, json.dumps(dict(params or {}), sort_keys=True, default=str),
                        json.dumps(dict(models or {}), sort_keys=True), json.dumps(versions), _now()))
        return run_id

    def finish_run(self, run_id: str, *, summary: Mapping[str, Any] | None = None, status: str = "finished") -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                       (status, json.dumps(dict(summary or {}), sort_keys=True, default=str), _now(), run_id))

    def repair(self) -> dict[str, int]:
        """Remove what a killed writer left: temp files, and image/mask files no row points to."""
        self._need_write()
        counts = {"temp_files": 0, "orphan_images": 0, "orphan_masks": 0}
        for folder in (self.root / "images", self.root / "masks", self.root / "runs", self.root / "cache", self.root):
            for p in folder.rglob(f".*{TMP_SUFFIX}") if folder != self.root else folder.glob(f".*{TMP_SUFFIX}"):
                if p.is_dir():
                    continue
                p.unlink(missing_ok=True)
                counts["temp_files"] += 1
        for staging in self.root.glob(f".staging-*{TMP_SUFFIX}"):
            shutil.rmtree(staging, ignore_errors=True)
            counts["temp_files"] += 1
        known_images = {r[0] for r in self._db.execute("SELECT image FROM samples")}
        for p in (self.root / "images").iterdir():
            if p.is_file() and f"images/{p.name}" not in known_images:
                p.unlink()
                counts["orphan_images"] += 1
        known_masks = {r[0] for r in self._db.execute("SELECT path FROM masks UNION SELECT path FROM mask_history")}
        for p in (self.root / "masks").rglob("*.png"):
            if p.relative_to(self.root).as_posix() not in known_masks:
                p.unlink()
                counts["orphan_masks"] += 1
        if any(counts.values()):
            log.warning("%s: cleaned up after an interrupted run: %s", self.root, counts)
        # we hold the writer lock, so a run still marked running was left by a process that died: say so (a run
        # resumed by id is marked finished again when it completes)
        interrupted = [r[0] for r in self._db.execute("SELECT id FROM runs WHERE status = 'running'")]
        if interrupted:
            with self.transaction() as db:
                db.execute("UPDATE runs SET status = 'failed', finished_at = ?, summary = json_set(summary, "
                           "'$.error', 'interrupted: the process ended before the run finished') "
                           "WHERE status = 'running'", (_now(),))
            log.warning("%s: runs interrupted earlier, now marked failed: %s", self.root, ", ".join(interrupted))
        return counts

    # -- internals ----------------------------------------------------------------------------------------------
    def _place_files(self, todo: list[PreparedSample], placed: list[tuple[str, Path]]
                     ) -> list[tuple[PreparedSample, str, list[tuple[Any, ...]]]]:
        """Move (staged) or write each sample's image and masks into place, appending each to ``placed``; return
        the rows to insert: (sample, image path, mask rows)."""
        rows = []
        for p in todo:
            rel_image = f"images/{p.id}{p.ext}"
            placed.append((p.id, self.root / rel_image))
            if p.staged:
                os.replace(p.staged, self.root / rel_image)  # written and fsynced by the worker
            else:
                atomic_write_bytes(self.root / rel_image, p.data if p.data is not None else _read_checked(p))
            masks = []
            for m in p.masks:
                rel = f"masks/{check_layer(m.layer)}/{p.id}.png"
                placed.append((p.id, self.root / rel))
                if m.staged:
                    (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(m.staged, self.root / rel)
                else:
                    atomic_write_bytes(self.root / rel, m.png)
                masks.append((p.id, m.layer, rel, m.sha256, m.origin, m.score))
            rows.append((p, rel_image, masks))
        return rows

    def _write_mask_file(self, sid: str, layer: str, mask_hw: npt.NDArray[np.uint8], mask: MaskInput,
                         *, version_tag: str) -> tuple[str, str, str, str, float | None]:
        data = encode_mask_png(mask_hw, palette=self._palette)
        digest = hashlib.sha256(data).hexdigest()
        # a replacement gets its own file name, so the committed row never points at bytes it did not hash
        rel = f"masks/{check_layer(layer)}/{sid}{'-' + digest[:8] if version_tag else ''}.png"
        atomic_write_bytes(self.root / rel, data)
        return (layer, rel, digest, json.dumps(dict(mask.origin), sort_keys=True), mask.score)

    def _event(self, db: sqlite3.Connection, kind: str, sample_id: str | None, run_id: str | None,
               data: Mapping[str, Any]) -> None:
        db.execute("INSERT INTO events (at, kind, sample_id, run_id, data) VALUES (?,?,?,?,?)",
                   (_now(), kind, sample_id, run_id, json.dumps(dict(data), sort_keys=True)))


def new_run_id(kind: str) -> str:
    """``KIND-YYYYmmdd-HHMMSS-xxxx``: sortable by start time, unique enough for one store."""
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def _read_checked(p: PreparedSample) -> bytes:
    """The source file's bytes, refused if the file changed since it was checked."""
    try:
        data = Path(p.source_path).read_bytes()
    except OSError as err:
        raise FormatError(f"image disappeared during ingest ({err.strerror or err})", path=p.source_path) from err
    if hashlib.sha256(data).hexdigest() != p.file_sha256:
        raise FormatError("image changed on disk during ingest; run the ingest again", path=p.source_path)
    return data


def _status_after(status: str, layers: list[str]) -> str:
    if any(is_human_layer(layer) for layer in layers):
        return "annotated"
    if status == "unlabeled" and any(layer.startswith("prelabel/") for layer in layers):
        return "prelabeled"
    return status


def _read_locked_labelmap(root: Path, card: DatasetCard) -> LabelMap:
    path = root / LABELMAP_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise StoreError(f"the store's locked label map {LABELMAP_NAME} is missing; restore it", path=path) from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StoreError(f"the store's label map is not valid JSON ({err}); restore it", path=path) from err
    except RecursionError as err:
        raise StoreError("the store's label map is nested too deeply to be a label map; restore it",
                         path=path) from err
    except OSError as err:
        raise StoreError(f"the store's label map cannot be read ({err.strerror or err}); restore it",
                         path=path) from err
    labelmap = LabelMap.from_json(data, source=path)
    if labelmap.sha256 != card.labelmap["sha256"]:
        raise StoreError("labelmap.json differs from the one locked in animeparse.json (SHA-256 mismatch); ids would "
                         "drift: restore the original file", path=path)
    return labelmap
