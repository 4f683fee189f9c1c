"""Contact sheets: a grid of image tiles with column titles, for a quick look at translated samples; masks with
class outlines, and a legend strip of colour chips with class names (the seed maps' near-identical yellows are
told apart by name and outline, see docs/view.md, "Colours")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from ..colours import ignore_colour
from ..labelmap import LabelMap

__all__ = ["compose_sheet", "colorize_mask", "legend", "outline_classes"]

_GAP = 4
_TITLE_H = 18
_EMPTY = (225, 225, 225)


def colorize_mask(mask_hw: npt.NDArray[np.uint8], colors: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """HxW uint8 class ids + 256x3 uint8 colours (``LabelMap.colors_array``) -> HxWx3 uint8 RGB."""
    return colors[mask_hw]


def outline_classes(rgb: npt.NDArray[np.uint8], mask_hw: npt.NDArray[np.uint8], *, width_px: int = 1,
                    color: tuple[int, int, int] = (0, 0, 0)) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 ``rgb`` with a ``width_px`` line in ``color`` where ``mask_hw`` (HxW ids) changes class, so
    regions of near-identical colours stay apart (a copy; ``rgb`` is not changed)."""
    edge = np.zeros(mask_hw.shape, bool)
    edge[:, 1:] |= mask_hw[:, 1:] != mask_hw[:, :-1]
    edge[1:, :] |= mask_hw[1:, :] != mask_hw[:-1, :]
    if width_px > 1:
        import cv2

        edge = cv2.dilate(edge.astype(np.uint8), np.ones((width_px, width_px), np.uint8)).astype(bool)
    out = rgb.copy()
    out[edge] = color
    return out


def _fit(image: npt.NDArray[np.uint8] | None, tile: int, note: str) -> Image.Image:
    """An image scaled into a tile x tile cell (aspect kept, white margins); a grey cell with ``note`` for None."""
    cell = Image.new("RGB", (tile, tile), (255, 255, 255) if image is not None else _EMPTY)
    if image is None:
        ImageDraw.Draw(cell).text((6, tile // 2 - 6), note, fill=(90, 90, 90))
        return cell
    h, w = image.shape[:2]
    k = tile / max(h, w)
    size_wh = (max(1, round(w * k)), max(1, round(h * k)))
    # LANCZOS would ring on screentone; BOX averages dots into the grey a reader sees at that scale
    im = Image.fromarray(image).resize(size_wh, Image.Resampling.BOX)
    cell.paste(im, ((tile - size_wh[0]) // 2, (tile - size_wh[1]) // 2))
    return cell


def compose_sheet(rows: Sequence[Sequence[npt.NDArray[np.uint8] | None]], titles: Sequence[str], *, tile: int = 256,
                  empty_note: str = "n/a") -> npt.NDArray[np.uint8]:
    """Rows of HxWx3 uint8 RGB images (None = empty cell) under a title row -> one HxWx3 uint8 RGB sheet.

    Every row is padded to ``len(titles)`` cells; each cell is ``tile`` pixels square."""
    cols = len(titles)
    width = cols * tile + (cols + 1) * _GAP
    height = _TITLE_H + len(rows) * (tile + _GAP) + _GAP
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(titles):
        draw.text((_GAP + c * (tile + _GAP) + 4, 3), title, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        cells = list(row)[:cols] + [None] * max(0, cols - len(row))
        for c, image in enumerate(cells):
            xy = (_GAP + c * (tile + _GAP), _TITLE_H + r * (tile + _GAP))
            sheet.paste(_fit(image, tile, empty_note if c < len(row) else ""), xy)
    return np.asarray(sheet, dtype=np.uint8).copy()


def legend(maps: Sequence[tuple[str, LabelMap, set[int] | None]], *, width: int,
           ignore_rgb: tuple[int, int, int] | None = None) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 legend strip: per (title, label map, ids to show or None for all) a row of colour chips
    with class names, and an ``ignore`` chip (``ignore_rgb``, default :func:`animeparse.colours.ignore_colour`;
    left out when ``ids`` is a set without the ignore index)."""

    chip, row_h, gap = 14, 20, 6
    # (title or None, chips) per line: a title line, then chips left to right, wrapped at the sheet width
    lines: list[tuple[str | None, list[tuple[tuple[int, int, int], str]]]] = []
    for title, lm, ids in maps:
        entries = [((int(c.color[0]), int(c.color[1]), int(c.color[2])), f"{c.id} {c.name}") for c in lm.classes
                   if ids is None or c.id in ids]
        if ids is None or lm.ignore_index in ids:
            entries.append((ignore_rgb or ignore_colour([c.color for c in lm.classes]), f"{lm.ignore_index} ignore"))
        lines.append((title, []))
        x = 8
        for entry in entries:
            w = _chip_width(entry[1], chip)
            if x + w > width and lines[-1][1]:
                lines.append((None, []))
                x = 8
            lines[-1][1].append(entry)
            x += w
    titles = sum(1 for t, _ in lines if t)
    im = Image.new("RGB", (width, 2 * gap + (len(lines) + titles) * row_h), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    y = gap
    for heading, entries in lines:
        if heading:
            draw.text((8, y + 3), heading, fill=(0, 0, 0))
            y += row_h
        x = 8
        for color, name in entries:
            draw.rectangle([x, y + 2, x + chip, y + 2 + chip], fill=color, outline=(0, 0, 0))
            draw.text((x + chip + 6, y + 3), name, fill=(0, 0, 0))
            x += _chip_width(name, chip)
        y += row_h
    return np.asarray(im, dtype=np.uint8).copy()


def _chip_width(name: str, chip: int) -> int:
    return chip + 6 + 7 * len(name) + 14  # PIL's default bitmap font is ~6 px per character
