"""The dataset card (``animeparse.json``): name, locked label map identity, left/right convention, creator."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..fsutil import atomic_write_json
from ..resources import validate_json

__all__ = ["CARD_NAME", "LABELMAP_NAME", "FORMAT_VERSION", "DatasetCard", "read_card", "write_card"]

CARD_NAME = "animeparse.json"
LABELMAP_NAME = "labelmap.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DatasetCard:
    """What a store is. ``lr_convention``: ``subject`` (l_eye is the depicted person's left eye, on the image
    right in a frontal view) or ``image`` (l_ parts on the image left)."""

    name: str
    labelmap: dict[str, Any]
    lr_convention: str = "subject"
    kind: str = "face"
    description: str = ""
    parent: str | None = None
    created_by: str = ""
    created_at: str = ""
    format: str = "animeparse-store"
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data


def stores_below(root: Path) -> list[Path]:
    """The stores one level below ``root`` (sub-folders with a dataset card), sorted; [] when ``root`` is a store
    itself or cannot be listed. ``animeparse demo`` writes its store to ``DIR/store``: ``info DIR`` finds it."""
    if (root / CARD_NAME).exists():
        return []
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and (p / CARD_NAME).is_file())
    except OSError:
        return []


def read_card(root: Path) -> DatasetCard:
    path = root / CARD_NAME
    if not path.exists():
        below = stores_below(root)
        if below:
            raise StoreError(f"{root} is not an animeparse store but holds "
                             f"{'one' if len(below) == 1 else len(below)}: {', '.join(map(str, below))}; pass that "
                             f"folder (e.g. animeparse info {below[0]})", path=root)
        raise StoreError(
            f"{root} is not an animeparse store (no {CARD_NAME}); create one with: animeparse init {root}", path=root
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:  # a folder in its place, no permission, an I/O error
        raise StoreError(f"dataset card cannot be read ({err.strerror or err}); restore it from a backup",
                         path=path) from err
    except UnicodeDecodeError as err:
        raise StoreError(f"dataset card is not UTF-8 text ({err.reason} at byte {err.start}); restore it from a "
                         "backup", path=path) from err
    except json.JSONDecodeError as err:
        raise StoreError(f"dataset card is not valid JSON ({err}); restore it from a backup", path=path) from err
    except RecursionError as err:  # json's C decoder recurses per nesting level
        raise StoreError("dataset card is nested too deeply to be a card; restore it from a backup",
                         path=path) from err
    validate_json(data, "dataset-card", path=path, error=StoreError)
    if data["format_version"] > FORMAT_VERSION:
        raise StoreError(
            f"store format version {data['format_version']} is newer than this animeparse reads ({FORMAT_VERSION}); "
            "upgrade animeparse",
            path=path,
        )
    data.pop("$schema", None)
    return DatasetCard(**data)


def write_card(root: Path, card: DatasetCard) -> None:
    data = card.to_json()
    validate_json(data, "dataset-card", path=root / CARD_NAME, error=StoreError)
    atomic_write_json(root / CARD_NAME, data)
