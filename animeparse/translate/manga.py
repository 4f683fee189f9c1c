"""The bundled anime -> manga translator network (nn.Module only; parameters come from ``params/manga_v2.pt``).

Parsing-conditioned: every pixel's role (from its class id) picks its own tone rule and screen, so hair, skin,
eyes and cloth each get a manga treatment of their own. Geometry never changes: each output pixel is computed from
the input pixel at the same place (plus small neighbourhoods for lines and smoothing), so masks carry over exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .ops import (
    blur,
    blur_per_image,
    edge_strength,
    grow,
    image_quantiles,
    jpeg_blocks,
    kernel_taps,
    mask_contours,
    region_mean,
    region_top_threshold,
    screentone,
)
from .params import F, G, build_shapes

__all__ = ["MangaNet"]

_MIN_PITCH = 2.5  # a screen finer than this aliases into grey noise at 1 sample per pixel


class MangaNet(nn.Module):
    """Anime RGB + class ids -> manga greyscale (or colour manga), same size.

    Buffers (float32, see :func:`animeparse.translate.params.build_params`): style tables, DoG / blur / smoothing
    kernels, screentone CDFs, the JPEG table and DCT matrix. No I/O: build it from a loaded parameter dict.
    """

    style_lo: torch.Tensor
    style_hi: torch.Tensor
    global_lo: torch.Tensor
    global_hi: torch.Tensor
    dog_kernels: torch.Tensor
    blur_kernels: torch.Tensor
    smooth_kernel: torch.Tensor
    grain_kernel: torch.Tensor
    tone_cdf: torch.Tensor
    jpeg_luma: torch.Tensor
    dct: torch.Tensor
    luma: torch.Tensor
    ref_size: torch.Tensor

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        super().__init__()
        for name in build_shapes():
            self.register_buffer(name, params[name].detach().clone().float())
        # the kernels' non-zero taps, found once on the CPU: not read back from the device at every convolution
        self.taps = {name: kernel_taps(params[name].detach().float().cpu())
                     for name in ("smooth_kernel", "grain_kernel", "dog_kernels", "blur_kernels")}

    def forward(self, image: torch.Tensor, class_ids: torch.Tensor, role_lut: torch.Tensor, role_style: torch.Tensor,
                global_style: torch.Tensor, noise: torch.Tensor, color: bool = False) -> torch.Tensor:
        """Translate a batch.

        Args:
            image: N x 3 x H x W float32 RGB in 0..1.
            class_ids: N x H x W int64 class ids (0..255; 255 = ignore).
            role_lut: N x 256 int64, role index per class id (per image: a picture without a mask uses all-generic).
            role_style: N x R x F float32 drawn style per role (see ``ROLE_FEATURES``; coins already 0/1).
            global_style: N x G float32 drawn global style (``jpeg_p`` already 0/1).
            noise: N x 1 x H x W float32 standard normal (paper grain).
            color: colour manga (the tone layer tinted by the smoothed input colour) instead of greyscale.
        Returns:
            N x 1 x H x W float32 greyscale in 0..1 (N x 3 x H x W RGB when ``color``).
        """
        n, _, h, w = image.shape
        scale = min(h, w) / float(self.ref_size.item())
        # explicit sum (not a reduction) so the order of the float additions never depends on the batch
        lum = image[:, 0:1] * self.luma[0] + image[:, 1:2] * self.luma[1] + image[:, 2:3] * self.luma[2]
        lum = self._levels(lum, global_style)
        smooth = blur(lum, self.smooth_kernel, self.taps["smooth_kernel"])[:, 0]
        roles = role_lut.gather(1, class_ids.reshape(n, -1)).view(n, h, w)
        flat_roles = roles.reshape(n, -1)

        def feature(name: str) -> torch.Tensor:
            """N x H x W: the drawn value of a role feature at each pixel."""
            return role_style[:, :, F[name]].gather(1, flat_roles).view(n, h, w)

        def glob(name: str) -> torch.Tensor:
            return global_style[:, G[name]].view(n, 1, 1)

        mean = region_mean(smooth, class_ids)
        darkness = self._darkness(smooth, mean, feature) + glob("tone_shift")
        # at most black_cap of each region is solid black: its darkest pixels; the rest of it becomes tone
        cap = role_style[:, :, F["black_cap"]].gather(1, role_lut)
        black_t = torch.maximum(feature("black_t"), region_top_threshold(darkness, class_ids, cap))
        coverage = self._coverage(darkness, smooth - mean, black_t, feature)
        coverage = coverage * self._fade(class_ids, feature)
        pitch = (feature("pitch") * scale).clamp(min=_MIN_PITCH)
        angle = feature("angle")
        angle = torch.where(angle > 75.0, angle + 30.0, angle)
        value = screentone(coverage, angle, pitch, feature("p_lines") > 0.5, glob("soft"), self.tone_cdf)

        # ink lines come from the art: XDoG on the levelled luminance (centre minus surround Gaussian, soft tanh
        # threshold below -eps), grown by up to a pixel for a heavier pen
        bank = self.dog_kernels.shape[0]
        dog_index = (global_style[:, G["dog_sigma"]] * bank).long().clamp(0, bank - 1)
        centre_surround = blur_per_image(lum, self.dog_kernels[dog_index], self.taps["dog_kernels"])
        dog = centre_surround[:, 0] - centre_surround[:, 1]
        lines = torch.tanh(glob("dog_phi") * (-dog - glob("dog_eps"))).clamp(min=0) * glob("line_alpha")
        radius = max(1, round(scale))
        lines = lines + glob("line_weight") * (grow(lines[:, None], radius)[:, 0] - lines)

        # a mask boundary adds ink only where the art itself has an edge near it: labels never draw lines of their own
        widths = (global_style[:, G["contour_width"]].floor() * scale).round().long().clamp(1, 4)
        edge = edge_strength(image, self.smooth_kernel, max(1, round(2 * scale)), self.taps["smooth_kernel"])
        gate = ((edge - glob("edge_lo")) / (glob("edge_hi") - glob("edge_lo")).clamp(min=1e-6)).clamp(0, 1)
        contours = mask_contours(class_ids, feature("contour") > 0.5, widths) * gate * glob("contour_alpha")
        value = value * (1 - lines) * (1 - contours)

        value = glob("ink") + (glob("paper") - glob("ink")) * value
        grain = blur(noise, self.grain_kernel, self.taps["grain_kernel"])[:, 0] / self.grain_kernel.square().sum()
        value = (value + glob("grain") * grain)[:, None]
        nblur = self.blur_kernels.shape[0]
        blur_index = (global_style[:, G["blur"]] * nblur).long().clamp(0, nblur - 1)
        value = blur_per_image(value, self.blur_kernels[blur_index][:, None], self.taps["blur_kernels"])
        jpeg_on = global_style[:, G["jpeg_p"]].view(n, 1, 1, 1) > 0.5
        value = torch.where(jpeg_on, jpeg_blocks(value, global_style[:, G["jpeg_q"]], self.dct, self.jpeg_luma), value)
        if color:
            # colour manga: ink and tone stay, paper takes a light version of the local colour
            tint = 1 - (1 - blur(image, self.smooth_kernel, self.taps["smooth_kernel"])) * 0.6
            value = value * tint
        return value.clamp(0, 1)

    @staticmethod
    def _levels(lum: torch.Tensor, global_style: torch.Tensor) -> torch.Tensor:
        """Per-image levels of N x 1 x H x W luminance: stretch so the ``level_hi`` quantile is white (contrast
        multiplied by at most ``gain_max``), then a gamma in [gamma_lo, gamma_hi] that moves the median to
        ``mid_target``: pale art keeps its lines and tones, dark art opens up a little."""
        n = lum.shape[0]

        def glob(name: str) -> torch.Tensor:
            return global_style[:, G[name]]

        qs = torch.stack([glob("level_lo"), torch.full_like(glob("level_lo"), 0.5), glob("level_hi")], 1)
        q = image_quantiles(lum[:, 0], qs).view(n, 3, 1, 1)
        lo, mid, hi = q[:, 0:1], q[:, 1:2], q[:, 2:3]
        gain = (1.0 / (hi - lo).clamp(min=1e-3)).clamp(max=glob("gain_max").view(n, 1, 1, 1))
        stretched = (1 - (hi - lum) * gain).clamp(0, 1)
        mid_s = (1 - (hi - mid) * gain).clamp(1e-3, 0.999)
        gamma = (torch.log(glob("mid_target").view(n, 1, 1, 1)) / torch.log(mid_s)).clamp(
            glob("gamma_lo").view(n, 1, 1, 1), glob("gamma_hi").view(n, 1, 1, 1))
        return stretched.clamp(min=1e-6) ** gamma

    @staticmethod
    def _darkness(smooth: torch.Tensor, mean: torch.Tensor, feat: Callable[[str], torch.Tensor]) -> torch.Tensor:
        """N x H x W darkness (0 paper .. 1 black) from the smoothed luminance and its region mean."""
        w_region = feat("w_region")
        return w_region * (1 - mean) + (1 - w_region) * (1 - smooth) + feat("shade_gain") * (mean - smooth)

    @staticmethod
    def _coverage(darkness: torch.Tensor, above_mean: torch.Tensor, black_t: torch.Tensor,
                  feat: Callable[[str], torch.Tensor]) -> torch.Tensor:
        """Ink share per pixel (N x H x W, 0 white .. 1 black) from darkness and the role's thresholds.

        ``above_mean``: how much brighter than its region's mean each pixel is (highlights stay white);
        ``black_t``: the solid-black threshold per pixel (the role's, raised by the region's black cap)."""
        white_t = feat("white_t")
        t = (darkness - white_t) / (black_t - white_t).clamp(min=1e-3)
        levels = feat("levels").floor().clamp(min=2)
        step = (torch.floor(t * levels) / (levels - 1)).clamp(0, 1)
        c_lo = feat("c_lo")
        coverage = c_lo + (feat("c_hi") - c_lo) * step
        coverage = torch.where(t < 0, torch.zeros_like(coverage), coverage)
        coverage = torch.where(t >= 1, torch.ones_like(coverage), coverage)
        return torch.where(above_mean > feat("highlight"), torch.zeros_like(coverage), coverage)

    @staticmethod
    def _fade(class_ids: torch.Tensor, feat: Callable[[str], torch.Tensor]) -> torch.Tensor:
        """N x H x W factor on the ink coverage: 1 where the role has no gradient screen; else falling from 1 to 0
        across the region's extent along ``grad_angle`` (solid black stays: coverage 1 is not faded below 1 by
        more than the factor, as the tone fades into paper)."""
        n, h, w = class_ids.shape
        theta = feat("grad_angle") * (math.pi / 180.0)
        ys = torch.arange(h, device=class_ids.device, dtype=theta.dtype).view(1, h, 1)
        xs = torch.arange(w, device=class_ids.device, dtype=theta.dtype).view(1, 1, w)
        proj = xs * torch.cos(theta) + ys * torch.sin(theta)
        ids = class_ids.reshape(n, -1)
        flat = proj.reshape(n, -1)
        big = float(h + w)
        lo = torch.full((n, 256), big, dtype=proj.dtype, device=proj.device).scatter_reduce(
            1, ids, flat, reduce="amin")
        hi = torch.full((n, 256), -big, dtype=proj.dtype, device=proj.device).scatter_reduce(
            1, ids, flat, reduce="amax")
        r = (flat - lo.gather(1, ids)) / (hi.gather(1, ids) - lo.gather(1, ids)).clamp(min=1.0)
        fade = (1.0 - r).view(n, h, w)
        return torch.where(feat("p_gradient") > 0.5, fade, torch.ones_like(fade))
