"""Manga pages composed from translated samples (``animeparse pseudo page``): panel layouts, character crops,
frames, speech balloons with vertical text, onomatopoeia, and page masks in the bundled ``manga-page`` label map.

Modules: :mod:`.layout` (panels), :mod:`.balloons` (balloon shapes and tails), :mod:`.text` (the font, vertical
text, sound words), :mod:`.compose` (one page and its masks), :mod:`.run` (the store run: resume, lineage, the
parts store), :mod:`.sheet` (contact sheet with a legend). See docs/pseudo.md, "Manga pages".
"""

from __future__ import annotations

from .compose import ComposedPage, PageConfig, SourceArt, compose_page, nearest_crop
from .run import PagesResult, make_pages, page_lut, parts_path
from .sheet import PageSheetResult, page_sheet
from .text import PageFont, default_font_path, load_font

__all__ = ["PageConfig", "PagesResult", "ComposedPage", "SourceArt", "PageFont", "PageSheetResult", "make_pages",
           "compose_page", "nearest_crop", "page_lut", "parts_path", "page_sheet", "load_font",
           "default_font_path"]
