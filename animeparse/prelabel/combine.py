"""Combine the parser's class probabilities with SAM's masks into one label map and a per-pixel confidence.

Prompt mode, per class c the parser found: SAM's mask for c is kept when its IoU with the parser's region is at
least ``agree_iou`` (SAM sharpened the boundary), else the parser's region stands (SAM grabbed a part or spilled
over). Overlaps between claims are resolved by the label map's priority (eye over skin, hair over cloth). Pixels no
kept mask claims, in a region whose own SAM mask said "not me", go to the parser's best remaining class.

Confidence per pixel in [0, 1]: the parser's probability of the final class; where a kept SAM mask decided, the
mean of that and SAM's predicted IoU. The sample score is the mean confidence per final class, averaged over the
classes present, so a small uncertain part (a mouth) pulls the score down as much as a large one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..labelmap import LabelMap

__all__ = ["Combined", "parser_only", "combine_prompted", "combine_everything", "sample_score"]


@dataclass(frozen=True)
class Combined:
    """``label_hw``: HxW uint8 class ids; ``confidence_hw``: HxW float32 in [0, 1]; ``score``: the sample score;
    ``regions``: per class id, how it was decided (``source`` sam/parser, ``iou`` with the parser, ``sam_iou``)."""

    label_hw: npt.NDArray[np.uint8]
    confidence_hw: npt.NDArray[np.float32]
    score: float
    regions: dict[int, dict[str, Any]] = field(default_factory=dict)


def _argmax(probs: npt.NDArray[np.float32], class_ids: npt.NDArray[np.uint8]) -> tuple[
        npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    best = probs.argmax(0)
    return class_ids[best], np.take_along_axis(probs, best[None], 0)[0]


def parser_only(probs: npt.NDArray[np.float32], class_ids: npt.NDArray[np.uint8]) -> Combined:
    """The parser's argmax. ``probs``: CxHxW float32, channel k = class ``class_ids[k]``."""
    label, conf = _argmax(probs, class_ids)
    return Combined(label, conf.astype(np.float32), sample_score(label, conf))


def combine_prompted(probs: npt.NDArray[np.float32], class_ids: npt.NDArray[np.uint8],
                     sam: Mapping[int, tuple[npt.NDArray[np.bool_], float]], labelmap: LabelMap, *,
                     agree_iou: float = 0.6) -> Combined:
    """Combine parser probabilities (CxHxW float32) with SAM masks ``{class id: (HxW bool, predicted IoU)}``."""
    parser_label, parser_conf = _argmax(probs, class_ids)
    channel = {int(c): k for k, c in enumerate(class_ids)}
    prio = labelmap.priority_lut()
    regions: dict[int, dict[str, Any]] = {}
    kept: dict[int, tuple[npt.NDArray[np.bool_], float]] = {}
    for c, (mask, sam_iou) in sam.items():
        region = parser_label == c
        union = int(np.logical_or(mask, region).sum())
        iou = float(np.logical_and(mask, region).sum()) / union if union else 0.0
        use = iou >= agree_iou
        regions[c] = {"source": "sam" if use else "parser", "iou": round(iou, 4), "sam_iou": round(float(sam_iou), 4)}
        if use:
            kept[c] = (mask, float(sam_iou))
    out = parser_label.copy()
    conf = parser_conf.astype(np.float32).copy()
    if not kept:
        return Combined(out, conf, sample_score(out, conf), regions)
    kept_ids = np.array(sorted(kept), np.uint8)
    claim_prio = np.full(out.shape, np.iinfo(np.int64).min, np.int64)
    free = ~np.isin(parser_label, kept_ids)  # parser pixels of classes SAM did not take over
    claim_prio[free] = prio[parser_label[free]]
    claimed = free.copy()
    # lowest priority first; a kept mask wins where its class outranks the current claim (ties go to the parser)
    for c in sorted(kept, key=lambda k: (int(prio[k]), k)):
        mask, sam_iou = kept[c]
        take = mask & (prio[c] > claim_prio)
        out[take] = c
        claim_prio[take] = prio[c]
        conf[take] = 0.5 * (probs[channel[c]][take] + sam_iou)
        claimed |= take
    orphan = ~claimed
    if orphan.any():
        # every kept mask said "not mine" here: the parser's best class among those SAM did not take over
        rest = np.array([k for k, c in enumerate(class_ids) if int(c) not in kept], np.int64)
        if rest.size:
            sub = probs[rest][:, orphan]
            best = sub.argmax(0)
            out[orphan] = class_ids[rest[best]]
            conf[orphan] = sub[best, np.arange(sub.shape[1])]
    return Combined(out, conf, sample_score(out, conf), regions)


def combine_everything(probs: npt.NDArray[np.float32], class_ids: npt.NDArray[np.uint8],
                       records: list[dict[str, Any]], labelmap: LabelMap) -> Combined:
    """Everything-mode: each SAM mask (``segmentation`` HxW bool, ``predicted_iou``) takes the parser's majority
    class inside it; masks are painted by that class's priority (then smaller on top) over the parser's argmax."""
    parser_label, parser_conf = _argmax(probs, class_ids)
    channel = {int(c): k for k, c in enumerate(class_ids)}
    prio = labelmap.priority_lut()
    out = parser_label.copy()
    conf = parser_conf.astype(np.float32).copy()
    assigned = []
    for rec in records:
        mask = np.asarray(rec["segmentation"], bool)
        if not mask.any():
            continue
        counts = np.bincount(parser_label[mask], minlength=256)
        c = int(np.argmax(counts))
        assigned.append((int(prio[c]), -int(mask.sum()), c, mask, float(rec.get("predicted_iou", 0.0))))
    regions: dict[int, dict[str, Any]] = {}
    for _, neg_area, c, mask, sam_iou in sorted(assigned, key=lambda a: (a[0], a[1])):
        out[mask] = c
        conf[mask] = 0.5 * (probs[channel[c]][mask] + sam_iou)
        info = regions.setdefault(c, {"source": "sam", "masks": 0, "pixels": 0})
        info["masks"] += 1
        info["pixels"] += -neg_area
    return Combined(out, conf, sample_score(out, conf), regions)


def sample_score(label_hw: npt.NDArray[np.uint8], confidence_hw: npt.NDArray[np.floating[Any]]) -> float:
    """Mean over the classes present of the mean confidence inside that class (1.0 for an empty image)."""
    flat = label_hw.ravel()
    counts = np.bincount(flat, minlength=256)
    sums = np.bincount(flat, weights=confidence_hw.ravel().astype(np.float64), minlength=256)
    present = counts > 0
    return float((sums[present] / counts[present]).mean()) if present.any() else 1.0
