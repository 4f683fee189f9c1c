"""Image folder + index-mask folder matched by file stem.

Covers ``images/`` + ``masks/``, the Danbooru-Parsing layout the StyleAnime code reads (``anime_face_<split>/`` +
``anime_seg_<split>/``, L-mode PNGs; the split is taken from the folder name) and VOC's ``JPEGImages/`` +
``SegmentationClass/``. Masks are L- or P-mode PNGs whose values are class ids of the target label map.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import FormatError
from ..imageio import IMAGE_EXTENSIONS, image_size_wh, read_mask
from ..labelmap import LabelMap
from .base import Item, ReadOptions

__all__ = ["NAME", "detect", "read", "folder_pairs"]

NAME = "index-folder"
_PAIRS = [("images", "masks"), ("JPEGImages", "SegmentationClass"), ("img", "mask"), ("image", "label")]
_DANBOORU = re.compile(r"^anime_face_(.+)$")


def folder_pairs(src: Path) -> list[tuple[Path, Path, str | None]]:
    """(image folder, mask folder, split or None) pairs found directly under ``src``."""
    found = []
    for img, msk in _PAIRS:
        if (src / img).is_dir() and (src / msk).is_dir():
            found.append((src / img, src / msk, None))
    for sub in sorted(p for p in src.iterdir() if p.is_dir()) if src.is_dir() else []:
        m = _DANBOORU.match(sub.name)
        if m and (src / f"anime_seg_{m.group(1)}").is_dir():
            split = m.group(1)
            split = re.sub(r"_\d+$", "", split)  # anime_face_test_68 -> test
            found.append((sub, src / f"anime_seg_{m.group(1)}", split))
    return found


def detect(src: Path) -> float:
    return 0.9 if src.is_dir() and folder_pairs(src) else 0.0


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per image, with its mask when a mask with the same stem exists (else mask_hw None)."""
    pairs = folder_pairs(src)
    if not pairs:
        raise FormatError("no image/mask folder pair found (expected images/ + masks/, anime_face_<split>/ + "
                          "anime_seg_<split>/, or JPEGImages/ + SegmentationClass/)", path=src)
    for img_dir, mask_dir, split in pairs:
        masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
        for image_path in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS):
            mask_path = masks.get(image_path.stem)
            try:
                mask = None if mask_path is None else _read_fitting_mask(mask_path, image_path, options)
            except FormatError as err:
                yield Item(image_path=image_path, name=image_path.name, split=split, error=err)
                continue
            yield Item(image_path=image_path, name=image_path.name, mask_hw=mask,
                       mask_source=str(mask_path) if mask_path else None, split=split)


def _read_fitting_mask(mask_path: Path, image_path: Path, options: ReadOptions) -> np.ndarray:
    mask = read_mask(mask_path)
    w, h = image_size_wh(image_path)
    if mask.shape != (h, w):
        if options.resize_masks != "nearest":
            raise FormatError(f"mask is {mask.shape[1]}x{mask.shape[0]}, image {image_path.name} is {w}x{h}; "
                              "re-export the mask at image size or pass --resize-masks nearest", path=mask_path)
        mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))
    return mask
