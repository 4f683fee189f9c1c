"""Does a mask look like it was written in another known label map's id order?

The classic mix-up: CelebAMask-HQ's g_mask order puts hair at 13, Danbooru-Parsing at 17 (13 is l_lip there).
A large region in the upper part of the image carrying the *other* map's hair id is a strong sign; we warn and
suggest ``--remap``, never remap silently.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from .labelmap import LabelMap, builtin_labelmaps, load_labelmap

__all__ = ["suspect_label_order"]

# a "hair-shaped" region: at least this share of the image, centred in its upper part
_MIN_SHARE = 0.03
_MAX_CENTROID_Y = 0.6


@cache
def _face_maps() -> tuple[LabelMap, ...]:
    return tuple(load_labelmap(n) for n in builtin_labelmaps() if "hair" in load_labelmap(n))


def suspect_label_order(mask_hw: npt.NDArray[np.uint8], labelmap: LabelMap,
                        counts: npt.ArrayLike | None = None) -> str | None:
    """Name of a bundled label map whose order the mask seems to follow instead of ``labelmap``'s, or None.
    ``counts``: the mask's 256 per-id pixel counts, when already computed."""
    if "hair" not in labelmap:
        return None
    ours = labelmap.id_of("hair")
    if counts is None:
        from .store.prepare import class_counts

        counts = class_counts(mask_hw)
    counts = np.asarray(counts)
    for other in _face_maps():
        if other.name == labelmap.name or set(other.names) != set(labelmap.names):
            continue
        theirs = other.id_of("hair")
        # in a genuine mask the class at the other map's hair id (l_lip, neck ...) is never a large region high
        # up in a portrait, so this does not depend on what our own hair id happens to hold
        if theirs == ours or counts[theirs] < _MIN_SHARE * mask_hw.size:
            continue
        ys = np.nonzero(mask_hw == theirs)[0]
        if ys.mean() < _MAX_CENTROID_Y * mask_hw.shape[0]:
            return other.name
    return None
