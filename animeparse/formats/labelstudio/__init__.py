"""Label Studio JSON: read (:mod:`.reader`: brush, polygon, rectangle and ellipse regions of a task export) and
write (:mod:`.writer`: a task list with one brush region per class, plus the labelling config). Brush regions use
the one RLE codec, :mod:`animeparse.formats.lsrle`. A package, not one module: reader and writer together pass the
400-line mark."""

from __future__ import annotations

from ..base import FormatSpec
from .reader import SHAPE_TYPES, detect, read, time_key
from .writer import TASKS_NAME, image_relpath, label_config, open_sink, resolve_as, work

__all__ = ["NAME", "FORMAT", "detect", "read", "SHAPE_TYPES", "image_relpath", "work", "open_sink",
           "label_config", "TASKS_NAME", "resolve_as", "time_key"]

NAME = "labelstudio"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=True, read_by=NAME, written_by=NAME,
                    options=frozenset({"ls_as"}))

