"""Tensor operations the manga translator is made of: separable convolutions, per-region means, mask contours,
screentone and a JPEG-like block quantiser. Pure functions on tensors (any device); no state, no I/O.

Shapes: N images, H x W pixels; masks are N x H x W int64 class ids; images N x C x H x W float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["blur", "blur_per_image", "region_mean", "mask_contours", "screentone", "jpeg_blocks", "image_quantiles",
           "kernel_taps", "region_top_threshold", "edge_strength", "grow"]


def _taps(kernels: torch.Tensor) -> range:
    """Indices of the taps that are non-zero in any kernel (bank kernels are zero-padded to a common length)."""
    used = torch.nonzero(kernels.reshape(-1, kernels.shape[-1]).abs().sum(0)).flatten().tolist()
    return range(min(used), max(used) + 1) if used else range(0)


def _conv_axis(x: torch.Tensor, kernels: torch.Tensor, axis: int, taps: range | None = None) -> torch.Tensor:
    """Correlate x (N x C x H x W) along ``axis`` (2 or 3) with ``kernels`` broadcastable to N x C x 1 x 1 x L,
    edges replicated.

    Written as a sum of shifted copies rather than ``conv2d``: each output pixel then goes through the same
    float operations in the same order whatever the batch size or thread count (oneDNN's convolution picks its
    algorithm by batch shape, and its last-bit differences flipped screentone pixels, so a re-run with another
    --batch-size gave other pixels and other sample ids). ``taps``: the non-zero taps when the caller knows them
    (finding them reads the kernel back from the device: a synchronisation per call on a GPU)."""
    length = kernels.shape[-1]
    pad = length // 2
    taps = _taps(kernels) if taps is None else taps
    padding = (pad, pad, 0, 0) if axis == 3 else (0, 0, pad, pad)
    xp = F.pad(x, padding, mode="replicate")
    size = x.shape[axis]
    out = torch.zeros_like(x)
    for i in taps:
        out = out + kernels[..., i] * xp.narrow(axis, i, size)
    return out


def kernel_taps(kernels: torch.Tensor) -> range:
    """The taps :func:`blur` / :func:`blur_per_image` need for these kernels (or any selection of them): compute
    once, where the kernels are made, and pass as ``taps``."""
    return _taps(kernels)


def blur(x: torch.Tensor, kernel: torch.Tensor, taps: range | None = None) -> torch.Tensor:
    """Separable blur of N x C x H x W float by one 1-D kernel (length L, odd), edges replicated."""
    k = kernel.view(1, 1, 1, 1, -1)
    return _conv_axis(_conv_axis(x, k, 3, taps), k, 2, taps)


def blur_per_image(x: torch.Tensor, kernels: torch.Tensor, taps: range | None = None) -> torch.Tensor:
    """Blur each image of N x 1 x H x W float with its own K 1-D kernels (``kernels`` N x K x L); N x K x H x W.
    ``taps``: from :func:`kernel_taps` of the whole bank the kernels were picked from (zero taps add nothing)."""
    n, k, length = kernels.shape
    per = kernels.view(n, k, 1, 1, length)
    return _conv_axis(_conv_axis(x.expand(-1, k, -1, -1), per, 3, taps), per, 2, taps)


def region_mean(values: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
    """Mean of N x H x W float ``values`` over each class region of ``class_ids`` (N x H x W int64, 0..255),
    broadcast back to N x H x W: every pixel gets its region's mean."""
    n = values.shape[0]
    ids = class_ids.reshape(n, -1)
    # float64 sums: the summation order of scatter_add may change with the batch; in float64 that cannot show
    # in the float32 result
    flat = values.reshape(n, -1).double()
    sums = torch.zeros(n, 256, dtype=torch.float64, device=values.device).scatter_add_(1, ids, flat)
    counts = torch.zeros_like(sums).scatter_add_(1, ids, torch.ones_like(flat))
    return (sums / counts.clamp(min=1)).gather(1, ids).view_as(values).to(values.dtype)


def image_quantiles(values: torch.Tensor, qs: torch.Tensor) -> torch.Tensor:
    """Per-image quantiles of N x H x W float ``values`` in 0..1 from a 256-bin histogram: N x K, for ``qs`` N x K
    (0..1). Counting in float64 is exact, so the result never depends on the batch."""
    n = values.shape[0]
    idx = (values.reshape(n, -1).clamp(0, 1) * 255).round().long()
    counts = torch.zeros(n, 256, dtype=torch.float64, device=values.device)
    counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))
    cdf = counts.cumsum(1) / counts.sum(1, keepdim=True)
    bins = torch.searchsorted(cdf, qs.to(torch.float64).contiguous()).clamp(max=255)
    return bins.to(values.dtype) / 255.0


def region_top_threshold(values: torch.Tensor, class_ids: torch.Tensor, share: torch.Tensor, *,
                         bins: int = 64) -> torch.Tensor:
    """Per class region, the lowest value t (a multiple of 1/``bins``) such that at most ``share`` of the region's
    pixels have ``values`` >= t; broadcast back to N x H x W.

    ``values``: N x H x W float (clamped to 0..1 for the count); ``class_ids``: N x H x W int64 (0..255); ``share``:
    N x 256 float, the allowed share per class id. A region whose top bin alone holds more than its share gets 1.0
    plus a bin (nothing of it reaches the threshold). Exact float64 counts: independent of the batch.
    """
    n = values.shape[0]
    ids = class_ids.reshape(n, -1)
    b = (values.reshape(n, -1).clamp(0, 1) * bins).floor().long().clamp(max=bins - 1)
    counts = torch.zeros(n, 256 * bins, dtype=torch.float64, device=values.device)
    counts.scatter_add_(1, ids * bins + b, torch.ones_like(b, dtype=torch.float64))
    counts = counts.view(n, 256, bins)
    # share of the region at or above each bin
    tail = counts.flip(-1).cumsum(-1).flip(-1) / counts.sum(-1, keepdim=True).clamp(min=1)
    ok = tail <= share.to(torch.float64).unsqueeze(-1)
    none = torch.full((n, 256), bins + 1, device=values.device)
    first = torch.where(ok.any(-1), ok.to(torch.int8).argmax(-1), none)
    per_class = first.to(values.dtype) / bins
    return per_class.gather(1, ids).view_as(values)


def edge_strength(image: torch.Tensor, kernel: torch.Tensor, radius: int, taps: range | None = None) -> torch.Tensor:
    """How strong an edge the art has at or near each pixel: N x H x W float.

    ``image``: N x C x H x W float 0..1 (colour, so an edge between two colours of equal luminance counts);
    smoothed by the 1-D ``kernel``, central differences along x and y, the largest over channels and axes, then
    the maximum within ``radius`` pixels (a square window)."""
    s = blur(image, kernel, taps)
    gx = torch.zeros_like(s)
    gy = torch.zeros_like(s)
    gx[..., 1:-1] = (s[..., 2:] - s[..., :-2]).abs() * 0.5
    gy[..., 1:-1, :] = (s[..., 2:, :] - s[..., :-2, :]).abs() * 0.5
    g = torch.maximum(gx, gy).amax(1, keepdim=True)
    return grow(g, radius)[:, 0]


def grow(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum of N x C x H x W float over a (2 ``radius`` + 1) square window (edges clamp); radius 0 = x.

    Separable maxima of shifted copies: exact, and far faster on the CPU than ``max_pool2d`` with its indices."""
    if radius <= 0:
        return x
    h, w = x.shape[-2:]
    xp = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    out = xp.narrow(3, 0, w)
    for i in range(1, 2 * radius + 1):
        out = torch.maximum(out, xp.narrow(3, i, w))
    yp = F.pad(out, (0, 0, radius, radius), mode="replicate")
    out = yp.narrow(2, 0, h)
    for i in range(1, 2 * radius + 1):
        out = torch.maximum(out, yp.narrow(2, i, h))
    return out


def mask_contours(class_ids: torch.Tensor, inked: torch.Tensor, widths: torch.Tensor, *,
                  ignore_index: int = 255) -> torch.Tensor:
    """Lines along class boundaries: N x H x W float 0/1.

    ``inked`` (N x H x W bool) marks pixels whose region wants a contour; a boundary is drawn where either side
    wants one and neither side is the ignore index. ``widths`` (N int64, 1..4) is the line width per image: 1 marks
    the pixel before each boundary, 2 both sides, more dilates.
    """
    valid = class_ids != ignore_index
    diff_x = (class_ids[:, :, 1:] != class_ids[:, :, :-1]) & valid[:, :, 1:] & valid[:, :, :-1] \
        & (inked[:, :, 1:] | inked[:, :, :-1])
    diff_y = (class_ids[:, 1:] != class_ids[:, :-1]) & valid[:, 1:] & valid[:, :-1] & (inked[:, 1:] | inked[:, :-1])
    one = torch.zeros_like(class_ids, dtype=torch.bool)
    one[:, :, :-1] |= diff_x
    one[:, :-1] |= diff_y
    two = one.clone()
    two[:, :, 1:] |= diff_x
    two[:, 1:] |= diff_y
    out = torch.where(widths.view(-1, 1, 1) <= 1, one, two).float()
    for width in sorted({int(v) for v in widths.tolist() if v > 2}):
        # odd widths grow symmetrically from the 2-pixel line; rare (large images only), so a loop is fine
        k = 2 * (width // 2) + 1
        grown = F.max_pool2d(two.float()[:, None], k, stride=1, padding=k // 2)[:, 0]
        out = torch.where(widths.view(-1, 1, 1) == width, grown, out)
    return out


def screentone(coverage: torch.Tensor, angle_deg: torch.Tensor, pitch: torch.Tensor, lines: torch.Tensor,
               soft_px: torch.Tensor, cdf: torch.Tensor) -> torch.Tensor:
    """Paper value (1 = white, 0 = ink) of a halftone screen, N x H x W float.

    ``coverage`` is the ink share per pixel (0..1); ``angle_deg``, ``pitch`` (pixels per period, >= 2) and
    ``lines`` (bool: a line screen, else round dots) vary per pixel, so every region has its own screen.
    ``cdf`` (2 x B: dots, lines) turns the raw screen into a field uniform over one period, so the inked share
    equals ``coverage``. ``soft_px`` (N x 1 x 1) is the edge width in pixels: scans never have hard dot edges.
    """
    n, h, w = coverage.shape
    ys = torch.arange(h, device=coverage.device, dtype=coverage.dtype).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=coverage.device, dtype=coverage.dtype).view(1, 1, w) + 0.5
    theta = angle_deg * (math.pi / 180.0)
    cos_t, sin_t = torch.cos(theta), torch.sin(theta)
    freq = (2 * math.pi) / pitch
    u = (xs * cos_t + ys * sin_t) * freq
    v = (ys * cos_t - xs * sin_t) * freq
    cu = torch.cos(u)
    raw = torch.where(lines, cu, 0.5 * (cu + torch.cos(v)))
    # linear interpolation in the tabulated CDF of the chosen screen
    bins = cdf.shape[1]
    pos = ((raw + 1) * 0.5 * (bins - 1)).clamp(0, bins - 1)
    lo = pos.floor().long().clamp(max=bins - 2)
    frac = pos - lo
    flat_idx = lines.long() * bins + lo
    flat = cdf.reshape(-1)
    uniform = flat[flat_idx] * (1 - frac) + flat[flat_idx + 1] * frac
    # the uniform field's slope near an edge is ~1.8 / pitch per pixel for dots and 2 / pitch for lines
    width = (soft_px * 1.8 / pitch).clamp(min=1e-3)
    ink = ((uniform - (1 - coverage)) / width + 0.5).clamp(0, 1)
    ink = torch.where(coverage <= 0.002, torch.zeros_like(ink), ink)
    ink = torch.where(coverage >= 0.998, torch.ones_like(ink), ink)
    return 1 - ink


def jpeg_blocks(x: torch.Tensor, quality: torch.Tensor, dct: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """JPEG-like degradation of N x 1 x H x W float in 0..1: 8x8 block DCT, quantised with ``table`` (8 x 8, the
    quality-50 luminance table) scaled to ``quality`` (N, 1..100) as libjpeg scales it, then inverted."""
    n, c, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    # float64 block transforms: batched matmul may sum in a batch-dependent order; float64 hides that from
    # the rounding to quantiser steps below
    y = F.pad(x, (0, pw, 0, ph), mode="replicate").double() * 255.0 - 128.0
    dct, table = dct.double(), table.double()
    hb, wb = (h + ph) // 8, (w + pw) // 8
    blocks = y.view(n, c, hb, 8, wb, 8).permute(0, 1, 2, 4, 3, 5)
    coef = dct @ blocks @ dct.T
    q = quality.double().clamp(1, 100).view(n, 1, 1, 1, 1, 1)
    scale = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    steps = torch.floor((table * scale + 50.0) / 100.0).clamp(1, 255)
    coef = torch.round(coef / steps) * steps
    out = (dct.T @ coef @ dct).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h + ph, w + pw)[:, :, :h, :w]
    return ((out + 128.0) / 255.0).to(x.dtype)
