"""Export a store's masks to the formats training code and annotation tools read.

``export(ds, out, ExportConfig(format=...))`` writes one of :data:`EXPORTERS` (the format registry's writers:
``coco``, ``danbooru-parsing``, ``anime-character-parsing``, ``index-png``, ``labelme``, ``labelstudio``,
``celebamask``, ``parquet``) into a new
folder, streaming (memory flat in the dataset size), on every core, atomically (a temp folder renamed into place).
The store is only read. Each format's writer lives in its module under :mod:`animeparse.formats`; this package is
the generic engine. See docs/export.md for each layout and what is lossy.
"""

from pathlib import Path
from typing import Any

from .base import ExportConfig, ExportError, SampleJob
from .engine import EXPORTERS, ExportResult, export, plan_jobs

__all__ = ["EXPORTERS", "ExportConfig", "ExportError", "ExportResult", "SampleJob", "export", "plan_jobs", "write_as"]


def write_as(reader: str, ds: Any, out: Path | str, *, layer: str = "gt", progress: Any = None) -> Path:
    """Write ``layer`` of ``ds`` into the new folder ``out`` in the layout the ``reader`` format reads (the export its
    descriptor names in ``written_by``, with ``written_with``'s options); returns ``out``. Raises ExportError for a
    reader that no export writes."""
    from ..formats import FORMATS

    spec = FORMATS[reader].FORMAT if reader in FORMATS else None
    if spec is None or spec.written_by is None:
        writable = sorted(n for n, m in FORMATS.items() if m.FORMAT.written_by)
        raise ExportError(f"no export writes the {reader!r} layout; these do: {', '.join(writable)}")
    config = ExportConfig(format=spec.written_by, layer=layer, **dict(spec.written_with))  # type: ignore[arg-type]
    return export(ds, out, config, progress=progress).out
