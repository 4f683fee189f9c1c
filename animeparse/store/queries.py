"""The store's read queries: samples, masks, layers, history, counts, and the bulk reads validate needs.

Part of :class:`~animeparse.store.Dataset` (its read methods); every SELECT on the manifest lives in ``store/``.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import StoreError
from ..imageio import read_image, read_mask
from ..labelmap import LabelMap
from .card import DatasetCard
from .records import STATUSES, MaskRecord, Sample

__all__ = ["DatasetInfo", "DatasetReads"]


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


class DatasetReads:
    """The read methods of :class:`~animeparse.store.Dataset`; they work in any mode."""

    root: Path
    card: DatasetCard
    labelmap: LabelMap
    _db: sqlite3.Connection

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
        args: list[Any] = []
        sql = "SELECT * FROM samples s WHERE 1"
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

    def all_mask_records(self) -> dict[str, list[MaskRecord]]:
        """Every mask row, by sample id, each list sorted by layer (one query instead of one per sample)."""
        out: dict[str, list[MaskRecord]] = defaultdict(list)
        for row in self._db.execute("SELECT * FROM masks ORDER BY sample_id, layer"):
            rec = MaskRecord.from_row(row)
            out[rec.sample_id].append(rec)
        return dict(out)

    def known_paths(self) -> tuple[set[str], set[str]]:
        """(image paths of sample rows, mask paths of mask rows and of the replaced-mask history), store-relative."""
        images = {r[0] for r in self._db.execute("SELECT image FROM samples")}
        masks = {r[0] for r in self._db.execute("SELECT path FROM masks UNION SELECT path FROM mask_history")}
        return images, masks
