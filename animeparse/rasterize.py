"""Shapes to class-index masks: polygons, rectangles, circles, binary masks, painted by label-map priority.

Overlaps are resolved by the label map's ``priority`` (higher wins), never by the order shapes appear in a file;
among equal priorities the later shape wins. The ignore index (255) wins over every class: a region marked
"ignore" is excluded from training whatever lies under it.
Polygons are filled the way labelme does it (PIL ``ImageDraw.polygon`` with outline and fill, float vertices),
so its own rasterisations are reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from .labelmap import IGNORE_INDEX, LabelMap

__all__ = ["polygon_to_mask", "rectangle_to_mask", "circle_to_mask", "compose_by_priority"]


def _canvas(shape_hw: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("1", (shape_hw[1], shape_hw[0]), 0)
    return img, ImageDraw.Draw(img)


def polygon_to_mask(points_xy: npt.ArrayLike, shape_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Fill a polygon given as Nx2 (x, y) pixel coordinates (N >= 3, finite) into an HxW bool mask."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    img, draw = _canvas(shape_hw)
    draw.polygon([(float(x), float(y)) for x, y in pts], outline=1, fill=1)
    return np.asarray(img, dtype=bool)


def rectangle_to_mask(xyxy: Sequence[float], shape_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Fill the box (x0, y0, x1, y1), corners in any order, into an HxW bool mask (labelme's rectangle)."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    img, draw = _canvas(shape_hw)
    draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=1, fill=1)
    return np.asarray(img, dtype=bool)


def circle_to_mask(center_xy: Sequence[float], edge_xy: Sequence[float],
                   shape_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Fill the circle through ``edge_xy`` around ``center_xy`` (labelme's circle: two points)."""
    cx, cy = (float(v) for v in center_xy)
    r = float(np.hypot(edge_xy[0] - cx, edge_xy[1] - cy))
    img, draw = _canvas(shape_hw)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
    return np.asarray(img, dtype=bool)


def compose_by_priority(shape_hw: tuple[int, int], regions: Sequence[tuple[int, npt.NDArray[np.bool_]]],
                        labelmap: LabelMap, *, background: int = 0) -> npt.NDArray[np.uint8]:
    """Paint (class id, HxW bool) regions into an HxW uint8 mask, lowest priority first.

    Ids must be in ``labelmap`` or be 255 (ignore, painted last). Equal priorities keep the given order.
    """
    prio = labelmap.priority_lut()
    top = int(prio.max()) + 1
    order = sorted(range(len(regions)),
                   key=lambda i: (top if regions[i][0] == IGNORE_INDEX else int(prio[regions[i][0]]), i))
    out = np.full(shape_hw, background, np.uint8)
    for i in order:
        class_id, region = regions[i]
        out[region] = class_id
    return out
