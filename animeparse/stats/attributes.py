"""Attributes of a face computed from its parsing (the outputs of the Face2anime detector, without a model):
face box, eye / nose / mouth centres, and the dominant hair, eye and skin colour with a readable name.

Class roles come from the label map's class names, so any map that names its classes the usual way works
(danbooru-parsing: ``skin``, ``hair``, ``l_eye``/``r_eye``, ``nose``, ``mouth``, lips, brows; AnimeCharacterParsing:
``hair``, ``face``, ``eyes``, ``mouth``); a role whose classes the map lacks, or a sample where they cover fewer than
:data:`MIN_COLOUR_PX` pixels, gives None.

A colour is the per-channel median, in CIELab (D65, OpenCV's float conversion: L 0..100), of the image's pixels
under the role's classes; its name is the nearest entry of :data:`PALETTE` by CIE76 distance. The values are cached
in the store per sample and layer (:meth:`~animeparse.store.Dataset.put_attributes`), recomputed when the mask
file's SHA-256 changes (:func:`update_attributes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd

from ..labelmap import LabelMap
from ..store import Dataset

__all__ = ["ATTRIBUTE_COLUMNS", "COLOUR_ROLES", "MIN_COLOUR_PX", "PALETTE", "ROLES", "SKIN_NAMES", "AttributeUpdate",
           "attribute_table", "colour_name", "compute_attributes", "rgb_to_lab", "update_attributes"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]

# role -> the class names that play it, in any label map
ROLES: dict[str, tuple[str, ...]] = {
    "hair": ("hair",),
    "eye": ("l_eye", "r_eye", "eyes", "eye"),
    "skin": ("skin", "face"),
    "nose": ("nose",),
    "mouth": ("mouth", "u_lip", "l_lip"),
    "face": ("skin", "face", "l_eye", "r_eye", "eyes", "eye", "l_brow", "r_brow", "eye_g", "nose", "mouth",
             "u_lip", "l_lip"),
}
COLOUR_ROLES = ("hair", "eye", "skin")
MIN_COLOUR_PX = 16
# the named colours (sRGB references; their Lab values are what names are matched against); docs/stats-and-splits.md
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (25, 22, 28),
    "silver": (205, 205, 215),  # silver, white and light grey hair
    "blonde": (240, 214, 128),
    "brown": (115, 72, 45),
    "red": (200, 38, 42),
    "orange": (240, 138, 48),
    "pink": (246, 164, 192),
    "purple": (128, 78, 170),
    "blue": (58, 100, 204),
    "green": (58, 150, 82),
    "fair": (252, 226, 208),  # pale anime skin
    "tan": (200, 150, 120),  # shaded or darker skin
}
# names only skin may get (hair is never "tan", a pale face can be "fair" rather than "silver")
SKIN_NAMES = frozenset({"fair", "tan"})
ATTRIBUTE_COLUMNS = ("face_xyxy", "eye_centers_xy", "nose_xy", "mouth_xy", "hair_color", "hair_lab", "eye_color",
                     "eye_lab", "skin_color", "skin_lab")


def rgb_to_lab(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Nx3 uint8 sRGB -> Nx3 float32 CIELab (L 0..100, a and b about -128..127)."""
    pixels = np.ascontiguousarray(rgb.reshape(-1, 1, 3), np.float32) / 255.0
    return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB).reshape(-1, 3), np.float32)


_PALETTE_NAMES = list(PALETTE)
_PALETTE_LAB = rgb_to_lab(np.array([PALETTE[n] for n in _PALETTE_NAMES], np.uint8))


def colour_name(lab: Sequence[float], *, role: str = "hair") -> str:
    """The :data:`PALETTE` name nearest to a CIELab colour (CIE76 distance); :data:`SKIN_NAMES` only for the
    ``skin`` role."""
    d = np.linalg.norm(_PALETTE_LAB - np.asarray(lab, np.float32)[None], axis=1)
    if role != "skin":
        d[[i for i, n in enumerate(_PALETTE_NAMES) if n in SKIN_NAMES]] = np.inf
    return _PALETTE_NAMES[int(np.argmin(d))]


def _role_ids(labelmap: LabelMap, role: str) -> list[int]:
    return [labelmap.id_of(n) for n in ROLES[role] if n in labelmap]


def _centre(region: npt.NDArray[np.bool_]) -> list[float] | None:
    ys, xs = np.nonzero(region)
    return None if xs.size == 0 else [round(float(xs.mean()), 2), round(float(ys.mean()), 2)]


def _eye_centres(mask_hw: npt.NDArray[np.uint8], labelmap: LabelMap) -> list[list[float]]:
    """Up to two eye centres (x, y), image-left first: per ``l_eye``/``r_eye`` class where the map has them, else
    the two largest connected pieces of ``eyes``."""
    centres = []
    for name in ("l_eye", "r_eye"):
        if name in labelmap:
            c = _centre(mask_hw == labelmap.id_of(name))
            if c is not None:
                centres.append(c)
    if not centres:
        region = np.isin(mask_hw, _role_ids(labelmap, "eye")).astype(np.uint8)
        n, labels, stats, cents = cv2.connectedComponentsWithStats(region, connectivity=8)
        biggest = sorted(range(1, n), key=lambda k: -int(stats[k, cv2.CC_STAT_AREA]))[:2]
        centres = [_centre(labels == k) or [] for k in biggest]
    return sorted(centres, key=lambda c: (c[0], c[1]))


def compute_attributes(image_rgb: npt.NDArray[np.uint8], mask_hw: npt.NDArray[np.uint8],
                       labelmap: LabelMap) -> dict[str, Any]:
    """The attributes of one sample: ``image_rgb`` HxWx3 uint8 RGB, ``mask_hw`` HxW uint8 ids of ``labelmap``.

    Returns JSON-ready values: ``face_xyxy`` [x0, y0, x1, y1] (x1, y1 exclusive) around the face-region classes;
    ``eye_centers_xy`` up to two [x, y]; ``nose_xy``, ``mouth_xy`` [x, y]; ``<role>_lab`` [L, a, b] (one decimal)
    and ``<role>_color`` (a :data:`PALETTE` name) for hair, eye and skin; None where the map or mask lacks the role.
    """
    out: dict[str, Any] = {}
    face = np.isin(mask_hw, _role_ids(labelmap, "face"))
    ys, xs = np.nonzero(face)
    out["face_xyxy"] = None if xs.size == 0 else [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    out["eye_centers_xy"] = _eye_centres(mask_hw, labelmap)
    out["nose_xy"] = _centre(np.isin(mask_hw, _role_ids(labelmap, "nose")))
    out["mouth_xy"] = _centre(np.isin(mask_hw, _role_ids(labelmap, "mouth")))
    for role in COLOUR_ROLES:
        region = np.isin(mask_hw, _role_ids(labelmap, role))
        if int(region.sum()) < MIN_COLOUR_PX:
            out[f"{role}_lab"], out[f"{role}_color"] = None, None
            continue
        lab = np.median(rgb_to_lab(image_rgb[region]), axis=0)
        out[f"{role}_lab"] = [round(float(v), 1) for v in lab]
        out[f"{role}_color"] = colour_name(lab, role=role)
    return out


@dataclass(frozen=True)
class AttributeUpdate:
    """What :func:`update_attributes` did: ``computed`` (new or stale rows written), ``current`` (already up to
    date), ``samples`` (with a mask in the layer) and ``by_color`` ({role: {colour name: samples}})."""

    layer: str
    samples: int
    computed: int
    current: int
    by_color: dict[str, dict[str, int]]


def _missing(ds: Dataset, layer: str, stored: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(sample id, mask SHA-256) of the samples with a ``layer`` mask and no current attributes."""
    out = []
    for sid, records in ds.all_mask_records().items():
        for rec in records:
            if rec.layer == layer and sid not in stored:
                out.append((sid, rec.sha256))
    return sorted(out)


def _compute_one(ds: Dataset, sid: str, layer: str) -> dict[str, Any]:
    mask = ds.read_mask(sid, layer)
    assert mask is not None  # listed from the mask rows
    return compute_attributes(ds.read_image(sid), mask, ds.labelmap)


def update_attributes(ds: Dataset, *, layer: str = "gt", progress: Progress | None = None,
                      batch: int = 64) -> AttributeUpdate:
    """Compute and store the attributes of every sample with a ``layer`` mask whose stored ones are missing or
    stale (the mask's SHA-256 changed); ``ds`` must be open for writing. Written in batches of ``batch``."""
    stored = ds.attributes(layer)
    todo = _missing(ds, layer, stored)
    rows: dict[str, tuple[str, dict[str, Any]]] = {}
    for done, (sid, sha) in enumerate(todo, 1):
        rows[sid] = (sha, _compute_one(ds, sid, layer))
        if len(rows) >= batch:
            ds.put_attributes(layer, rows)
            rows = {}
        if progress:
            progress(done, len(todo))
    if rows:
        ds.put_attributes(layer, rows)
    current = ds.attributes(layer)
    return AttributeUpdate(layer=layer, samples=len(current), computed=len(todo), current=len(stored),
                           by_color=_colour_counts(current.values()))


def _colour_counts(values: Any) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {role: {} for role in COLOUR_ROLES}
    for data in values:
        for role in COLOUR_ROLES:
            name = data.get(f"{role}_color") or "none"
            counts[role][name] = counts[role].get(name, 0) + 1
    return {role: dict(sorted(c.items())) for role, c in counts.items()}


def attribute_table(ds: Dataset, sample_ids: Sequence[str], *, layer: str = "gt",
                    progress: Progress | None = None) -> pd.DataFrame:
    """One row per sample of ``sample_ids`` with a ``layer`` mask: ``sample_id`` then :data:`ATTRIBUTE_COLUMNS`
    (boxes and points as JSON-ready lists). Current stored attributes are used; missing or stale ones are computed
    here and not stored (``animeparse attributes DS`` stores them)."""
    stored = ds.attributes(layer)
    wanted = set(sample_ids)
    todo = [sid for sid, _ in _missing(ds, layer, stored) if sid in wanted]
    computed = {}
    for done, sid in enumerate(todo, 1):
        computed[sid] = _compute_one(ds, sid, layer)
        if progress:
            progress(done, len(todo))
    rows = [{"sample_id": sid, **{c: data.get(c) for c in ATTRIBUTE_COLUMNS}}
            for sid in sorted(wanted) if (data := stored.get(sid) or computed.get(sid)) is not None]
    return pd.DataFrame(rows, columns=["sample_id", *ATTRIBUTE_COLUMNS])
