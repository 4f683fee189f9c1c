"""Clean-up of a pre-label, a stage of every ``prelabel`` run: regions an annotator can accept, not specks.

A parser's argmax on art it was not trained on breaks into hundreds of pieces. The steps, each switchable through
:class:`CleanupConfig` (recorded in the run's parameters), in this order:

1. ``max_parts``: a class whose label-map entry has ``max_parts`` N (an eye: 1) keeps its N largest parts per
   subject (subjects = skin pieces of at least ``subject_area`` of the image, at least 1; pieces within 1 % of the
   image side of each other are one part); parts under ``min_area / 10`` go too.
2. ``min_area``: pieces of the other classes smaller than ``min_area`` x the image's pixels are dropped.
   Dropped pixels take the class of the nearest kept pixel (their surroundings), never plain background.
3. ``fill_holes``: a hole of background inside one class (up to ``max_hole`` of the image, enclosed by that class
   alone, not touching the border) takes that class: background inside a face becomes skin; an eye in the skin, or
   the skin inside the rim of glasses, is not background and stays.
4. ``lr_side``: ``l_``/``r_`` pairs (eyes, brows, ears) are put on the side the store's ``lr_convention`` says
   (``subject``: ``l_`` on the image right of its partner; ``image``: on the image left), per subject: where both
   of a pair are present and in the wrong order, both are swapped. A lone one is left as the parser put it (in a
   profile the one visible eye sits on either side of the face, so position alone cannot say).
5. ``min_confidence``: pixels whose confidence is below it become the label map's ignore index (255), which an
   annotator paints by hand (Label Studio shows them unlabelled). 0 turns this off.

All steps work on the HxW uint8 label and leave the confidence untouched (a relabelled pixel keeps the low
confidence it had, so the sample score still sees it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ..labelmap import LabelMap

__all__ = ["CleanupConfig", "CleanupResult", "clean_label", "count_pieces", "LR_CONVENTIONS"]

LR_CONVENTIONS = ("subject", "image")


@dataclass(frozen=True)
class CleanupConfig:
    """``enabled``: run the stage at all; ``min_area``: least piece size as a share of the image's pixels
    (0.001 = 262 px at 512x512); ``fill_holes`` with holes up to ``max_hole`` of the image; ``max_parts``: use the
    label map's per-class ``max_parts``; ``subject_area``: least share of the image for a skin piece to count as a
    subject (face); ``lr_side``: enforce the l/r convention; ``min_confidence``: below it, ignore (0 = off)."""

    enabled: bool = True
    min_area: float = 0.001
    fill_holes: bool = True
    max_hole: float = 0.02
    max_parts: bool = True
    subject_area: float = 0.02
    lr_side: bool = True
    min_confidence: float = 0.0

    def check(self) -> list[str]:
        """Problems with the values, as CLI-ready sentences (empty when fine)."""
        problems = []
        for name in ("min_area", "max_hole", "subject_area", "min_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
        return problems


@dataclass(frozen=True)
class CleanupResult:
    """``label_hw``: HxW uint8, cleaned; ``stats``: pieces before/after, pixels relabelled by each step, pairs
    swapped, pixels set to ignore."""

    label_hw: npt.NDArray[np.uint8]
    stats: dict[str, int]


def count_pieces(label_hw: npt.NDArray[np.uint8], *, ignore_index: int = 255) -> int:
    """Connected pieces over all classes (8-connected; the ignore index is not counted)."""
    total = 0
    for c in np.unique(label_hw):
        if int(c) == ignore_index:
            continue
        n = cv2.connectedComponents((label_hw == c).view(np.uint8), connectivity=8)[0]
        total += n - 1
    return total


def clean_label(label_hw: npt.NDArray[np.uint8], confidence_hw: npt.NDArray[np.floating[Any]] | None,
                labelmap: LabelMap, *, config: CleanupConfig = CleanupConfig(),
                lr_convention: str = "subject") -> CleanupResult:
    """Clean one pre-label (see the module docstring). ``label_hw``: HxW uint8 class ids; ``confidence_hw``: HxW
    float in [0, 1] (needed only for ``min_confidence``). The input is not modified."""
    label = np.ascontiguousarray(label_hw, dtype=np.uint8).copy()
    stats = {"pieces_before": count_pieces(label, ignore_index=labelmap.ignore_index), "dropped_px": 0,
             "filled_px": 0, "lr_swapped": 0, "ignored_px": 0}
    if config.enabled:
        area = label.size
        skin = labelmap.id_of("skin") if "skin" in labelmap else None
        subjects = _subjects(label, skin, config.subject_area) if skin is not None else []
        limits = {c.id: c.max_parts for c in labelmap.classes if c.max_parts} if config.max_parts else {}
        drop = _small_pieces(label, limits, n_subjects=max(1, len(subjects)),
                             min_px=round(config.min_area * area), ignore_index=labelmap.ignore_index)
        stats["dropped_px"] = int(drop.sum())
        if stats["dropped_px"]:
            label = _fill_from_nearest(label, drop)
        if config.fill_holes:
            label, stats["filled_px"] = _fill_holes(label, labelmap, max_px=round(config.max_hole * area))
        if config.lr_side and lr_convention in LR_CONVENTIONS:
            subjects = _subjects(label, skin, config.subject_area) if skin is not None else []
            label, stats["lr_swapped"] = _lr_side(label, labelmap, subjects, lr_convention)
        if config.min_confidence > 0 and confidence_hw is not None:
            unsure = confidence_hw < config.min_confidence
            label[unsure] = labelmap.ignore_index
            stats["ignored_px"] = int(unsure.sum())
    stats["pieces_after"] = count_pieces(label, ignore_index=labelmap.ignore_index)
    return CleanupResult(label, stats)


def _components(mask: npt.NDArray[np.bool_]) -> tuple[int, npt.NDArray[np.int32], npt.NDArray[np.int32],
                                                       npt.NDArray[np.float64]]:
    """(count incl. the 0 background, HxW int32 labels, Nx5 stats, Nx2 centroids) of an 8-connected mask."""
    n, comp, st, cen = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    return int(n), np.asarray(comp, np.int32), np.asarray(st, np.int32), np.asarray(cen, np.float64)


def _subjects(label: npt.NDArray[np.uint8], skin: int, share: float) -> list[tuple[float, float, npt.NDArray[Any]]]:
    """Skin pieces of at least ``share`` of the image: (centre x, centre y, xywh) each, largest first."""
    n, _, st, cen = _components(label == skin)
    big = [k for k in range(1, n) if st[k, cv2.CC_STAT_AREA] >= share * label.size]
    big.sort(key=lambda k: -int(st[k, cv2.CC_STAT_AREA]))
    return [(float(cen[k, 0]), float(cen[k, 1]), st[k, :4]) for k in big]


def _small_pieces(label: npt.NDArray[np.uint8], limits: Mapping[int, int], *, n_subjects: int, min_px: int,
                  ignore_index: int) -> npt.NDArray[np.bool_]:
    """HxW bool: the pixels of pieces to drop (under ``min_px``, or beyond a class's ``max_parts`` per subject).

    For a class with ``max_parts``, pieces closer than 1 % of the image side to each other count as one part (an
    eye cut by its lashes, an ear cut by a strand of hair, a glasses frame), and the largest parts are kept.
    """
    drop = np.zeros(label.shape, bool)
    part_px = max(1, min_px // 10)
    reach = max(1, round(0.01 * max(label.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    for c in np.unique(label):
        c = int(c)
        if c == ignore_index:
            continue
        mask = label == c
        n, comp, st, _ = _components(mask)
        if n <= 1:
            continue
        areas = st[1:, cv2.CC_STAT_AREA]
        keep: npt.NDArray[np.bool_]
        if c in limits:
            # group the pieces: each piece's group is the dilated mask's component under it
            _, groups = cv2.connectedComponents(cv2.dilate(mask.view(np.uint8), kernel), connectivity=8)
            group_of = np.zeros(n, np.int64)
            group_of[comp.ravel()] = groups.ravel()
            piece_group = group_of[1:]
            group_area = np.bincount(piece_group, weights=areas, minlength=int(piece_group.max()) + 1)
            ranked = np.argsort(-group_area, kind="stable")
            kept_groups = [g for g in ranked[: limits[c] * n_subjects] if group_area[g] >= part_px]
            keep = np.isin(piece_group, kept_groups)
        else:
            keep = areas >= min_px
        if not keep.all():
            lut = np.zeros(n, bool)
            lut[1:] = ~keep
            drop |= lut[comp]
    return drop


def _fill_from_nearest(label: npt.NDArray[np.uint8], drop: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """``label`` with each dropped pixel set to the class of the nearest kept pixel (L2, OpenCV's 5x5 mask)."""
    if drop.all():
        return label
    # non-zero pixels get the label of their nearest zero pixel; each zero (kept) pixel has its own label
    _, nearest = cv2.distanceTransformWithLabels(drop.view(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    value = np.zeros(int(nearest.max()) + 1, np.uint8)
    kept = ~drop
    value[nearest[kept]] = label[kept]
    out = label.copy()
    out[drop] = value[nearest[drop]]
    return out


def _fill_holes(label: npt.NDArray[np.uint8], labelmap: LabelMap, *,
                max_px: int) -> tuple[npt.NDArray[np.uint8], int]:
    """Background holes enclosed by one class take that class; returns (label, pixels filled).

    Only background (id 0) is filled: what else sits inside a class is drawn there (an eye in the skin, an eye and
    skin inside the rim of glasses), and specks of it were already dropped by the minimum area.
    """
    h, w = label.shape
    filled = 0
    for c in (int(v) for v in np.unique(label)):
        if c in (0, labelmap.ignore_index):
            continue
        n, comp, st, _ = _components(label != c)
        for k in range(1, n):
            x, y, bw, bh, a = (int(v) for v in st[k])
            if a > max_px or x == 0 or y == 0 or x + bw == w or y + bh == h:
                continue
            sel = comp[y:y + bh, x:x + bw] == k
            window = label[y:y + bh, x:x + bw]
            if not window[sel].any():  # all background
                window[sel] = c
                filled += a
    return label, filled


def _lr_pairs(labelmap: LabelMap) -> list[tuple[int, int]]:
    """(l id, r id) for every ``l_x``/``r_x`` flip pair of the map."""
    return [(c.id, labelmap.id_of(c.flip)) for c in labelmap.classes
            if c.name.startswith("l_") and c.flip == "r_" + c.name[2:] and c.flip in labelmap]


def _lr_side(label: npt.NDArray[np.uint8], labelmap: LabelMap, subjects: list[tuple[float, float, Any]],
             convention: str) -> tuple[npt.NDArray[np.uint8], int]:
    """Swap l/r pieces that sit on the wrong side; returns (label, pieces relabelled)."""
    sign = 1.0 if convention == "subject" else -1.0  # subject: l_ has the larger x
    centres = [(sx, sy) for sx, sy, _ in subjects] or [((label.shape[1] - 1) / 2, (label.shape[0] - 1) / 2)]
    swapped = 0
    for lid, rid in _lr_pairs(labelmap):
        pieces: list[tuple[int, int, npt.NDArray[np.bool_], float]] = []  # (subject, class, mask, cx)
        for cid in (lid, rid):
            n, comp, _, cen = _components(label == cid)
            for k in range(1, n):
                cx, cy = cen[k]
                s = min(range(len(centres)), key=lambda i: (centres[i][0] - cx) ** 2 + (centres[i][1] - cy) ** 2)
                pieces.append((s, cid, comp == k, float(cx)))
        for s in {p[0] for p in pieces}:
            mine = [p for p in pieces if p[0] == s]
            ls = [p for p in mine if p[1] == lid]
            rs = [p for p in mine if p[1] == rid]
            if not (ls and rs):
                continue
            lx = float(np.mean([p[3] for p in ls]))
            rx = float(np.mean([p[3] for p in rs]))
            if sign * (lx - rx) >= 0:
                continue
            for _, cid, mask, _ in mine:
                label[mask] = rid if cid == lid else lid
                swapped += 1
    return label, swapped
