"""What ``parser train`` learns from: the labelled pairs, the unlabelled images, the class weights.

Everything is held in memory at the training size (50 images at 256 px are 10 MB), resized the way
:meth:`~animeparse.prelabel.parser.Parser.predict` resizes at inference (bilinear, antialiased; masks nearest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AnimeparseError
from ..store import Dataset
from .device import require_torch

if TYPE_CHECKING:
    import torch

__all__ = ["training_samples", "unlabeled_samples", "load_images", "load_pairs", "class_weights", "UNLABELED_HELP"]

Progress = Callable[[int, int | None], None]
UNLABELED_HELP = "none, all (every sample without a gt mask) or split:NAME"


def training_samples(ds: Dataset, split: str) -> list[str]:
    """Ids of the samples with a ``gt`` mask in ``split`` (``all``: every split), sorted."""
    samples = ds.samples(layer="gt", split=None if split == "all" else split)
    if not samples:
        raise AnimeparseError(f"no samples with a gt mask in split {split!r}; label some first, or pass --split all "
                              "(or the split that has them)", path=ds.root)
    return [s.id for s in samples]


def unlabeled_samples(ds: Dataset, spec: str) -> list[str]:
    """Ids of the samples the semi-supervised branch learns from: ``none``, ``all`` (no ``gt`` mask) or
    ``split:NAME`` (that split's samples without ``gt``), sorted. Refuses an unknown spec."""
    if spec == "none":
        return []
    if spec != "all" and not (spec.startswith("split:") and spec[6:]):
        raise AnimeparseError(f"--unlabeled {spec!r}: use {UNLABELED_HELP}")
    labelled = {s.id for s in ds.samples(layer="gt")}
    pool = ds.samples() if spec == "all" else ds.samples(split=spec[6:])
    return [s.id for s in pool if s.id not in labelled]


def load_images(ds: Dataset, sample_ids: list[str], size: int, progress: Progress | None = None) -> torch.Tensor:
    """Nx3xSxS uint8 RGB images of ``sample_ids`` at ``size`` squared."""
    torch = require_torch()
    images = torch.empty((len(sample_ids), 3, size, size), dtype=torch.uint8)
    for i, sid in enumerate(sample_ids):
        if sid not in ds:
            raise AnimeparseError(f"training sample {sid} is no longer in the store; start a new run", path=ds.root)
        images[i] = _resize_image(torch.from_numpy(ds.read_image(sid)), size)
        if progress is not None:
            progress(i + 1, len(sample_ids))
    return images


def load_pairs(ds: Dataset, sample_ids: list[str], size: int,
               progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All training pairs at ``size``: Nx3xSxS uint8 images and NxSxS int16 targets (channel index or IGNORE)."""
    torch = require_torch()
    import torch.nn.functional as F

    from .augment import IGNORE

    lut = np.full(256, IGNORE, np.int16)
    lut[ds.labelmap.ids] = np.arange(len(ds.labelmap.ids))
    images = load_images(ds, sample_ids, size, progress)
    targets = torch.empty((len(sample_ids), size, size), dtype=torch.int16)
    for i, sid in enumerate(sample_ids):
        mask = ds.read_mask(sid, "gt")
        if mask is None:
            raise AnimeparseError(f"training sample {sid} lost its gt mask; start a new run", path=ds.root)
        y = torch.from_numpy(lut[mask])[None, None].float()
        if y.shape[-2:] != (size, size):
            y = F.interpolate(y, size=(size, size), mode="nearest")
        targets[i] = y[0, 0].to(torch.int16)
    return images, targets


def _resize_image(image_hwc: torch.Tensor, size: int) -> torch.Tensor:
    """HxWx3 uint8 -> 3xSxS uint8 (bilinear, antialiased, as at inference)."""
    torch = require_torch()
    import torch.nn.functional as F

    x = image_hwc.permute(2, 0, 1)[None].float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[0].round().clamp(0, 255).to(torch.uint8)


def class_weights(targets: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse square-root frequency, mean 1 over the classes present, at most 10: rare parts count more."""
    torch = require_torch()
    t = targets[targets >= 0].long()
    freq = torch.bincount(t, minlength=n).double()
    present = freq > 0
    w = torch.ones(n, dtype=torch.float64)
    w[present] = (freq[present].sum() / freq[present]).sqrt()
    w[present] = w[present] / w[present].mean()
    return w.clamp(max=10.0).float()
