"""Dataset formats, one module each. ``FORMATS`` is the registry used by ingest, export and auto-detection."""

from types import ModuleType

from . import index_folder

__all__ = ["FORMATS", "detect_format"]

FORMATS: dict[str, ModuleType] = {
    index_folder.NAME: index_folder,
}


def detect_format(src) -> str | None:  # type: ignore[no-untyped-def]
    """The name of the most confident format for ``src``, or None when no reader claims it."""
    scores = {name: mod.detect(src) for name, mod in FORMATS.items()}
    best = max(scores, key=lambda n: scores[n], default=None)
    return best if best is not None and scores[best] > 0 else None
