"""Style augmentation: training pictures that look less like the generator and more like the range of anime art.

A parser trained on generated faces alone learns the generator's flat colours, clean backgrounds and one line
weight, and breaks on real art. Each training image gets, from a CPU ``torch.Generator`` (so a resumed run draws
what an uninterrupted one would), with its own probability each:

- ``region_hue``: hair, clothes, hats and background recoloured independently (a hue rotation about the grey axis
  per region, read off the target mask), so colour alone cannot say "hair";
- ``shading``: painted light inside hair, skin and clothes (a smooth random light field per image) and strands
  in the hair (thin stripes along a random, mostly vertical direction, with a highlight band): the generator
  paints flat regions, illustrators do not;
- ``background``: the background class replaced by a crop of one of the store's unlabelled images (blurred and
  recoloured: it is clutter, not a second face) or by a procedural backdrop (gradient, stripes, spots);
- ``ink``: dark lines drawn from the picture's own edges (gradient magnitude), of random weight;
- ``posterize``: flat shading, 3-8 levels per channel;
- ``tone``: saturation, gamma and contrast; ``grey``: greyscale, sometimes with a dot screentone;
- ``blur``, ``noise`` and ``jpeg`` (OpenCV's codec, quality 30-90): scans and web copies.

The target is never changed here: geometry (flip, zoom, rotation) is :func:`~.augment.augment_batch`'s, before this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["StyleConfig", "style_batch", "procedural_background", "RECOLOUR_CLASSES", "SHADE_CLASSES"]

# regions recoloured independently (colour says little about them in anime art), by class name over the bundled maps
RECOLOUR_CLASSES = ("background", "hair", "cloth", "hat", "ear_r", "neck_l", "eye_g", "top", "bottom", "dress",
                    "shoes", "accessory", "weapon", "tail_wings")
# regions that get painted light (and, for hair, strands)
SHADE_CLASSES = ("skin", "hair", "cloth", "hat", "neck", "face", "body_skin", "top", "bottom", "dress")


@dataclass(frozen=True)
class StyleConfig:
    """Probability of each transform per image (0 = never). See the module docstring."""

    region_hue: float = 0.6
    shading: float = 0.6
    background: float = 0.6
    ink: float = 0.4
    posterize: float = 0.25
    tone: float = 0.6
    grey: float = 0.1
    blur: float = 0.25
    noise: float = 0.25
    jpeg: float = 0.25

    @classmethod
    def off(cls) -> StyleConfig:
        return cls(**{k: 0.0 for k in cls.__dataclass_fields__})


# the number of uniform draws one image consumes, whatever it ends up using (resume equality needs a fixed count)
_DRAWS = 41


def _hue_matrix(angle: float) -> torch.Tensor:
    """3x3 RGB rotation about the grey axis by ``angle`` radians (keeps luminance roughly, greys stay grey)."""
    c, s = math.cos(angle), math.sin(angle)
    k = 1.0 / 3.0
    q = math.sqrt(k)
    return torch.tensor([[c + (1 - c) * k, k * (1 - c) - q * s, k * (1 - c) + q * s],
                         [k * (1 - c) + q * s, c + k * (1 - c), k * (1 - c) - q * s],
                         [k * (1 - c) - q * s, k * (1 - c) + q * s, c + k * (1 - c)]], dtype=torch.float32)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """1xHxW luminance of a 3xHxW image."""
    return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a CxHxW image."""
    radius = max(1, int(round(2.5 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[0]
    y = F.conv2d(F.pad(x[None], (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                 groups=c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                 groups=c)
    return y[0]


def procedural_background(shape_hw: tuple[int, int], r: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A 3xHxW backdrop in [0, 1] from 8 uniform draws ``r``: a two-colour gradient at a random angle, with faint
    stripes or soft spots."""
    h, w = shape_hw
    ys = torch.linspace(-1, 1, h, device=device).view(h, 1)
    xs = torch.linspace(-1, 1, w, device=device).view(1, w)
    angle = float(r[0]) * 2 * math.pi
    t = ((math.cos(angle) * xs + math.sin(angle) * ys) * 0.5 + 0.5).clamp(0, 1)
    a = torch.stack([r[1], r[2], r[3]]).to(device).view(3, 1, 1)
    b = torch.stack([r[3], r[1], r[4]]).to(device).view(3, 1, 1)
    img = a * (1 - t) + b * t
    freq = 4 + float(r[5]) * 20
    if float(r[6]) < 0.5:
        img = img + 0.08 * torch.sin(freq * (xs * math.sin(angle) - ys * math.cos(angle)))
    else:
        img = img + 0.1 * torch.cos(freq * xs) * torch.cos(freq * ys * (0.5 + float(r[7])))
    return img.clamp(0, 1)


def _shade(x: torch.Tensor, y: torch.Tensor, channels: list[int], hair: int | None, r: torch.Tensor) -> torch.Tensor:
    """Light and strands painted into regions (see ``shading``); ``r``: 8 uniform draws."""
    _, h, w = x.shape
    device = x.device
    # a smooth light field: a 4x4 grid of gains in [0.75, 1.2], upsampled (its own generator, seeded from r)
    g = torch.Generator().manual_seed(int(float(r[0]) * 2**31))
    grid = 0.75 + 0.45 * torch.rand(1, 1, 4, 4, generator=g)
    light = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)[0].to(device).clamp(0.6, 1.3)
    shade = torch.zeros(h, w, dtype=torch.bool, device=device)
    for ch in channels:
        shade |= y == ch
    out = torch.where(shade[None], (x * light).clamp(0, 1), x)
    if hair is not None and float(r[1]) < 0.8:
        region = (y == hair)[None]
        if region.any():
            angle = math.pi / 2 + (float(r[2]) - 0.5) * 0.8  # mostly vertical strands
            pitch = 3.0 + 6.0 * float(r[3])
            yy = torch.arange(h, device=device, dtype=x.dtype).view(h, 1)
            xx = torch.arange(w, device=device, dtype=x.dtype).view(1, w)
            along = xx * math.sin(angle) - yy * math.cos(angle)
            wobble = 4.0 * torch.sin(yy / (10 + 30 * float(r[4])) + 6.28 * float(r[5]))
            strands = torch.sin(2 * math.pi * (along + wobble) / pitch)
            band_y = h * (0.15 + 0.4 * float(r[6]))
            highlight = torch.exp(-(((yy - band_y) / (0.04 * h)) ** 2)) * (0.25 + 0.35 * float(r[7]))
            hair_px = (out * (1 + 0.12 * strands) + highlight * (1 - out)).clamp(0, 1)
            out = torch.where(region, hair_px, out)
    return out


def style_batch(images: torch.Tensor, targets: torch.Tensor, *, generator: torch.Generator, config: StyleConfig,
                recolour_channels: torch.Tensor, background_channel: int | None,
                backgrounds: torch.Tensor | None = None, shade_channels: list[int] | None = None,
                hair_channel: int | None = None) -> torch.Tensor:
    """Restyle a batch.

    ``images``: Bx3xSxS float32 RGB in [0, 1]; ``targets``: BxSxS int64 channel indices or negative (ignore);
    ``recolour_channels``: the target channels whose regions get their own hue (hair, cloth, hat, background);
    ``background_channel``: the target channel replaced by a backdrop (None: no replacement); ``backgrounds``:
    Nx3xSxS uint8 images to crop backdrops from (None or empty: procedural only); ``shade_channels`` /
    ``hair_channel``: the regions ``shading`` paints light / strands into. Returns Bx3xSxS in [0, 1].
    """
    n, _, h, w = images.shape
    device = images.device
    draws = torch.rand(n, _DRAWS, generator=generator)
    out = []
    for i in range(n):
        r = draws[i]
        x, y = images[i], targets[i]
        if float(r[0]) < config.region_hue:
            for ch in recolour_channels.tolist():
                region = y == ch
                if region.any():
                    m = _hue_matrix(float(torch.rand(1, generator=generator)) * 2 * math.pi).to(device)
                    x = torch.where(region[None], torch.einsum("ij,jhw->ihw", m, x).clamp(0, 1), x)
        if shade_channels and float(r[32]) < config.shading:
            x = _shade(x, y, shade_channels, hair_channel, r[33:41])
        if background_channel is not None and float(r[1]) < config.background:
            region = (y == background_channel)[None]
            if region.any():
                x = torch.where(region, _backdrop((h, w), r[16:28], backgrounds, device), x)
        if float(r[2]) < config.ink:
            g = _grey(x)
            gx = g[:, :, 2:] - g[:, :, :-2]
            gy = g[:, 2:, :] - g[:, :-2, :]
            mag = torch.zeros_like(g)
            mag[:, 1:-1, 1:-1] = (gx[:, 1:-1, :] ** 2 + gy[:, :, 1:-1] ** 2).sqrt()
            thresh = 0.04 + 0.12 * float(r[3])
            line = ((mag - thresh) * 30).sigmoid()
            if float(r[4]) < 0.5:  # a thicker pen
                line = F.max_pool2d(line[None], 3, 1, 1)[0]
            x = x * (1 - (0.5 + 0.5 * float(r[5])) * line)
        if float(r[6]) < config.posterize:
            levels = 3 + int(float(r[7]) * 6)
            x = torch.round(_blur(x, 1.0) * (levels - 1)) / (levels - 1)
        if float(r[8]) < config.tone:
            sat = 0.3 + 1.2 * float(r[9])
            g = _grey(x)
            x = (g + sat * (x - g)).clamp(0, 1) ** (0.6 + 0.9 * float(r[10]))
            x = ((x - 0.5) * (0.7 + 0.6 * float(r[11])) + 0.5).clamp(0, 1)
        if float(r[12]) < config.grey:
            g = _grey(x)
            if float(r[13]) < 0.4:  # dot screentone: dark dots where the grey is dark
                pitch = 3 + float(r[14]) * 5
                u = torch.arange(h, device=device).view(h, 1) * (2 * math.pi / pitch)
                v = torch.arange(w, device=device).view(1, w) * (2 * math.pi / pitch)
                dots = 0.5 + 0.25 * (torch.cos(u) + torch.cos(v))
                g = torch.where(g > 0.85, g, (g > dots).float() * 0.9 + 0.05)
            x = g.expand(3, h, w)
        if float(r[15]) < config.blur:
            x = _blur(x, 0.5 + 1.2 * float(r[28]))
        if float(r[29]) < config.noise:
            x = (x + torch.randn(x.shape, generator=generator).to(device) * (0.01 + 0.05 * float(r[30]))).clamp(0, 1)
        if float(r[31]) < config.jpeg:
            x = _jpeg(x, quality=30 + int(60 * float(r[28])))
        out.append(x)
    return torch.stack(out)


def _backdrop(shape_hw: tuple[int, int], r: torch.Tensor, backgrounds: torch.Tensor | None,
              device: torch.device) -> torch.Tensor:
    """A 3xHxW backdrop: a blurred, recoloured crop of an unlabelled image (when there are some, 2 times in 3), else
    procedural. ``r``: 12 uniform draws."""
    h, w = shape_hw
    if backgrounds is not None and len(backgrounds) and float(r[8]) < 2 / 3:
        src = backgrounds[min(int(float(r[9]) * len(backgrounds)), len(backgrounds) - 1)].to(device).float() / 255
        # a corner-ish crop at 1.5-3x zoom: the subject of an illustration is usually in the middle
        zoom = 1.5 + 1.5 * float(r[10])
        ch, cw = max(8, int(src.shape[1] / zoom)), max(8, int(src.shape[2] / zoom))
        corner = int(float(r[11]) * 4)
        y0 = 0 if corner < 2 else src.shape[1] - ch
        x0 = 0 if corner % 2 == 0 else src.shape[2] - cw
        crop = src[:, y0:y0 + ch, x0:x0 + cw]
        crop = F.interpolate(crop[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        crop = _blur(crop, 1.0 + 2.0 * float(r[0]))
        return torch.einsum("ij,jhw->ihw", _hue_matrix(float(r[1]) * 2 * math.pi).to(device), crop).clamp(0, 1)
    return procedural_background((h, w), r[:8], device)


def _jpeg(x: torch.Tensor, *, quality: int) -> torch.Tensor:
    """A JPEG round trip of a 3xHxW image in [0, 1] (OpenCV's codec, on the CPU)."""
    import cv2
    import numpy as np

    u8 = (x.detach().cpu() * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    back = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
    if back is None:
        back = u8
    return torch.from_numpy(back.reshape(u8.shape)).permute(2, 0, 1).to(x.device).float() / 255
