"""Semantic roles: what manga treatment a label-map class gets (hair, skin, eye, cloth, ...).

The translator's style tables are per role, so any label map works: its class names are looked up in
:data:`ROLE_OF_CLASS` (the bundled maps' names), then by a few name fragments, else the class is ``generic`` (tone
from its own luminance). A picture without a mask is one ``generic`` region.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..labelmap import LabelMap

__all__ = ["ROLES", "ROLE_OF_CLASS", "GENERIC", "role_of", "role_lut", "single_region_lut"]

ROLES = ("background", "skin", "hair", "eye", "brow", "mouth", "cloth", "accessory", "generic")
GENERIC = ROLES.index("generic")

# class name (bundled label maps: danbooru-parsing, celebamask-hq, character-parsing, manga-page) -> role
ROLE_OF_CLASS: dict[str, str] = {
    "background": "background",
    "skin": "skin", "face": "skin", "body_skin": "skin", "neck": "skin", "nose": "skin", "l_ear": "skin",
    "r_ear": "skin", "u_lip": "skin", "l_lip": "skin",
    "hair": "hair", "tail_wings": "hair",
    "l_eye": "eye", "r_eye": "eye",
    "l_brow": "brow", "r_brow": "brow",
    "mouth": "mouth",
    "cloth": "cloth", "top": "cloth", "bottom": "cloth", "dress": "cloth", "shoes": "cloth", "hat": "cloth",
    "eye_g": "accessory", "ear_r": "accessory", "neck_l": "accessory", "accessory": "accessory",
    "weapon": "accessory",
    # manga-page classes are page layout, not character parts: their pixels keep their own luminance
    "frame": "generic", "body": "generic", "balloon": "generic", "text": "generic", "onomatopoeia": "generic",
    # anime-character-parsing-13 / -16 (full-body figures)
    "eyes": "eye", "ears": "skin", "torso": "skin", "arms": "skin", "hands": "skin", "legs": "skin", "feet": "skin",
    "torso_wearing": "cloth", "legs_wearing": "cloth", "stockings": "cloth",
    "accessories": "accessory", "hair_decoration": "accessory", "face_wearing": "accessory",
}

# fallbacks for user label maps, checked in order against the class name
_FRAGMENTS = (("brow", "brow"), ("eye", "eye"), ("iris", "eye"), ("hair", "hair"), ("lip", "skin"),
              ("mouth", "mouth"), ("skin", "skin"), ("face", "skin"), ("cloth", "cloth"), ("shirt", "cloth"),
              ("skirt", "cloth"), ("dress", "cloth"), ("coat", "cloth"), ("background", "background"))


def role_of(class_name: str) -> str:
    """The role of a class name (``generic`` when nothing matches)."""
    if class_name in ROLE_OF_CLASS:
        return ROLE_OF_CLASS[class_name]
    lowered = class_name.lower()
    return next((role for frag, role in _FRAGMENTS if frag in lowered), "generic")


def role_lut(labelmap: LabelMap) -> npt.NDArray[np.int64]:
    """256 int64: role index by class id (unused ids and the ignore index are ``generic``)."""
    lut = np.full(256, GENERIC, np.int64)
    for c in labelmap.classes:
        lut[c.id] = ROLES.index(role_of(c.name))
    return lut


def single_region_lut() -> npt.NDArray[np.int64]:
    """256 int64, every id ``generic``: the lookup for a picture translated without a mask."""
    return np.full(256, GENERIC, np.int64)
