"""Binary regions to polygons (the lossy edge of the COCO ``--polygons`` and LabelMe exports).

``cv2.findContours`` with ``RETR_CCOMP`` gives a two-level hierarchy: the outer boundary of every connected piece
(islands inside holes included) and, one level down, the boundaries of its holes. Neither COCO nor LabelMe can
express a hole in a polygon (a COCO annotation's polygons are unioned; LabelMe fills every shape), so callers learn
whether a region has holes and decide: COCO keeps such a region as RLE, LabelMe writes the outer rings only.
Vertices are the centres of boundary pixels (``CHAIN_APPROX_SIMPLE``: straight runs keep their end points).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["RegionPolygons", "region_polygons"]


@dataclass(frozen=True)
class RegionPolygons:
    """The outer rings of a region as Nx2 int32 (x, y) arrays, in OpenCV's order (deterministic for one input);
    ``holes``: how many hole rings were found (and not written); ``degenerate``: outer rings with fewer than
    3 vertices (a single pixel, a 1-pixel-wide straight line), which no polygon format accepts."""

    rings: tuple[npt.NDArray[np.int32], ...]
    holes: int
    degenerate: int


def region_polygons(region_hw: npt.NDArray[np.bool_] | npt.NDArray[np.uint8]) -> RegionPolygons:
    """Polygons of an HxW bool (or 0/1, 0/255 uint8) region; see the module docstring for what is kept."""
    binary = np.ascontiguousarray(region_hw, dtype=np.uint8)
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return RegionPolygons((), 0, 0)
    parents = hierarchy[0][:, 3]
    rings = tuple(c.reshape(-1, 2).astype(np.int32) for c, p in zip(contours, parents) if p < 0)
    return RegionPolygons(rings=rings, holes=int((parents >= 0).sum()),
                          degenerate=sum(1 for r in rings if len(r) < 3))
