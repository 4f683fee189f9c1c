"""What every format module shares: the item a reader yields and the options readers take.

A format module has ``NAME``, ``detect(src) -> float`` (0 = not this format, 1 = certain) and
``read(src, *, labelmap, options) -> Iterator[Item]``; writers come with the export issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["Item", "ReadOptions"]


@dataclass(frozen=True)
class Item:
    """One image and its label from a source. ``mask_hw``: HxW uint8 ids of the target label map, or None.
    ``error`` is set instead of raising when the reader can go on with the next item (``on_error="skip"``)."""

    image_path: Path
    name: str
    mask_hw: npt.NDArray[np.uint8] | None = None
    mask_source: str | None = None
    split: str | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class ReadOptions:
    """Reader options; CLI flags map 1:1. ``resize_masks``: None (report a size mismatch) or ``"nearest"``."""

    resize_masks: str | None = None
