"""Synthetic anime-style face portraits with exact per-pixel class masks.

The mask is painted first (shapes in z-order, no anti-aliasing) and the image is
rendered *from* it: every colour, highlight and line is painted inside the region
it belongs to, so the mask is exact ground truth for the picture.

Class ids (Danbooru-Parsing / face-parsing order)::

    0 background  1 skin  2 l_brow  3 r_brow  4 l_eye  5 r_eye  6 eye_g
    7 l_ear  8 r_ear  9 ear_r  10 nose  11 mouth  12 u_lip  13 l_lip
    14 neck  15 neck_l  16 cloth  17 hair  18 hat

Left/right: ``LR_CONVENTION = "subject"`` -- ``l_`` is the *subject's* left,
which appears on the IMAGE RIGHT (x > face centre) of a frontal portrait.

Determinism: every random choice is drawn up front into a frozen
:class:`FaceParams`; geometry uses the ``math`` module (numpy's float64 sin/cos/pow
are SIMD-dispatched and may differ by an ulp between CPUs) and the image uses only
elementwise float32 arithmetic and integer blurring, so the same
``(seed, index, size)`` gives identical arrays on every run and machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..fsutil import TMP_SUFFIX, atomic_open
from .drawing import _draw, _render, _shapes
from .face_params import FaceParams, sample_params

__all__ = ["LR_CONVENTION", "FaceParams", "generate_face", "render_face", "sample_params", "write_demo_data"]

LR_CONVENTION: str = "subject"

_log = logging.getLogger(__name__)


def render_face(params: FaceParams, *, size: int = 512
                ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Render one face.

    Returns ``(image, mask)``: image is ``(size, size, 3)`` uint8 RGB, mask is
    ``(size, size)`` uint8 holding class ids 0..18 (see module docstring).
    """
    if size < 32:
        raise ValueError(f"size must be >= 32, got {size}")
    shapes = _shapes(params)
    mask = np.array(_draw(params, size, shapes), dtype=np.uint8)
    return _render(params, mask, size), mask


def generate_face(seed: int, index: int, *, size: int = 512
                  ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Deterministic face number ``index`` of dataset ``seed``.

    Uses ``np.random.default_rng([seed, index])``; returns ``(image, mask)`` as
    :func:`render_face` does ((H, W, 3) uint8 RGB, (H, W) uint8 ids).
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got {seed}, {index}")
    rng = np.random.default_rng([seed, index])
    params = sample_params(rng, size=size)
    return render_face(params, size=size)


def _save_atomic(im: Image.Image, path: Path) -> None:
    with atomic_open(path, "wb") as fh:
        im.save(fh, format="PNG")


def write_demo_data(out: Path, n: int, *, seed: int = 0, size: int = 512,
                    progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Write ``n`` faces to ``out/images/face_{i:04d}.png`` (RGB) and
    ``out/masks/face_{i:04d}.png`` (L mode, pixel value = class id).

    Resumable: an index whose image and mask both exist is skipped. Each file is
    written atomically, mask first, so an image never exists without its mask.
    Calls ``progress(done, n)`` after each index; returns the stems in order.
    """
    out = Path(out)
    img_dir, mask_dir = out / "images", out / "masks"
    img_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    # a run killed mid-write leaves hidden temp files; this folder is ours, so clear them before resuming
    for leftover in [*img_dir.glob(f".*{TMP_SUFFIX}"), *mask_dir.glob(f".*{TMP_SUFFIX}")]:
        leftover.unlink(missing_ok=True)
    stems: list[str] = []
    for i in range(n):
        stem = f"face_{i:04d}"
        img_path, mask_path = img_dir / f"{stem}.png", mask_dir / f"{stem}.png"
        if img_path.exists() and mask_path.exists():
            _log.debug("skip %s (exists)", stem)
        else:
            image, mask = generate_face(seed, i, size=size)
            _save_atomic(Image.fromarray(mask), mask_path)
            _save_atomic(Image.fromarray(image), img_path)
        stems.append(stem)
        if progress is not None:
            progress(i + 1, n)
    return stems
