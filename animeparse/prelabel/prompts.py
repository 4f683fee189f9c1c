"""SAM prompts from a parser's label map: per class region a box, positive points inside, negative points next door.

Positive points are maxima of the region's distance transform (the most interior pixels, taken greedily with a
suppression disk so several parts of one class, such as two hair strands, each get one). Negative points sit on
the neighbouring classes just outside the region, at the most interior pixel of each neighbour within that ring, so
SAM is told where the boundary must stop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["RegionPrompt", "PromptConfig", "region_prompts", "image_prompts", "stack_prompts"]


@dataclass(frozen=True)
class PromptConfig:
    """``max_positive`` / ``max_negative`` points per region; regions under ``min_area`` pixels get no prompt
    (the parser's answer stands); ``ring``: neighbour search band as a share of the region box diagonal (>= 3 px);
    ``grid``: 0 = prompts from the full-size label; N = from the label scaled (nearest) so its longer side is N
    pixels, then scaled back (``--prompt-grid``: much less CPU per image on large images, other points)."""

    max_positive: int = 3
    max_negative: int = 3
    min_area: int = 16
    ring: float = 0.06
    grid: int = 0


@dataclass(frozen=True)
class RegionPrompt:
    """One class region's prompt. ``box_xyxy``: 4 float32 pixels (x1, y1 exclusive); ``points_xy``: Kx2 float32
    (x, y) at pixel centres; ``labels``: K int64, 1 positive / 0 negative."""

    class_id: int
    area: int
    box_xyxy: npt.NDArray[np.float32]
    points_xy: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]


def image_prompts(label_hw: npt.NDArray[np.uint8], *, config: PromptConfig = PromptConfig()
                  ) -> list[RegionPrompt]:
    """Prompts for an image's label (HxW uint8): :func:`region_prompts` on the full label, or with ``config.grid``
    on the label scaled to that grid (nearest), boxes and points scaled back to image pixels."""
    h, w = label_hw.shape
    side = max(h, w)
    if config.grid <= 0 or side <= config.grid:
        return region_prompts(label_hw, config=config)
    k = config.grid / side
    gw, gh = max(1, round(w * k)), max(1, round(h * k))
    small = np.asarray(cv2.resize(label_hw, (gw, gh), interpolation=cv2.INTER_NEAREST), np.uint8)
    sx, sy = w / gw, h / gh
    grid_config = dataclasses.replace(config, min_area=max(1, round(config.min_area / (sx * sy))))
    scale_box = np.array([sx, sy, sx, sy], np.float32)
    scale_xy = np.array([sx, sy], np.float32)
    return [dataclasses.replace(p, area=round(p.area * sx * sy), box_xyxy=p.box_xyxy * scale_box,
                                points_xy=p.points_xy * scale_xy)
            for p in region_prompts(small, config=grid_config)]


def region_prompts(label_hw: npt.NDArray[np.uint8], *, skip: tuple[int, ...] = (0, 255),
                   config: PromptConfig = PromptConfig()) -> list[RegionPrompt]:
    """Prompts for every class in ``label_hw`` (HxW uint8 class ids) except ``skip`` (background, ignore)."""
    counts = np.bincount(label_hw.ravel(), minlength=256)
    present = [c for c in np.flatnonzero(counts).tolist() if c != 255]
    ids = [c for c in present if c not in skip]
    if not ids:
        return []
    # whole-image distance maps: OpenCV's float sums differ in the last bit on a crop, and a point one pixel
    # elsewhere would change SAM's answer; the boxes, peaks and copies below work on the region's box only
    dist = {c: cv2.distanceTransform((label_hw == c).view(np.uint8), cv2.DIST_L2, 3) for c in present}
    prompts = []
    for c in ids:
        area = int(counts[c])
        if area < config.min_area:
            continue
        region = label_hw == c
        x, y, w, h = cv2.boundingRect(region.view(np.uint8))
        box = np.array([x, y, x + w, y + h], np.float32)
        # every pixel of the class is inside its box and the map is 0 outside: maxima in the box are the image's
        pos = _peaks(dist[c][y:y + h, x:x + w].copy(), config.max_positive, origin=(x, y))
        neg = _neighbour_points(label_hw, region, c, dist, box, config)
        points = np.array(pos + neg, np.float32).reshape(-1, 2) + 0.5
        labels = np.array([1] * len(pos) + [0] * len(neg), np.int64)
        prompts.append(RegionPrompt(class_id=c, area=area, box_xyxy=box, points_xy=points, labels=labels))
    return prompts


def _peaks(dist: npt.NDArray[np.float32], k: int, *, origin: tuple[int, int] = (0, 0)) -> list[tuple[int, int]]:
    """Up to ``k`` (x, y) maxima of a distance map, each suppressing a disk of twice its distance; ``origin``: the
    map's top-left pixel in the image (points are returned in image pixels)."""
    out: list[tuple[int, int]] = []
    for _ in range(k):
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        d = float(dist[y, x])
        if d < 1.0:
            break
        out.append((int(x) + origin[0], int(y) + origin[1]))
        cv2.circle(dist, (int(x), int(y)), max(int(2 * d), 3), 0.0, thickness=-1)
    return out


def _neighbour_points(label_hw: npt.NDArray[np.uint8], region: npt.NDArray[np.bool_], c: int,
                      dist: dict[int, npt.NDArray[np.float32]], box: npt.NDArray[np.float32],
                      config: PromptConfig) -> list[tuple[int, int]]:
    """One point per neighbouring class (most ring pixels first): its most interior pixel inside the ring."""
    if config.max_negative <= 0:
        return []
    width = max(3, int(round(config.ring * float(np.hypot(box[2] - box[0], box[3] - box[1])))))
    x0, y0 = max(int(box[0]) - width, 0), max(int(box[1]) - width, 0)
    x1, y1 = min(int(box[2]) + width, label_hw.shape[1]), min(int(box[3]) + width, label_hw.shape[0])
    sub = region[y0:y1, x0:x1]  # work in the box around the region, not the whole image
    # the ring by distance to the region: linear time, where a disk-shaped dilation grows with the width squared
    ring = (cv2.distanceTransform((~sub).astype(np.uint8), cv2.DIST_L2, 3) <= width) & ~sub
    labels = label_hw[y0:y1, x0:x1]
    counts = np.bincount(labels[ring], minlength=256)
    counts[[c, 255]] = 0
    out = []
    for n in np.argsort(-counts, kind="stable")[: config.max_negative]:
        if counts[n] == 0:
            break
        score = np.where(ring & (labels == n), dist[int(n)][y0:y1, x0:x1], -1.0)
        y, x = np.unravel_index(int(np.argmax(score)), score.shape)
        out.append((int(x) + x0, int(y) + y0))
    return out


def stack_prompts(prompts: list[RegionPrompt]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32],
                                                         npt.NDArray[np.int64]]:
    """Batch prompts for one decoder pass: (Nx4 boxes, NxKx2 points, NxK labels), padded with label -1 (SAM's
    "not a point")."""
    k = max((len(p.labels) for p in prompts), default=0)
    k = max(k, 1)
    boxes = np.stack([p.box_xyxy for p in prompts]).astype(np.float32)
    points = np.zeros((len(prompts), k, 2), np.float32)
    labels = np.full((len(prompts), k), -1, np.int64)
    for i, p in enumerate(prompts):
        points[i, : len(p.labels)] = p.points_xy
        labels[i, : len(p.labels)] = p.labels
    return boxes, points, labels
