"""The dataset store: a folder with the card, the locked label map, ``manifest.sqlite`` and files by layer.

:class:`Dataset` is the one way to a store. This module holds its lifecycle (create, open, close); its methods live
beside it by concern, each with its SQL: reads in :mod:`.queries`, writes in :mod:`.writes`, run records in
:mod:`.runs`, the clean-up after a killed writer in :mod:`.repair`, sample selection in :mod:`.selection`, character
identity in :mod:`.characters`, cached mask attributes in :mod:`.attributes`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from .._version import __version__
from ..errors import LabelMapError, StoreError
from ..fsutil import atomic_write_json, current_umask, fsync_dir, on_read_only_fs
from ..labelmap import LabelMap
from .attributes import DatasetAttributes
from .card import CARD_NAME, LABELMAP_NAME, DatasetCard, read_card, write_card
from .characters import DatasetCharacters
from .lock import WriterLock
from .manifest import MANIFEST_NAME, SCHEMA_VERSION, connect, migrate, now_utc, schema_version
from .queries import DatasetInfo
from .repair import DatasetRepair
from .runs import DatasetRuns, new_run_id
from .selection import DatasetSelection

__all__ = ["Dataset", "DatasetInfo", "MANIFEST_NAME", "new_run_id"]


class Dataset(DatasetRuns, DatasetRepair, DatasetSelection, DatasetCharacters, DatasetAttributes):
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
                created_by=f"animeparse {__version__}", created_at=now_utc())
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
