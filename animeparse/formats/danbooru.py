"""Danbooru-Parsing export: the folder pairs the StyleAnime code reads.

Layout: ``anime_face_<split>/<stem><ext>`` (the stored image files) and ``anime_seg_<split>/<stem>.png`` (L-mode
index PNGs, pixel = class id, 255 = ignore), same stems. L-mode, never P-mode: the seed's loader calls
``.convert('L')``, which turns palette colours into luminance. Lossless: re-ingesting gives the store's masks back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .base import FormatSpec
from .writing import ExportConfig, FileSink, SampleJob, WorkContext, WorkResult, place_image, write_index_mask

__all__ = ["NAME", "FORMAT", "image_relpath", "work", "open_sink"]

NAME = "danbooru-parsing"
FORMAT = FormatSpec(name=NAME, writes=True, lossless=True, read_by="index-folder")


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"anime_face_{job.split}/{job.stem}{job.ext}"


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write the sample's L-mode mask and place its image (runs in a worker)."""
    write_index_mask(job, Path(ctx.root) / f"anime_seg_{job.split}" / f"{job.stem}.png")
    files, fallback = place_image(job, ctx)
    return WorkResult(files=files + 1, link_fallback=fallback)


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> FileSink:
    for split in sorted({j.split for j in jobs}):
        (root / f"anime_seg_{split}").mkdir()
        if ctx.config.images != "none":
            (root / f"anime_face_{split}").mkdir()
    return FileSink()
