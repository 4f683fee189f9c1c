"""index-png export: images + index-mask PNGs + the label map, what most training code reads.

Layout::

    images/<stem><ext>      the stored image files
    masks/<stem>.png        8-bit index PNGs: pixel = class id, 255 = ignore; L-mode (default) or P-mode
                            (or, library only, RGB PNGs in the label map's colours: ``palette_mode="rgb"``)
    labelmap.json           the store's locked label map (ids, names, colours, priorities)
    splits/<split>.txt      the stems of each split, one per line, sorted (VOC's ImageSets style)

The one writer of image + mask folder pairs: ``index-folder``'s ``write`` runs it in L-mode and ``palette``'s in
RGB mode (``rgb``: ignore is white; read back by the ``palette`` reader, not by ``index-folder``). P-mode
(``palette_mode="p"``) shows colours in any viewer, but loaders that call ``.convert('L')`` or
``cv2.imread(path, 0)`` turn it into luminance: keep L-mode for training.
Lossless: re-ingesting gives the store's masks back (the split lists are not read back; every sample is train).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..fsutil import naming_errors
from ..imageio import encode_rgb_png
from .base import FormatSpec
from .writing import (
    ExportConfig,
    FileSink,
    SampleJob,
    WorkContext,
    WorkResult,
    place_image,
    read_job_mask,
    write_index_mask,
)

__all__ = ["NAME", "FORMAT", "image_relpath", "work", "open_sink"]

NAME = "index-png"
FORMAT = FormatSpec(name=NAME, writes=True, lossless=True, options=frozenset({"palette_mode"}), read_by="index-folder")


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"images/{job.stem}{job.ext}"


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write the sample's index mask and place its image (runs in a worker)."""
    dst = Path(ctx.root) / "masks" / f"{job.stem}.png"
    if ctx.config.palette_mode == "rgb":
        colours = ctx.labelmap.colors_array()[read_job_mask(job)]
        with naming_errors(dst):
            dst.write_bytes(encode_rgb_png(colours))
    else:
        palette = ctx.labelmap.palette() if ctx.config.palette_mode == "p" else None
        write_index_mask(job, dst, palette=palette)
    files, fallback = place_image(job, ctx)
    return WorkResult(files=files + 1, link_fallback=fallback)


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> FileSink:
    (root / "masks").mkdir()
    if ctx.config.images != "none":
        (root / "images").mkdir()
    (root / "labelmap.json").write_text(json.dumps(ctx.labelmap.to_json(), indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    (root / "splits").mkdir()
    for split in sorted({j.split for j in jobs}):
        stems = sorted(j.stem for j in jobs if j.split == split)
        (root / "splits" / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
    sink = FileSink()
    sink.files = 1 + len({j.split for j in jobs})
    return sink
