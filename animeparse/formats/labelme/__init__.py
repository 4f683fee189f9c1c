"""LabelMe JSON: read (:mod:`.reader`: polygons, rectangles, circles and mask shapes, one file per image) and
write (:mod:`.writer`: one polygon per connected piece of each class; lossy). A package, not one module: reader and
writer together pass the 400-line mark."""

from __future__ import annotations

from ..base import FormatSpec
from .reader import detect, mask_shape_to_mask, read
from .writer import LABELME_VERSION, image_relpath, open_sink, work

__all__ = ["NAME", "FORMAT", "detect", "read", "mask_shape_to_mask", "image_relpath", "work", "open_sink",
           "LABELME_VERSION"]

NAME = "labelme"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=False, read_by=NAME, written_by=NAME)

