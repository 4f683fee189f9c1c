"""Measures for scripts/bench_manga_realism.py: how manga-like a rendering is, and whether its lines follow the art.

Every function takes HxW uint8 greyscale (or HxWx3 uint8 RGB art) and HxW uint8 class ids; nothing here renders.

- :func:`tone_stats`: near-black (< 64) and near-white (>= 224) shares, a 32-bin grey histogram, Canny edge density.
- :func:`line_pixels`: drawn lines, a black top-hat (thin dark strokes, up to ~4 px wide, darker than both sides by
  more than 80 grey levels); a step from a black region to paper is not a line.
- :func:`label_only_ratio`: how much likelier a drawn line is on a mask boundary that has no edge in the art than
  elsewhere in the art's edge-free parts (1 = lines ignore the mask; the issue's figure for the old translator was
  12.8 on real portraits).
- :func:`portrait_parse`: a face-parsing map laid on an anime illustration from its detected face box with the
  proportions of a human face (brows, eyes, nose, lips where a human-trained parser puts them): most of its
  boundaries have no edge in the art, which is the case the ratio is about.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]

# danbooru-parsing ids
_SKIN, _LBROW, _RBROW, _LEYE, _REYE, _NOSE, _ULIP, _LLIP, _NECK, _CLOTH, _HAIR = 1, 2, 3, 4, 5, 10, 12, 13, 14, 16, 17


def tone_stats(grey: Grey) -> dict[str, Any]:
    """Tone statistics of HxW uint8 greyscale: ``hist`` (32 bins, sums to 1), ``black``, ``white``, ``edges``."""
    hist = np.bincount(grey.ravel() // 8, minlength=32).astype(np.float64)
    return {"hist": hist / hist.sum(), "black": float((grey < 64).mean()), "white": float((grey >= 224).mean()),
            "edges": float((cv2.Canny(grey, 100, 200) > 0).mean())}


def hist_l1(a: dict[str, Any], b: dict[str, Any]) -> float:
    """L1 distance between two 32-bin grey histograms (0 same .. 2 disjoint)."""
    return float(np.abs(np.asarray(a["hist"]) - np.asarray(b["hist"])).sum())


def art_edges(art_rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """HxW bool: pixels within 2 px of an edge of the art (Canny 40/120 on the lightly smoothed grey image, or on
    any colour channel, so equal-luminance colour boundaries count)."""
    smooth = cv2.GaussianBlur(art_rgb, (0, 0), 1.0)
    edges = cv2.Canny(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), 40, 120) > 0
    for c in range(3):
        edges |= cv2.Canny(np.ascontiguousarray(smooth[..., c]), 40, 120) > 0
    return cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def mask_boundary(mask_hw: Grey) -> npt.NDArray[np.bool_]:
    """HxW bool: pixels with a 4-neighbour of another class (both sides of every boundary)."""
    b = np.zeros(mask_hw.shape, bool)
    dx = mask_hw[:, 1:] != mask_hw[:, :-1]
    dy = mask_hw[1:] != mask_hw[:-1]
    b[:, 1:] |= dx
    b[:, :-1] |= dx
    b[1:] |= dy
    b[:-1] |= dy
    return b


def line_pixels(grey: Grey) -> npt.NDArray[np.bool_]:
    """HxW bool: drawn strokes (black top-hat with a 5x5 ellipse above 80 grey levels)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel) > 80


def label_only_ratio(grey: Grey, art_rgb: npt.NDArray[np.uint8], mask_hw: Grey) -> tuple[float, float, int]:
    """(line share on label-only boundaries, line share in other edge-free art, label-only pixel count)."""
    edges = art_edges(art_rgb)
    boundary = mask_boundary(mask_hw)
    near = cv2.dilate(boundary.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    label_only = boundary & ~edges
    elsewhere = ~edges & ~near
    lines = line_pixels(grey)
    return float(lines[label_only].mean()) if label_only.any() else 0.0, \
        float(lines[elsewhere].mean()) if elsewhere.any() else 0.0, int(label_only.sum())


def variant_difference(a: Grey, b: Grey) -> float:
    """Share of pixels whose grey differs by more than 64 levels between two renderings."""
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)) > 64).mean())


def face_boxes(art_rgb: npt.NDArray[np.uint8], cascade: cv2.CascadeClassifier) -> list[tuple[int, int, int, int]]:
    """Anime face boxes (x, y, w, h) from the LBP cascade (equalised grey, scale 1.1, 5 neighbours, min 24 px)."""
    grey = cv2.equalizeHist(cv2.cvtColor(art_rgb, cv2.COLOR_RGB2GRAY))
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    return [tuple(int(v) for v in box) for box in found]  # type: ignore[misc]


def portrait_parse(shape_hw: tuple[int, int], box: tuple[int, int, int, int]) -> Grey:
    """HxW uint8 danbooru-parsing ids laid out from a face box with human-face proportions (see the module doc)."""
    h, w = shape_hw
    x, y, bw, bh = box
    cx, cy = x + bw / 2, y + bh / 2
    m = np.zeros((h, w), np.uint8)

    def ellipse(c: tuple[float, float], axes: tuple[float, float], cls: int) -> None:
        cv2.ellipse(m, (round(c[0]), round(c[1])), (max(1, round(axes[0])), max(1, round(axes[1]))), 0, 0, 360,
                    int(cls), -1)

    cv2.rectangle(m, (round(cx - 1.1 * bw), round(cy + 0.75 * bh)), (round(cx + 1.1 * bw), h), _CLOTH, -1)
    ellipse((cx, cy - 0.05 * bh), (0.8 * bw, 0.85 * bh), _HAIR)
    cv2.rectangle(m, (round(cx - 0.2 * bw), round(cy + 0.3 * bh)), (round(cx + 0.2 * bw), round(cy + 0.85 * bh)),
                  _NECK, -1)
    ellipse((cx, cy + 0.08 * bh), (0.46 * bw, 0.55 * bh), _SKIN)
    for side, brow, eye in ((-1, _LBROW, _LEYE), (1, _RBROW, _REYE)):
        ellipse((cx + side * 0.2 * bw, cy - 0.12 * bh), (0.1 * bw, 0.025 * bh), brow)
        ellipse((cx + side * 0.2 * bw, cy + 0.0 * bh), (0.08 * bw, 0.04 * bh), eye)
    ellipse((cx, cy + 0.16 * bh), (0.06 * bw, 0.1 * bh), _NOSE)
    ellipse((cx, cy + 0.33 * bh), (0.12 * bw, 0.025 * bh), _ULIP)
    ellipse((cx, cy + 0.37 * bh), (0.11 * bw, 0.03 * bh), _LLIP)
    return m
