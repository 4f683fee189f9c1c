"""Contact sheets: a grid of image tiles with column titles, for a quick look at translated samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

__all__ = ["compose_sheet", "colorize_mask"]

_GAP = 4
_TITLE_H = 18
_EMPTY = (225, 225, 225)


def colorize_mask(mask_hw: npt.NDArray[np.uint8], colors: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """HxW uint8 class ids + 256x3 uint8 colours (``LabelMap.colors_array``) -> HxWx3 uint8 RGB."""
    return colors[mask_hw]


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
