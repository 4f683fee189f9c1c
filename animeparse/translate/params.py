"""The bundled manga translator's parameters: kernels, screentone tables and per-role style ranges as tensors.

The parameters are designed, not trained: :func:`build_params` computes every tensor from the literal tables below
with float64 maths and stores float32, so ``scripts/make_translator_params.py`` rewrites ``params/manga_v2.pt``
byte for byte (``torch.save`` writes fixed zip timestamps). A test checks the bundled file against a fresh build.

Style ranges are per *role* (background, skin, hair, ...), not per label-map id, so one parameter file serves
every label map; :mod:`animeparse.translate.roles` maps class names onto roles.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from .roles import ROLES

if TYPE_CHECKING:
    import torch

__all__ = ["PARAMS_FILE", "ROLE_FEATURES", "GLOBAL_FEATURES", "COINS", "GLOBAL_COINS", "F", "G", "REF_SIZE",
           "build_params", "build_shapes",
           "load_params", "save_params", "serialize_params"]

PARAMS_FILE = Path(__file__).resolve().parent / "params" / "manga_v2.pt"
REF_SIZE = 512  # pitches and line widths below are in pixels of a 512-pixel image; other sizes scale them

# Per-role style features; each is drawn per (image, variant) uniformly between the role's lo and hi.
# Darkness d = 1 - luminance, mixed from the region mean (weight w_region) and the smoothed pixel, plus
# shade_gain * (region mean - pixel) so shadows inside a region get a darker tone.
ROLE_FEATURES = (
    "w_region",    # 0: 1 = flat tone for the whole region (from its mean colour), 0 = follow the pixel's luminance
    "shade_gain",  # 1: how much a pixel darker than its region's mean moves to a darker tone
    "white_t",     # 2: darkness below which the pixel is paper white
    "black_t",     # 3: darkness above which the pixel is solid black ink (raised per region by black_cap)
    "c_lo",        # 4: ink coverage of the lightest screentone
    "c_hi",        # 5: ink coverage of the darkest screentone
    "levels",      # 6: number of tone steps between white and black (floor of the draw: 2 or 3)
    "highlight",   # 7: pixels brighter than the region mean by this much are left white (hair streaks, eye glints)
    "p_lines",     # 8: probability that the tone is a line screen (hatching) instead of dots (lo is the probability)
    "angle",       # 9: screen angle, drawn in 15..135 degrees; above 75 it is moved up by 30 (skips 75..105)
    "pitch",       # 10: screen period in pixels at REF_SIZE
    "contour",     # 11: 1 = the mask boundary of this region may add ink, where the art has an edge near it
    "black_cap",   # 12: at most this share of the region's pixels is solid black (the darkest ones)
    "p_gradient",  # 13: probability that the region's tone fades along a direction (a gradient screen)
    "grad_angle",  # 14: direction of that fade, degrees
)
F = {name: i for i, name in enumerate(ROLE_FEATURES)}
COINS = ("p_lines", "p_gradient")  # drawn as 0/1 with probability lo

GLOBAL_FEATURES = (
    "dog_sigma",   # 0: index into the DoG kernel bank (u * bank size, floored)
    "dog_eps",     # 1: XDoG threshold: a pixel darker than its surround by more than this is a line
    "dog_phi",     # 2: XDoG softness (tanh slope)
    "line_alpha",  # 3: opacity of the XDoG ink lines
    "contour_alpha",  # 4: opacity of the mask contours (where the art has an edge)
    "contour_width",  # 5: 1 or 2 pixels at REF_SIZE (floored)
    "paper",       # 6: paper white level
    "ink",         # 7: ink black level
    "grain",       # 8: paper grain amplitude
    "blur",        # 9: index into the print-blur bank
    "jpeg_p",      # 10: probability of JPEG degradation (lo is the probability)
    "jpeg_q",      # 11: JPEG quality
    "soft",        # 12: screentone dot edge softness in pixels
    "line_weight",  # 13: 0 = XDoG lines as found, 1 = grown by one pixel all round (heavier pen)
    "level_lo",    # 14: luminance quantile stretched to black (per-image levels)
    "level_hi",    # 15: luminance quantile stretched to white
    "gain_max",    # 16: the levels stretch never multiplies contrast by more than this
    "mid_target",  # 17: after the stretch, a gamma moves the median luminance to this value ...
    "gamma_lo",    # 18: ... with the gamma kept in [gamma_lo, gamma_hi] (> 1 darkens pale art)
    "gamma_hi",    # 19
    "edge_lo",     # 20: art edge strength (smoothed colour gradient per pixel) below which a contour adds no ink
    "edge_hi",     # 21: and above which it adds full ink
    "tone_shift",  # 22: added to every pixel's darkness: some renderings tone more of the picture, some less
)
G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}
GLOBAL_COINS = ("jpeg_p",)

_ANGLES = (15.0, 135.0)  # screens are laid diagonally: 0/90 degrees line up with pixel rows (moire, "scanlines")
_ALL = (0.0, 360.0)
# role -> feature -> (lo, hi). A lo == hi entry is fixed. 9.0 disables a threshold (darkness never gets there).
_ROLE_TABLE: dict[str, dict[str, tuple[float, float]]] = {
    # a light background stays paper; a coloured one gets a light tone, often fading; dark scenery goes darker
    "background": {"w_region": (0.5, 0.7), "shade_gain": (0.0, 0.0), "white_t": (0.3, 0.42),
                   "black_t": (0.82, 0.92), "c_lo": (0.08, 0.18), "c_hi": (0.25, 0.42), "levels": (2.0, 3.99),
                   "highlight": (9.0, 9.0), "p_lines": (0.3, 0.3), "angle": _ANGLES, "pitch": (3.0, 6.5),
                   "contour": (1.0, 1.0), "black_cap": (0.03, 0.12), "p_gradient": (0.35, 0.35), "grad_angle": _ALL},
    # paper white, with a light tone only in the shadows
    "skin": {"w_region": (1.0, 1.0), "shade_gain": (2.0, 3.0), "white_t": (0.3, 0.38), "black_t": (9.0, 9.0),
             "c_lo": (0.1, 0.2), "c_hi": (0.1, 0.2), "levels": (2.0, 2.0), "highlight": (9.0, 9.0),
             "p_lines": (0.15, 0.15), "angle": _ANGLES, "pitch": (3.0, 5.5), "contour": (1.0, 1.0),
             "black_cap": (0.0, 0.0), "p_gradient": (0.0, 0.0), "grad_angle": _ALL},
    # dark hair: black in its darkest part, the rest a dense tone or hatching, white highlight streaks; mid hair a
    # tone; light hair paper with lines
    "hair": {"w_region": (0.6, 1.0), "shade_gain": (1.0, 1.8), "white_t": (0.12, 0.3), "black_t": (0.45, 0.65),
             "c_lo": (0.15, 0.35), "c_hi": (0.3, 0.52), "levels": (2.0, 3.99), "highlight": (0.08, 0.18),
             "p_lines": (0.35, 0.35), "angle": _ANGLES, "pitch": (3.0, 6.0), "contour": (1.0, 1.0),
             "black_cap": (0.05, 0.3), "p_gradient": (0.25, 0.25), "grad_angle": _ALL},
    # iris black, glints and the white of the eye paper, a dense tone in between
    "eye": {"w_region": (0.0, 0.0), "shade_gain": (0.0, 0.0), "white_t": (0.3, 0.4), "black_t": (0.5, 0.62),
            "c_lo": (0.45, 0.6), "c_hi": (0.6, 0.7), "levels": (2.0, 2.0), "highlight": (0.3, 0.3),
            "p_lines": (0.0, 0.0), "angle": _ANGLES, "pitch": (3.0, 4.5), "contour": (1.0, 1.0),
            "black_cap": (0.5, 0.8), "p_gradient": (0.0, 0.0), "grad_angle": _ALL},
    # small parts follow the art's own darkness (w_region 0): a misplaced label must not paint a brow or a mouth
    "brow": {"w_region": (0.0, 0.0), "shade_gain": (0.0, 0.0), "white_t": (0.3, 0.4), "black_t": (0.45, 0.6),
             "c_lo": (0.6, 0.7), "c_hi": (0.6, 0.7), "levels": (2.0, 2.0), "highlight": (9.0, 9.0),
             "p_lines": (0.0, 0.0), "angle": _ANGLES, "pitch": (3.0, 4.0), "contour": (1.0, 1.0),
             "black_cap": (0.6, 1.0), "p_gradient": (0.0, 0.0), "grad_angle": _ALL},
    "mouth": {"w_region": (0.0, 0.0), "shade_gain": (0.0, 0.0), "white_t": (0.22, 0.3), "black_t": (0.55, 0.7),
              "c_lo": (0.3, 0.45), "c_hi": (0.3, 0.45), "levels": (2.0, 2.0), "highlight": (9.0, 9.0),
              "p_lines": (0.0, 0.0), "angle": _ANGLES, "pitch": (3.0, 4.0), "contour": (1.0, 1.0),
              "black_cap": (0.3, 0.6), "p_gradient": (0.0, 0.0), "grad_angle": _ALL},
    # screentone by the cloth's colour; folds in shadow one step darker; sometimes hatched or fading
    "cloth": {"w_region": (0.7, 1.0), "shade_gain": (1.0, 1.8), "white_t": (0.12, 0.3), "black_t": (0.62, 0.75),
              "c_lo": (0.1, 0.3), "c_hi": (0.35, 0.6), "levels": (2.0, 3.99), "highlight": (9.0, 9.0),
              "p_lines": (0.35, 0.35), "angle": _ANGLES, "pitch": (3.0, 6.5), "contour": (1.0, 1.0),
              "black_cap": (0.05, 0.25), "p_gradient": (0.3, 0.3), "grad_angle": _ALL},
    "accessory": {"w_region": (0.5, 0.5), "shade_gain": (0.5, 1.0), "white_t": (0.2, 0.3), "black_t": (0.6, 0.72),
                  "c_lo": (0.2, 0.3), "c_hi": (0.45, 0.6), "levels": (2.0, 2.0), "highlight": (9.0, 9.0),
                  "p_lines": (0.2, 0.2), "angle": _ANGLES, "pitch": (3.0, 4.5), "contour": (1.0, 1.0),
                  "black_cap": (0.2, 0.5), "p_gradient": (0.0, 0.0), "grad_angle": _ALL},
    # no mask (single region) or a class with no known role: tone follows the pixel's own luminance
    # (tuned on scripts/bench_manga_realism.py: fine, scan-blurred dots and mostly paper, like a real page)
    "generic": {"w_region": (0.0, 0.0), "shade_gain": (0.0, 0.0), "white_t": (0.2, 0.45), "black_t": (0.7, 0.8),
                "c_lo": (0.1, 0.3), "c_hi": (0.3, 0.55), "levels": (2.0, 3.99), "highlight": (9.0, 9.0),
                "p_lines": (0.3, 0.3), "angle": _ANGLES, "pitch": (2.5, 5.5), "contour": (0.0, 0.0),
                "black_cap": (0.02, 0.06), "p_gradient": (0.0, 0.0), "grad_angle": _ALL},
}

_GLOBAL_TABLE: dict[str, tuple[float, float]] = {
    "dog_sigma": (0.0, 0.999), "dog_eps": (0.012, 0.025), "dog_phi": (80.0, 150.0), "line_alpha": (0.95, 1.0),
    "contour_alpha": (0.85, 1.0), "contour_width": (1.0, 2.99), "paper": (0.97, 1.0), "ink": (0.0, 0.06),
    "grain": (0.0, 0.012), "blur": (0.0, 0.999), "jpeg_p": (0.5, 0.5), "jpeg_q": (55.0, 90.0), "soft": (0.6, 1.0),
    "line_weight": (0.0, 0.5), "level_lo": (0.01, 0.01), "level_hi": (0.995, 0.995), "gain_max": (3.0, 3.0),
    "mid_target": (0.8, 0.9), "gamma_lo": (0.75, 0.75), "gamma_hi": (3.0, 3.0), "edge_lo": (0.03, 0.03),
    "edge_hi": (0.08, 0.08), "tone_shift": (-0.15, 0.15),
}

DOG_SIGMAS = (1.0, 1.2, 1.4, 1.7)  # centre Gaussian; the surround is DOG_K times wider
DOG_K = 1.6
BLUR_SIGMAS = (0.6, 0.8, 1.0)  # print and scan spread: real scans never have hard dot edges
SMOOTH_SIGMA = 1.5  # luminance smoothing before tone decisions, so tone boundaries follow shapes, not noise
GRAIN_SIGMA = 0.8
KERNEL_LEN = 2 * math.ceil(3 * DOG_K * max(DOG_SIGMAS)) + 1  # every 1-D kernel is zero-padded to this length
CDF_BINS = 1024

# ITU-T T.81 Annex K luminance quantisation table (quality 50)
_JPEG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)


def _gauss(sigma: float) -> list[float]:
    """A normalised 1-D Gaussian of length KERNEL_LEN (a delta for sigma 0)."""
    half = KERNEL_LEN // 2
    if sigma <= 0:
        return [1.0 if i == half else 0.0 for i in range(KERNEL_LEN)]
    radius = math.ceil(3 * sigma)
    taps = [math.exp(-((i - half) ** 2) / (2 * sigma * sigma)) if abs(i - half) <= radius else 0.0
            for i in range(KERNEL_LEN)]
    total = math.fsum(taps)
    return [t / total for t in taps]


def _pattern_cdf(kind: str) -> list[float]:
    """CDF of a screen's raw value over one period, sampled at CDF_BINS raw values evenly spaced in [-1, 1].

    The module maps a raw dot/line field through it to a field uniform over the period, so thresholding at
    ``1 - c`` inks exactly a share ``c`` of the area (a raw threshold would not: dots grow non-linearly)."""
    import bisect

    n = 512
    phases = [math.cos(2 * math.pi * (i + 0.5) / n) for i in range(n)]
    values = sorted(phases) if kind == "lines" else sorted((a + b) / 2 for a in phases for b in phases)
    return [bisect.bisect_right(values, -1 + 2 * k / (CDF_BINS - 1)) / len(values) for k in range(CDF_BINS)]


def build_params() -> dict[str, torch.Tensor]:
    """Every tensor of the bundled translator, computed from the literal tables (deterministic).

    Keys and shapes (R roles, Fn role features, Gn global features, L = KERNEL_LEN, all float32):
    ``style_lo``/``style_hi`` R x Fn, ``global_lo``/``global_hi`` Gn, ``dog_kernels`` S x 2 x L (centre, surround),
    ``blur_kernels`` B x L, ``smooth_kernel`` L, ``grain_kernel`` L, ``tone_cdf`` 2 x CDF_BINS (dots, lines: share
    of the period at or below each raw screen value in -1..1), ``jpeg_luma`` 8 x 8, ``dct`` 8 x 8 (orthonormal
    DCT-II), ``luma`` 3 (Rec. 601), ``ref_size`` 1.
    """
    import torch

    def t(data: object) -> torch.Tensor:
        return torch.tensor(data, dtype=torch.float64).to(torch.float32)

    lo = [[_ROLE_TABLE[role][f][0] for f in ROLE_FEATURES] for role in ROLES]
    hi = [[_ROLE_TABLE[role][f][1] for f in ROLE_FEATURES] for role in ROLES]
    dct = [[(math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8)) * math.cos((2 * n + 1) * k * math.pi / 16)
            for n in range(8)] for k in range(8)]
    return {
        "style_lo": t(lo), "style_hi": t(hi),
        "global_lo": t([_GLOBAL_TABLE[g][0] for g in GLOBAL_FEATURES]),
        "global_hi": t([_GLOBAL_TABLE[g][1] for g in GLOBAL_FEATURES]),
        "dog_kernels": t([[_gauss(s), _gauss(s * DOG_K)] for s in DOG_SIGMAS]),
        "blur_kernels": t([_gauss(s) for s in BLUR_SIGMAS]),
        "smooth_kernel": t(_gauss(SMOOTH_SIGMA)),
        "grain_kernel": t(_gauss(GRAIN_SIGMA)),
        "tone_cdf": t([_pattern_cdf("dots"), _pattern_cdf("lines")]),
        "jpeg_luma": t(list(_JPEG_LUMA)).reshape(8, 8),
        "dct": t(dct),
        "luma": t([0.299, 0.587, 0.114]),
        "ref_size": t([float(REF_SIZE)]),
    }


def serialize_params(params: dict[str, torch.Tensor]) -> bytes:
    """The ``torch.save`` bytes of ``params`` (sorted keys, contiguous tensors: the bytes depend only on values)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({k: params[k].contiguous() for k in sorted(params)}, buf)
    return buf.getvalue()


def save_params(path: Path, params: dict[str, torch.Tensor]) -> None:
    """Write :func:`serialize_params` atomically to ``path``."""
    from ..fsutil import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, serialize_params(params))


def load_params(path: Path = PARAMS_FILE) -> dict[str, torch.Tensor]:
    """Load a parameter file on the CPU (``weights_only``: tensors only, no code runs); check its keys/shapes."""
    import torch

    from ..errors import FormatError

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise FormatError("translator parameters not found; reinstall animeparse or regenerate them with "
                          "python scripts/make_translator_params.py", path=path) from err
    except Exception as err:  # torch raises several types for a damaged or non-tensor file
        raise FormatError(f"translator parameters could not be loaded ({err}); regenerate them with "
                          "python scripts/make_translator_params.py", path=path) from err
    expected = build_shapes()
    got = {k: tuple(v.shape) for k, v in data.items()} if isinstance(data, dict) else {}
    if got != expected:
        raise FormatError(f"translator parameters have tensors {got}, expected {expected}; regenerate them with "
                          "python scripts/make_translator_params.py", path=path)
    return data


def build_shapes() -> dict[str, tuple[int, ...]]:
    """The key -> shape contract of a parameter file."""
    r, fn, gn, k = len(ROLES), len(ROLE_FEATURES), len(GLOBAL_FEATURES), KERNEL_LEN
    return {"style_lo": (r, fn), "style_hi": (r, fn), "global_lo": (gn,), "global_hi": (gn,),
            "dog_kernels": (len(DOG_SIGMAS), 2, k), "blur_kernels": (len(BLUR_SIGMAS), k), "smooth_kernel": (k,),
            "grain_kernel": (k,), "tone_cdf": (2, CDF_BINS), "jpeg_luma": (8, 8), "dct": (8, 8), "luma": (3,),
            "ref_size": (1,)}
