"""Anime face crops: detect faces with an OpenCV cascade, grow each box into a square crop, cut arrays identically.

The detector is OpenCV's ``cv2.CascadeClassifier`` with a cascade file the user passes (``--crop-faces FILE``),
typically nagadomi's ``lbpcascade_animeface.xml``; it is never bundled (no licence). Readers call
:func:`detect_faces` and :func:`square_crop_box` and put the box on ``Item.crop_xyxy``; the ingest engine cuts
image and mask with the same :func:`crop`, so they stay aligned pixel for pixel.

All boxes are ``xyxy`` integer pixel coordinates in the image as :func:`animeparse.imageio.read_image` returns it
(EXIF orientation applied), x0/y0 inclusive and x1/y1 exclusive, so ``array[y0:y1, x0:x1]`` is the crop.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .errors import AnimeparseError, FormatError

if TYPE_CHECKING:
    import cv2

__all__ = ["FaceCropConfig", "load_cascade", "cascade_info", "detect_faces", "square_crop_box", "crop", "XYXY"]

XYXY = tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceCropConfig:
    """How faces are found and cropped. CLI: ``--crop-faces CASCADE`` and ``--crop-margin`` map onto
    ``cascade`` and ``margin``; the detector parameters have no flags (tuned once, on the shared TADNE grid).

    ``cascade``: an OpenCV cascade XML (e.g. ``lbpcascade_animeface.xml``).
    ``scale_factor``, ``min_neighbors``, ``min_size``: ``detectMultiScale`` arguments, run on the grey image
    after ``cv2.equalizeHist``; these defaults find a face in 33 of the 36 tiles of the TADNE grid.
    ``margin``: crop side = face box side * (1 + 2 * margin), i.e. ``margin`` box sides added on each side; 0.5
    doubles the box, which for lbpcascade's tight eyes-to-chin box takes in the hair and some neck, like a
    Danbooru-Parsing portrait.
    """

    cascade: Path
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 24
    margin: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "cascade", Path(self.cascade))
        if not (math.isfinite(self.scale_factor) and self.scale_factor > 1.0):
            raise AnimeparseError(f"face detector scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0 or self.min_size < 1:
            raise AnimeparseError(f"face detector needs min_neighbors >= 0 and min_size >= 1, got "
                                  f"{self.min_neighbors} and {self.min_size}")
        _check_margin(self.margin)


def _check_margin(margin: float) -> None:
    if not (math.isfinite(margin) and margin >= 0):
        raise AnimeparseError(f"--crop-margin must be a finite number >= 0 (box sides added on each side), "
                              f"got {margin}")


def load_cascade(path: Path | str) -> cv2.CascadeClassifier:
    """Load and check an OpenCV cascade XML; raise FormatError naming the file when it is missing or not a cascade.

    OpenCV reports a missing file by returning an empty classifier (and printing to stderr), and some non-cascade
    files by raising SystemError, so both are checked here rather than left to the first ``detectMultiScale``.
    """
    import cv2  # a hard dependency, imported here so `import animeparse` stays light

    path = Path(path)
    fix = ("pass the path of an OpenCV cascade XML, e.g. lbpcascade_animeface.xml from "
           "https://github.com/nagadomi/lbpcascade_animeface")
    if not path.is_file():
        raise FormatError(f"face cascade not found (or not a file); {fix}", path=path)
    try:
        classifier = cv2.CascadeClassifier(os.fspath(path))
    except (cv2.error, SystemError) as err:
        # the binding wraps OpenCV's parse error in a SystemError; its cause says what was wrong with the file
        detail = str(err.__cause__ or err).strip().splitlines()[-1]
        detail = detail.split(" error: ", 1)[-1]  # drop OpenCV's source path prefix
        raise FormatError(f"is not a valid OpenCV cascade ({detail}); {fix}", path=path) from err
    if classifier.empty():
        raise FormatError(f"is not a valid OpenCV cascade (OpenCV loaded no stages); {fix}", path=path)
    return classifier


@functools.lru_cache(maxsize=4)
def _cached_cascade(real_path: str, mtime_ns: int, size: int) -> cv2.CascadeClassifier:
    # keyed on mtime and size as well, so an edited file is reloaded; parsing the XML costs ~10 ms per image
    # otherwise, more than detecting on a small picture
    return load_cascade(real_path)


def _cascade_for(path: Path) -> cv2.CascadeClassifier:
    if not path.is_file():
        return load_cascade(path)  # raises the right error
    st = path.stat()
    return _cached_cascade(os.path.realpath(path), st.st_mtime_ns, st.st_size)


def cascade_info(path: Path | str) -> dict[str, str]:
    """Provenance for a cascade file: ``detector`` ("lbpcascade" / "haarcascade" / "cascade" from its
    featureType), ``cascade`` (file name) and ``cascade_sha256``. Call after :func:`load_cascade` succeeded."""
    data = Path(path).read_bytes()
    found = re.search(rb"<featureType>\s*(\w+)", data)
    kind = found.group(1).decode("ascii", "replace").upper() if found else ""
    detector = {"LBP": "lbpcascade", "HAAR": "haarcascade"}.get(kind, "cascade")
    return {"detector": detector, "cascade": Path(path).name, "cascade_sha256": hashlib.sha256(data).hexdigest()}


def detect_faces(image_rgb: npt.NDArray[np.uint8], cfg: FaceCropConfig) -> list[XYXY]:
    """Face boxes in an HxWx3 uint8 RGB image, as ``(x0, y0, x1, y1)`` ints (x1/y1 exclusive).

    Grey + ``equalizeHist`` first: anime line art varies wildly in contrast and the LBP cascade was trained on
    equalised crops. Boxes are sorted left to right (then top to bottom, then by size), so ``_face0`` is the
    leftmost face and repeated runs give the same order; OpenCV's own order is not specified.
    Raises FormatError for a bad cascade or an image that is not HxWx3 uint8.
    """
    import cv2

    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise FormatError(f"face detection needs an HxWx3 uint8 RGB image, got shape {image_rgb.shape} "
                          f"dtype {image_rgb.dtype}; read it with animeparse.imageio.read_image")
    classifier = _cascade_for(cfg.cascade)
    grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2GRAY))
    found = classifier.detectMultiScale(grey, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                                        minSize=(cfg.min_size, cfg.min_size))
    boxes = [(int(x), int(y), int(x) + int(w), int(y) + int(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes)


def square_crop_box(face_xyxy: tuple[float, float, float, float], size_wh: tuple[int, int],
                    margin: float) -> XYXY:
    """A square crop around a face box inside an image of ``size_wh`` (width, height); ints, x1/y1 exclusive.

    Side = longer box side * (1 + 2 * margin), centred on the box. Where it would stick out of the image the
    square is shifted inside rather than shrunk, so it stays square and keeps its margin; only when the image's
    shorter side is smaller than the square is the side cut to it (the result is then still square, and still
    holds the whole face box, since the box lies inside the image).
    """
    _check_margin(margin)
    width, height = int(size_wh[0]), int(size_wh[1])
    if width < 1 or height < 1:
        raise FormatError(f"cannot crop an empty {width}x{height} image")
    x0, y0, x1, y1 = (float(v) for v in face_xyxy)
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    side_px = max(1, min(int(round(side)), width, height))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    # clamp the top-left corner so that [left, left + side) lies in [0, width): a shift, never a shrink
    left = min(max(int(round(cx - side_px / 2.0)), 0), width - side_px)
    top = min(max(int(round(cy - side_px / 2.0)), 0), height - side_px)
    return left, top, left + side_px, top + side_px


def crop(array: npt.NDArray, xyxy: XYXY) -> npt.NDArray:
    """Cut ``array[y0:y1, x0:x1]`` from an HxW (mask) or HxWxC (image) array; a contiguous copy.

    The engine uses this one function for an image and its mask so both are cut identically. Raises
    FormatError when the box is empty or leaves the array (a box meant for another image size).
    """
    x0, y0, x1, y1 = (int(v) for v in xyxy)
    height, width = array.shape[:2]
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise FormatError(f"crop box {(x0, y0, x1, y1)} (x0, y0, x1, y1; x1/y1 exclusive) is empty or outside the "
                          f"{width}x{height} array; boxes must come from the same image, EXIF orientation applied")
    return array[y0:y1, x0:x1].copy()  # C-ordered copy: the caller may free the full array
