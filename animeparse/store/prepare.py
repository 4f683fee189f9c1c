"""Everything about a new sample that can be computed without the store: decode, hash, check and encode.

:func:`prepare_sample` is pure (no store access, picklable in and out), so ingest runs it in worker processes
on both cores; :meth:`Dataset.add_prepared` then only writes bytes and rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import FormatError
from ..imageio import dhash64, encode_mask_png, pixel_sha256, read_image
from ..labelmap import LabelMap

__all__ = ["MaskInput", "PreparedMask", "PreparedSample", "prepare_sample", "check_mask", "EXT_ALIASES"]

EXT_ALIASES = {".jpeg": ".jpg", ".tif": ".tiff"}


@dataclass(frozen=True)
class MaskInput:
    """A mask to store: HxW uint8 ids of the store's label map; ``source`` names the file it came from (errors)."""

    mask_hw: npt.NDArray[np.uint8]
    origin: Mapping[str, Any] = field(default_factory=lambda: {"kind": "import"})
    score: float | None = None
    source: str | None = None


@dataclass(frozen=True)
class PreparedMask:
    layer: str
    png: bytes
    sha256: str
    origin: str  # JSON
    score: float | None


@dataclass(frozen=True)
class PreparedSample:
    """A checked sample ready to commit. ``data`` holds the image file bytes when they are not the source file's
    (a crop); otherwise the source file is copied at commit and its SHA-256 checked against ``file_sha256``."""

    id: str
    sha256: str
    phash: str
    width: int
    height: int
    ext: str
    file_sha256: str
    source_path: str
    data: bytes | None
    name: str
    source: str
    split: str
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    masks: tuple[PreparedMask, ...] = ()
    parent_id: str | None = None
    parent_run: str | None = None


def check_mask(mask_hw: npt.NDArray[Any], shape_hw: tuple[int, int], labelmap: LabelMap, *, where: str,
               image_name: str) -> npt.NDArray[np.uint8]:
    """Refuse a mask that is not HxW uint8 at the image's size with ids of the label map (or 255)."""
    if mask_hw.ndim != 2 or mask_hw.dtype != np.uint8:
        raise FormatError(f"mask must be HxW uint8, got shape {mask_hw.shape} dtype {mask_hw.dtype}", path=where)
    if mask_hw.shape != tuple(shape_hw):
        raise FormatError(f"mask is {mask_hw.shape[1]}x{mask_hw.shape[0]}, image {image_name} is "
                          f"{shape_hw[1]}x{shape_hw[0]}; re-export the mask at image size or pass "
                          "--resize-masks nearest", path=where)
    bad = ~labelmap.valid_lut()[mask_hw]
    if bad.any():
        values = sorted(int(v) for v in np.unique(mask_hw[bad]))
        raise FormatError(f"mask has ids {values} that are not in the label map {labelmap.name} "
                          f"(ids {labelmap.ids[0]}..{labelmap.ids[-1]}, 255 ignore); remap them with "
                          "--map OLD=NEW or --remap FILE", path=where)
    return mask_hw


def prepare_sample(image_path: Path | str, *, labelmap: LabelMap, masks: Mapping[str, MaskInput] | None = None,
                   name: str | None = None, source: str | None = None, split: str = "train",
                   tags: tuple[str, ...] = (), meta: Mapping[str, Any] | None = None,
                   crop_xyxy: tuple[int, int, int, int] | None = None, pixels: npt.NDArray[np.uint8] | None = None,
                   file_bytes: bytes | None = None, parent_id: str | None = None,
                   parent_run: str | None = None) -> PreparedSample:
    """Decode (EXIF applied), optionally crop, hash and check an image and its masks.

    ``crop_xyxy`` (x0, y0, x1, y1; x1/y1 exclusive) cuts the image, which is then stored as a lossless PNG; masks
    must already be at the cropped size. ``file_bytes`` (the file, already read) and ``pixels`` (HxWx3 uint8 RGB,
    already decoded from those bytes) save reading and decoding twice.
    Raises FormatError naming the file on any problem.
    """
    image_path = Path(image_path)
    if file_bytes is None and (pixels is None or crop_xyxy is None):
        try:
            file_bytes = image_path.read_bytes()
        except OSError as err:
            raise FormatError(f"image could not be read ({err.strerror or err}); check the path", path=image_path) \
                from err
    if pixels is None:
        pixels = read_image(image_path, data=file_bytes)
    data: bytes | None = None
    ext = EXT_ALIASES.get(image_path.suffix.lower(), image_path.suffix.lower())
    if crop_xyxy is not None:
        x0, y0, x1, y1 = (int(v) for v in crop_xyxy)
        h, w = pixels.shape[:2]
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise FormatError(f"crop box {crop_xyxy} is outside the {w}x{h} image", path=image_path)
        pixels = np.ascontiguousarray(pixels[y0:y1, x0:x1])
        data, ext = _png_bytes(pixels), ".png"
    sha = pixel_sha256(pixels)
    height, width = pixels.shape[:2]
    palette = labelmap.palette()
    prepared_masks = []
    for layer, m in sorted((masks or {}).items()):
        check_mask(m.mask_hw, (height, width), labelmap, where=m.source or f"mask for {image_path}",
                   image_name=image_path.name)
        png = encode_mask_png(m.mask_hw, palette=palette)
        prepared_masks.append(PreparedMask(layer, png, hashlib.sha256(png).hexdigest(),
                                           json.dumps(dict(m.origin), sort_keys=True, default=str), m.score))
    file_sha = hashlib.sha256(data if data is not None else file_bytes).hexdigest()
    return PreparedSample(
        id=sha[:16], sha256=sha, phash=dhash64(pixels), width=width, height=height, ext=ext, file_sha256=file_sha,
        source_path=str(image_path), data=data, name=name or image_path.name,
        source=source if source is not None else str(image_path), split=split, tags=tuple(sorted(set(tags))),
        meta=dict(meta or {}), masks=tuple(prepared_masks), parent_id=parent_id, parent_run=parent_run)


def _png_bytes(pixels: npt.NDArray[np.uint8]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
