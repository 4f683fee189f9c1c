"""What every format module shares: the item a reader yields, reader options, and boundary checks.

A format module has ``NAME``, ``detect(src) -> float`` (0 = not this format, 1 = certain) and
``read(src, *, labelmap, options) -> Iterator[Item]``; formats with a writer also have ``write``.
Readers stay cheap: they name files and build masks from annotations; decoding images (and index/colour mask
files) happens in :mod:`animeparse.ingest`'s worker processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import FormatError, LabelMapError
from ..labelmap import IGNORE_INDEX, LabelMap

__all__ = ["Item", "ReadOptions", "ClassNames", "safe_join", "class_map_from_pairs", "IGNORE_NAMES", "BACKGROUND_NAMES"]

log = logging.getLogger(__name__)

# names that mean "do not care" in the tools users come from (labelme's __ignore__, VOC's void)
IGNORE_NAMES = frozenset({"__ignore__", "_ignore_", "ignore", "void", "__void__"})
# and "background" (labelme's COCO export calls it _background_)
BACKGROUND_NAMES = frozenset({"_background_", "__background__", "background", "bg"})


@dataclass(frozen=True)
class Item:
    """One image and its label from a source.

    The mask comes one of three ways: ``mask_hw`` (HxW uint8 ids of the target label map, built by the reader
    from annotations), ``mask_path`` (an index or colour-coded PNG that a worker decodes, per ``mask_kind``), or
    neither (unlabelled). ``crop_xyxy`` cuts image and mask identically. ``error`` is set instead of raising when
    the reader can go on with the next item.
    """

    image_path: Path
    name: str
    mask_hw: npt.NDArray[np.uint8] | None = None
    mask_path: Path | None = None
    mask_kind: str = "index"  # "index" | "palette"
    mask_source: str | None = None
    split: str | None = None
    crop_xyxy: tuple[int, int, int, int] | None = None
    meta: Mapping[str, object] = field(default_factory=dict)
    error: Exception | None = None


@dataclass(frozen=True)
class ReadOptions:
    """Reader options; CLI flags map 1:1.

    ``resize_masks``: None (report a size mismatch) or ``"nearest"``. ``class_map``: source class name or id ->
    target name (``--map``). ``palette``: RGB -> target id for colour-coded masks (``--palette FILE``; default:
    the label map's colours). ``alpha_threshold``: Label Studio brush alpha at or above which a pixel is painted.
    ``images_dir``: where annotation files' images are looked up when not beside them (``--images``).
    ``crop_faces``: an OpenCV cascade XML to cut face crops from plain images (``--crop-faces``).
    """

    resize_masks: str | None = None
    class_map: Mapping[str, str] = field(default_factory=dict)
    palette: Mapping[tuple[int, int, int], int] | None = None
    alpha_threshold: int = 128
    images_dir: Path | None = None
    crop_faces: Path | None = None
    crop_margin: float = 0.5
    recursive: bool = True


class ClassNames:
    """Maps a source's class names to target ids: exact name, then ``--map``, then ignore names -> 255.

    Unknown names are collected; :meth:`check` raises one error listing them all with their counts.
    """

    def __init__(self, labelmap: LabelMap, class_map: Mapping[str, str] | None = None) -> None:
        self.labelmap = labelmap
        self.class_map = dict(class_map or {})
        self.unknown: dict[str, int] = {}

    def id_of(self, name: str) -> int | None:
        """Target id for a source class name (255 for ignore names), or None (recorded) when unknown."""
        target = self.class_map.get(name, name)
        if target in self.labelmap:
            return self.labelmap.id_of(target)
        if target in IGNORE_NAMES or target == str(IGNORE_INDEX):
            return IGNORE_INDEX
        if target in BACKGROUND_NAMES and 0 in self.labelmap:
            return 0
        lowered = target.strip().lower().replace(" ", "_")
        if lowered in self.labelmap:
            return self.labelmap.id_of(lowered)
        self.unknown[name] = self.unknown.get(name, 0) + 1
        return None

    def check(self, *, path: Path | str) -> None:
        if self.unknown:
            listed = ", ".join(f"{n!r} ({c}x)" for n, c in sorted(self.unknown.items()))
            raise LabelMapError(f"class names not in the label map {self.labelmap.name}: {listed}; map them with "
                                "--map SOURCE=TARGET (TARGET may be 'ignore') or use a label map that has them",
                                path=path)


def safe_join(root: Path, relative: str, *, what: str, source: Path) -> Path:
    """Resolve a path named inside an annotation file; refuse ones that leave ``root`` (``../``, absolute,
    symlinks pointing outside). ``source`` is the annotation file, named in the error."""
    if "\x00" in relative:
        raise FormatError(f"{what} path {relative!r} contains a NUL byte", path=source)
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise FormatError(f"{what} path {relative!r} points outside the source folder {root}; paths in annotation "
                          "files must be relative and stay inside it", path=source)
    joined = root / candidate
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(joined))
    if real != real_root and real_root not in real.parents:
        raise FormatError(f"{what} path {relative!r} is a symlink to {real}, outside the source folder {root}",
                          path=source)
    return joined


def class_map_from_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``--map old=new`` options into a dict; refuse malformed ones."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise LabelMapError(f"--map needs OLD=NEW, got {pair!r}")
        out[old.strip()] = new.strip()
    return out
