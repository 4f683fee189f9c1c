"""Geometry and painting of a synthetic face: the mask is painted first (shapes in z-order, no anti-aliasing), then
the image is rendered from it (see :mod:`animeparse.demo.synth`). Lengths follow :class:`FaceParams`."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from .face_params import RGB, FaceParams, Point, _mix, _Shape


def _ell(cu: float, cv: float, ru: float, rv: float,
         a0: float = 0.0, a1: float = 2 * math.pi, n: int = 36) -> list[Point]:
    angles = [a0 + (a1 - a0) * i / (n - 1) for i in range(n)]
    return [(cu + ru * math.cos(a), cv + rv * math.sin(a)) for a in angles]


def _bez(a: Point, c: Point, b: Point, n: int = 7) -> list[Point]:
    ts = [i / (n - 1) for i in range(n)]
    return [((1 - t) ** 2 * a[0] + 2 * (1 - t) * t * c[0] + t * t * b[0],
             (1 - t) ** 2 * a[1] + 2 * (1 - t) * t * c[1] + t * t * b[1]) for t in ts]


def _half_w(p: FaceParams, v: float) -> float:
    """Half width of the face outline at head-local height v."""
    if v < 0:
        return p.face_w * math.sqrt(max(0.0, 1 - (v / p.face_top) ** 2))
    t = min(v / p.face_bot, 1.0)
    return p.face_w * math.pow(max(0.0, 1 - math.pow(t, p.jaw_p)), p.jaw_q)


def _hair_box(p: FaceParams) -> tuple[float, float, float]:
    return p.face_w * (1.08 + p.hair_vol), p.face_top * (1.08 + 0.8 * p.hair_vol), p.hair_len


def _brow_v(p: FaceParams) -> float:
    return p.eye_y - p.eye_h - p.brow_gap


def _bangs(p: FaceParams) -> tuple[list[Point], list[Point]]:
    """(outer cap arc, lower zig-zag edge incl. temples) of the fringe."""
    fw, bv = p.face_w, _brow_v(p)
    span = bv + p.face_top  # head top to brows: the fringe lives in here
    n = len(p.bang_tips)
    us = [fw * 0.98 * (2 * i / n - 1) for i in range(n + 1)]
    gv = [0.55] + [0.3 + 0.45 * g for g in p.bang_gaps] + [0.55]
    gaps = [(us[i], bv - span * gv[i]) for i in range(n + 1)]
    temple = p.eye_y - 0.6 * p.eye_h  # side hair reaches eye level at the face edge
    zig: list[Point] = [(-fw * 1.06, temple)]
    for i, tip in enumerate(p.bang_tips):
        (ua, va), (ub, vb) = gaps[i], gaps[i + 1]
        um = (ua + ub) / 2
        tu, tv = um + 0.35 * (ub - ua) * um / fw, bv - span * 0.3 * (1 - tip) - 0.2 * p.brow_th * tip
        # control points straight below the partings give rounded strands with sharp tips
        zig += _bez((ua, va), (ua, 0.7 * tv + 0.3 * va), (tu, tv))[:-1]
        zig += _bez((tu, tv), (ub, 0.7 * tv + 0.3 * vb), (ub, vb))[:-1]
    zig += [gaps[-1], (fw * 1.06, temple)]
    return _ell(0, 0, fw * 1.07, p.face_top * 1.08, -0.2, -math.pi + 0.2, 40), zig


def _eye(p: FaceParams, side: int) -> list[Point]:
    eu, w, h = side * p.eye_sep, p.eye_w, p.eye_h
    top, bot = [], []
    for i in range(17):
        x = i / 16
        b = math.sin(math.pi * x)
        lift = -p.eye_slant * h * (2 * x - 1) * side  # raises the outer corner
        top.append((eu + w * (2 * x - 1), p.eye_y - h * b ** 0.6 + lift))
        bot.append((eu + w * (2 * x - 1), p.eye_y + 0.75 * h * b ** 0.9 + lift))
    return top + bot[::-1]


def _shapes(p: FaceParams) -> list[_Shape]:
    """Every mask shape in paint order (later shapes cover earlier ones)."""
    fw, ft, fb, ev, eh = p.face_w, p.face_top, p.face_bot, p.eye_y, p.eye_h
    hw, hh, hl = _hair_box(p)
    out: list[_Shape] = []

    def add(cls: int, pts: list[Point], width: float = 0.0, head: bool = True) -> None:
        out.append((cls, pts, width, head))

    def mirror(pts: list[Point]) -> list[Point]:
        return [(-a, b) for a, b in reversed(pts)]

    # body does not roll with the head
    sy, nw, nl = p.shoulder_y - p.cy, p.neck_w, p.neckline - p.cy
    sw = p.shoulder_w
    right = [(sw * 1.05, 0.7), (sw, sy + 0.09), (sw * 0.9, sy + 0.025), (sw * 0.6, sy), (nw * 1.3, sy - 0.01)]
    add(16, right + mirror(right), head=False)
    # the neck's V-shaped bottom edge, painted over the cloth, is the open collar
    add(14, [(-nw, 0.3 * fb), (nw, 0.3 * fb), (nw * 1.15, nl), (0.0, nl + p.collar_depth),
             (-nw * 1.15, nl)], head=False)
    # back hair: cap plus two side curtains whose inner edge stays clear of the neck
    fl, ix, vin = hw * p.hair_flare, max(fw * 0.6, nw * 1.5), min(0.35 * fb, 0.6 * hl)
    notch = min(0.04, 0.3 * hl)
    side = [(fl, hl * 0.6), (fl * 0.97, hl), ((fl + ix) / 2, hl - notch), (ix, hl * 0.97), (fw * 0.6, vin)]
    add(17, _ell(0, 0, hw, hh, math.pi, 2 * math.pi, 40) + side + mirror(side))
    for s, cls in ((1, 7), (-1, 8)):
        add(cls, _ell(s * fw, ev + 0.3 * p.ear_size, 0.5 * p.ear_size, p.ear_size, n=24))
    lower = [(_half_w(p, fb * i / 16), fb * i / 16) for i in range(17)]
    add(1, _ell(0, 0, fw, ft, math.pi, 2 * math.pi, 40) + lower + mirror(lower))
    if p.has_necklace:
        y0 = fb + (nl - fb) * p.necklace_pos
        drop = nw * 0.5
        add(15, _bez((-nw * 1.05, y0), (0.0, y0 + 2 * drop), (nw * 1.05, y0), 12), p.chain_w, head=False)
        add(15, _ell(0.0, y0 + drop + p.chain_w, p.chain_w * 1.6, p.chain_w * 2.2, n=16), head=False)
    if p.has_earrings:
        r = p.earring_r
        for s in (1, -1):
            add(9, _ell(s * fw * 1.04, ev + 1.25 * p.ear_size + r, 0.8 * r, 1.3 * r, n=16))
    ns, nv = p.nose_size, p.nose_y
    add(10, [(0.1 * ns, nv - ns), (0.45 * ns, nv + 0.35 * ns), (-0.35 * ns, nv + 0.45 * ns)])
    mw, mv, op, lt = p.mouth_w, p.mouth_y, p.mouth_open, p.lip_th
    xs = [mw * (i / 6 - 1) for i in range(13)]
    line = [(x, mv - p.smile * (x / mw) ** 2) for x in xs]
    low = [(x, v + op * (1 - (x / mw) ** 2)) for x, v in line]
    add(11, line + low[::-1])
    add(12, [(x, v - lt * (0.4 + 0.6 * (1 - (x / mw) ** 2))) for x, v in line] + line[::-1])
    add(13, low[2:-2] + [(x, v + lt * (0.5 + 0.5 * (1 - (x / mw) ** 2))) for x, v in low[-3:1:-1]])
    for s, cls in ((1, 4), (-1, 5)):
        add(cls, _eye(p, s))
    for s, cls in ((1, 2), (-1, 3)):
        bu, top, bot = s * (p.eye_sep + 0.1 * p.eye_w), [], []
        for i in range(9):
            x = i / 4 - 1
            v = _brow_v(p) - p.brow_arch * (1 - x * x) + 0.3 * p.brow_arch * x
            th = p.brow_th * (1 - 0.22 * (x + 1))  # tapers towards the outer end
            top.append((bu + s * x * p.brow_len, v - th / 2))
            bot.append((bu + s * x * p.brow_len, v + th / 2))
        add(cls, top + bot[::-1])
    cap, zig = _bangs(p)
    add(17, cap + zig)
    if p.sidelocks:
        vs = [zig[0][1] - 0.02 + (p.sidelock_len - zig[0][1] + 0.02) * i / 8 for i in range(9)]
        for s in (1, -1):
            outer = [(s * (_half_w(p, v) + fw * 0.05), v) for v in vs]
            inner = [(s * (_half_w(p, v) - fw * 0.16 * (1 - i / 8)), v) for i, v in enumerate(vs)]
            add(17, outer + inner[::-1])
    if p.has_glasses:
        rw, rh, rv = p.eye_w * 1.3, eh * 1.35, ev - 0.1 * eh
        for s in (1, -1):
            add(6, _ell(s * p.eye_sep, rv, rw, rh, n=48), p.frame_w)
            add(6, [(s * (p.eye_sep + rw), rv), (s * fw, rv - 0.1 * eh)], p.frame_w)
        add(6, [(-(p.eye_sep - rw), rv), (p.eye_sep - rw, rv)], p.frame_w)
    if p.has_hat:
        hv = _brow_v(p) - (_brow_v(p) + ft) * p.hat_y
        add(18, _ell(0, hv, hw * 1.02, p.hat_h, math.pi, 2 * math.pi, 36))
        add(18, _ell(0, hv, hw * p.hat_brim, ft * 0.1, n=36))
    return out


def _draw(p: FaceParams, size: int, shapes: list[_Shape]) -> Image.Image:
    im = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(im)
    for cls, pts, width, head in shapes:
        c, s = (math.cos(p.tilt), math.sin(p.tilt)) if head else (1.0, 0.0)
        xy = [((p.cx + a * c - b * s) * size, (p.cy + a * s + b * c) * size) for a, b in pts]
        if width > 0:
            draw.line(xy, fill=cls, width=max(1, round(width * size)), joint="curve")
        else:
            draw.polygon(xy, fill=cls)
    return im


def _layer(p: FaceParams, size: int, parts: list[tuple[list[Point], float]]) -> npt.NDArray[np.bool_]:
    """Boolean HxW raster of head-local shapes, used to place detail inside regions."""
    return np.asarray(_draw(p, size, [(1, pts, w, True) for pts, w in parts])) > 0


def _below(a: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.bool_]:
    """True where a True pixel lies 1..k rows above (cheap 'cast a shadow down')."""
    out = np.zeros_like(a)
    for i in range(1, k + 1):
        out[i:] |= a[:-i]
    return out


# ---------------------------------------------------------------- rendering
def _render(p: FaceParams, mask: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    f32 = np.float32

    def dark(c: RGB, k: float) -> tuple[float, float, float]:
        return (c[0] * k, c[1] * k, c[2] * k)

    sclera = (250, 250, 252)
    pal = np.array([p.bg, p.skin, dark(p.hair, 0.55), dark(p.hair, 0.55), sclera, sclera, p.frame,
                    p.skin, p.skin, p.metal, dark(p.skin, 0.85), (150, 40, 60), p.lip, p.lip,
                    dark(p.skin, 0.93), p.metal, p.cloth, p.hair, p.hat_rgb], dtype=f32)
    img = pal[mask]
    ys = np.arange(size, dtype=f32)[:, None] / f32(size)  # (H, 1) for vertical gradients
    grad = np.zeros(19, f32)
    grad[[1, 7, 8, 10, 14]], grad[[16, 18]], grad[17] = -0.12, -0.45, -0.45
    img *= (1 + grad[mask] * (ys - f32(0.5)))[..., None]

    def paint(sel: npt.NDArray[np.bool_], rgb: object, alpha: float = 1.0) -> None:
        col = np.broadcast_to(np.asarray(rgb, dtype=f32), img.shape)[sel]
        img[sel] = img[sel] * f32(1 - alpha) + col * f32(alpha)

    bg = mask == 0
    ramp = np.asarray(p.bg, f32) * (1 - ys[..., None]) + np.asarray(p.bg2, f32) * ys[..., None]
    paint(bg, ramp)
    if p.bokeh:
        circles: list[_Shape] = [(1, _ell(x - p.cx, y - p.cy, r, r, n=24), 0.0, False) for x, y, r in p.bokeh]
        paint(bg & (np.asarray(_draw(p, size, circles)) > 0), (255, 255, 255), 0.3)
    hair, hat = mask == 17, mask == 18
    skinlike = np.isin(mask, (1, 7, 8, 10))
    # fringe and hat cast a soft shadow on the forehead; the chin shadows the neck
    paint(skinlike & _below(hair | hat, max(2, round(0.025 * size))), (200, 120, 130), 0.25)
    paint((mask == 14) & _below(mask == 1, max(2, round(0.04 * size))), (150, 90, 100), 0.3)
    cheeks = [(_ell(s * p.eye_sep, p.eye_y + 1.3 * p.eye_h, 0.75 * p.eye_w, 0.28 * p.eye_h, n=24), 0.0)
              for s in (1, -1)]
    paint((mask == 1) & _layer(p, size, cheeks), (255, 120, 140), p.blush)
    for s, cls in ((1, 4), (-1, 5)):
        eye = mask == cls
        eu, iv = s * p.eye_sep, p.eye_y - 0.05 * p.eye_h
        iw, ih = p.eye_w * 0.58 * p.iris, p.eye_h * 0.95
        top = (p.cy + iv - ih) * size
        shade = np.clip((ys * size - top) / (1.8 * ih * size), 0, 1)  # dark top -> bright bottom
        paint(eye & _layer(p, size, [(_ell(eu, iv, iw * 1.12, ih * 1.08), 0.0)]), dark(p.iris_rgb, 0.3))
        iris = np.asarray(p.iris_rgb, f32) * (f32(0.35) + f32(0.85) * shade)[..., None]
        paint(eye & _layer(p, size, [(_ell(eu, iv, iw, ih), 0.0)]), iris)
        paint(eye & _layer(p, size, [(_ell(eu, iv + 0.1 * ih, 0.42 * iw, 0.5 * ih), 0.0)]), dark(p.iris_rgb, 0.2))
        shine = [(_ell(eu - 0.35 * iw, iv - 0.45 * ih, 0.3 * iw, 0.22 * ih), 0.0),
                 (_ell(eu + 0.35 * iw, iv + 0.4 * ih, 0.13 * iw, 0.1 * ih), 0.0)]
        paint(eye & _layer(p, size, shine), (255, 255, 255))
        k = max(2, round(0.22 * p.eye_h * size))
        lid = np.zeros_like(eye)
        lid[k:] = eye[:-k]
        paint(eye & ~lid, dark(p.hair, 0.2))  # thick upper lash line inside the eye region
    mouth = mask == 11
    paint(mouth & (ys * size > (p.cy + p.mouth_y + 0.55 * p.mouth_open) * size), (225, 110, 120))
    hw, hh, hl = _hair_box(p)
    lw = max(1.0, size / 300) / size
    strands = [(_bez((a * hw * 0.25, -hh * 0.95), (a * hw * 0.9, -hh * 0.3),
                     (a * hw * 1.1, hl if abs(a) > 0.75 else _brow_v(p)), 10), lw) for a in p.strands]
    paint(hair & _layer(p, size, strands), dark(p.hair, 0.6), 0.7)
    paint(hair & _layer(p, size, [(_bangs(p)[1], lw)]), dark(p.hair, 0.5), 0.8)
    # broken arc of sheen ("angel ring"); one continuous arc reads as a headband
    sheen = [(_ell(0, 0, 0.8 * hw, 0.85 * hh, a, a + 0.42, 8), 0.022) for a in (-2.55, -1.95, -1.35, -0.75)]
    paint(hair & _layer(p, size, sheen), _mix(p.hair, (255, 255, 255), 0.5), 0.6)
    if p.has_hat:
        hv = _brow_v(p) - (_brow_v(p) + p.face_top) * p.hat_y
        paint(hat & _layer(p, size, [([(-hw, hv - 0.02), (hw, hv - 0.02)], 0.03)]), p.collar)
    paint((mask == 16) & _below(mask == 14, max(2, round(0.03 * size))), p.collar)
    # ink outlines on the inner side of every region boundary, never on the background
    edge = np.zeros(mask.shape, bool)
    dv, dh = mask[1:] != mask[:-1], mask[:, 1:] != mask[:, :-1]
    edge[1:] |= dv
    edge[:, 1:] |= dh
    if size >= 256:  # both sides -> 2 px lines that survive the blur
        edge[:-1] |= dv
        edge[:, :-1] |= dh
    edge &= ~bg
    img[edge] *= f32(0.35)
    out = (np.clip(img, 0, 255) + f32(0.5)).astype(np.uint8)
    if p.soft:  # 3x3 binomial blur in integers: exact and platform independent
        x = np.pad(out.astype(np.uint16), ((1, 1), (1, 1), (0, 0)), mode="edge")
        x = x[:-2] + 2 * x[1:-1] + x[2:]
        out = ((x[:, :-2] + 2 * x[:, 1:-1] + x[:, 2:] + 8) >> 4).astype(np.uint8)
    return out
