"""``prelabel evaluate``: a machine layer against the human ``gt`` layer, over the samples that have both.

One confusion matrix is summed over all those samples (as face-parsing papers report it), so a class's IoU
weighs its pixels in every image. Pixels the ground truth marks 255 (ignore) are left out. ``changed_share`` is
the share of (non-ignored) pixels an annotator would have to repaint to turn the prelabel into the ground truth.
Pooled IoU hides a class that fails on most images but is large on a few, so the per-image mean IoU (each image's
mIoU over the classes in either of its two masks, averaged over images) is reported beside it, with the pieces per
image (8-connected, all classes) of both layers: an annotator fixes pieces, not pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError
from ..store import Dataset
from ..store.records import check_layer
from .cleanup import count_pieces

__all__ = ["EvalReport", "ClassScore", "evaluate_layer", "confusion_matrix", "scores_from_confusion"]

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ClassScore:
    """One class: ``iou`` is None when the class is in neither layer on the evaluated samples."""

    id: int
    name: str
    iou: float | None
    gt_pixels: int
    pred_pixels: int


@dataclass(frozen=True)
class EvalReport:
    """``miou``: mean IoU over the classes present in either layer; ``pixel_accuracy``: correct / non-ignored
    pixels; ``changed_share`` = 1 - pixel accuracy; ``worst``: (sample id, changed share) of the 5 worst samples;
    ``miou_per_image``: the mean over samples of each sample's mIoU; ``pieces_per_image`` / ``gt_pieces_per_image``:
    mean connected pieces per sample in the layer and in the reference."""

    layer: str
    against: str
    samples: int
    missing: int
    miou: float
    pixel_accuracy: float
    changed_share: float
    per_class: list[ClassScore] = field(default_factory=list)
    worst: list[tuple[str, float]] = field(default_factory=list)
    miou_per_image: float = 0.0
    pieces_per_image: float = 0.0
    gt_pieces_per_image: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "against": self.against, "samples": self.samples, "missing": self.missing,
                "miou": self.miou, "pixel_accuracy": self.pixel_accuracy, "changed_share": self.changed_share,
                "per_class": [c.__dict__ for c in self.per_class],
                "worst": [{"sample": s, "changed_share": v} for s, v in self.worst],
                "miou_per_image": self.miou_per_image, "pieces_per_image": self.pieces_per_image,
                "gt_pieces_per_image": self.gt_pieces_per_image}


def confusion_matrix(gt_hw: npt.NDArray[np.uint8], pred_hw: npt.NDArray[np.uint8],
                     ignore_index: int = 255) -> npt.NDArray[np.int64]:
    """256x256 int64 counts, row = gt id, column = predicted id; gt pixels equal to ``ignore_index`` are skipped."""
    valid = gt_hw != ignore_index
    idx = gt_hw[valid].astype(np.int64) * 256 + pred_hw[valid].astype(np.int64)
    return np.bincount(idx, minlength=256 * 256).reshape(256, 256)


def scores_from_confusion(cm: npt.NDArray[np.int64], ids: list[int]) -> tuple[dict[int, float | None], float, float]:
    """(IoU per id (None when absent from both), mIoU over the present ids, pixel accuracy)."""
    inter = np.diag(cm).astype(np.float64)
    gt, pred = cm.sum(1).astype(np.float64), cm.sum(0).astype(np.float64)
    union = gt + pred - inter
    ious: dict[int, float | None] = {i: (float(inter[i] / union[i]) if union[i] > 0 else None) for i in ids}
    present = [v for v in ious.values() if v is not None]
    total = cm.sum()
    return ious, float(np.mean(present)) if present else 0.0, float(inter.sum() / total) if total else 0.0


def evaluate_layer(ds: Dataset, layer: str | None = None, *, against: str = "gt",
                   progress: Progress | None = None) -> EvalReport:
    """Score ``layer`` (default: the newest finished prelabel run's) against ``against`` on every sample with both."""
    if layer is None:
        runs = [r for r in ds.runs(kind="prelabel") if r.status == "finished"]
        if not runs:
            raise AnimeparseError("no finished prelabel run in this store; run `animeparse prelabel` first or pass "
                                  "--layer", path=ds.root)
        layer = f"prelabel/{runs[-1].id}"
    check_layer(layer)
    check_layer(against)
    with_pred = {s.id for s in ds.samples(layer=layer)}
    with_gt = ds.samples(layer=against)
    both = [s for s in with_gt if s.id in with_pred]
    if not both:
        raise AnimeparseError(f"no sample has both {layer!r} and {against!r}; prelabel samples that have a "
                              f"{against!r} mask (e.g. --only split:val) to evaluate", path=ds.root)
    cm = np.zeros((256, 256), np.int64)
    per_sample = []
    image_mious, pieces, gt_pieces = [], [], []
    ignore = ds.labelmap.ignore_index
    for i, s in enumerate(both):
        gt, pred = ds.read_mask(s.id, against), ds.read_mask(s.id, layer)
        assert gt is not None and pred is not None  # both layers listed above
        one = confusion_matrix(gt, pred, ds.labelmap.ignore_index)
        cm += one
        per_sample.append((s.id, 1.0 - float(np.trace(one)) / max(int(one.sum()), 1)))
        image_mious.append(scores_from_confusion(one, ds.labelmap.ids)[1])
        pieces.append(count_pieces(pred, ignore_index=ignore))
        gt_pieces.append(count_pieces(gt, ignore_index=ignore))
        if progress is not None:
            progress(i + 1, len(both))
    ious, miou, acc = scores_from_confusion(cm, ds.labelmap.ids)
    per_class = [ClassScore(id=c.id, name=c.name, iou=None if ious[c.id] is None else round(ious[c.id] or 0.0, 4),
                            gt_pixels=int(cm[c.id].sum()), pred_pixels=int(cm[:, c.id].sum()))
                 for c in ds.labelmap.classes]
    worst = sorted(per_sample, key=lambda t: -t[1])[:5]
    return EvalReport(layer=layer, against=against, samples=len(both), missing=len(with_gt) - len(both),
                      miou=round(miou, 4), pixel_accuracy=round(acc, 4), changed_share=round(1.0 - acc, 4),
                      per_class=per_class, worst=[(sid, round(v, 4)) for sid, v in worst],
                      miou_per_image=round(float(np.mean(image_mious)), 4),
                      pieces_per_image=round(float(np.mean(pieces)), 2),
                      gt_pieces_per_image=round(float(np.mean(gt_pieces)), 2))
