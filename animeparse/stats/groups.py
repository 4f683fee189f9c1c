"""The statistics tables by character and by computed colour: samples and class pixel shares per character, and how
many samples have each hair, eye and skin colour name (:mod:`.attributes`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..store import Sample
from .attributes import COLOUR_ROLES, PALETTE

__all__ = ["NO_CHARACTER", "character_table", "colour_table"]

NO_CHARACTER = "(none)"


def character_table(samples: Sequence[Sample], labelled: Sequence[Sample], names: Sequence[str],
                    pixels: npt.NDArray[np.int64], display: Mapping[str, str]) -> pd.DataFrame:
    """One row per character id (sorted; ``(none)`` last, when some sample has none): ``character, name,
    samples, labelled, pixels``, then per class (columns named by class) its share of the character's labelled
    pixels. ``pixels``: L x C counts, rows in ``labelled`` order; ``display``: {id: display name}."""
    keys = sorted({s.character for s in samples if s.character is not None})
    if any(s.character is None for s in samples):
        keys.append(NO_CHARACTER)
    of_sample = np.array([s.character or NO_CHARACTER for s in labelled], dtype=object)
    rows = []
    for key in keys:
        sel = of_sample == key
        counts = pixels[sel].sum(axis=0)
        total = int(counts.sum())
        shares = counts / total if total else np.full(len(names), np.nan)
        rows.append([key, display.get(key, ""), sum((s.character or NO_CHARACTER) == key for s in samples),
                     int(sel.sum()), total, *shares])
    return pd.DataFrame(rows, columns=["character", "name", "samples", "labelled", "pixels", *names])


def colour_table(attributes: pd.DataFrame) -> pd.DataFrame:
    """``role, color, samples, share`` (of the samples with attributes), for hair, eye and skin: every colour
    name that occurs, in :data:`~.attributes.PALETTE` order, then ``none`` (the role's classes absent)."""
    rows = []
    n = len(attributes)
    order = [*PALETTE, None]
    for role in COLOUR_ROLES:
        column = attributes[f"{role}_color"] if n else pd.Series([], dtype=object)
        for name in order:
            count = int((column.isna() if name is None else column == name).sum())
            if count:
                rows.append([role, name or "none", count, count / n])
    return pd.DataFrame(rows, columns=["role", "color", "samples", "share"])
