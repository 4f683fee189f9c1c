"""Colour-coded masks: an image folder + a folder of RGB masks whose colours stand for classes.

Colours are mapped through the label map's colours, or a palette file (``--palette FILE``). A colour that neither
names is never guessed: ingest lists every unknown colour with its pixel count and the masks it appears in.
Folder layouts are those of :mod:`index_folder` (``images/`` + ``masks/``, ...).

Palette file: JSON, either a label map (its classes' colours) or an object ``{"hair": [255, 255, 85],
"skin": "#ff0000", "17": [..], "neck": [[0, 85, 255], "#010203"]}`` whose keys are class names or ids of the
store's label map and whose values are one colour or a list of colours.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import FormatError, LabelMapError
from ..fsutil import read_json
from ..labelmap import LabelMap
from .base import FormatSpec, Item, ReadOptions
from .index_folder import first_mask_mode, folder_pairs, pairs_to_items

__all__ = ["NAME", "FORMAT", "detect", "read", "load_palette"]

NAME = "palette"
# the index-png export in its rgb mode writes what this reads (masks in the label map's colours)
FORMAT = FormatSpec(name=NAME, reads=True, written_by="index-png", written_with=(("palette_mode", "rgb"),))


def detect(src: Path) -> float:
    try:
        if not folder_pairs(src):
            return 0.0
        return 0.9 if first_mask_mode(src) in ("RGB", "RGBA") else 0.1
    except OSError:
        return 0.0


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per image; colour masks are decoded by the ingest workers (palette in ``options``)."""
    return pairs_to_items(src, "palette")


def load_palette(path: Path, labelmap: LabelMap) -> dict[tuple[int, int, int], int]:
    """Read a palette file into {(r, g, b): id of ``labelmap``}; refuse unknown classes and clashing colours."""
    data = read_json(Path(path), error=FormatError, what="a palette")
    if isinstance(data, dict) and "classes" in data:
        if not isinstance(data["classes"], list):
            raise FormatError(f"palette has 'classes' (as a label map does) but it is of type "
                              f"{type(data['classes']).__name__}, not a list of classes", path=path)
        data = {str(c.get("name")): c.get("color") for c in data["classes"] if isinstance(c, dict)}
    if not isinstance(data, dict):
        raise FormatError('palette must be a JSON object {"class name or id": [r, g, b], ...} or a label map',
                          path=path)
    out: dict[tuple[int, int, int], int] = {}
    for key, colour in data.items():
        class_id = int(key) if key.isdigit() else None
        if class_id is None:
            if key not in labelmap:
                raise LabelMapError(f"palette names class {key!r}, which is not in the label map {labelmap.name}",
                                    path=path)
            class_id = labelmap.id_of(key)
        elif class_id != 255 and class_id not in labelmap:
            raise LabelMapError(f"palette names id {class_id}, which is not in the label map {labelmap.name}",
                                path=path)
        several = isinstance(colour, list) and colour and isinstance(colour[0], (list, str))
        for one in colour if several else [colour]:
            rgb = _rgb(one, path=path, key=key)
            if rgb in out and out[rgb] != class_id:
                raise FormatError(f"colour {rgb} is given for two classes ({out[rgb]} and {class_id})", path=path)
            out[rgb] = class_id
    return out


def _rgb(value: object, *, path: Path, key: str) -> tuple[int, int, int]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
        except ValueError:
            pass
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return (value[0], value[1], value[2])
    raise FormatError(f"colour for {key!r} must be [r, g, b] (0..255) or '#rrggbb', got {value!r}", path=path)

