"""How far apart a label map's colours look, for people with normal and with red-green colour vision deficiency.

Distances are CIEDE2000 ΔE in CIELAB (D65), computed after simulating protanopia and deuteranopia with the
Machado, Oliveira and Fernandes (2009) matrices at full severity (applied to linear RGB). A ΔE under about 10 reads
as "the same colour" on a small chip or a thin region, so :func:`close_pairs` flags pairs under that, and the bundled
maps the project owns are kept above it (tests/test_colours.py); maps whose colours a seed dataset defines are
left as the seed has them (see docs/view.md, "Colours").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["VISIONS", "ClosePair", "close_pairs", "delta_e", "ignore_colour", "min_delta_e", "simulate", "to_lab",
           "text_colour"]

# Machado et al. 2009, severity 1.0, linear RGB -> linear RGB
_MACHADO = {
    "protan": np.array([[0.152286, 1.052583, -0.204868],
                        [0.114503, 0.786281, 0.099216],
                        [-0.003882, -0.048116, 1.051998]]),
    "deutan": np.array([[0.367322, 0.860646, -0.227968],
                        [0.280085, 0.672501, 0.047413],
                        [-0.011820, 0.042940, 0.968881]]),
}
VISIONS = ("normal", "protan", "deutan")
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_WHITE_XYZ = np.array([0.95047, 1.0, 1.08883])


class ClosePair(NamedTuple):
    a: str
    b: str
    vision: str
    delta_e: float


def _linear(rgb: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    c = rgb / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _gamma(lin: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lin = np.clip(lin, 0.0, 1.0)
    return 255.0 * np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def _de2000(lab1: npt.NDArray[np.float64], lab2: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """CIEDE2000 between broadcastable ...x3 CIELAB arrays (Sharma, Wu and Dalal 2005)."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dlp, dcp = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    lbp, cbp = (l1 + l2) / 2, (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) > 180, np.where(hsum < 360, hsum + 360, hsum - 360), hsum) / 2
    hbp = np.where(c1p * c2p == 0, hsum, hbp)
    t = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    d_theta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cbp ** 7 / (cbp ** 7 + 25.0 ** 7))
    sl = 1 + 0.015 * (lbp - 50) ** 2 / np.sqrt(20 + (lbp - 50) ** 2)
    sc, sh = 1 + 0.045 * cbp, 1 + 0.015 * cbp * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt((dlp / sl) ** 2 + (dcp / sc) ** 2 + (dhp / sh) ** 2 + rt * (dcp / sc) * (dhp / sh))


def simulate(rgb: Sequence[Sequence[int]] | npt.NDArray[np.integer], vision: str) -> npt.NDArray[np.float64]:
    """Nx3 sRGB (0..255) as seen with ``vision`` (``normal``, ``protan`` or ``deutan``); Nx3 float64 sRGB 0..255."""
    arr = np.asarray(rgb, np.float64).reshape(-1, 3)
    if vision == "normal":
        return arr
    return _gamma(_linear(arr) @ _MACHADO[vision].T)


def to_lab(rgb: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Nx3 sRGB 0..255 -> Nx3 CIELAB (L 0..100)."""
    xyz = (_linear(np.asarray(rgb, np.float64).reshape(-1, 3)) @ _SRGB_TO_XYZ.T) / _WHITE_XYZ
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def delta_e(a: Sequence[int], b: Sequence[int], *, vision: str = "normal") -> float:
    """CIEDE2000 ΔE between two sRGB colours (0..255 each) as seen with ``vision``."""
    lab = to_lab(simulate([a, b], vision))
    return float(_de2000(lab[0], lab[1]))


def close_pairs(named: dict[str, tuple[int, int, int]], *, threshold: float = 10.0,
                visions: Sequence[str] = VISIONS) -> list[ClosePair]:
    """Pairs of ``name -> (r, g, b)`` closer than ``threshold`` ΔE under any of ``visions``, closest first."""
    names = list(named)
    out: list[ClosePair] = []
    for vision in visions:
        lab = to_lab(simulate([named[n] for n in names], vision))
        d = _de2000(lab[:, None, :], lab[None, :, :])
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                if d[i, j] < threshold:
                    out.append(ClosePair(names[i], names[j], vision, float(d[i, j])))
    return sorted(out, key=lambda p: p.delta_e)


def min_delta_e(colours: Sequence[Sequence[int]], *, vision: str = "normal") -> float:
    """The smallest pairwise ΔE among ``colours`` as seen with ``vision`` (inf for fewer than two)."""
    if len(colours) < 2:
        return float("inf")
    lab = to_lab(simulate(colours, vision))
    d = _de2000(lab[:, None, :], lab[None, :, :])
    d[np.diag_indices(len(colours))] = np.inf
    return float(d.min())


def text_colour(rgb: Sequence[int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``rgb`` (by CIELAB lightness)."""
    return (0, 0, 0) if to_lab(np.asarray([rgb], np.float64))[0, 0] > 60 else (255, 255, 255)


_IGNORE_CANDIDATES = ((128, 128, 128), (64, 64, 64), (255, 0, 255), (0, 255, 255), (160, 82, 45))


def ignore_colour(class_colours: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """A visible colour for the ignore index next to ``class_colours`` (background included or not).

    The first of mid grey, dark grey, magenta, cyan, sienna that is at least 10 ΔE from every class colour under
    normal, protan and deutan vision; if none is, the one farthest from them. Never white: an ignore chip or region
    drawn white vanishes on a white page.
    """
    def worst(candidate: tuple[int, int, int]) -> float:
        if not class_colours:
            return float("inf")
        return min(min(delta_e(candidate, c, vision=v) for c in class_colours) for v in VISIONS)

    scores = [(worst(c), c) for c in _IGNORE_CANDIDATES]
    for score, candidate in scores:
        if score >= 10.0:
            return candidate
    return max(scores)[1]
