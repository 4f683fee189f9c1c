"""CelebAMask-HQ export: one 0/255 binary PNG per part, in the dataset's own layout.

Layout::

    CelebA-HQ-img/<index><ext>                               the stored image files (extension kept)
    CelebAMask-HQ-mask-anno/<index // 2000>/<index:05d>_<part>.png   L-mode, 255 = part, 0 = not
    CelebA-HQ-to-animeparse-mapping.csv                      index, sample_id, name, split, file_name

Indices are 0..N-1 in sample-id order. Part names are the label map's class names; only parts present in a mask
get a file (as in the dataset). Background has no file. Ignore pixels (255) go to ``<index>_ignore.png``: the
dataset's ``g_mask.py`` paints a fixed part list and never reads it, while animeparse's reader maps ``ignore``
back to 255, so the round trip is exact. Parts are disjoint (each pixel has one class), so merging them by any
priority gives the mask back: lossless.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ..imageio import encode_mask_png
from ..labelmap import IGNORE_INDEX, LabelMap
from .base import ExportConfig, ExportError, SampleJob, WorkContext, WorkResult, place_image, present_ids, read_job_mask
from .danbooru import FileSink

__all__ = ["NAME", "OPTIONS", "image_relpath", "work", "open_sink", "part_name", "MASK_DIR", "IMAGE_DIR",
           "MAPPING_NAME"]

NAME = "celebamask"
OPTIONS: frozenset[str] = frozenset()
IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
MAPPING_NAME = "CelebA-HQ-to-animeparse-mapping.csv"
_PER_FOLDER = 2000  # the dataset's 0/ .. 14/ folders hold 2000 ids each


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"{IMAGE_DIR}/{job.index}{job.ext}"


def part_name(labelmap: LabelMap, class_id: int) -> str:
    """File name part for a class id: the class name, or ``ignore`` for 255 (``__ignore__`` if a class is
    called ``ignore``; both are ignore names to every animeparse reader)."""
    if class_id == IGNORE_INDEX:
        return "ignore" if "ignore" not in labelmap else "__ignore__"
    return labelmap.name_of(class_id)


def check_names(labelmap: LabelMap) -> None:
    """Class names become file names: refuse the ones that cannot be one (or that the reader would split)."""
    bad = [c.name for c in labelmap.classes
           if not c.name or any(ch in c.name for ch in "/\\\x00") or c.name != c.name.strip()]
    if bad:
        raise ExportError(f"class names {bad} cannot be part file names (<index>_<name>.png); rename them in a label "
                          "map copy or export another format")


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write every present part of one sample as a 0/255 L-mode PNG and place its image (runs in a worker)."""
    mask = read_job_mask(job)
    folder = Path(ctx.root) / MASK_DIR / str(job.index // _PER_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    files = 0
    for class_id in present_ids(mask):
        if class_id == 0:
            continue
        part = (mask == class_id).view("uint8") * 255  # bool -> 0/255 in one multiply (a copy, not a view)
        (folder / f"{job.index:05d}_{part_name(ctx.labelmap, class_id)}.png").write_bytes(encode_mask_png(part))
        files += 1
    placed, fallback = place_image(job, ctx)
    return WorkResult(files=files + placed, link_fallback=fallback)


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> FileSink:
    check_names(ctx.labelmap)
    (root / MASK_DIR).mkdir()
    if ctx.config.images != "none":
        (root / IMAGE_DIR).mkdir()
    with open(root / MAPPING_NAME, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["idx", "sample_id", "name", "split", "file_name"])
        for j in jobs:
            writer.writerow([j.index, j.sample_id, j.name, j.split, j.image_out])
    sink = FileSink()
    sink.files = 1
    return sink
