"""The bundled translator ``manga-v2``: loads ``params/manga_v2.pt`` and runs :class:`MangaNet` in batches.

Styles are drawn per image from its own generator on the CPU (then moved to the device), so a (seed, sample,
variant) gives the same style on CPU and GPU and whatever batch the image lands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import file_sha256
from .manga import MangaNet
from .params import COINS, GLOBAL_COINS, GLOBAL_FEATURES, PARAMS_FILE, ROLE_FEATURES, load_params

__all__ = ["MangaStyle", "BundledTranslator", "draw_styles"]

_COIN_FEATURES = [ROLE_FEATURES.index(name) for name in COINS]
_GLOBAL_COIN_FEATURES = [GLOBAL_FEATURES.index(name) for name in GLOBAL_COINS]


@dataclass(frozen=True)
class MangaStyle:
    """Drawn styles of a batch (CPU tensors): ``roles`` N x R x F and ``globals`` N x G float32, ``noise``
    N x 1 x H x W float32 standard normal."""

    roles: torch.Tensor
    globals: torch.Tensor
    noise: torch.Tensor


def draw_styles(params: dict[str, torch.Tensor], generators: Sequence[torch.Generator],
                shape_hw: tuple[int, int]) -> MangaStyle:
    """One style per generator: each feature uniform in its [lo, hi] range; the coin features (``p_lines``,
    ``p_gradient``, ``jpeg_p``) become 0/1 flips with probability ``lo``. The draw order is fixed, so a generator
    gives the same style always."""
    lo, hi = params["style_lo"], params["style_hi"]
    glo, ghi = params["global_lo"], params["global_hi"]
    roles, globs, noise = [], [], []
    for gen in generators:
        u = torch.rand(lo.shape, generator=gen)
        ug = torch.rand(glo.shape, generator=gen)
        r = lo + (hi - lo) * u
        r[:, _COIN_FEATURES] = (u[:, _COIN_FEATURES] < lo[:, _COIN_FEATURES]).float()
        g = glo + (ghi - glo) * ug
        g[_GLOBAL_COIN_FEATURES] = (ug[_GLOBAL_COIN_FEATURES] < glo[_GLOBAL_COIN_FEATURES]).float()
        roles.append(r)
        globs.append(g)
        noise.append(torch.randn((1, *shape_hw), generator=gen))
    return MangaStyle(torch.stack(roles), torch.stack(globs), torch.stack(noise))


class BundledTranslator:
    """``manga-v2``: the parsing-conditioned anime -> manga translator shipped with animeparse."""

    def __init__(self, *, device: torch.device, params_path: Path = PARAMS_FILE, name: str = "manga-v2") -> None:
        self.name = name
        self.device = device
        self.sha256 = file_sha256(params_path)
        self.params = load_params(params_path)  # CPU copies: styles are drawn on the CPU
        self.net = MangaNet(self.params).to(device).eval()

    def translate(self, images: torch.Tensor, class_ids: torch.Tensor, *, role_lut: torch.Tensor,
                  generators: Sequence[torch.Generator], color: bool = False) -> torch.Tensor:
        """See :class:`animeparse.translate.base.Translator`; returns N x 1 x H x W (N x 3 with ``color``)."""
        style = draw_styles(self.params, generators, (images.shape[2], images.shape[3]))
        dev = self.device
        with torch.inference_mode():
            return self.net(images, class_ids, role_lut, style.roles.to(dev), style.globals.to(dev),
                            style.noise.to(dev), color=color)
