"""Parquet export: the store's manifest as tables for pandas, Ray Data, DuckDB, Spark.

Layout::

    DIR/
      samples.parquet   one row per sample, sorted by id
      masks.parquet     one row per (sample, mask layer), sorted by sample id then layer
      runs.parquet      the runs table (imports, prelabels, ...), sorted by start time then id

A manifest export: no pixels are read or written; paths point into the store (``root`` joined with ``image`` or
``path``), so nothing is copied and ``--images`` does not apply. Masks are a second flat file rather than a nested
list<struct> column: ``pd.read_parquet`` and ``ray.data.read_parquet`` give plain columns (strings, numbers) that
filter and join without unpacking, and each mask row repeats its sample's ``split`` and ``image`` so
``masks.parquet`` alone is a training list (image, mask, split, layer, score). Nested JSON from the store
(``meta``, ``origin``, run ``params``...) is a JSON string with sorted keys. Deterministic: the same store gives
byte-identical files (no timestamps but the store's own ``created_at``/``started_at``).

Filters: ``--split`` keeps those splits' samples (and their masks); ``--layer`` keeps only samples with that layer
and only that layer's mask rows; with no ``--layer`` every sample and every layer is written. The runs table is
written whole (it is the provenance of every row).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..store import Dataset
from ..store.records import MaskRecord, RunRecord, Sample
from .base import FormatSpec
from .writing import ExportConfig, ExportError

__all__ = ["NAME", "FORMAT", "MANIFEST_ONLY", "SAMPLES_SCHEMA", "MASKS_SCHEMA", "RUNS_SCHEMA", "write_manifest"]

NAME = "parquet"
# manifest only: the engine calls write_manifest instead of planning per-sample jobs
FORMAT = FormatSpec(name=NAME, writes=True, manifest_only=True)
MANIFEST_ONLY = FORMAT.manifest_only
ROW_GROUP = 65536  # rows buffered per write: memory stays flat in the store's size
_COMPRESSION = "zstd"

_str, _int = pa.string(), pa.int32()
SAMPLES_SCHEMA = pa.schema([
    ("id", _str), ("name", _str), ("source", _str), ("root", _str), ("image", _str), ("width", _int),
    ("height", _int), ("sha256", _str), ("file_sha256", _str), ("phash", _str), ("split", _str),
    ("tags", pa.list_(_str)), ("status", _str), ("dup_group", _str), ("parent_id", _str), ("parent_run", _str),
    ("meta", _str), ("created_at", _str), ("layers", pa.list_(_str)),
])
MASKS_SCHEMA = pa.schema([
    ("sample_id", _str), ("split", _str), ("root", _str), ("image", _str), ("layer", _str), ("path", _str),
    ("sha256", _str), ("score", pa.float64()), ("origin", _str), ("created_at", _str),
])
RUNS_SCHEMA = pa.schema([
    ("id", _str), ("kind", _str), ("status", _str), ("started_at", _str), ("finished_at", _str), ("params", _str),
    ("models", _str), ("versions", _str), ("summary", _str),
])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _sample_row(s: Sample, root: str, masks: list[MaskRecord]) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "source": s.source, "root": root, "image": s.image, "width": s.width,
            "height": s.height, "sha256": s.sha256, "file_sha256": s.file_sha256, "phash": s.phash,
            "split": s.split, "tags": list(s.tags), "status": s.status, "dup_group": s.dup_group,
            "parent_id": s.parent_id, "parent_run": s.parent_run, "meta": _json(s.meta),
            "created_at": s.created_at, "layers": [m.layer for m in masks]}


def _mask_row(s: Sample, root: str, m: MaskRecord) -> dict[str, Any]:
    return {"sample_id": s.id, "split": s.split, "root": root, "image": s.image, "layer": m.layer, "path": m.path,
            "sha256": m.sha256, "score": m.score, "origin": _json(m.origin), "created_at": m.created_at}


def _run_row(r: RunRecord) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "status": r.status, "started_at": r.started_at,
            "finished_at": r.finished_at, "params": _json(r.params), "models": _json(r.models),
            "versions": _json(r.versions), "summary": _json(r.summary)}


def select_samples(ds: Dataset, config: ExportConfig) -> list[Sample]:
    """The samples to write, sorted by id: ``config.splits`` (all when empty), with a mask in ``config.layer``
    when it is set. ExportError when none match."""
    samples = ds.samples(layer=config.layer)
    if config.splits:
        wanted = set(config.splits)
        samples = [s for s in samples if s.split in wanted]
    if not samples:
        what = f" with a {config.layer!r} mask" if config.layer else ""
        where = f" in split(s) {', '.join(config.splits)}" if config.splits else ""
        raise ExportError(f"no samples{what}{where}; nothing to export (store: {len(ds)} samples, layers "
                          f"{', '.join(ds.layers()) or 'none'}); change --layer or --split", path=ds.root)
    return samples


class _TableWriter:
    """Rows to one Parquet file, in row groups of :data:`ROW_GROUP` (memory flat in the store's size)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._writer = pq.ParquetWriter(path, schema, compression=_COMPRESSION)

    def add(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
        self.rows += len(self._buffer)
        self._buffer = []

    def finish(self) -> int:
        if self._buffer or self.rows == 0:  # an empty table still gets its schema
            self._flush()
        self._writer.close()
        return self.rows

    def close(self) -> None:
        self._writer.close()


def write_manifest(ds: Dataset, root: Path, config: ExportConfig, *,
                   progress: Callable[[int, int | None], None] | None = None) -> dict[str, Any]:
    """Write samples.parquet, masks.parquet and runs.parquet into the folder ``root`` (the engine's temp folder).

    Returns ``{"by_split": {split: samples}, "annotations": mask rows, "files": 3}``. ``progress(done, total)``
    counts samples. Raises ExportError when no sample matches the filters.
    """
    samples = select_samples(ds, config)
    store_root = str(ds.root)
    by_split: dict[str, int] = {}
    writers = [_TableWriter(root / "samples.parquet", SAMPLES_SCHEMA),
               _TableWriter(root / "masks.parquet", MASKS_SCHEMA),
               _TableWriter(root / "runs.parquet", RUNS_SCHEMA)]
    sample_out, mask_out, run_out = writers
    try:
        for done, s in enumerate(samples, 1):
            masks = [m for m in ds.masks_of(s.id) if config.layer is None or m.layer == config.layer]
            sample_out.add(_sample_row(s, store_root, masks))
            for m in masks:
                mask_out.add(_mask_row(s, store_root, m))
            by_split[s.split] = by_split.get(s.split, 0) + 1
            if progress:
                progress(done, len(samples))
        for r in ds.runs():
            run_out.add(_run_row(r))
        counts = [w.finish() for w in writers]
    finally:
        for w in writers:
            w.close()
    return {"by_split": by_split, "annotations": counts[1], "files": len(writers)}
