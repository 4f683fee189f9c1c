"""Agreement between a pre-label and the ground truth: per-class IoU and mIoU, with numpy only.

Definitions (also in docs/view.md): pixels where the ground truth is the ignore index (255) are left out. For each
class c of the label map, IoU_c = |pred = c and gt = c| / |pred = c or gt = c| over the remaining pixels; a
pre-label pixel that is 255 counts as "no class", so it lowers the IoU of the class the ground truth has there.
Classes in neither mask have no IoU (not 0, not 1). mIoU is the mean over the classes that have one, background
included (the usual semantic-segmentation convention).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from ..labelmap import IGNORE_INDEX

__all__ = ["class_iou", "mean_iou"]


def class_iou(pred_hw: npt.NDArray[np.uint8], gt_hw: npt.NDArray[np.uint8], *, class_ids: Iterable[int],
              ignore_index: int = IGNORE_INDEX) -> dict[int, float]:
    """IoU per class id, for the ids in ``class_ids`` present in ``pred_hw`` or ``gt_hw``.

    Both masks are HxW uint8 class ids of the same shape (ValueError otherwise). One confusion matrix (a single
    ``bincount`` over gt * 256 + pred) gives every class at once, so the cost is one pass over the pixels.
    """
    if pred_hw.shape != gt_hw.shape:
        raise ValueError(f"pre-label mask is {pred_hw.shape[1]}x{pred_hw.shape[0]}, ground truth is "
                         f"{gt_hw.shape[1]}x{gt_hw.shape[0]}; masks must have the image's size")
    valid = gt_hw != ignore_index
    codes = gt_hw[valid].astype(np.int64) * 256 + pred_hw[valid]
    confusion = np.bincount(codes, minlength=256 * 256).reshape(256, 256)
    inter = np.diag(confusion)
    union = confusion.sum(axis=1) + confusion.sum(axis=0) - inter
    return {int(c): float(inter[c] / union[c]) for c in class_ids if c != ignore_index and union[c] > 0}


def mean_iou(ious: dict[int, float]) -> float | None:
    """The mean of the per-class IoUs; None when no class is present."""
    return float(np.mean(list(ious.values()))) if ious else None
