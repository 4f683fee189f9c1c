"""What every format's writer shares: the export config, the per-sample job a worker receives, the driver-side
sink protocol, and small helpers that run in the workers (mask decoding, image placement, PNG chunk rewriting).

A format that writes (``FORMAT.writes``) has ``image_relpath(job, config) -> str`` (where the image goes, relative
to the export root), ``work(job, ctx)`` (runs in a worker process: decodes, encodes, writes the sample's own files,
returns a small picklable result) and ``open_sink(root, ctx, jobs) -> Sink`` (runs in the driver: writes the files
that span samples, fed in job order). A manifest-only format (``parquet``: ``FORMAT.manifest_only``) instead has
``write_manifest(ds, root, config, progress=None) -> {"by_split", "annotations", "files"}``: no per-sample work.
:mod:`animeparse.export.engine` runs them: it picks the samples, runs ``work`` in parallel and moves the finished
folder into place.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError
from ..fsutil import naming_errors
from ..imageio import _PNG_SIGNATURE, encode_mask_png, png_with_palette, read_mask
from ..labelmap import IGNORE_INDEX, LabelMap

__all__ = ["ExportConfig", "ExportError", "SampleJob", "WorkContext", "WorkResult", "Sink", "FileSink", "IMAGE_MODES",
           "read_job_mask", "read_store_mask", "place_image", "palette_png_to_grey", "present_ids", "ignore_label",
           "write_index_mask", "class_ids_for_export"]

IMAGE_MODES = ("copy", "link", "none")


class ExportError(AnimeparseError):
    """An export was refused or failed; nothing was written to ``--out``."""


@dataclass(frozen=True)
class ExportConfig:
    """Export options; CLI flags map 1:1.

    ``format``: an :data:`animeparse.formats.WRITERS` name. ``layer``: the mask layer (``gt``, ``prelabel/RUN``;
    None: ``gt``, or for the manifest format ``parquet`` every layer).
    ``splits``: only these splits (empty = all). ``images``: ``copy`` the stored files, hard-``link`` them (a copy
    where the filesystem refuses), or ``none``. ``instances``/``polygons``/``include_background``/``info``: COCO
    only (one annotation per connected component; polygon segmentations; the background class; an ``info`` block
    with the date). ``palette_mode``: index-png masks as ``l`` (greyscale, default), ``p`` (palette) or, for the
    ``palette`` reader (not on the command line), ``rgb`` (the label map's colours). ``ls_as``: Label Studio
    ``predictions`` or ``annotations`` (None: annotations for ``gt``, predictions for other layers).
    ``class_line``: sis-anime only, the line ``class.txt`` gets per image (``{stem}``, ``{name}`` = the image's file
    name, ``{index}`` = the character index, ``{character}`` = its id).
    ``workers``: processes (0 = in this process). ``chunk``: samples per worker task.
    """

    format: str
    layer: str | None = None
    splits: tuple[str, ...] = ()
    images: str = "copy"
    instances: bool = False
    polygons: bool = False
    include_background: bool = False
    info: bool = False
    palette_mode: str = "l"
    ls_as: str | None = None
    class_line: str = "{stem} {index}"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    chunk: int = 8


@dataclass(frozen=True)
class SampleJob:
    """One sample to export, made by the driver and sent to a worker (small: paths and numbers only).

    ``index``: 0-based position in the export (samples sorted by id); ``stem``: a file stem unique in the export;
    ``ext``: the stored image's extension (``.png``); ``image_src``/``mask_src``: absolute paths in the store
    (the mask is the store's P-mode index PNG); ``image_out``: where the image goes, relative to the export root;
    ``character``: the sample's character id (None: not set).
    """

    index: int
    sample_id: str
    name: str
    stem: str
    ext: str
    split: str
    width: int
    height: int
    image_src: str
    mask_src: str
    image_out: str = ""
    character: str | None = None


@dataclass(frozen=True)
class WorkContext:
    """What every worker needs, pickled once per worker process. ``root``: the export's temp folder;
    ``store_name``: the dataset's name (for the COCO ``info`` block); ``characters``: the store's character ids and
    display names (for sis-anime's characters.json)."""

    config: ExportConfig
    labelmap: LabelMap
    root: str
    store_name: str = ""
    characters: tuple[tuple[str, str], ...] = ()  # (id, display name) of the store's characters


@dataclass(frozen=True)
class WorkResult:
    """A worker's answer for one sample: the format's ``payload`` (annotation JSON text, counts), the number of
    files it wrote, and whether a hard link had to fall back to a copy."""

    payload: Any = None
    files: int = 0
    link_fallback: bool = False


class Sink(Protocol):
    """Driver side of an exporter: fed every sample's result in job order, then finished once; ``finish``
    returns counts for the result (``annotations``, ``files``) and ``warnings`` lists what was lossy."""

    warnings: list[str]

    def add(self, job: SampleJob, result: WorkResult) -> None: ...

    def finish(self) -> dict[str, int]: ...

    def close(self) -> None:
        """Release open files after a failure (the temp folder is removed next); idempotent."""


class FileSink:
    """For formats whose workers write every file themselves: the driver only counts."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.files = 0

    def add(self, job: SampleJob, result: WorkResult) -> None:
        self.files += result.files

    def finish(self) -> dict[str, int]:
        return {"files": self.files}

    def close(self) -> None:
        pass


# -- helpers that run in the workers -----------------------------------------------------------------------------
def read_store_mask(path: str | Path) -> npt.NDArray[np.uint8]:
    """A store mask PNG as HxW uint8 class ids.

    The store keeps P-mode PNGs; their pixel bytes are the ids, so the file is first rewritten as the greyscale
    PNG with the same bytes (:func:`palette_png_to_grey`, no decode), which :func:`animeparse.imageio.read_mask`
    decodes with OpenCV (pixel-identical, ~3x faster than Pillow's palette path). Other files take Pillow's path.
    """
    data = Path(path).read_bytes()
    grey = palette_png_to_grey(data)
    return read_mask(path, data=grey if grey is not None else data)


def read_job_mask(job: SampleJob) -> npt.NDArray[np.uint8]:
    """The sample's stored mask as HxW uint8 class ids, checked against the manifest's size."""
    mask = read_store_mask(job.mask_src)
    if mask.shape != (job.height, job.width):
        raise ExportError(f"sample {job.sample_id} ({job.name}): stored mask is {mask.shape[1]}x{mask.shape[0]}, "
                          f"the manifest says {job.width}x{job.height}; the store is damaged (re-import the sample)")
    return mask


def place_image(job: SampleJob, ctx: WorkContext, relpath: str | None = None) -> tuple[int, bool]:
    """Put the stored image at ``relpath`` (default ``job.image_out``) under the export root per
    ``config.images``; return (files written, whether a hard link fell back to a copy).

    The stored file's bytes are used as they are (no re-encoding): the same pixels the mask was drawn on.
    """
    relpath = job.image_out if relpath is None else relpath
    if ctx.config.images == "none" or not relpath:
        return 0, False
    dst = Path(ctx.root) / relpath
    dst.parent.mkdir(parents=True, exist_ok=True)
    if ctx.config.images == "link":
        try:
            os.link(job.image_src, dst)
            return 1, False
        except OSError:  # another filesystem (EXDEV) or one without hard links: a copy is still a correct export
            shutil.copyfile(job.image_src, dst)
            return 1, True
    shutil.copyfile(job.image_src, dst)
    return 1, False


def write_index_mask(job: SampleJob, dst: Path, *, palette: list[int] | None = None) -> None:
    """Write the sample's mask to ``dst`` as an 8-bit index PNG: L-mode (greyscale, what training code reads)
    or, given ``palette`` (768 ints: the label map's colours), P-mode.

    The store keeps P-mode PNGs with the label map's palette: they are copied as they are for P-mode and
    rewritten at chunk level for L-mode (no decode); any other file is decoded and re-encoded. Plain writes:
    the whole export folder is renamed into place only when complete.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = Path(job.mask_src).read_bytes()
    if palette is not None:
        is_palette_png = data.startswith(_PNG_SIGNATURE) and len(data) > 25 and data[25] == 3 and data[24] == 8
        out = data if is_palette_png else encode_mask_png(read_mask(job.mask_src, data=data), palette=palette)
    else:
        grey = palette_png_to_grey(data)
        out = grey if grey is not None else encode_mask_png(read_mask(job.mask_src, data=data))
    with naming_errors(dst):  # a full disk fails the write, which names no file
        dst.write_bytes(out)


def present_ids(mask_hw: npt.NDArray[np.uint8]) -> list[int]:
    """Class ids present in an HxW uint8 mask, ascending (255 included when present)."""
    # OpenCV's histogram is ~2x faster than np.bincount (which widens every pixel to intp); its float32 counts
    # are only tested for non-zero, which they are exactly
    counts = cv2.calcHist([np.ascontiguousarray(mask_hw)], [0], None, [256], [0, 256]).reshape(-1)
    return [int(i) for i in np.flatnonzero(counts)]


def ignore_label(labelmap: LabelMap) -> str:
    """The name ignore pixels (255) get in name-based formats: ``__ignore__`` (labelme's own), which every
    animeparse reader maps back to 255; ``ignore`` only if a class is already called ``__ignore__``."""
    return "__ignore__" if "__ignore__" not in labelmap else "ignore"


def palette_png_to_grey(data: bytes) -> bytes | None:
    """The store's P-mode mask PNG as an L-mode PNG with the same bytes per pixel (the palette index): no decode,
    no re-encode (training code wants L). None for any other PNG (the caller decodes and re-encodes instead)."""
    if len(data) < 33 or data[25] != 3:  # IHDR colour type: only palette PNGs (the store's masks) qualify
        return None
    return png_with_palette(data, None)


def class_ids_for_export(labelmap: LabelMap, ids: Sequence[int], *, include_background: bool) -> list[int]:
    """``ids`` without 255 (never exported as a class) and without 0 unless ``include_background``."""
    return [i for i in ids if i != IGNORE_INDEX and (include_background or i != 0)]

