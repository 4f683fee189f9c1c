"""Glyphs for manga pages: vertical speech text and outlined onomatopoeia, rendered binary (no anti-aliasing) so
the page mask holds exactly the inked pixels.

The default font is IPAexGothic (``ipaexg.ttf``, IPA Font License v1.0), which the PyPI package
``japanize-matplotlib`` installs (``pip install 'animeparse[pages]'``); it is found on disk, never downloaded, and
the package is not imported (importing it would restyle matplotlib). ``--font PATH`` takes any TrueType/OpenType
file, e.g. DejaVuSans.ttf from Debian's fonts-dejavu-core (Latin only: kana would be missing boxes).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import AnimeparseError, MissingDependencyError

__all__ = ["PageFont", "load_font", "default_font_path", "vertical_text", "onomatopoeia", "LINES", "SOUNDS"]

# short lines for the balloons (written for this module): kana and common kanji
LINES = ("なにっ！", "まさか…", "いくぞ！", "ありがとう", "だいじょうぶ？", "行くぞ", "本当に？", "待って！",
         "どうして", "そうだね", "おはよう", "やめろ！", "信じてる", "わからない", "ここだ", "逃げて！", "うそ…",
         "今日は雨", "また明日", "気をつけて", "見つけた", "まだだ！", "いいよ", "静かに")
# onomatopoeia (katakana), drawn large over the art
SOUNDS = ("ドドド", "ゴゴゴ", "バン", "ザッ", "ドン", "ガシャ", "ピタ", "ズキ", "バタン", "ゴオオ", "キラ", "ダッ")
# vertical forms: a long-vowel bar and an ellipsis turn with the column
_VERTICAL = str.maketrans({"ー": "｜", "…": "︙"})
_PACKAGE = "japanize_matplotlib"


@dataclass(frozen=True)
class PageFont:
    """A font file and its SHA-256 (recorded with every page)."""

    path: str
    sha256: str

    def at(self, size: int) -> Any:
        from PIL import ImageFont

        return ImageFont.truetype(self.path, size)


def default_font_path() -> Path:
    """IPAexGothic from the installed ``japanize-matplotlib`` package. Raises MissingDependencyError naming the
    package when it is not installed."""
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / "fonts" / "ipaexg.ttf"
        if path.is_file():
            return path
    # the message names the package (japanize-matplotlib ships IPAexGothic) and the extra; --font PATH also works
    raise MissingDependencyError("japanize-matplotlib", "pages")


def load_font(path: str | Path | None = None) -> PageFont:
    """The font to draw with: ``path`` or the default (:func:`default_font_path`). Raises AnimeparseError when the
    file cannot be read or is not a font FreeType can open."""
    font_path = Path(path) if path is not None else default_font_path()
    try:
        data = font_path.read_bytes()
    except OSError as err:
        raise AnimeparseError(f"font cannot be read ({err.strerror or err}); pass --font PATH to a .ttf/.otf file",
                              path=font_path) from err
    from PIL import ImageFont

    try:
        ImageFont.truetype(str(font_path), 12)
    except OSError as err:
        raise AnimeparseError(f"not a font FreeType can open ({err}); pass --font PATH to a .ttf/.otf file",
                              path=font_path) from err
    return PageFont(str(font_path.absolute()), hashlib.sha256(data).hexdigest())


def _binary(image: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(image, dtype=np.uint8) >= 128


def vertical_text(font: PageFont, columns: list[str], *, size: int) -> npt.NDArray[np.bool_]:
    """Columns of text set top to bottom, the first column rightmost (Japanese vertical writing), one glyph per
    ``size`` x ``size`` cell with a 1/8 gap between columns -> HxW bool glyph ink (H = longest column x size)."""
    from PIL import Image, ImageDraw

    cols = [c.translate(_VERTICAL) for c in columns]
    step = size + max(1, size // 8)
    w = step * len(cols) - (step - size)
    h = size * max(len(c) for c in cols)
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    face = font.at(size)
    for k, col in enumerate(cols):
        cx = w - k * step - size / 2
        for j, ch in enumerate(col):
            draw.text((cx, j * size + size / 2), ch, font=face, fill=255, anchor="mm")
    return _binary(canvas)


def onomatopoeia(font: PageFont, word: str, *, size: int, angle: float, stroke: int, vertical: bool
                 ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """A sound word in large glyphs rotated by ``angle`` degrees (counter-clockwise) -> (fill, outline) HxW bool:
    ``fill`` the glyph ink, ``outline`` the glyphs grown by ``stroke`` px (a superset of ``fill``)."""
    from PIL import Image, ImageDraw

    chars = word.translate(_VERTICAL) if vertical else word
    n = len(chars)
    pad = stroke + 2
    w, h = (size + 2 * pad, n * size + 2 * pad) if vertical else (n * size + 2 * pad, size + 2 * pad)
    face = font.at(size)
    layers = []
    for width in (0, stroke):
        canvas = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        for j, ch in enumerate(chars):
            xy = (w / 2, pad + j * size + size / 2) if vertical else (pad + j * size + size / 2, h / 2)
            draw.text(xy, ch, font=face, fill=255, anchor="mm", stroke_width=width, stroke_fill=255)
        layers.append(canvas.rotate(angle, resample=Image.Resampling.NEAREST, expand=True))
    fill, outline = _binary(layers[0]), _binary(layers[1])
    return fill, outline | fill
