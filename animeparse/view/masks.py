"""The mirror's own mask files: single-channel integer copies of the store's masks, and the disagreement mask.

Why copies. The store's masks are P-mode PNGs (palette index = class id). The FiftyOne app decodes every PNG that
is not greyscale to RGBA, so it cannot read their indices; keyed by RGB colour targets they first show in class
colours, but in the sample view unticking or ticking a mask layer repaints every mask in one flat colour per field
until the page is reloaded (FiftyOne 1.22.1, measured: the red share of a screenshot went 0.136 -> 0.000 -> 0.136
on reload). With single-channel (L-mode) PNGs the app reads the class id of each pixel, integer mask targets name
them and a ``ColorScheme`` paints them in the label map's colours, through any toggle.

The copies live in ``<db dir>/animeparse-masks/<dataset name>/``, one file per (sample, field, content), named
``<sample id>.<field>.<sha256 of the store mask, 16 hex>.png`` so a changed mask gets a new file (the app caches by
URL) and :func:`stale_files` finds what no sample points at any more. Pixel values are the store's class ids,
unchanged (HxW uint8, 255 = ignore).

The disagreement mask (field ``disagreement``) marks where the pre-label differs from gt: the gt class id where gt
is a class, :data:`PRE_ONLY` (255) where gt is background and the pre-label painted something; 0 elsewhere
(agreement, and gt's ignore pixels, which the IoU leaves out as well).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..colours import ignore_colour
from ..errors import AnimeparseError
from ..fsutil import atomic_write_bytes
from ..labelmap import LabelMap

__all__ = ["DISAGREEMENT_FIELD", "MASK_DIR", "PRE_ONLY", "color_scheme", "copy_path", "disagreement",
           "disagreement_targets", "int_mask_targets", "stale_files", "write_index_png"]

MASK_DIR = "animeparse-masks"
DISAGREEMENT_FIELD = "disagreement"
PRE_ONLY = 255  # in the disagreement mask: gt is background, the pre-label painted a class (or was unsure)
PRE_ONLY_NAME = "pre-label only (gt background)"


def copy_path(folder: Path, sample_id: str, field: str, sha256: str) -> Path:
    """Where the integer copy of one sample's mask in ``field`` lives (``sha256``: the store mask's content)."""
    return folder / f"{sample_id}.{field}.{sha256[:16]}.png"


def write_index_png(path: Path, mask_hw: npt.NDArray[np.uint8]) -> Path:
    """Write HxW uint8 class ids as a single-channel (L-mode) PNG, atomically; return ``path``."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(mask_hw, dtype=np.uint8))
    if not ok:
        raise AnimeparseError("could not encode the mirror's mask copy", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, encoded.tobytes())
    return path


def disagreement(pre_hw: npt.NDArray[np.uint8], gt_hw: npt.NDArray[np.uint8], *,
                 ignore_index: int = 255) -> npt.NDArray[np.uint8]:
    """HxW uint8: gt's class id where the pre-label differs and gt is a class, :data:`PRE_ONLY` where gt is
    background and the pre-label is not, 0 where they agree or gt is ``ignore_index``. Shapes must match."""
    if pre_hw.shape != gt_hw.shape:
        raise ValueError(f"pre-label is {pre_hw.shape[1]}x{pre_hw.shape[0]}, gt is {gt_hw.shape[1]}x{gt_hw.shape[0]}")
    differ = (pre_hw != gt_hw) & (gt_hw != ignore_index)
    out = np.where(differ, gt_hw, 0).astype(np.uint8)
    out[differ & (gt_hw == 0)] = PRE_ONLY
    return out


def int_mask_targets(labelmap: LabelMap) -> dict[int, str]:
    """Integer mask targets: every class but background (0 is never painted), and the ignore index."""
    out = {c.id: c.name for c in labelmap.classes if c.id != 0}
    out[labelmap.ignore_index] = "ignore"
    return out


def disagreement_targets(labelmap: LabelMap) -> dict[int, str]:
    """Targets of the disagreement field: the classes (gt's class where the pre-label differs) and
    :data:`PRE_ONLY`."""
    out = {c.id: c.name for c in labelmap.classes if c.id != 0}
    out[PRE_ONLY] = PRE_ONLY_NAME
    return out


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def color_scheme(labelmap: LabelMap, *, opacity: float = 0.7) -> dict[str, object]:
    """Keyword arguments of ``fo.ColorScheme``: every class in its label-map colour, the ignore index (and the
    disagreement field's :data:`PRE_ONLY`) in :func:`animeparse.colours.ignore_colour`."""
    visible = _hex(ignore_colour([c.color for c in labelmap.classes]))
    classes = [{"intTarget": c.id, "color": _hex(c.color)} for c in labelmap.classes if c.id != 0]
    return {
        "color_by": "value",  # by field, the app paints a whole mask in the field's one colour
        "opacity": opacity,
        "default_mask_targets_colors": [*classes, {"intTarget": labelmap.ignore_index, "color": visible}],
        "fields": [{"path": DISAGREEMENT_FIELD,
                    "maskTargetsColors": [*classes, {"intTarget": PRE_ONLY, "color": visible}]}],
    }


def stale_files(folder: Path, referenced: set[str]) -> list[Path]:
    """Copies in ``folder`` that no sample points at (``referenced``: absolute paths as strings)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.png") if str(p) not in referenced)
