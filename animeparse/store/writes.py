"""The store's writes: samples (files first, then rows in one transaction), masks, splits, tags and status.

Part of :class:`~animeparse.store.Dataset` (its write methods, which need ``Dataset.open(..., write=True)``). Writes go
file-first (temp + ``os.replace``), row-second, in one SQLite transaction per batch, so a crash leaves at worst an
orphan file, which the next writer removes on open (:mod:`.repair`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import FormatError, StoreError
from ..fsutil import atomic_write_bytes, sync_all
from ..imageio import encode_mask_png
from .lock import WriterLock
from .manifest import MANIFEST_NAME, now_utc, write_error
from .prepare import MaskInput, PreparedSample, check_mask, prepare_sample
from .queries import DatasetReads
from .records import STATUSES, MaskRecord, Sample, check_layer, is_human_layer

__all__ = ["DatasetWrites"]


class DatasetWrites(DatasetReads):
    """The write methods of :class:`~animeparse.store.Dataset`."""

    _lock: WriterLock | None
    _palette: Any

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
                   meta: Mapping[str, Any] | None = None, character: str | None = None) -> tuple[Sample, bool]:
        """Add an image (and masks by layer) in one transaction; return (sample, added).

        The sample id is the first 16 hex digits of the decoded pixels' SHA-256, so the same picture is stored once:
        adding it again returns the existing sample with ``added=False`` and stores no new masks.
        Raises FormatError naming the file when the image does not decode or a mask does not fit it.
        """
        self._need_write()
        prepared = prepare_sample(image_path, labelmap=self.labelmap, masks=masks, name=name, source=source,
                                  split=split, tags=tuple(tags), meta=meta, parent_id=parent_id, parent_run=parent_run,
                                  character=character)
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
            now = now_utc()
            with self.transaction() as db:
                for p, rel_image, masks in rows:
                    db.execute(
                        "INSERT INTO samples (id, name, source, image, width, height, sha256, file_sha256, phash, "
                        "split, tags, status, created_at, parent_id, parent_run, meta, character) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (p.id, p.name, p.source, rel_image, p.width, p.height, p.sha256, p.file_sha256, p.phash,
                         p.split, json.dumps(list(p.tags)), _status_after("unlabeled", [m[1] for m in masks]), now,
                         p.parent_id, p.parent_run, json.dumps(dict(p.meta), sort_keys=True, default=str),
                         p.character))
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
        now = now_utc()
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
                   (now_utc(), kind, sample_id, run_id, json.dumps(dict(data), sort_keys=True)))


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
