"""LabelMe JSON: read (:mod:`.reader`: polygons, rectangles, circles and mask shapes, one file per image) and
write (:mod:`.writer`: one polygon per connected piece of each class; lossy). A package, not one module: reader and
writer together pass the 400-line mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import FormatSpec
from ..writing import ExportConfig, export_to
from .reader import detect, mask_shape_to_mask, read
from .writer import LABELME_VERSION, image_relpath, open_sink, work

__all__ = ["NAME", "FORMAT", "detect", "read", "write", "mask_shape_to_mask", "image_relpath", "work", "open_sink",
           "LABELME_VERSION"]

NAME = "labelme"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=False, read_by=NAME)


def write(ds: Any, out: Path, *, layer: str = "gt", progress: Any = None) -> Path:
    """Write the ``layer`` masks of ``ds`` into the new folder ``out`` as LabelMe polygons (lossy).

    Runs :func:`animeparse.export.export` with its defaults; returns ``out``. See docs/export.md."""
    return export_to(ds, out, ExportConfig(format=NAME, layer=layer), progress=progress)
