"""Dataset formats, one module each. ``FORMATS`` is the registry used by ingest, export and auto-detection."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from . import celebamask, coco, images, index_folder, labelme, labelstudio, palette

__all__ = ["FORMATS", "detect_format", "detect_scores"]

FORMATS: dict[str, ModuleType] = {
    index_folder.NAME: index_folder,
    palette.NAME: palette,
    coco.NAME: coco,
    labelme.NAME: labelme,
    labelstudio.NAME: labelstudio,
    celebamask.NAME: celebamask,
    images.NAME: images,
}


def detect_scores(src: Path) -> dict[str, float]:
    """Every reader's confidence that ``src`` is its format (0..1)."""
    return {name: float(mod.detect(Path(src))) for name, mod in FORMATS.items()}


def detect_format(src: Path) -> str | None:
    """The most confident format for ``src`` (ties: registry order), or None when no reader claims it."""
    scores = detect_scores(src)
    best = max(scores, key=lambda n: scores[n], default=None)
    return best if best is not None and scores[best] > 0 else None
