"""One manga page from translated samples: panels, character art, frames, onomatopoeia, balloons and text, with
its ``manga-page`` mask and the carried face-level ids, all painted in one order so each mask pixel is exactly
what was drawn last there.

Paint order (later wins, in the pixels and in the mask): panel art (body / face / background from the source
mask), frames, onomatopoeia, balloons, balloon text. Frames, balloons, text and onomatopoeia are binary (pure
black or white, no anti-aliasing), so the mask can be checked against the page's pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .balloons import balloon_shape
from .layout import Panel, make_layout, panel_mask
from .text import LINES, SOUNDS, PageFont, onomatopoeia, vertical_text

__all__ = ["PageConfig", "SourceArt", "ComposedPage", "compose_page", "nearest_crop", "crop_for", "panel_parts",
           "BACKGROUND", "FRAME", "BODY", "FACE", "BALLOON", "TEXT", "ONOMATOPOEIA", "IGNORE"]

# the bundled manga-page label map's ids
BACKGROUND, FRAME, BODY, FACE, BALLOON, TEXT, ONOMATOPOEIA, IGNORE = 0, 1, 2, 3, 4, 5, 6, 255


@dataclass(frozen=True)
class PageConfig:
    """Options of ``animeparse pseudo page`` (one field per CLI option).

    ``pages``: pages to have (page indices 0..pages-1; each page depends only on the seed, its index, the
    options and the source store, never on how many are made). ``size_wh``: page size in pixels.
    ``panels``: (min, max) panels per page, within 1..7. ``font``: a TrueType/OpenType file (None:
    IPAexGothic from japanize-matplotlib). ``layer``: the source mask layer that gives body / face / parts.
    ``unlabeled``: what the art of a source without that layer is in the page mask, ``ignore`` (255) or
    ``body``. ``parts_out``: the companion store of carried face-level ids (None: OUT-parts)."""

    pages: int = 8
    seed: int = 0
    size_wh: tuple[int, int] = (724, 1024)
    panels: tuple[int, int] = (2, 7)
    font: str | None = None
    layer: str = "gt"
    unlabeled: str = "ignore"
    parts_out: str | None = None


@dataclass(frozen=True)
class SourceArt:
    """A source sample: ``grey`` HxW uint8 (luma of the stored image), ``mask`` HxW uint8 ids of the source label
    map (None: no mask in the chosen layer), ``page_lut`` 256 uint8 source id -> manga-page id."""

    id: str
    grey: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.uint8] | None
    page_lut: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ComposedPage:
    """``image`` HxWx3 uint8 (R = G = B), ``gt`` HxW uint8 manga-page ids, ``parts`` HxW uint8 source ids where
    labelled art shows (0 where no character part shows, 255 over art from unlabelled sources), ``meta``:
    panels (polygon, frame, source id, crop box in the source, box on the page), balloons, sounds."""

    image: npt.NDArray[np.uint8]
    gt: npt.NDArray[np.uint8]
    parts: npt.NDArray[np.uint8]
    sources: list[str]
    labelled_panels: int
    meta: dict[str, Any] = field(default_factory=dict)


def nearest_crop(mask: npt.NDArray[np.uint8], crop_xyxy: tuple[int, int, int, int], out_wh: tuple[int, int]
                 ) -> npt.NDArray[np.uint8]:
    """Crop ``mask`` to ``crop_xyxy`` (x1/y1 exclusive) and scale it to ``out_wh`` by nearest neighbour: output
    pixel (i, j) takes the crop pixel under its centre, ``floor((i + 0.5) * crop_h / out_h)``, computed in
    integers (``(2i + 1) * crop_h // (2 * out_h)``) so that centres falling exactly on a pixel edge go the same
    way everywhere."""
    x0, y0, x1, y1 = crop_xyxy
    ow, oh = out_wh
    rows = y0 + (2 * np.arange(oh, dtype=np.int64) + 1) * (y1 - y0) // (2 * oh)
    cols = x0 + (2 * np.arange(ow, dtype=np.int64) + 1) * (x1 - x0) // (2 * ow)
    return mask[rows[:, None], cols[None, :]]


def panel_parts(page: ComposedPage, k: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Panel ``k`` of a page as its own sample: (HxWx3 uint8 page pixels in the panel's box, HxW uint8 carried
    source ids there: 255 outside the panel's polygon, where other panels or the gutter show)."""
    info = page.meta["panels"][k]
    x0, y0, x1, y1 = info["box_xyxy"]
    h, w = page.gt.shape
    inside = panel_mask(Panel(tuple((int(p[0]), int(p[1])) for p in info["polygon"])), (h, w))[y0:y1, x0:x1]
    ids = np.where(inside, page.parts[y0:y1, x0:x1], IGNORE).astype(np.uint8)
    return page.image[y0:y1, x0:x1].copy(), ids


def _bbox(m: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def crop_for(rng: np.random.Generator, src: SourceArt, out_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """A crop of the source with the panel's aspect: a close-up round the face, the whole character (the
    foreground's box) or a wider view, kept inside the image."""
    h, w = src.grey.shape
    aspect = out_wh[0] / out_wh[1]
    target = None
    if src.mask is not None:
        classes = src.page_lut[src.mask]
        face, fg = _bbox(classes == FACE), _bbox((classes == FACE) | (classes == BODY))
        r = rng.random()
        if face is not None and r < 0.45:
            target, grow = face, rng.uniform(1.5, 2.6)
        elif fg is not None and r < 0.9:
            target, grow = fg, rng.uniform(1.0, 1.25)
    if target is None:
        target, grow = (0, 0, w, h), rng.uniform(0.55, 1.0)
    cx, cy = (target[0] + target[2]) / 2, (target[1] + target[3]) / 2
    bw, bh = (target[2] - target[0]) * grow, (target[3] - target[1]) * grow
    cw = max(bw, bh * aspect, 8.0)
    ch = cw / aspect
    if cw > w:
        cw, ch = w, w / aspect
    if ch > h:
        cw, ch = h * aspect, h
    icw, ich = max(1, min(w, int(round(cw)))), max(1, min(h, int(round(ch))))
    cx += rng.uniform(-0.08, 0.08) * icw
    x0 = int(np.clip(round(cx - icw / 2), 0, w - icw))
    y0 = int(np.clip(round(cy - ich / 2), 0, h - ich))
    return x0, y0, x0 + icw, y0 + ich


def _speaker(gt: npt.NDArray[np.uint8], box: tuple[int, int, int, int], inside: npt.NDArray[np.bool_]
             ) -> tuple[float, float]:
    """Where a balloon's tail points in a panel: the face's centre, else the body's, else low in the panel."""
    x0, y0, x1, y1 = box
    sub, ins = gt[y0:y1, x0:x1], inside[y0:y1, x0:x1]
    for cls in (FACE, BODY):
        ys, xs = np.nonzero((sub == cls) & ins)
        if ys.size:
            return x0 + float(xs.mean()), y0 + float(ys.mean())
    return (x0 + x1) / 2, y0 + 0.7 * (y1 - y0)


def _paste(dst_hw: tuple[int, int], local: npt.NDArray[np.bool_], xy: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """A page-sized bool mask with ``local`` placed with its top-left corner at ``xy`` (clipped to the page)."""
    out = np.zeros(dst_hw, bool)
    x, y = xy
    h, w = local.shape
    ox0, oy0, ox1, oy1 = max(0, x), max(0, y), min(dst_hw[1], x + w), min(dst_hw[0], y + h)
    if ox1 > ox0 and oy1 > oy0:
        out[oy0:oy1, ox0:ox1] = local[oy0 - y:oy1 - y, ox0 - x:ox1 - x]
    return out


def _art(src: SourceArt, crop: tuple[int, int, int, int], out_wh: tuple[int, int]) -> npt.NDArray[np.uint8]:
    import cv2

    x0, y0, x1, y1 = crop
    piece = src.grey[y0:y1, x0:x1]
    shrink = out_wh[0] < (x1 - x0)
    # BOX-like area averaging keeps screentone as grey when shrinking; bilinear when enlarging
    return np.asarray(cv2.resize(piece, out_wh, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR),
                      dtype=np.uint8)


def compose_page(rng: np.random.Generator, config: PageConfig, *, n_sources: int,
                 load: Callable[[int], SourceArt], font: PageFont) -> ComposedPage:
    """Compose one page with the generator ``rng``; ``load(k)`` gives source ``k`` of ``n_sources`` (the
    composer picks which, without repeats on a page while it can)."""
    import cv2

    w, h = config.size_wh
    shape = (h, w)
    page = np.full(shape, 255, np.uint8)
    gt = np.zeros(shape, np.uint8)
    parts = np.zeros(shape, np.uint8)
    line = max(2, round(h / 400))
    count = int(rng.integers(config.panels[0], config.panels[1] + 1))
    panels = make_layout(rng, size_wh=config.size_wh, panels=count, margin=round(0.045 * h),
                         gutter=int(round(h * rng.uniform(0.010, 0.018))))
    order = rng.permutation(n_sources)
    infos, sources, insides, labelled = [], [], [], 0
    unlabeled = BODY if config.unlabeled == "body" else IGNORE
    for k, panel in enumerate(panels):
        src = load(int(order[k % n_sources]))
        x0, y0, x1, y1 = panel.xyxy
        out_wh = (x1 - x0, y1 - y0)
        crop = crop_for(rng, src, out_wh)
        inside = panel_mask(panel, shape)
        sub = inside[y0:y1, x0:x1]
        page[y0:y1, x0:x1][sub] = _art(src, crop, out_wh)[sub]
        if src.mask is not None:
            ids = nearest_crop(src.mask, crop, out_wh)
            gt[y0:y1, x0:x1][sub] = src.page_lut[ids][sub]
            parts[y0:y1, x0:x1][sub] = ids[sub]
            labelled += 1
        else:
            gt[y0:y1, x0:x1][sub] = unlabeled
            parts[y0:y1, x0:x1][sub] = IGNORE
        insides.append(inside)
        sources.append(src.id)
        infos.append({"polygon": [list(p) for p in panel.polygon], "framed": panel.framed, "source": src.id,
                      "crop_xyxy": list(crop), "box_xyxy": [x0, y0, x1, y1], "labelled": src.mask is not None})
    frame = np.zeros(shape, np.uint8)
    for panel in panels:
        if panel.framed:
            cv2.polylines(frame, [np.array(panel.polygon, np.int32)], True, 1, thickness=line)
    _paint(page, gt, parts, frame.astype(bool), ink=0, cls=FRAME)
    sounds = _sounds(rng, page, gt, parts, font, panels)
    balloons = _balloons(rng, page, gt, parts, font, panels, insides, line)
    image = np.repeat(page[:, :, None], 3, axis=2)
    meta = {"panels": infos, "balloons": balloons, "sounds": sounds}
    return ComposedPage(image, gt, parts, sources, labelled, meta)


def _paint(page: npt.NDArray[np.uint8], gt: npt.NDArray[np.uint8], parts: npt.NDArray[np.uint8],
           where: npt.NDArray[np.bool_], *, ink: int, cls: int) -> None:
    page[where] = ink
    gt[where] = cls
    parts[where] = 0  # nothing of a character shows through page furniture


def _sounds(rng: np.random.Generator, page: npt.NDArray[np.uint8], gt: npt.NDArray[np.uint8],
            parts: npt.NDArray[np.uint8], font: PageFont, panels: list[Panel]) -> list[dict[str, Any]]:
    """0-2 onomatopoeia over the art of random panels: black glyphs in a white outline."""
    h, w = page.shape
    shape = (h, w)
    out = []
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        word = str(SOUNDS[int(rng.integers(len(SOUNDS)))])
        size = int(round(h * rng.uniform(0.055, 0.1)))
        angle = float(rng.uniform(-25, 25))
        vertical = bool(rng.random() < 0.5)
        fill, outline = onomatopoeia(font, word, size=size, angle=angle, stroke=max(2, size // 12),
                                     vertical=vertical)
        x0, y0, x1, y1 = panels[int(rng.integers(len(panels)))].xyxy
        oh, ow = outline.shape
        x = int(rng.integers(x0 - ow // 4, max(x0 - ow // 4 + 1, x1 - 3 * ow // 4)))
        y = int(rng.integers(y0 - oh // 4, max(y0 - oh // 4 + 1, y1 - 3 * oh // 4)))
        x, y = int(np.clip(x, 0, max(0, w - ow))), int(np.clip(y, 0, max(0, h - oh)))
        _paint(page, gt, parts, _paste(shape, outline, (x, y)), ink=255, cls=ONOMATOPOEIA)
        page[_paste(shape, fill, (x, y))] = 0
        out.append({"word": word, "xyxy": [x, y, x + ow, y + oh], "angle": round(angle, 2), "vertical": vertical})
    return out


def _balloons(rng: np.random.Generator, page: npt.NDArray[np.uint8], gt: npt.NDArray[np.uint8],
              parts: npt.NDArray[np.uint8], font: PageFont, panels: list[Panel],
              insides: list[npt.NDArray[np.bool_]], line: int) -> list[dict[str, Any]]:
    """0-2 balloons per panel, high in the panel, not overlapping each other nor a sound word, wholly on the page;
    tails point at the panel's face (else body)."""
    h, w = page.shape
    hw = (h, w)
    taken = gt == ONOMATOPOEIA  # a balloon over a sound word would leave bits of its outline labelled

    out = []
    for panel, inside in zip(panels, insides):
        x0, y0, x1, y1 = panel.xyxy
        speaker = _speaker(gt, (x0, y0, x1, y1), inside)
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            n_cols = int(rng.integers(1, 4))
            size = int(round(h * rng.uniform(0.017, 0.024)))
            max_chars = max(2, int((y1 - y0) * 0.45 / size))
            cols = [str(LINES[int(rng.integers(len(LINES)))])[:max_chars] for _ in range(n_cols)]
            text = vertical_text(font, cols, size=size)
            kind = str(rng.choice(["ellipse", "ellipse", "rounded", "shout"]))
            cx = float(rng.uniform(x0 + 0.2 * (x1 - x0), x1 - 0.2 * (x1 - x0)))
            cy = float(rng.uniform(y0 + 0.15 * (y1 - y0), y0 + 0.45 * (y1 - y0)))
            tail = (speaker[0] - cx, speaker[1] - cy) if rng.random() < 0.85 else None
            balloon, (bcx, bcy) = balloon_shape(rng, (text.shape[1], text.shape[0]), kind=kind, line=line,
                                                tail_to=tail)
            xy = (int(round(cx)) - bcx, int(round(cy)) - bcy)
            sb = _bbox(balloon.shape)
            if sb is None or xy[0] + sb[0] < 0 or xy[1] + sb[1] < 0 or xy[0] + sb[2] > w or xy[1] + sb[3] > h:
                continue  # a balloon is drawn whole or not at all
            shape = _paste(hw, balloon.shape, xy)
            if (shape & taken).any():
                continue
            taken |= shape
            local = np.zeros_like(balloon.shape)
            tx, ty = balloon.text_xy
            local[ty:ty + text.shape[0], tx:tx + text.shape[1]] = text
            glyphs = _paste(hw, local & balloon.inside, xy)
            _paint(page, gt, parts, shape, ink=0, cls=BALLOON)
            page[_paste(hw, balloon.inside, xy)] = 255
            _paint(page, gt, parts, glyphs, ink=0, cls=TEXT)
            bx = _bbox(shape)
            out.append({"kind": kind, "xyxy": list(bx) if bx else None, "text": cols,
                        "tail": tail is not None and kind != "shout"})
    return out
