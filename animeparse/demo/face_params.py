"""The random choices of one synthetic face (:class:`FaceParams`) and how they are drawn (:func:`sample_params`).

See :mod:`animeparse.demo.synth` for the classes, the left/right convention and why the draws are deterministic.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]
RGB = tuple[int, int, int]
# (class id, points in head-local units, line width (0 = filled polygon), rolls with head)
_Shape = tuple[int, list[Point], float, bool]


@dataclass(frozen=True)
class FaceParams:
    """All random choices for one face.

    Lengths are fractions of the image size and offsets are relative to the face
    centre ``(cx, cy)`` in head-local axes (+v is down), so one FaceParams renders
    at any size. Colours are RGB tuples of ints in 0..255.
    """

    cx: float
    cy: float
    face_w: float  # half width at the cheek line (v = 0)
    face_top: float  # forehead radius above the cheek line
    face_bot: float  # cheek line to chin
    jaw_p: float  # jaw half-width = face_w * (1 - t**jaw_p)**jaw_q, t = v / face_bot;
    jaw_q: float  # q >= 1 makes the V-shaped anime chin
    tilt: float  # head roll in radians
    neck_w: float
    neckline: float  # absolute y of the collar
    collar_depth: float
    shoulder_y: float
    shoulder_w: float
    eye_w: float  # half width of one eye
    eye_h: float  # lid height above the eye centre line
    eye_sep: float  # eye centre distance from the face centre line
    eye_y: float
    eye_slant: float
    iris: float
    brow_gap: float
    brow_len: float
    brow_th: float
    brow_arch: float
    nose_y: float
    nose_size: float
    mouth_y: float
    mouth_w: float
    mouth_open: float
    lip_th: float
    smile: float
    ear_size: float
    hair_style: str  # "short" | "bob" | "long"
    hair_len: float  # head-local v of the hair ends
    hair_vol: float
    hair_flare: float
    bang_tips: tuple[float, ...]  # per strand, 0 = short .. 1 = down to the brows
    bang_gaps: tuple[float, ...]  # between strands, 0 = low .. 1 = high parting
    sidelocks: bool
    sidelock_len: float
    strands: tuple[float, ...]  # drawn hair-strand lines, -1..1 across the head
    has_hat: bool
    hat_y: float
    hat_h: float
    hat_brim: float
    has_glasses: bool
    frame_w: float
    has_earrings: bool
    earring_r: float
    has_necklace: bool
    necklace_pos: float
    chain_w: float
    blush: float
    soft: bool  # mild blur for an illustrated look
    skin: RGB
    hair: RGB
    iris_rgb: RGB
    lip: RGB
    cloth: RGB
    collar: RGB
    hat_rgb: RGB
    metal: RGB
    frame: RGB
    bg: RGB
    bg2: RGB
    bokeh: tuple[tuple[float, float, float], ...]  # (x, y, r) light circles behind


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def sample_params(rng: np.random.Generator, *, size: int = 512) -> FaceParams:
    """Draw one face's parameters from ``rng``.

    ``size`` is the intended render size: thin parts (lips, brows, chains, mouth
    opening) are kept at least ~2-3 pixels thick there so no class vanishes.
    """
    def u(a: float, b: float) -> float:
        return float(rng.uniform(a, b))

    def chance(q: float) -> bool:
        return bool(rng.random() < q)

    px = 1.0 / size
    fw = u(0.19, 0.24)
    ft, fb = fw * u(0.95, 1.1), fw * u(1.1, 1.3)
    cx, cy = 0.5 + u(-0.03, 0.03), u(0.40, 0.45)
    shoulder_y = cy + fb + u(0.06, 0.12)
    eye_w = fw * u(0.21, 0.27)
    eye_h = eye_w * u(0.85, 1.2)
    eye_y = fb * u(0.0, 0.12)
    mouth_y = fb * u(0.55, 0.62)
    style = ("short", "bob", "long")[int(rng.integers(3))]
    if style == "short":
        hair_len = fb * u(0.15, 0.45)
    elif style == "bob":
        hair_len = fb * u(0.85, 1.05)
    else:
        hair_len = u(0.32, 0.58)
    n_bangs = int(rng.integers(5, 10))
    skin = _mix((255, 236, 222), (236, 192, 160), u(0, 1))
    if chance(0.1):
        skin = _mix(skin, (190, 140, 105), u(0.4, 1.0))
    bg_h = u(0.25, 0.85)  # greens..purples: keeps the background apart from skin tones
    return FaceParams(
        cx=cx, cy=cy, face_w=fw, face_top=ft, face_bot=fb,
        jaw_p=u(1.8, 2.6), jaw_q=u(0.95, 1.3), tilt=u(-0.08, 0.08),
        neck_w=fw * u(0.3, 0.4), neckline=shoulder_y + u(0.0, 0.02), collar_depth=u(0.0, 0.06),
        shoulder_y=shoulder_y, shoulder_w=fw * u(1.6, 2.1),
        eye_w=eye_w, eye_h=eye_h, eye_sep=fw * u(0.4, 0.5), eye_y=eye_y,
        eye_slant=u(-0.05, 0.2), iris=u(0.85, 1.1),
        brow_gap=eye_h * u(0.3, 0.55), brow_len=eye_w * u(0.8, 1.05),
        brow_th=max(eye_h * u(0.13, 0.2), 3 * px), brow_arch=eye_h * u(0.05, 0.2),
        nose_y=eye_y + 0.75 * eye_h + (mouth_y - eye_y - 0.75 * eye_h) * u(0.45, 0.6),
        nose_size=max(fw * u(0.05, 0.08), 5 * px),
        mouth_y=mouth_y, mouth_w=fw * u(0.1, 0.22), mouth_open=max(fw * u(0.0, 0.09), 3 * px),
        lip_th=max(fw * u(0.015, 0.03), 2 * px), smile=fw * u(-0.03, 0.06),
        ear_size=fw * u(0.22, 0.3),
        hair_style=style, hair_len=hair_len, hair_vol=u(0.04, 0.2),
        hair_flare=u(0.85, 0.97) if style == "short" else u(0.95, 1.25),  # short hair must not wing out
        bang_tips=tuple(u(0.2, 1.0) for _ in range(n_bangs)),
        bang_gaps=tuple(u(0.0, 1.0) for _ in range(n_bangs - 1)),
        sidelocks=chance(0.5), sidelock_len=fb * u(0.4, 0.95),
        strands=tuple(u(-1.0, 1.0) for _ in range(int(rng.integers(8, 16)))),
        has_hat=chance(0.3), hat_y=u(0.55, 0.8), hat_h=ft * u(0.5, 0.8), hat_brim=u(1.0, 1.25),
        has_glasses=chance(0.3), frame_w=max(u(0.006, 0.012), 2 * px),
        has_earrings=chance(0.3), earring_r=max(fw * u(0.05, 0.08), 3 * px),
        has_necklace=chance(0.3), necklace_pos=u(0.25, 0.5), chain_w=max(u(0.006, 0.01), 2 * px),
        blush=u(0.0, 0.35), soft=chance(0.7),
        skin=skin,
        hair=_hsv(u(0, 1), u(0.3, 0.85), u(0.2, 0.85)),
        iris_rgb=_hsv(u(0, 1), u(0.55, 0.95), u(0.55, 0.9)),
        lip=_mix(skin, (220, 90, 100), u(0.35, 0.6)),
        cloth=_hsv(u(0, 1), u(0.25, 0.8), u(0.3, 0.8)),
        collar=(245, 245, 248) if chance(0.6) else _hsv(u(0, 1), u(0.3, 0.8), u(0.15, 0.5)),
        hat_rgb=_hsv(u(0, 1), u(0.3, 0.8), u(0.3, 0.85)),
        metal=(235, 195, 80) if chance(0.5) else (200, 205, 220),
        frame=_hsv(u(0, 1), u(0.2, 0.8), u(0.1, 0.45)),
        bg=_hsv(bg_h, u(0.12, 0.35), u(0.9, 1.0)),
        bg2=_hsv(bg_h + u(-0.08, 0.08), u(0.15, 0.45), u(0.75, 0.9)),
        bokeh=tuple((u(0, 1), u(0, 1), u(0.02, 0.08)) for _ in range(int(rng.integers(0, 7)))),
    )
