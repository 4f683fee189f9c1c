"""COCO instance segmentation JSON: read (:mod:`.reader`: dataset dicts and results lists, polygons and RLE) and
write (:mod:`.writer`: one annotation per image and class, or per connected component, as compressed RLE or
polygons). A package, not one module: reader and writer together pass the 400-line mark."""

from __future__ import annotations

from ..base import FormatSpec
from .reader import detect, read, rle_run_lengths, rle_to_mask
from .writer import encode_mask_annotations, image_relpath, json_name, open_sink, work

__all__ = ["NAME", "FORMAT", "detect", "read", "rle_to_mask", "rle_run_lengths", "image_relpath", "json_name",
           "work", "open_sink", "encode_mask_annotations"]

NAME = "coco"
# lossless for class pixels; ignore pixels (255) are never a category and come back as background
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=True, read_by=NAME, written_by=NAME,
                    options=frozenset({"instances", "polygons", "include_background", "info"}))

