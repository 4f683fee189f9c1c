"""Read-only manifest queries validate needs that the Dataset API has only per sample (one query instead of N).

A separate read-only SQLite connection: validate never writes, and these are plain SELECTs on the tables
documented in docs/store.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from collections.abc import Iterator

from ..store import Dataset, MaskRecord
from ..store.dataset import MANIFEST_NAME
from ..store.manifest import connect

__all__ = ["all_mask_records", "known_paths"]


@contextlib.contextmanager
def _reader(ds: Dataset) -> Iterator[sqlite3.Connection]:
    db = connect(ds.root / MANIFEST_NAME, readonly=True)
    try:
        yield db
    finally:
        db.close()


def all_mask_records(ds: Dataset) -> dict[str, list[MaskRecord]]:
    """Every mask row, by sample id, each list sorted by layer."""
    out: dict[str, list[MaskRecord]] = defaultdict(list)
    with _reader(ds) as db:
        for row in db.execute("SELECT * FROM masks ORDER BY sample_id, layer"):
            rec = MaskRecord.from_row(row)
            out[rec.sample_id].append(rec)
    return dict(out)


def known_paths(ds: Dataset) -> tuple[set[str], set[str]]:
    """(image paths of sample rows, mask paths of mask rows and of the replaced-mask history), store-relative."""
    with _reader(ds) as db:
        images = {r[0] for r in db.execute("SELECT image FROM samples")}
        masks = {r[0] for r in db.execute("SELECT path FROM masks UNION SELECT path FROM mask_history")}
    return images, masks
