"""Speech balloons: the shape (ellipse, rounded box or jagged shout) around a text block, with a tail pointing at
the speaker, as binary masks; the composer paints the outline black and the inside white.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Balloon", "balloon_shape", "KINDS"]

KINDS = ("ellipse", "rounded", "shout")


@dataclass(frozen=True)
class Balloon:
    """A balloon on a local canvas: ``shape`` HxW bool (outline and inside), ``inside`` HxW bool (the white
    interior, ``shape`` eroded by the outline width), ``text_xy`` where the text block's top-left corner goes,
    ``kind`` one of :data:`KINDS`."""

    shape: npt.NDArray[np.bool_]
    inside: npt.NDArray[np.bool_]
    text_xy: tuple[int, int]
    kind: str


def _shout_polygon(rng: np.random.Generator, center: tuple[float, float], axes: tuple[float, float]
                   ) -> npt.NDArray[np.int32]:
    """A jagged star around an ellipse: spikes out to 1.25-1.5 x the axes, valleys at the ellipse."""
    n = int(rng.integers(14, 22))
    angles = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) + rng.uniform(0, np.pi / n)
    radius = np.where(np.arange(2 * n) % 2 == 0, rng.uniform(1.25, 1.5, 2 * n), 1.0)
    xs = center[0] + axes[0] * radius * np.cos(angles)
    ys = center[1] + axes[1] * radius * np.sin(angles)
    return np.stack([xs, ys], 1).round().astype(np.int32)


def balloon_shape(rng: np.random.Generator, text_wh: tuple[int, int], *, kind: str, line: int,
                  tail_to: tuple[float, float] | None) -> tuple[Balloon, tuple[int, int]]:
    """A balloon that holds a ``text_wh`` block with a margin, on a canvas big enough for its tail.

    ``line``: outline width in px; ``tail_to``: where the tail points, relative to the block's centre (None: no
    tail; shouts never get one). Returns the balloon and the canvas position of the block's centre."""
    import cv2

    tw, th = text_wh
    pad = line + max(4, min(tw, th) // 6)
    # a rounded box hugs the block; an ellipse (or a shout's valleys) passes through the block's corners
    grow_k = 1.0 if kind == "rounded" else 1.42
    half = (tw / 2 * grow_k + pad, th / 2 * grow_k + pad)
    reach = 0.0
    if tail_to is not None and kind != "shout":
        dist = float(np.hypot(*tail_to))
        reach = min(max(dist, 1.0), max(half) * 1.9)
    grow = 1.5 if kind == "shout" else 1.0
    margin = int(np.ceil(max(half) * grow + reach)) + line + 2
    size = 2 * margin + 1
    cx = cy = margin
    canvas = np.zeros((size, size), np.uint8)
    if kind == "rounded":
        r = int(min(half) * 0.6)
        x0, y0, x1, y1 = (int(cx - half[0]), int(cy - half[1]), int(cx + half[0]), int(cy + half[1]))
        cv2.rectangle(canvas, (x0 + r, y0), (x1 - r, y1), 1, -1)
        cv2.rectangle(canvas, (x0, y0 + r), (x1, y1 - r), 1, -1)
        for px, py in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(canvas, (px, py), r, 1, -1)
    elif kind == "shout":
        cv2.fillPoly(canvas, [_shout_polygon(rng, (cx, cy), half)], 1)
    else:
        cv2.ellipse(canvas, (cx, cy), (int(round(half[0])), int(round(half[1]))), 0, 0, 360, 1, -1)
    if reach > 0 and tail_to is not None:
        d = np.array(tail_to, np.float64) / max(float(np.hypot(*tail_to)), 1e-6)
        perp = np.array([-d[1], d[0]])
        base_w = max(6.0, min(half) * rng.uniform(0.35, 0.6))
        center = np.array([cx, cy], np.float64)
        bend = perp * rng.uniform(-0.3, 0.3) * reach  # tails curve a little
        tip = center + d * (reach + min(half) * 0.3) + bend * 0.3
        tri = np.stack([center + perp * base_w / 2, center - perp * base_w / 2, tip]).round().astype(np.int32)
        cv2.fillPoly(canvas, [tri], 1)
    shape = canvas.astype(bool)
    k = 2 * line + 1
    inside = cv2.erode(canvas, np.ones((k, k), np.uint8), borderValue=0).astype(bool)
    text_xy = (int(cx - tw // 2), int(cy - th // 2))
    return Balloon(shape, inside, text_xy, kind), (cx, cy)
