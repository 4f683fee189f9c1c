"""Dataset formats, one module each: detect, read and write of one format, and its descriptor (``FORMAT``).

``FORMATS`` is the one registry; :data:`READERS` (what ingest and auto-detection use) and :data:`WRITERS` (what the
export engine writes) are its views, in its order.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from . import (
    anime_character_parsing,
    celebamask,
    coco,
    danbooru,
    images,
    index_folder,
    index_png,
    labelme,
    labelstudio,
    palette,
    parquet,
    sis_anime,
)
from .base import FormatSpec

__all__ = ["FORMATS", "READERS", "WRITERS", "FormatSpec", "detect_format", "detect_scores"]

# registry order is the readers' tie-break order in detect_format and the order the CLI lists names in
FORMATS: dict[str, ModuleType] = {
    "index-folder": index_folder,
    "palette": palette,
    "coco": coco,
    "danbooru-parsing": danbooru,
    "anime-character-parsing": anime_character_parsing,
    "index-png": index_png,
    "labelme": labelme,
    "labelstudio": labelstudio,
    "celebamask": celebamask,
    "images": images,
    "parquet": parquet,
    "sis-anime": sis_anime,
}
READERS: dict[str, ModuleType] = {name: mod for name, mod in FORMATS.items() if mod.FORMAT.reads}
WRITERS: dict[str, ModuleType] = {name: mod for name, mod in FORMATS.items() if mod.FORMAT.writes}


def detect_scores(src: Path) -> dict[str, float]:
    """Every reader's confidence that ``src`` is its format (0..1)."""
    return {name: float(mod.detect(Path(src))) for name, mod in READERS.items()}


def detect_format(src: Path) -> str | None:
    """The most confident format for ``src`` (ties: registry order), or None when no reader claims it."""
    scores = detect_scores(src)
    best = max(scores, key=lambda n: scores[n], default=None)
    return best if best is not None and scores[best] > 0 else None
