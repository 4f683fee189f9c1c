"""Training augmentation on whole batches, on the training device: flip with l/r swap, zoom/shift/rotation, colour
jitter (the style transforms are :mod:`~animeparse.prelabel.style`'s).

A horizontal flip turns a left eye into a right eye, so the target's classes are swapped through the label map's
flip partners (:meth:`LabelMap.flip_lut`) as the pixels are mirrored. Randomness comes from a CPU
``torch.Generator`` seeded per epoch, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ..labelmap import LabelMap

__all__ = ["AugmentConfig", "IGNORE", "channel_flip_lut", "augment_batch"]

IGNORE = -100  # cross-entropy's ignore_index: pixels labelled 255 (void) in the store


@dataclass(frozen=True)
class AugmentConfig:
    """``flip``: probability of a horizontal flip; ``scale``: zoom in [1 - scale, 1 + scale]; ``shift``: move by up
    to this share of the side; ``colour``: per-channel gain and brightness in [1 - colour, 1 + colour];
    ``zoom_in``: a further zoom in [1, 1 + zoom_in] (real portraits are cropped tighter than generated ones);
    ``rotate``: roll in [-rotate, rotate] degrees."""

    flip: float = 0.5
    scale: float = 0.15
    shift: float = 0.08
    colour: float = 0.15
    zoom_in: float = 0.0
    rotate: float = 0.0


def channel_flip_lut(labelmap: LabelMap) -> npt.NDArray[np.int64]:
    """C int64: output channel k (the k-th class by id) -> the channel of its flip partner (itself if none)."""
    index_of = {cid: k for k, cid in enumerate(labelmap.ids)}
    flip = labelmap.flip_lut()
    return np.array([index_of[int(flip[cid])] for cid in labelmap.ids], np.int64)


def augment_batch(images: torch.Tensor, targets: torch.Tensor, *, flip_lut: torch.Tensor,
                  generator: torch.Generator, config: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch.

    ``images``: Bx3xSxS float32 RGB in [0, 1]; ``targets``: BxSxS int64 channel indices or IGNORE;
    ``flip_lut``: C int64 on the same device (see :func:`channel_flip_lut`). Returns tensors of the same shapes.
    """
    n, device = images.shape[0], images.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(device)

    flip = rand(n) < config.flip
    if flip.any():
        flipped_t = targets.flip(-1)
        flipped_t = torch.where(flipped_t >= 0, flip_lut[flipped_t.clamp(min=0)], flipped_t)
        images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
        targets = torch.where(flip.view(-1, 1, 1), flipped_t, targets)
    if config.scale > 0 or config.shift > 0 or config.zoom_in > 0 or config.rotate > 0:
        zoom = 1.0 + (rand(n) * 2 - 1) * config.scale
        theta = torch.zeros(n, 2, 3, device=device)
        if config.zoom_in > 0 or config.rotate > 0:
            zoom = zoom * (1.0 + rand(n) * config.zoom_in)
            angle = (rand(n) * 2 - 1) * (config.rotate * torch.pi / 180)
        else:  # the original draws, so runs with the old options reproduce
            angle = torch.zeros(n, device=device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        reach: float | torch.Tensor = config.shift * 2  # grid coordinates span 2 per side
        if config.zoom_in > 0:  # a zoomed-in view may move over most of the picture, not only its middle
            reach = reach + 0.8 * (1 - 1 / zoom.clamp(min=1)).view(n, 1)
        theta[:, :, 2] = (rand(n, 2) * 2 - 1) * reach
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        # nearest keeps ids; shifted in float then back (IGNORE is exactly representable)
        targets = F.grid_sample(targets[:, None].float(), grid, mode="nearest", padding_mode="border",
                                align_corners=False)[:, 0].round().long()
    if config.colour > 0:
        gain = 1.0 + (rand(n, 3, 1, 1) * 2 - 1) * config.colour
        bias = (rand(n, 1, 1, 1) * 2 - 1) * config.colour * 0.5
        images = (images * gain + bias).clamp(0.0, 1.0)
    return images, targets
