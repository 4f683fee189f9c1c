"""LabelMe export (lossy): one LabelMe 5 JSON of polygons per image, beside the image.

Layout: ``<split>/<stem>.json`` + ``<split>/<stem><ext>`` (``imagePath`` is the file name beside the JSON).
Each class region becomes one ``polygon`` shape per connected piece (its outer contour, vertices at boundary pixel
centres); ignore pixels become ``__ignore__`` shapes (labelme's own ignore label). What is lost:

- holes: LabelMe fills every shape, so a hole comes back filled, unless a class of higher priority fills it
  (shapes are written lowest priority first, so labelme's file-order painting agrees with animeparse's priority);
- edges: a filled contour differs from the mask along diagonal and thin parts;
- pieces under 3 contour vertices (a pixel, a 1-pixel straight line) are written as 2-point ``rectangle`` shapes
  around them, which is exact for a pixel or a straight line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...labelmap import IGNORE_INDEX
from ..contours import region_polygons
from ..writing import (
    ExportConfig,
    FileSink,
    SampleJob,
    WorkContext,
    WorkResult,
    ignore_label,
    place_image,
    present_ids,
    read_job_mask,
)

__all__ = ["image_relpath", "work", "open_sink", "LABELME_VERSION"]

LABELME_VERSION = "5.5.0"  # the file format written (shapes with description/flags/mask keys)


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"{job.split}/{job.stem}{job.ext}"


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Trace one sample's regions and write its LabelMe JSON; place its image (runs in a worker).
    Payload: (holes dropped, pieces written as rectangles)."""
    mask = read_job_mask(job)
    lm = ctx.labelmap
    prio = lm.priority_lut()
    ids = [i for i in present_ids(mask) if i != 0]
    # lowest priority first, ignore last: labelme paints in file order, later shapes on top
    ids.sort(key=lambda i: (i == IGNORE_INDEX, int(prio[i]) if i != IGNORE_INDEX else 0, i))
    shapes: list[dict[str, object]] = []
    holes = tiny = 0
    for class_id in ids:
        label = ignore_label(lm) if class_id == IGNORE_INDEX else lm.name_of(class_id)
        poly = region_polygons(mask == class_id)
        holes += poly.holes
        for ring in poly.rings:
            if len(ring) >= 3:
                shape_type, points = "polygon", ring.tolist()
            else:
                tiny += 1
                lo, hi = ring.min(axis=0), ring.max(axis=0)
                shape_type, points = "rectangle", [lo.tolist(), hi.tolist()]
            shapes.append({"label": label, "points": points, "group_id": None, "description": "",
                           "shape_type": shape_type, "flags": {}, "mask": None})
    doc: dict[str, Any] = {"version": LABELME_VERSION, "flags": {}, "shapes": shapes,
                           "imagePath": Path(job.image_out).name, "imageData": None, "imageHeight": job.height,
                           "imageWidth": job.width}
    out = Path(ctx.root) / Path(job.image_out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    files, fallback = place_image(job, ctx)
    return WorkResult(payload=(holes, tiny), files=files + 1, link_fallback=fallback)


class _LabelmeSink(FileSink):
    def __init__(self) -> None:
        super().__init__()
        self.holes = self.tiny = 0

    def add(self, job: SampleJob, result: WorkResult) -> None:
        super().add(job, result)
        self.holes += result.payload[0]
        self.tiny += result.payload[1]

    def finish(self) -> dict[str, int]:
        self.warnings.append(f"labelme polygons are lossy: edges are traced contours and {self.holes} holes were "
                             "not written (a hole comes back filled unless a higher-priority class covers it)")
        return super().finish()


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> _LabelmeSink:
    return _LabelmeSink()
