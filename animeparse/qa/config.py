"""Validate thresholds: one frozen dataclass with documented defaults, loadable from a JSON or TOML file.

Every field is also a ``validate`` option (``min_fragment_px`` <-> ``--min-fragment-px``): the CLI builds its options
from :func:`dataclasses.fields` of :class:`QAConfig`, so the two cannot drift apart. Precedence: the defaults here,
then ``--config FILE``, then options given on the command line.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError
from ..ingest.neardup import DEFAULT_NEAR_DUP_BITS, MAX_NEAR_DUP_BITS

__all__ = ["QAConfig", "load_config", "config_fields"]


def _opt(default: Any, help: str, **kw: Any) -> Any:
    """A field with its CLI help text in the metadata."""
    if callable(default):
        return field(default_factory=default, metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class QAConfig:
    """What validate checks and how strictly. Pixel thresholds are in pixels of the mask (the defaults suit
    256..1024 px portraits: scale them down for smaller images); shares are fractions 0..1 of the image."""

    layer: str = _opt("gt", "Mask layer whose pixels are checked (values, shapes, layout, label order).")
    fail_on: str = _opt("error", "Exit code 1 when a finding is at or above this severity (error or warning).",
                        choices=("error", "warning"))
    skip: tuple[str, ...] = _opt((), "Checks not to run (names of animeparse.qa.CHECKS); repeatable.")
    workers: int = _opt(lambda: os.cpu_count() or 1,
                        "Processes that decode and check samples (default: one per core; 0 = none).")
    max_ignore_share: float = _opt(0.25, "Warn when more than this share of a mask is ignore (255).")
    min_fragment_px: int = _opt(64, "A detached piece of a class smaller than this, lying wholly inside one "
                                    "other class that does not occlude it, is a fragment (0 = off).")
    min_pinhole_px: int = _opt(2, "Background holes inside one class of at least this many pixels are pin-holes "
                                  "(single pixels are polygon rasterisation noise).")
    max_pinhole_px: int = _opt(64, "... and of fewer than this many pixels (larger holes are taken as meant; "
                                   "0 = off).")
    min_class_px: int = _opt(8, "Warn about a class with fewer pixels than this, unless mostly hidden behind "
                                "classes of higher priority (0 = off).")
    min_skin_contact: float = _opt(0.1, "Eyes and brows: the least share of skin in the 2-pixel band around each.")
    lr_min_dx: float = _opt(0.02, "Left/right pairs whose centroids are closer than this share of the width "
                                  "(profiles) give no vote.")
    lr_majority: float = _opt(0.6, "Share of voting samples that makes a left/right convention the dataset "
                                   "majority; below it the card's declared convention is the reference.")
    near_dup_bits: int = _opt(DEFAULT_NEAR_DUP_BITS, f"dHash bits (of 256) within which two images are near "
                                                     f"duplicates (at most {MAX_NEAR_DUP_BITS}; -1 = only the "
                                                     "dup_group column).")
    stale_tolerance_s: float = _opt(2.0, "A prelabel layer is stale when its image file is newer than it by more "
                                         "than this many seconds (manifest times have 1 s resolution).")

    def __post_init__(self) -> None:
        problems = []
        if self.fail_on not in ("error", "warning"):
            problems.append(f"fail_on must be 'error' or 'warning', got {self.fail_on!r}")
        for name in ("max_ignore_share", "min_skin_contact", "lr_min_dx", "lr_majority"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be a share between 0 and 1, got {value}")
        for name in ("workers", "min_fragment_px", "min_pinhole_px", "max_pinhole_px", "min_class_px"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not -1 <= self.near_dup_bits <= MAX_NEAR_DUP_BITS:
            problems.append(f"near_dup_bits must be -1..{MAX_NEAR_DUP_BITS}, got {self.near_dup_bits}")
        if self.stale_tolerance_s < 0:
            problems.append(f"stale_tolerance_s must be >= 0, got {self.stale_tolerance_s}")
        if problems:
            raise AnimeparseError("invalid validate config: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["skip"] = list(self.skip)
        return data


def config_fields() -> list[tuple[str, type, Any, str, tuple[str, ...] | None]]:
    """(name, type, default, help, choices) of every QAConfig field, in declaration order (for the CLI)."""
    types = {"str": str, "int": int, "float": float, "tuple[str, ...]": tuple}
    out = []
    for f in fields(QAConfig):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc,operator]
        out.append((f.name, types[str(f.type)], default, f.metadata["help"], f.metadata.get("choices")))
    return out


def load_config(path: Path | str, *, base: QAConfig | None = None) -> QAConfig:
    """Read a JSON (``.json``) or TOML (anything else) file of QAConfig fields onto ``base`` (default: the
    defaults). Keys are field names; in TOML they may sit at the top level or in a ``[validate]`` table.
    Unknown keys and wrong types raise AnimeparseError naming the file and the valid keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise AnimeparseError(f"config file could not be read ({err.strerror or err})", path=path) from err
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        syntax = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise AnimeparseError(f"config file is not valid {syntax} ({err})", path=path) from err
    if not isinstance(data, dict):
        raise AnimeparseError("config file must hold an object of QAConfig fields", path=path)
    if isinstance(data.get("validate"), dict):
        data = data["validate"]
    known: dict[str, tuple[type, Any]] = {name: (kind, default) for name, kind, default, _, _ in config_fields()}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise AnimeparseError(f"unknown config keys {unknown}; valid keys: {', '.join(known)}", path=path)
    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = known[key][0]
        if kind is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AnimeparseError(f"config key {key!r} must be a list of strings, got {value!r}", path=path)
            value = tuple(value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise AnimeparseError(f"config key {key!r} must be a {kind.__name__}, got {value!r}", path=path)
        values[key] = value
    try:
        return replace(base or QAConfig(), **values)
    except AnimeparseError as err:
        raise AnimeparseError(str(err), path=path) from err
