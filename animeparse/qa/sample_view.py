"""One sample as the pixel checks see it: files read, hashed and decoded once, lazily, in a worker process.

Every check that needs pixels reads them through a :class:`SampleView`, so the image and each mask are decoded at
most once however many checks run, and the per-class contours (the costly part after decoding) are computed once
and shared by the shape and layout checks.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from ..errors import FormatError
from ..imageio import read_image, read_mask
from ..labelmap import IGNORE_INDEX, LabelMap
from ..store import MaskRecord, Sample

__all__ = ["FileState", "ClassStats", "SampleView", "SampleFacts", "ring_values", "KERNEL3"]

KERNEL3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class FileState:
    """A file of the store as found: ``data`` (its bytes) is None when it is missing or unreadable (``error``)."""

    rel: str
    data: bytes | None
    error: str | None
    sha256: str | None


@dataclass(frozen=True)
class ClassStats:
    """One class in a mask, from its contours (OpenCV RETR_CCOMP: one outer contour per 8-connected component,
    plus the hole contours). ``area`` is the exact pixel count; ``bbox`` = (x, y, w, h); ``boxes`` = Kx4 int32
    (x, y, w, h) and ``polygon_areas`` = K float64 per component (polygon through the boundary pixel centres, so
    0 for a 1-pixel speck); ``outer`` / ``holes`` are the contours (Nx1x2 int32 x, y)."""

    id: int
    area: int
    bbox: tuple[int, int, int, int]
    boxes: npt.NDArray[np.int32]
    polygon_areas: npt.NDArray[np.float64]
    outer: tuple[npt.NDArray[np.int32], ...]
    holes: tuple[npt.NDArray[np.int32], ...]

    @property
    def top(self) -> int:
        return self.bbox[1]

    @cached_property
    def centroid_xy(self) -> tuple[float, float]:
        """(x, y) centre of the class's area: polygon moments of the outer contours minus the holes (the
        bbox centre when every piece is a 1-pixel-wide speck)."""
        m00 = m10 = m01 = 0.0
        for sign, contours in ((1.0, self.outer), (-1.0, self.holes)):
            for c in contours:
                m = cv2.moments(c)
                m00, m10, m01 = m00 + sign * m["m00"], m10 + sign * m["m10"], m01 + sign * m["m01"]
        if m00 <= 0:
            x, y, w, h = self.bbox
            return x + (w - 1) / 2, y + (h - 1) / 2
        return m10 / m00, m01 / m00

    def region(self, k: int, mask: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.bool_], tuple[int, int]]:
        """Component ``k``'s pixels as an hxw bool crop of its box, and the box's (x, y) in the mask."""
        x, y, w, h = (int(v) for v in self.boxes[k])
        filled = np.zeros((h, w), np.uint8)
        cv2.drawContours(filled, [self.outer[k]], 0, 1, thickness=cv2.FILLED, offset=(-x, -y))
        return filled.astype(bool) & (mask[y:y + h, x:x + w] == self.id), (x, y)


@dataclass(frozen=True)
class SampleFacts:
    """What a worker tells the driver about a sample for the store-level checks: ``pixel_sha`` (the decoded
    image's SHA-256, or the manifest's when the file bytes verified) and ``lr`` ("subject" / "image" / None: the
    left/right convention its mask follows) with ``lr_reason`` (which pair, in which direction)."""

    pixel_sha: str | None = None
    lr: str | None = None
    lr_reason: str = ""


class SampleView:
    """A sample's files under ``root``; each property reads, hashes or decodes on first use and caches."""

    def __init__(self, root: Path, labelmap: LabelMap, sample: Sample, masks: list[MaskRecord], layer: str,
                 *, need_pixel_sha: bool = False) -> None:
        self.root = root
        self.labelmap = labelmap
        self.sample = sample
        self.masks = {m.layer: m for m in masks}
        self.layer = layer
        self.need_pixel_sha = need_pixel_sha
        self._mask_cache: dict[str, tuple[npt.NDArray[np.uint8] | None, str | None, str | None]] = {}
        self._stats: dict[int, ClassStats | None] = {}

    # -- files --------------------------------------------------------------------------------------------------
    def _read(self, rel: str) -> FileState:
        try:
            data = (self.root / rel).read_bytes()
        except FileNotFoundError:
            return FileState(rel, None, "missing", None)
        except OSError as err:
            return FileState(rel, None, f"unreadable ({err.strerror or err})", None)
        except ValueError as err:  # a path no file can have (a NUL byte): a damaged manifest row
            return FileState(rel, None, f"unreadable ({err})", None)
        return FileState(rel, data, None, hashlib.sha256(data).hexdigest())

    @cached_property
    def image_file(self) -> FileState:
        return self._read(self.sample.image)

    def mask_file(self, layer: str) -> FileState:
        return self._mask_files[layer]

    @cached_property
    def _mask_files(self) -> dict[str, FileState]:
        return {layer: self._read(rec.path) for layer, rec in self.masks.items()}

    # -- image --------------------------------------------------------------------------------------------------
    @cached_property
    def _image(self) -> tuple[npt.NDArray[np.uint8] | None, str | None]:
        f = self.image_file
        if f.data is None:
            return None, f.error
        try:
            return read_image(self.root / f.rel, data=f.data), None
        except FormatError as err:
            return None, f"{f.rel}: {_reason(err)}"

    @property
    def image(self) -> npt.NDArray[np.uint8] | None:
        """HxWx3 uint8 RGB, or None when the file is missing or does not decode (see :attr:`image_error`)."""
        return self._image[0]

    @property
    def image_error(self) -> str | None:
        return self._image[1]

    @cached_property
    def pixel_sha(self) -> str | None:
        """The image's pixel identity. When the file's bytes equal the manifest's ``file_sha256`` the pixels are
        the ones hashed at ingest, so the manifest's ``sha256`` stands (saves hashing 0.8 MB per 512x512 image);
        otherwise, or when ``need_pixel_sha`` (the driver saw another row with the same hashes), the decoded
        pixels are hashed."""
        from ..imageio import pixel_sha256

        if self.image_file.sha256 == self.sample.file_sha256 and not self.need_pixel_sha:
            return self.sample.sha256
        return None if self.image is None else pixel_sha256(self.image)

    # -- masks --------------------------------------------------------------------------------------------------
    def _decode_mask(self, layer: str) -> tuple[npt.NDArray[np.uint8] | None, str | None, str | None]:
        """(HxW uint8 ids or None, decode error or None, PNG mode or None)."""
        if layer not in self._mask_cache:
            f = self.mask_file(layer)
            if f.data is None:
                self._mask_cache[layer] = (None, f.error, None)
            else:
                mode = None
                try:
                    mode = _png_mode(f.data)
                    if mode is None:
                        with Image.open(io.BytesIO(f.data)) as img:  # header only: the mode the file declares
                            mode = img.mode
                    self._mask_cache[layer] = (read_mask(self.root / f.rel, data=f.data), None, mode)
                except FormatError as err:
                    self._mask_cache[layer] = (None, f"{f.rel}: {_reason(err)}", mode)
                except Exception as err:  # noqa: BLE001 - Pillow's header parser raises many types on garbage
                    self._mask_cache[layer] = (None, f"{f.rel}: does not decode ({err})", mode)
        return self._mask_cache[layer]

    def mask_of(self, layer: str) -> npt.NDArray[np.uint8] | None:
        return self._decode_mask(layer)[0] if layer in self.masks else None

    def mask_error(self, layer: str) -> str | None:
        return self._decode_mask(layer)[1]

    def mask_mode(self, layer: str) -> str | None:
        return self._decode_mask(layer)[2]

    @property
    def mask(self) -> npt.NDArray[np.uint8] | None:
        """HxW uint8 ids of the checked layer, or None when the sample has none or it does not decode."""
        return self.mask_of(self.layer)

    @property
    def mask_rel(self) -> str:
        rec = self.masks.get(self.layer)
        return rec.path if rec else f"masks/{self.layer}/{self.sample.id}.png"

    # -- per-class analysis -------------------------------------------------------------------------------------
    @cached_property
    def counts(self) -> npt.NDArray[np.int64]:
        """256 pixel counts by id of :attr:`mask` (zeros when there is no mask)."""
        from ..store.prepare import class_counts

        return np.zeros(256, np.int64) if self.mask is None else class_counts(self.mask)

    def class_stats(self, class_id: int) -> ClassStats | None:
        """Components of one id in :attr:`mask` (None when absent); cached."""
        if class_id not in self._stats:
            self._stats[class_id] = None if self.mask is None or not self.counts[class_id] else \
                _components(self.mask, class_id, int(self.counts[class_id]))
        return self._stats[class_id]

    def present_classes(self) -> list[int]:
        """Ids with pixels in :attr:`mask`, background (0) and ignore excluded."""
        return [int(c) for c in np.nonzero(self.counts)[0] if c not in (0, IGNORE_INDEX)]


def _png_mode(data: bytes) -> str | None:
    """Pillow's mode name for an 8-bit greyscale or palette PNG, read from IHDR (bit depth at byte 24, colour type
    at 25) without parsing the file; None for anything else (the caller asks Pillow)."""
    if len(data) < 26 or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or data[24] != 8:
        return None
    return {0: "L", 3: "P"}.get(data[25])


def _reason(err: FormatError) -> str:
    """The error's message without the absolute path FormatError puts in front (findings name store paths)."""
    return str(err.args[0]) if err.args else str(err)


def _components(mask: npt.NDArray[np.uint8], class_id: int, area: int) -> ClassStats:
    # contours, not connected-component labelling: on a 512x512 class image findContours costs ~50 us against
    # ~150 us (labels) or ~800 us (labels + stats), and the checks only need the few small pieces exactly
    binary = cv2.inRange(mask, class_id, class_id)  # type: ignore[call-overload]  # scalar bounds: OpenCV's stubs list arrays only; 0/255 uint8; ~50x faster than cv2.compare with a scalar
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    parents = hierarchy[0][:, 3] if hierarchy is not None else np.zeros(0, np.int32)
    outer = tuple(c for c, p in zip(contours, parents) if p < 0)
    holes = tuple(c for c, p in zip(contours, parents) if p >= 0)
    boxes = np.array([cv2.boundingRect(c) for c in outer], np.int32).reshape(-1, 4)
    x0, y0 = int(boxes[:, 0].min()), int(boxes[:, 1].min())
    x1, y1 = int((boxes[:, 0] + boxes[:, 2]).max()), int((boxes[:, 1] + boxes[:, 3]).max())
    polys = np.array([cv2.contourArea(c) for c in outer], np.float64)
    return ClassStats(class_id, area, (x0, y0, x1 - x0, y1 - y0), boxes, polys, outer, holes)


def ring_values(mask: npt.NDArray[np.uint8], region: npt.NDArray[np.bool_], origin_xy: tuple[int, int],
                *, width: int = 1) -> npt.NDArray[np.uint8]:
    """Ids of the ``width``-pixel band around ``region`` (an hxw bool crop whose top-left is ``origin_xy`` in the
    HxW ``mask``), clipped to the mask; 1-D uint8."""
    x0, y0 = origin_xy
    h, w = region.shape
    H, W = mask.shape
    ax, ay = max(0, x0 - width), max(0, y0 - width)
    bx, by = min(W, x0 + w + width), min(H, y0 + h + width)
    grown = np.zeros((by - ay, bx - ax), np.uint8)
    grown[y0 - ay:y0 - ay + h, x0 - ax:x0 - ax + w] = region
    inner = grown.astype(bool)
    band = cv2.dilate(grown, KERNEL3, iterations=width).astype(bool) & ~inner
    return mask[ay:by, ax:bx][band]
