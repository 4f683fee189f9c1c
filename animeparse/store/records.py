"""Plain records read from the manifest: samples, masks, runs."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..errors import StoreError

__all__ = ["STATUSES", "Sample", "MaskRecord", "RunRecord", "check_character", "check_layer", "is_human_layer"]

STATUSES = ("unlabeled", "prelabeled", "annotated", "reviewed")
HUMAN_LAYERS = ("gt",)
_LAYER = re.compile(r"^[a-z][a-z0-9_-]*(/[A-Za-z0-9_.-]+)?$")


def check_layer(layer: str) -> str:
    """Layer names: ``gt`` or ``kind/run`` (``prelabel/parser-2026...``); letters, digits, ``_ . -``."""
    if not _LAYER.match(layer) or layer.startswith("_") or ".." in layer:
        raise StoreError(f"invalid layer name {layer!r}; use 'gt' or 'KIND/RUN' such as 'prelabel/run1'")
    return layer


MAX_CHARACTER_LEN = 200


def check_character(character: str, *, where: str = "") -> str:
    """A character id as stored: non-empty, no surrounding spaces, no control characters (tabs, newlines), at most
    200 characters. Raises StoreError saying what is wrong (``where``: the file and line it came from)."""
    problem = ""
    if not isinstance(character, str) or not character:
        problem = "is empty"
    elif character == "none":
        problem = "is reserved (character:none selects samples without one)"
    elif character != character.strip():
        problem = "has spaces around it"
    elif any(ord(c) < 32 or ord(c) == 127 for c in character):
        problem = "holds a control character (tab, newline)"
    elif len(character) > MAX_CHARACTER_LEN:
        problem = f"is longer than {MAX_CHARACTER_LEN} characters"
    if problem:
        at = f"{where}: " if where else ""
        raise StoreError(f"{at}character id {character!r} {problem}; use a short name such as 'nino' or 'zero_two'")
    return character


def is_human_layer(layer: str) -> bool:
    return layer in HUMAN_LAYERS


@dataclass(frozen=True)
class Sample:
    """One image in the store. ``image`` is relative to the store root; ``size_wh`` = (width, height)."""

    id: str
    name: str
    source: str
    image: str
    width: int
    height: int
    sha256: str
    file_sha256: str
    phash: str
    dup_group: str | None
    split: str
    tags: tuple[str, ...]
    status: str
    created_at: str
    parent_id: str | None = None
    parent_run: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    character: str | None = None  # character identity (an id of the store's character table), None = not set

    @property
    def size_wh(self) -> tuple[int, int]:
        return (self.width, self.height)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Sample:
        data = dict(row)
        data["tags"] = tuple(json.loads(data["tags"]))
        data["meta"] = json.loads(data.get("meta") or "{}")
        return cls(**data)


@dataclass(frozen=True)
class MaskRecord:
    """One mask layer of one sample. ``origin`` says who made it (``kind``: human / machine / import, run, ...)."""

    sample_id: str
    layer: str
    path: str
    sha256: str
    origin: dict[str, Any]
    score: float | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> MaskRecord:
        data = dict(row)
        data["origin"] = json.loads(data["origin"])
        return cls(**data)


@dataclass(frozen=True)
class RunRecord:
    """A prelabel / pseudo / import / export run with its parameters, model SHA-256s and versions."""

    id: str
    kind: str
    params: dict[str, Any]
    models: dict[str, Any]
    versions: dict[str, Any]
    status: str
    summary: dict[str, Any]
    started_at: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        data = dict(row)
        for key in ("params", "models", "versions", "summary"):
            data[key] = json.loads(data[key])
        return cls(**data)
