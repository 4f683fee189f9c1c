"""Helpers shared by the stats and split tests: stores built from literal masks."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from animeparse import Dataset, MaskInput
from animeparse.store import prepare_sample

_unique = itertools.count()


@dataclass
class Spec:
    """One sample to add: ``mask`` HxW uint8 ids (None = no gt mask; then ``size_hw`` sets the image size)."""

    mask: npt.NDArray[np.uint8] | None
    split: str = "train"
    tags: tuple[str, ...] = ()
    source: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    dup_group: str | None = None
    size_hw: tuple[int, int] = (4, 4)
    pixel_seed: int | None = None  # same seed, same pixels, same sample id (default: unique per process)


def add_samples(ds: Dataset, specs: Sequence[Spec]) -> list[str]:
    """Add one sample per spec (random, unique pixels) in one batch; return the sample ids in spec order."""
    folder = ds.root.parent / "src-images"
    folder.mkdir(exist_ok=True)
    batch = []
    for spec in specs:
        h, w = spec.mask.shape if spec.mask is not None else spec.size_hw
        n = next(_unique)
        seed = [1, spec.pixel_seed] if spec.pixel_seed is not None else [0, n]
        pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = folder / f"img{n:05d}.png"
        Image.fromarray(pixels).save(path)
        masks = {"gt": MaskInput(spec.mask)} if spec.mask is not None else None
        batch.append(prepare_sample(path, labelmap=ds.labelmap, masks=masks, split=spec.split, tags=spec.tags,
                                    source=spec.source, meta=spec.meta))
    groups = {p.id: s.dup_group for p, s in zip(batch, specs) if s.dup_group}
    ds.add_prepared(batch, dup_groups=groups)
    return [p.id for p in batch]


def make_store(root: Path, specs: Sequence[Spec]) -> tuple[Path, list[str]]:
    """A new danbooru-parsing store at ``root`` holding ``specs``; closed again. Returns (root, sample ids)."""
    from animeparse import load_labelmap

    with Dataset.create(root, labelmap=load_labelmap("danbooru-parsing")) as ds:
        ids = add_samples(ds, specs)
    return root, ids
