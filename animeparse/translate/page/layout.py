"""Panel layouts of a manga page: the live area cut recursively into 2-7 convex panels, some cuts slanted.

Every panel is a convex polygon (integer page pixels, x right, y down) separated from its neighbours by a white
gutter; a cut is a straight line across the panel being split, so panels stay convex and never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Panel", "make_layout", "clip_halfplane", "polygon_area", "panel_mask"]

_MIN_SIDE = 48  # px: a thinner panel shows no character


@dataclass(frozen=True)
class Panel:
    """One panel: ``polygon`` (x, y) integer vertices in page pixels, convex, clockwise on screen; ``framed``:
    drawn with a black border (False: borderless, the art ends at the polygon)."""

    polygon: tuple[tuple[int, int], ...]
    framed: bool = True

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        """Bounding box (x0, y0, x1, y1), x1/y1 exclusive."""
        xs = [p[0] for p in self.polygon]
        ys = [p[1] for p in self.polygon]
        return min(xs), min(ys), max(xs) + 1, max(ys) + 1


def polygon_area(poly: npt.NDArray[np.float64]) -> float:
    """Area of an Nx2 (x, y) polygon (shoelace)."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def clip_halfplane(poly: npt.NDArray[np.float64], normal: npt.NDArray[np.float64], c: float
                   ) -> npt.NDArray[np.float64]:
    """The part of the convex Nx2 polygon ``poly`` where ``normal . p <= c`` (Sutherland-Hodgman, one edge)."""
    out: list[npt.NDArray[np.float64]] = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        da, db = float(normal @ a) - c, float(normal @ b) - c
        if da <= 0:
            out.append(a)
        if (da < 0 < db) or (db < 0 < da):
            out.append(a + (b - a) * (da / (da - db)))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def _split(poly: npt.NDArray[np.float64], rng: np.random.Generator, *, gutter: float, slant_p: float
           ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    x0, y0 = poly.min(0)
    x1, y1 = poly.max(0)
    w, h = x1 - x0, y1 - y0
    if w > 1.5 * h:
        across = False
    elif h > 1.1 * w:
        across = True
    else:
        across = bool(rng.random() < 0.6)  # manga pages are mostly rows
    t = rng.uniform(0.35, 0.65)
    tilt = rng.uniform(-0.12, 0.12) if rng.random() < slant_p else 0.0
    if across:  # a cut from left to right through (centre x, yc), rising tilt * w over the panel's width
        yc = y0 + t * h
        a, b = np.array([x0, yc - tilt * w / 2]), np.array([x1, yc + tilt * w / 2])
    else:
        xc = x0 + t * w
        a, b = np.array([xc - tilt * h / 2, y0]), np.array([xc + tilt * h / 2, y1])
    d = b - a
    normal = np.array([-d[1], d[0]]) / float(np.hypot(*d))
    c = float(normal @ a)
    one = clip_halfplane(poly, normal, c - gutter / 2)
    two = clip_halfplane(poly, -normal, -(c + gutter / 2))
    for part in (one, two):
        if len(part) < 3:
            return None
        lo, hi = part.min(0), part.max(0)
        if min(hi - lo) < _MIN_SIDE or polygon_area(part) < 0.5 * (hi - lo).prod():
            return None
    # reading order: top before bottom, right before left (manga)
    first_is_one = (one[:, 1].mean() < two[:, 1].mean()) if across else (one[:, 0].mean() > two[:, 0].mean())
    return (one, two) if first_is_one else (two, one)


def make_layout(rng: np.random.Generator, *, size_wh: tuple[int, int], panels: int, margin: int, gutter: int,
                slant_p: float = 0.3, borderless_p: float = 0.1) -> list[Panel]:
    """Cut the live area (the page less ``margin``) into ``panels`` panels in reading order (right to left, top
    to bottom), splitting the largest panel each time; fewer when panels would get thinner than 48 px.

    ``slant_p``: chance a cut is slanted; ``borderless_p``: chance a panel has no frame (never when there is a
    single panel)."""
    w, h = size_wh
    live = np.array([[margin, margin], [w - 1 - margin, margin], [w - 1 - margin, h - 1 - margin],
                     [margin, h - 1 - margin]], dtype=np.float64)
    polys = [live]
    tries = 0
    while len(polys) < panels and tries < 8 * panels:
        tries += 1
        areas = [polygon_area(p) for p in polys]
        i = int(np.argmax(areas)) if rng.random() < 0.7 else int(rng.integers(len(polys)))
        cut = _split(polys[i], rng, gutter=gutter, slant_p=slant_p)
        if cut is not None:
            polys[i:i + 1] = list(cut)
    out = []
    for p in polys:
        pts = tuple((int(round(x)), int(round(y))) for x, y in p)
        pts = tuple(q for k, q in enumerate(pts) if q != pts[k - 1])  # drop repeated vertices
        out.append(Panel(pts, framed=bool(len(polys) == 1 or rng.random() >= borderless_p)))
    return out


def panel_mask(panel: Panel, shape_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """HxW bool: the pixels inside ``panel`` (its polygon filled, edges included)."""
    import cv2

    m = np.zeros(shape_hw, np.uint8)
    cv2.fillPoly(m, [np.array(panel.polygon, np.int32)], 1)
    return m.astype(bool)
