"""Label maps: id <-> name <-> colour, overlap priority, left/right flip partners, ignore index; remaps between maps.

A label map is locked into every dataset (``labelmap.json`` beside the manifest) and identified by its name, version
and the SHA-256 of its canonical JSON, so category ids never drift between tools.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import LabelMapError
from .fsutil import read_json
from .resources import schemas_dir, validate_json

__all__ = [
    "IGNORE_INDEX",
    "LabelClass",
    "LabelMap",
    "Remap",
    "builtin_labelmaps",
    "load_labelmap",
    "load_remap",
]

IGNORE_INDEX = 255


@dataclass(frozen=True)
class LabelClass:
    """One class. ``color`` is (r, g, b) 0..255; higher ``priority`` wins where sources overlap."""

    id: int
    name: str
    color: tuple[int, int, int]
    priority: int = 0
    flip: str | None = None
    supercategory: str = ""
    max_parts: int | None = None  # pieces of this class one subject has (an eye: 1); None = any number
    aliases: tuple[str, ...] = ()  # other spellings (a dataset author's), accepted by name lookups


@dataclass(frozen=True)
class LabelMap:
    """An ordered set of classes with unique ids, names and colours. Id 255 is reserved for ignore.

    Build one with :func:`load_labelmap` (bundled name or JSON path) or :meth:`from_classes`; both validate.
    """

    name: str
    version: int
    classes: tuple[LabelClass, ...]
    description: str = ""
    ignore_index: int = IGNORE_INDEX
    _by_id: dict[int, LabelClass] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, LabelClass] = field(init=False, repr=False, compare=False)  # names, then aliases
    _palette: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _valid: npt.NDArray[np.bool_] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.classes})
        by_name = {a: c for c in self.classes for a in c.aliases}
        by_name.update({c.name: c for c in self.classes})  # a name always wins over another class's alias
        object.__setattr__(self, "_by_name", by_name)
        # hot in ingest (every mask): computed once; the map is frozen
        object.__setattr__(self, "_palette", tuple(int(v) for v in self.colors_array().reshape(-1)))
        valid = np.zeros(256, bool)
        valid[[c.id for c in self.classes]] = True
        valid[self.ignore_index] = True
        valid.setflags(write=False)
        object.__setattr__(self, "_valid", valid)

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: Path | str = "<label map>") -> LabelMap:
        """Validate ``data`` (the JSON object) against the schema and the semantic rules; raise LabelMapError."""
        validate_json(data, "labelmap", path=source, error=LabelMapError)
        classes = tuple(
            LabelClass(
                id=int(c["id"]),
                name=str(c["name"]),
                color=(int(c["color"][0]), int(c["color"][1]), int(c["color"][2])),
                priority=int(c.get("priority", 0)),
                flip=c.get("flip"),
                supercategory=str(c.get("supercategory", "")),
                max_parts=None if c.get("max_parts") is None else int(c["max_parts"]),
                aliases=tuple(str(a) for a in c.get("aliases", ())),
            )
            for c in data["classes"]
        )
        _check_classes(classes, source=source)
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            classes=tuple(sorted(classes, key=lambda c: c.id)),
            description=str(data.get("description", "")),
        )

    @classmethod
    def from_classes(cls, names: Iterable[str], *, name: str = "custom", version: int = 1) -> LabelMap:
        """Make a map from class names (``--classes skin,hair``): id 0 is ``background`` unless given first.

        Colours are spread over the hue circle; priorities follow the given order (later names win overlaps).
        """
        names = [n.strip() for n in names if n.strip()]
        if not names:
            raise LabelMapError("no class names given; pass e.g. --classes skin,hair,eyes")
        if names[0] != "background":
            names = ["background", *names]
        import colorsys

        data = {
            "name": name,
            "version": version,
            "description": "made from a class list",
            "ignore_index": IGNORE_INDEX,
            "classes": [
                {
                    "id": i,
                    "name": n,
                    "color": [0, 0, 0]
                    if i == 0
                    else [round(255 * v) for v in colorsys.hsv_to_rgb((i - 1) / (len(names) - 1), 0.8, 0.95)],
                    "priority": i,
                    "flip": _default_partner(n, names),
                }
                for i, n in enumerate(names)
            ],
        }
        return cls.from_json(data, source=f"--classes {','.join(names)}")

    def to_json(self) -> dict[str, Any]:
        """The JSON object form (schema ``labelmap``), classes in id order."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "ignore_index": self.ignore_index,
            "classes": [
                {
                    "id": c.id,
                    "name": c.name,
                    "color": list(c.color),
                    "priority": c.priority,
                    "flip": c.flip,
                    "supercategory": c.supercategory,
                    # only when set, so maps without it keep the SHA-256 they always had
                    **({"max_parts": c.max_parts} if c.max_parts is not None else {}),
                    **({"aliases": list(c.aliases)} if c.aliases else {}),
                }
                for c in self.classes
            ],
        }

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys, no whitespace): the map's identity in dataset cards."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- lookups ------------------------------------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.classes]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, key: object) -> bool:
        """True for a class id, name or alias."""
        return key in self._by_id or key in self._by_name

    def __getitem__(self, key: int | str) -> LabelClass:
        """Class by id, name or alias (``assesories`` -> ``accessories``); LabelMapError lists the valid keys when
        missing."""
        found = self._by_id.get(key) if isinstance(key, int) else self._by_name.get(key)
        if found is None:
            raise LabelMapError(
                f"label map {self.name!r} has no class {key!r}; it has: "
                + ", ".join(f"{c.id} {c.name}" for c in self.classes)
            )
        return found

    def id_of(self, name: str) -> int:
        return self[name].id

    def name_of(self, class_id: int) -> str:
        return self[int(class_id)].name

    # -- arrays -------------------------------------------------------------------------------------------------
    def colors_array(self) -> npt.NDArray[np.uint8]:
        """256x3 uint8 RGB, row = id; unused ids are black, the ignore index is white."""
        out = np.zeros((256, 3), np.uint8)
        out[self.ignore_index] = 255
        for c in self.classes:
            out[c.id] = c.color
        return out

    def palette(self) -> list[int]:
        """A 768-entry flat palette for PIL P-mode images."""
        return list(self._palette)

    def valid_lut(self) -> npt.NDArray[np.bool_]:
        """256 bools (read-only): True for the map's ids and the ignore index."""
        return self._valid

    def flip_lut(self) -> npt.NDArray[np.uint8]:
        """256 uint8 lookup swapping each class with its flip partner (use after a horizontal flip)."""
        lut = np.arange(256, dtype=np.uint8)
        for c in self.classes:
            if c.flip:
                lut[c.id] = self[c.flip].id
        return lut

    def priority_lut(self) -> npt.NDArray[np.int64]:
        """256 int64 priorities by id (ids not in the map get the lowest)."""
        lut = np.full(256, np.iinfo(np.int64).min // 2, np.int64)
        for c in self.classes:
            lut[c.id] = c.priority
        return lut

    def by_priority(self) -> list[LabelClass]:
        """Classes from lowest to highest priority (paint in this order so the highest ends on top); ties by id."""
        return sorted(self.classes, key=lambda c: (c.priority, c.id))


@dataclass(frozen=True)
class Remap:
    """A table from one map's ids to another's; apply with :meth:`apply` to an HxW uint8 mask."""

    source: str
    target: str
    table: Mapping[int, int]

    def __post_init__(self) -> None:
        # the table indexes a 256-entry lookup and writes uint8: an id outside 0..255 would crash or wrap silently
        bad = sorted(f"{k!r}: {v!r}" for k, v in self.table.items() if not (_is_id(k) and _is_id(v)))
        if bad:
            raise LabelMapError(f"remap {self.source} -> {self.target}: entries {', '.join(bad)} are not mask ids; "
                                "keys and values must be ids 0..255")

    def lut(self) -> npt.NDArray[np.int16]:
        """256 int16; -1 marks ids the table does not cover (255 maps to 255 unless listed)."""
        lut = np.full(256, -1, np.int16)
        lut[IGNORE_INDEX] = IGNORE_INDEX
        for k, v in self.table.items():
            lut[int(k)] = int(v)
        return lut

    def apply(self, mask_hw: npt.NDArray[np.uint8], *, path: Path | str | None = None) -> npt.NDArray[np.uint8]:
        """Remap an HxW uint8 mask; raise LabelMapError naming the ids the table does not cover."""
        mask_hw = np.asarray(mask_hw)
        if mask_hw.dtype != np.uint8:  # a lookup with other ints would wrap (-1 reads entry 255) or overrun
            if mask_hw.dtype.kind not in "iu" or (mask_hw.size and not 0 <= mask_hw.min() <= mask_hw.max() <= 255):
                raise LabelMapError(f"remap {self.source} -> {self.target} needs a mask of ids 0..255, got "
                                    f"{mask_hw.dtype} values", path=path)
            mask_hw = mask_hw.astype(np.uint8)
        lut = self.lut()
        out = lut[mask_hw]
        if (out < 0).any():
            missing = sorted(int(v) for v in np.unique(mask_hw[out < 0]))
            raise LabelMapError(
                f"ids {missing} have no entry in the remap {self.source} -> {self.target}; add them to the table",
                path=path,
            )
        return out.astype(np.uint8)


def builtin_labelmaps() -> dict[str, Path]:
    """Bundled label maps by name -> JSON path."""
    folder = schemas_dir() / "labelmaps"
    return {p.name[: -len(".json")]: p for p in sorted(folder.glob("*.json")) if ".to." not in p.name}


def load_labelmap(name_or_path: str | Path) -> LabelMap:
    """Load a bundled map by name (``danbooru-parsing``) or a user's JSON file; raise LabelMapError with the fix."""
    builtin = builtin_labelmaps()
    if isinstance(name_or_path, str) and name_or_path in builtin:
        path = builtin[name_or_path]
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise LabelMapError(
                f"no label map {str(name_or_path)!r}: not a bundled name ({', '.join(builtin)}) nor a JSON file",
                path=path,
            )
    return LabelMap.from_json(_read_json(path), source=path)


def load_remap(source: str, target: str) -> Remap:
    """Load the bundled remap table ``<source>.to.<target>.json``, or a user's remap JSON if ``source`` is a path."""
    path = schemas_dir() / "labelmaps" / f"{source}.to.{target}.json"
    if not path.is_file():
        path = Path(source)
        if not path.is_file():
            raise LabelMapError(f"no remap table from {source!r} to {target!r}; write one following remap.schema.json")
    data = _read_json(path)
    validate_json(data, "remap", path=path, error=LabelMapError)
    try:
        return Remap(source=data["from"], target=data["to"], table={int(k): int(v) for k, v in data["table"].items()})
    except LabelMapError as err:
        raise LabelMapError(str(err), path=path) from err


def _is_id(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(0 <= value <= 255)


def _read_json(path: Path) -> Any:
    return read_json(path, error=LabelMapError, what="a label map")


def _default_partner(name: str, names: list[str]) -> str | None:
    for a, b in (("l_", "r_"), ("r_", "l_"), ("left_", "right_"), ("right_", "left_")):
        if name.startswith(a) and b + name[len(a) :] in names:
            return b + name[len(a) :]
    return None


def _check_classes(classes: tuple[LabelClass, ...], *, source: Path | str) -> None:
    """Rules the JSON Schema cannot say: unique ids/names/colours, aliases that name no other class, symmetric flip
    partners, a background at 0."""
    problems: list[str] = []
    owner: dict[str, str] = {c.name: c.name for c in classes}
    for c in classes:
        for alias in c.aliases:
            if owner.setdefault(alias, c.name) != c.name:
                problems.append(f"alias {alias!r} of class {c.name!r} is already {owner[alias]!r}'s name or alias")
    for attr in ("id", "name", "color"):
        seen: dict[Any, int] = {}
        for c in classes:
            seen[getattr(c, attr)] = seen.get(getattr(c, attr), 0) + 1
        dupes = [k for k, n in seen.items() if n > 1]
        if dupes:
            problems.append(f"duplicate {attr}s {dupes}")
    by_name = {c.name: c for c in classes}
    for c in classes:
        if c.flip is None:
            continue
        partner = by_name.get(c.flip)
        if partner is None:
            problems.append(f"class {c.name!r} has flip partner {c.flip!r}, which is not a class")
        elif partner.flip != c.name:
            problems.append(
                f"flip partners must be mutual: {c.name!r} -> {c.flip!r} but {c.flip!r} -> {partner.flip!r}")
    if 0 not in {c.id for c in classes}:
        problems.append("no class with id 0 (background)")
    if problems:
        raise LabelMapError("invalid label map: " + "; ".join(problems), path=source)
