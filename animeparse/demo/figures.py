"""Synthetic full-body anime figures with exact ``anime-character-parsing-13`` masks and a character id each.

A figure is a list of shapes in paint order (later shapes cover earlier ones); each shape has a class id and a
colour and is drawn, without anti-aliasing, into the mask, the picture and a shape index at once, so every pixel's
class is the class of the shape that painted it: the mask is exact ground truth for the picture. Ink outlines are
painted afterwards where the shape index changes, inside the pixels they darken (their class is unchanged).

Characters recur: ``n_characters`` designs (hair colour and style, eye colour, skin, clothes, socks, shoes and an
accessory) drawn from the seed; figure ``i`` is character ``i % n_characters`` in its own pose (arms, legs,
position, scale). Geometry uses the ``math`` module and Pillow's integer rasteriser, so the same
``(seed, index, size)`` gives the same arrays on every machine.

Class ids (``anime-character-parsing-13``)::

    0 background  1 hair  2 face  3 eyes  4 accessories  5 ears  6 torso  7 torso_wearing
    8 arms  9 hands  10 legs  11 feet  12 legs_wearing
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from ..fsutil import TMP_SUFFIX, atomic_write_bytes
from ..imageio import encode_jpeg, encode_mask_png
from ..labelmap import load_labelmap

__all__ = ["CHARACTER_IDS", "Character", "FigureRecord", "characters", "generate_figure", "figure_size_wh",
           "figure_split", "write_figure_data", "LABELMAP"]

LABELMAP = "anime-character-parsing-13"
BG, HAIR, FACE, EYES, ACC, EARS, TORSO, TOP, ARMS, HANDS, LEGS, FEET, BOTTOM = range(13)
CHARACTER_IDS = ("aki", "ren", "sora", "yui", "mio", "kou")
RGB = tuple[int, int, int]
Point = tuple[float, float]
_HAIR = [(250, 215, 120), (60, 45, 50), (235, 140, 175), (120, 170, 235), (175, 120, 210), (200, 85, 60),
         (235, 235, 240), (90, 160, 110)]
_EYE = [(60, 120, 210), (200, 60, 70), (70, 160, 90), (150, 80, 190), (210, 150, 40), (40, 40, 60)]
_SKIN = [(255, 230, 215), (250, 220, 200), (240, 205, 180), (210, 170, 140)]
_CLOTH = [(235, 235, 245), (40, 50, 90), (200, 60, 80), (70, 120, 200), (240, 190, 60), (60, 140, 110),
          (150, 90, 170), (30, 30, 35), (245, 160, 190)]
_HAIR_STYLES = ("long", "short", "twintails", "ponytail")
_BOTTOMS = ("skirt", "shorts", "pants")
_ACCESSORIES = ("bow", "hairband", "hat", "choker")


@dataclass(frozen=True)
class Character:
    """One recurring design: the same id always looks the same (colours RGB 0..255)."""

    id: str
    hair: RGB
    hair_style: str
    eyes: RGB
    skin: RGB
    top: RGB
    bottom: RGB
    bottom_style: str
    socks: RGB | None  # None: bare legs below the hem
    shoes: RGB
    accessory: str
    accessory_colour: RGB
    long_sleeves: bool


def characters(seed: int, n: int) -> list[Character]:
    """``n`` (1..6) distinct designs for dataset ``seed``: styles cycle so no two of the first four share one."""
    if not 1 <= n <= len(CHARACTER_IDS):
        raise ValueError(f"n_characters must be 1..{len(CHARACTER_IDS)}, got {n}")
    rng = np.random.default_rng([seed, 7919])
    hair = rng.permutation(len(_HAIR))
    cloth = rng.permutation(len(_CLOTH))
    out = []
    for k in range(n):
        c = [_CLOTH[cloth[(2 * k + j) % len(_CLOTH)]] for j in range(3)]
        out.append(Character(
            id=CHARACTER_IDS[k], hair=_HAIR[hair[k]], hair_style=_HAIR_STYLES[k % 4], eyes=_EYE[(k + seed) % 6],
            skin=_SKIN[int(rng.integers(len(_SKIN)))], top=c[0], bottom=c[1], bottom_style=_BOTTOMS[k % 3],
            socks=None if k % 2 else c[2], shoes=_mix(c[1], (20, 20, 20), 0.5), accessory=_ACCESSORIES[k % 4],
            accessory_colour=c[2] if k % 2 else (225, 50, 70), long_sleeves=bool(k % 2)))
    return out


def figure_size_wh(size: int) -> tuple[int, int]:
    """(width, height) of a figure image for ``size`` = its height (portrait, 5:8)."""
    return max(32, size * 5 // 8), size


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _ell(cx: float, cy: float, rx: float, ry: float, a0: float = 0.0, a1: float = 2 * math.pi,
         n: int = 32) -> list[Point]:
    return [(cx + rx * math.cos(a0 + (a1 - a0) * i / (n - 1)), cy + ry * math.sin(a0 + (a1 - a0) * i / (n - 1)))
            for i in range(n)]


def _limb(p0: Point, p1: Point, w0: float, w1: float) -> list[Point]:
    """A tapered quad from ``p0`` (half width ``w0``) to ``p1`` (``w1``) with round ends."""
    ang = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
    return (_ell(p0[0], p0[1], w0, w0, ang + math.pi / 2, ang + 3 * math.pi / 2, 10)
            + _ell(p1[0], p1[1], w1, w1, ang - math.pi / 2, ang + math.pi / 2, 10))


def _along(p0: Point, p1: Point, t: float) -> Point:
    return (p0[0] + (p1[0] - p0[0]) * t, p0[1] + (p1[1] - p0[1]) * t)


Shape = tuple[int, RGB, list[Point]] | tuple[int, RGB, list[Point], bool]


def _shapes(ch: Character, rng: np.random.Generator, w: int, h: int) -> list[Shape]:
    """Every shape of one figure in paint order: (class id, colour, polygon in pixels[, ink]); ``ink`` False: no
    outline of its own (a highlight, a blush: painted detail inside the shape below it)."""
    u = h * float(rng.uniform(0.92, 1.0))  # figure height
    cx = w / 2 + float(rng.uniform(-0.06, 0.06)) * w
    top = (h - u) * float(rng.uniform(0.2, 0.8)) + 0.02 * h

    def y(f: float) -> float:
        return top + f * u

    def x(f: float) -> float:
        return cx + f * u

    hx, hy, hrx, hry = cx, y(0.135), 0.068 * u, 0.080 * u  # head
    out: list[Shape] = []
    add = out.append
    dark_hair = _mix(ch.hair, (30, 20, 40), 0.35)
    # back hair, behind everything
    if ch.hair_style == "long":
        add((HAIR, dark_hair, [(x(-0.085), y(0.12)), (x(0.085), y(0.12)), (x(0.10), y(0.44)), (x(0.0), y(0.47)),
                               (x(-0.10), y(0.44))]))
    elif ch.hair_style == "short":
        add((HAIR, dark_hair, _ell(hx, y(0.17), hrx * 1.2, hry * 1.05)))
    elif ch.hair_style == "twintails":
        for s in (-1, 1):
            add((HAIR, dark_hair, _limb((x(s * 0.085), y(0.10)), (x(s * 0.13), y(0.40)), 0.035 * u, 0.022 * u)))
    else:  # ponytail
        add((HAIR, dark_hair, _limb((x(0.05), y(0.07)), (x(0.12), y(0.33)), 0.03 * u, 0.018 * u)))
    # legs, lower clothes, socks, feet
    spread = float(rng.uniform(0.0, 0.05))
    hips = [(x(s * 0.034), y(0.50)) for s in (-1, 1)]
    ankles = [(x(s * (0.04 + spread)), y(0.90)) for s in (-1, 1)]
    for hip, ank in zip(hips, ankles):
        add((LEGS, ch.skin, _limb(hip, ank, 0.034 * u, 0.02 * u)))
    if ch.socks is not None:
        for hip, ank in zip(hips, ankles):
            add((BOTTOM, ch.socks, _limb(_along(hip, ank, 0.75), ank, 0.024 * u, 0.021 * u)))
    for s, ank in zip((-1, 1), ankles):
        add((FEET, ch.shoes, _ell(ank[0] + s * 0.012 * u, ank[1] + 0.012 * u, 0.032 * u, 0.017 * u)))
    if ch.bottom_style == "skirt":
        add((BOTTOM, ch.bottom, [(x(-0.062), y(0.45)), (x(0.062), y(0.45)), (x(0.115), y(0.61)), (x(-0.115), y(0.61))]))
    else:
        knee = 0.38 if ch.bottom_style == "shorts" else 0.5  # cropped trousers: skin shows above the socks
        for hip, ank in zip(hips, ankles):
            add((BOTTOM, ch.bottom, _limb(hip, _along(hip, ank, knee), 0.04 * u, 0.03 * u)))
        add((BOTTOM, ch.bottom, [(x(-0.066), y(0.45)), (x(0.066), y(0.45)), (x(0.07), y(0.52)), (x(-0.07), y(0.52))]))
    # neck and torso skin, then the top over it (a neckline of skin stays)
    add((TORSO, ch.skin, [(x(-0.022), y(0.20)), (x(0.022), y(0.20)), (x(0.026), y(0.27)), (x(-0.026), y(0.27))]))
    body = [(x(-0.085), y(0.27)), (x(0.085), y(0.27)), (x(0.066), y(0.40)), (x(0.07), y(0.47)), (x(-0.07), y(0.47)),
            (x(-0.066), y(0.40))]
    add((TORSO, ch.skin, body))
    add((TOP, ch.top, [(x(-0.085), y(0.27)), (x(-0.03), y(0.262)), (x(0.0), y(0.31)), (x(0.03), y(0.262)),
                       (x(0.085), y(0.27)), (x(0.066), y(0.40)), (x(0.07), y(0.47)), (x(-0.07), y(0.47)),
                       (x(-0.066), y(0.40))]))
    # arms with sleeves and hands
    for s in (-1, 1):
        raised = s == 1 and rng.random() < 0.3
        ang = math.radians(float(rng.uniform(120, 150)) if raised else float(rng.uniform(8, 30)))  # from straight down
        sh = (x(s * 0.082), y(0.29))
        length = 0.23 * u
        wr = (sh[0] + s * length * math.sin(ang), sh[1] + length * math.cos(ang))
        add((ARMS, ch.skin, _limb(sh, wr, 0.022 * u, 0.016 * u)))
        add((TOP, ch.top, _limb(sh, _along(sh, wr, 0.85 if ch.long_sleeves else 0.35), 0.029 * u, 0.022 * u)))
        add((HANDS, ch.skin, _ell(*_along(sh, wr, 1.07), 0.02 * u, 0.022 * u)))
    if ch.accessory == "choker":
        add((ACC, ch.accessory_colour, [(x(-0.024), y(0.225)), (x(0.024), y(0.225)), (x(0.024), y(0.24)),
                                        (x(-0.024), y(0.24))]))
    # head: face, hair, ears, bangs, eyes, mouth, accessory
    face = _ell(hx, hy, hrx, hry, math.pi, 2 * math.pi, 16) + _ell(hx, hy, hrx, hry * 1.1, 0, math.pi, 16)
    add((FACE, ch.skin, face))
    add((HAIR, ch.hair, _ell(hx, hy - 0.01 * u, hrx * 1.12, hry * 1.05, math.pi * 0.93, math.pi * 2.07, 28)))
    for s in (-1, 1):
        add((EARS, _mix(ch.skin, (200, 120, 110), 0.2), _ell(hx + s * hrx * 0.98, y(0.15), 0.014 * u, 0.02 * u)))
        add((HAIR, ch.hair, [(hx + s * hrx * 1.12, hy - 0.01 * u), (hx + s * hrx * 1.0, hy - 0.02 * u),
                             (hx + s * hrx * 0.95, y(0.215)), (hx + s * hrx * 1.1, y(0.25))]))
    tips = int(rng.integers(4, 7))
    bangs: list[Point] = [(hx - hrx * 1.1, hy - 0.012 * u)]
    for i in range(tips):
        a, b = hx - hrx + 2 * hrx * i / tips, hx - hrx + 2 * hrx * (i + 1) / tips
        bangs += [(a, hy - 0.03 * u), ((a + b) / 2, hy + float(rng.uniform(-0.005, 0.015)) * u)]
    bangs += [(hx + hrx, hy - 0.03 * u), (hx + hrx * 1.1, hy - 0.012 * u), (hx + hrx * 0.9, hy - 0.07 * u),
              (hx - hrx * 0.9, hy - 0.07 * u)]
    add((HAIR, ch.hair, bangs, False))  # one piece with the cap: no ink across the forehead
    add((HAIR, _mix(ch.hair, (255, 255, 255), 0.45), _ell(hx - 0.02 * u, hy - 0.055 * u, 0.03 * u, 0.006 * u),
         False))
    for s in (-1, 1):
        ex, ey = hx + s * 0.03 * u, y(0.155)
        add((EYES, (250, 250, 252), _ell(ex, ey, 0.016 * u, 0.019 * u)))
        add((EYES, ch.eyes, _ell(ex, ey + 0.002 * u, 0.011 * u, 0.016 * u)))
        add((EYES, _mix(ch.eyes, (0, 0, 0), 0.6), _ell(ex, ey + 0.003 * u, 0.005 * u, 0.008 * u)))
        add((EYES, (255, 255, 255), _ell(ex - 0.004 * u, ey - 0.006 * u, 0.003 * u, 0.003 * u), False))
        add((EYES, (40, 30, 40), [(ex - 0.018 * u, ey - 0.015 * u), (ex + 0.018 * u, ey - 0.017 * u),
                                  (ex + 0.018 * u, ey - 0.012 * u), (ex - 0.018 * u, ey - 0.011 * u)]))
        add((FACE, _mix(ch.skin, (255, 120, 140), 0.35), _ell(hx + s * 0.04 * u, y(0.178), 0.01 * u, 0.004 * u),
             False))
    add((FACE, (180, 70, 80), _ell(hx, y(0.19), 0.008 * u, 0.003 * u), False))
    if ch.accessory == "bow":
        bx, by = hx + 0.045 * u, hy - 0.07 * u
        for s in (-1, 1):
            add((ACC, ch.accessory_colour, [(bx, by), (bx + s * 0.03 * u, by - 0.018 * u),
                                            (bx + s * 0.03 * u, by + 0.018 * u)]))
        add((ACC, _mix(ch.accessory_colour, (0, 0, 0), 0.2), _ell(bx, by, 0.007 * u, 0.007 * u)))
    elif ch.accessory == "hairband":
        add((ACC, ch.accessory_colour, _ell(hx, hy - 0.01 * u, hrx * 1.13, hry * 1.06, math.pi * 1.1, math.pi * 1.9)
             + _ell(hx, hy - 0.01 * u, hrx * 1.0, hry * 0.94, math.pi * 1.9, math.pi * 1.1)))
    elif ch.accessory == "hat":
        add((ACC, ch.accessory_colour, _ell(hx + 0.01 * u, hy - 0.075 * u, hrx * 1.05, 0.03 * u)))
        add((ACC, _mix(ch.accessory_colour, (0, 0, 0), 0.25), _ell(hx + 0.035 * u, hy - 0.1 * u, 0.006 * u,
                                                                     0.006 * u)))
    return out


def generate_figure(seed: int, index: int, *, size: int = 256, n_characters: int = 4
                    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], str]:
    """Figure ``index`` of dataset ``seed``: ``(image, mask, character id)``.

    ``image`` is HxWx3 uint8 RGB and ``mask`` HxW uint8 ids of ``anime-character-parsing-13`` (0..12), with
    (W, H) = :func:`figure_size_wh` (``size``); the character is ``characters(seed, n_characters)[index %
    n_characters]``.
    """
    if seed < 0 or index < 0 or size < 64:
        raise ValueError(f"seed and index must be >= 0 and size >= 64, got {seed}, {index}, {size}")
    ch = characters(seed, n_characters)[index % n_characters]
    rng = np.random.default_rng([seed, index, 31])
    w, h = figure_size_wh(size)
    mask_img, colour_img, shape_img = Image.new("L", (w, h)), Image.new("RGB", (w, h)), Image.new("L", (w, h))
    # backdrop: a pastel gradient and a floor
    top_c = _mix((255, 255, 255), _CLOTH[int(rng.integers(len(_CLOTH)))], 0.25)
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    back = np.asarray(top_c, np.float32) * (1 - 0.25 * ramp) + np.float32(20) * ramp
    back[int(h * 0.9):] *= np.float32(0.9)
    colour_img.paste(Image.fromarray(np.broadcast_to(back, (h, w, 3)).astype(np.uint8)))
    draw_m, draw_c, draw_s = ImageDraw.Draw(mask_img), ImageDraw.Draw(colour_img), ImageDraw.Draw(shape_img)
    k = 0
    for class_id, colour, poly, *ink in _shapes(ch, rng, w, h):
        pts = [(round(px), round(py)) for px, py in poly]
        draw_m.polygon(pts, fill=class_id)
        draw_c.polygon(pts, fill=colour)
        if not ink or ink[0]:  # details keep the index of what they lie on: no ink around them
            k = k % 255 + 1
            draw_s.polygon(pts, fill=k)
    mask = np.asarray(mask_img, dtype=np.uint8).copy()
    image = np.asarray(colour_img, dtype=np.uint8).copy()
    shape = np.asarray(shape_img, dtype=np.uint8)
    # ink: where the painting shape changes (right or below), darken; soft shade lower in each figure
    edge = np.zeros((h, w), bool)
    edge[:, :-1] |= shape[:, :-1] != shape[:, 1:]
    edge[:-1, :] |= shape[:-1, :] != shape[1:, :]
    edge &= (mask > 0) | np.roll(mask > 0, 1, axis=1) | np.roll(mask > 0, 1, axis=0)
    image[edge] = (image[edge].astype(np.uint16) * 2 // 7).astype(np.uint8)
    return image, mask, ch.id


@dataclass(frozen=True)
class FigureRecord:
    """One generated figure as written: ``name`` (file stem), its ``split`` (``train``, ``val``, ``test``), whether
    its label was written (``labelled``; the unlabelled pool and test images have none) and its ``character`` id."""

    name: str
    split: str
    labelled: bool
    character: str


def figure_split(index: int) -> tuple[str, bool]:
    """(split, labelled) of figure ``index``: of every 8, index 7 is test (no label, as in the dataset), 6 val,
    1 and 4 the unlabelled training pool, the rest labelled training figures (with 4 characters, each one has
    a labelled training figure in every 8)."""
    if index % 8 == 7:
        return "test", False
    if index % 8 == 6:
        return "val", True
    return "train", index % 8 not in (1, 4)


def write_figure_data(out: Path, n: int, *, seed: int = 0, size: int = 256, n_characters: int = 4,
                      progress: Callable[[int, int], None] | None = None) -> list[FigureRecord]:
    """Write ``n`` figures to ``out`` in the AnimeCharacterParsing layout (see
    :mod:`animeparse.formats.anime_character_parsing`): ``train_aug/image/<name>.jpg`` (JPEG quality 95) and
    ``train_aug/label/<name>.png`` (L-mode ids of ``anime-character-parsing-13``), ``val/``, ``test/``, the lists
    ``train.txt``, ``unsuper_train.txt``, ``val.txt``, ``labelmap.json`` (so ingest knows the class set) and
    ``characters.csv`` (``image,character`` per figure: the file ``ingest --character-from csv:FILE``
    reads). Names are ``<character>_<index:04d>``.

    Resumable: a figure whose files exist is not drawn again; lists and the CSV are rewritten atomically at the
    end. Calls ``progress(done, n)`` after each figure; returns the records in index order.
    """
    out = Path(out)
    folders = {"train": ("train_aug/image", "train_aug/label"), "val": ("val/image", "val/label"),
               "test": ("test", None)}
    for image_dir, label_dir in folders.values():
        (out / image_dir).mkdir(parents=True, exist_ok=True)
        if label_dir:
            (out / label_dir).mkdir(parents=True, exist_ok=True)
        for leftover in (out / image_dir).glob(f".*{TMP_SUFFIX}"):  # our folder: a killed run's temp files
            leftover.unlink(missing_ok=True)
    ids = characters(seed, n_characters)
    records: list[FigureRecord] = []
    for i in range(n):
        split, labelled = figure_split(i)
        record = FigureRecord(f"{ids[i % n_characters].id}_{i:04d}", split, labelled, ids[i % n_characters].id)
        image_dir, label_dir = folders[split]
        image_path = out / image_dir / f"{record.name}.jpg"
        label_path = out / label_dir / f"{record.name}.png" if labelled and label_dir else None
        if not image_path.exists() or (label_path is not None and not label_path.exists()):
            image, mask, _ = generate_figure(seed, i, size=size, n_characters=n_characters)
            if label_path is not None:  # label first: an image never exists without the label it needs
                atomic_write_bytes(label_path, encode_mask_png(mask))
            atomic_write_bytes(image_path, encode_jpeg(image, quality=95))
        records.append(record)
        if progress is not None:
            progress(i + 1, n)
    lists = {"train.txt": [r.name for r in records if r.split == "train" and r.labelled],
             "unsuper_train.txt": [r.name for r in records if r.split == "train" and not r.labelled],
             "val.txt": [r.name for r in records if r.split == "val"]}
    for list_name, names in lists.items():
        atomic_write_bytes(out / list_name, "".join(f"{name}\n" for name in names).encode())
    atomic_write_bytes(out / "labelmap.json", (json.dumps(load_labelmap(LABELMAP).to_json(), indent=2) + "\n").encode())
    atomic_write_bytes(out / "characters.csv",
                       ("image,character\n" + "".join(f"{r.name}.jpg,{r.character}\n" for r in records)).encode())
    return records
