"""Image folder + index-mask folder matched by file stem.

Covers ``images/`` + ``masks/``, the Danbooru-Parsing layout the StyleAnime code reads (``anime_face_<split>/`` +
``anime_seg_<split>/``, L-mode PNGs; the split is taken from the folder name) and VOC's ``JPEGImages/`` +
``SegmentationClass/``. Masks are L- or P-mode PNGs whose values are class ids (P-mode: the palette index).
The ingest workers decode the masks; this reader only pairs files.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from ..errors import FormatError
from ..imageio import IMAGE_EXTENSIONS
from ..labelmap import LabelMap
from .base import FormatSpec, Item, ReadOptions, outside_symlink_error

__all__ = ["NAME", "FORMAT", "detect", "read", "folder_pairs", "first_mask_mode"]

NAME = "index-folder"
FORMAT = FormatSpec(name=NAME, reads=True, written_by="index-png")  # images/ + masks/ in L mode
_PAIRS = [("images", "masks"), ("JPEGImages", "SegmentationClass"), ("img", "mask"), ("image", "label"),
          ("images", "labels"), ("images", "annotations")]
_DANBOORU = re.compile(r"^anime_face_(.+)$")


def folder_pairs(src: Path) -> list[tuple[Path, Path, str | None]]:
    """(image folder, mask folder, split or None) pairs found directly under ``src``."""
    found: list[tuple[Path, Path, str | None]] = []
    if not src.is_dir():
        return found
    for img, msk in _PAIRS:
        if (src / img).is_dir() and (src / msk).is_dir():
            found.append((src / img, src / msk, None))
    for sub in sorted(p for p in src.iterdir() if p.is_dir()):
        m = _DANBOORU.match(sub.name)
        if m and (src / f"anime_seg_{m.group(1)}").is_dir():
            split = re.sub(r"_\d+$", "", m.group(1))  # anime_face_test_68 -> test
            found.append((sub, src / f"anime_seg_{m.group(1)}", split))
    return found


def first_mask_mode(src: Path) -> str | None:
    """PIL mode of the first mask PNG of the first folder pair (cheap: header only)."""
    for _, mask_dir, _ in folder_pairs(src):
        for p in sorted(mask_dir.glob("*.png"))[:1]:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    with Image.open(p) as img:
                        return img.mode
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                return None  # the ingest workers report what is wrong with it
    return None


def detect(src: Path) -> float:
    try:
        if not folder_pairs(src):
            return 0.0
        return 0.9 if first_mask_mode(src) in ("L", "P", "I;16", "I", "1", None) else 0.2
    except OSError:
        return 0.0


def pairs_to_items(src: Path, mask_kind: str) -> Iterator[Item]:
    """One Item per image, with ``mask_path`` when a mask PNG of the same stem exists (else unlabelled)."""
    pairs = folder_pairs(src)
    if not pairs:
        raise FormatError("no image/mask folder pair found (expected images/ + masks/, anime_face_<split>/ + "
                          "anime_seg_<split>/, or JPEGImages/ + SegmentationClass/)", path=src)
    for img_dir, mask_dir, split in pairs:
        masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")}
        for image_path in sorted(p for p in img_dir.iterdir()
                                 if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")):
            mask_path = masks.get(image_path.stem)
            error = outside_symlink_error(image_path, src, what="image") or \
                (outside_symlink_error(mask_path, src, what="mask") if mask_path else None)
            yield Item(image_path=image_path, name=image_path.name, mask_path=mask_path, mask_kind=mask_kind,
                       mask_source=str(mask_path) if mask_path else None, split=split, error=error)


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per image; masks are index PNGs decoded by the ingest workers."""
    return pairs_to_items(src, "index")

