"""index-png export: images + index-mask PNGs + the label map, what most training code reads.

Layout::

    images/<stem><ext>      the stored image files
    masks/<stem>.png        8-bit index PNGs: pixel = class id, 255 = ignore; L-mode (default) or P-mode
    labelmap.json           the store's locked label map (ids, names, colours, priorities)
    splits/<split>.txt      the stems of each split, one per line, sorted (VOC's ImageSets style)

It differs from the ``index-folder`` writer (:mod:`animeparse.formats.index_folder`) by the label map and split
lists, P-mode on request, the split/layer filters and the parallel, streaming engine; both are read back by the
``index-folder`` reader. P-mode (``palette_mode="p"``) shows colours in any viewer, but loaders that call
``.convert('L')`` or ``cv2.imread(path, 0)`` turn it into luminance: keep L-mode for training.
Lossless: re-ingesting gives the store's masks back (the split lists are not read back; every sample is train).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .base import FormatSpec
from .writing import ExportConfig, FileSink, SampleJob, WorkContext, WorkResult, place_image, write_index_mask

__all__ = ["NAME", "FORMAT", "image_relpath", "work", "open_sink"]

NAME = "index-png"
FORMAT = FormatSpec(name=NAME, writes=True, lossless=True, options=frozenset({"palette_mode"}), read_by="index-folder")


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"images/{job.stem}{job.ext}"


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write the sample's index mask and place its image (runs in a worker)."""
    palette = ctx.labelmap.palette() if ctx.config.palette_mode == "p" else None
    write_index_mask(job, Path(ctx.root) / "masks" / f"{job.stem}.png", palette=palette)
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
