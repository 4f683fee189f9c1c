"""Label Studio JSON: read (:mod:`.reader`: brush, polygon, rectangle and ellipse regions of a task export) and
write (:mod:`.writer`: a task list with one brush region per class, plus the labelling config). Brush regions use
the one RLE codec, :mod:`animeparse.formats.lsrle`. A package, not one module: reader and writer together pass the
400-line mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import FormatSpec
from ..writing import ExportConfig, export_to
from .reader import SHAPE_TYPES, detect, read
from .writer import TASKS_NAME, image_relpath, label_config, open_sink, resolve_as, work

__all__ = ["NAME", "FORMAT", "detect", "read", "write", "SHAPE_TYPES", "image_relpath", "work", "open_sink",
           "label_config", "TASKS_NAME", "resolve_as"]

NAME = "labelstudio"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=True, read_by=NAME, options=frozenset({"ls_as"}))


def write(ds: Any, out: Path, *, layer: str = "gt", progress: Any = None) -> Path:
    """Write the ``layer`` masks of ``ds`` into the new folder ``out`` as a Label Studio task list.

    Runs :func:`animeparse.export.export` with its defaults; returns ``out``. See docs/export.md."""
    return export_to(ds, out, ExportConfig(format=NAME, layer=layer), progress=progress)
