"""Label Studio export: a JSON task list with each class as one brush region (RLE), plus the labelling config.

Layout::

    tasks.json          [{"id", "data": {"image", "sample_id", "split"}, "annotations"|"predictions": [...]}, ...]
    label_config.xml    <BrushLabels name="tag"> with every class (labels above the image) + <Image name="image"/>
    images/<stem><ext>  the stored image files

``data.image`` is ``/data/local-files/?d=images/<stem><ext>``: serve the export folder as Label Studio's local
files root (``LOCAL_FILES_DOCUMENT_ROOT``) and import ``tasks.json``. Each present class (background excluded;
ignore as ``__ignore__``) is one ``brushlabels`` result whose ``rle`` is Label Studio's brush RLE of the class's
0/255 mask (:func:`animeparse.formats.lsrle.encode_rle`, bit-identical to label-studio-sdk's ``mask2rle``), with
``original_width``/``original_height``. Regions go under ``predictions`` (pre-labels an annotator corrects,
``model_version`` ``animeparse:<layer>``) or ``annotations``. Lossless: the alpha is 0 or 255, so any threshold
reads the mask back exactly.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

import numpy as np

from ...colours import ignore_colour
from ...fsutil import naming_errors
from ...labelmap import LabelMap
from ..lsrle import encode_rle
from ..writing import (
    ExportConfig,
    SampleJob,
    WorkContext,
    WorkResult,
    ignore_label,
    place_image,
    present_ids,
    read_job_mask,
)

__all__ = ["image_relpath", "work", "open_sink", "label_config", "TASKS_NAME", "resolve_as"]

TASKS_NAME = "tasks.json"
CONFIG_NAME = "label_config.xml"
_SEP = (",", ":")


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"images/{job.stem}{job.ext}"


def resolve_as(config: ExportConfig) -> str:
    """``annotations`` or ``predictions``: as configured, else annotations for ``gt`` and predictions otherwise."""
    if config.ls_as is not None:
        return config.ls_as
    return "annotations" if config.layer == "gt" else "predictions"


def label_config(labelmap: LabelMap) -> str:
    """A Label Studio labelling config for the export: the image and one brush label per class (+ ignore)."""
    labels = [(c.name, "#{:02x}{:02x}{:02x}".format(*c.color)) for c in labelmap.classes if c.id != 0]
    ignore_rgb = ignore_colour([c.color for c in labelmap.classes])
    labels.append((ignore_label(labelmap), "#{:02x}{:02x}{:02x}".format(*ignore_rgb)))
    lines = ['<View>', '  <BrushLabels name="tag" toName="image">']
    lines += [f"    <Label value={quoteattr(name)} background={quoteattr(colour)}/>" for name, colour in labels]
    lines += ["  </BrushLabels>", '  <Image name="image" value="$image" zoom="true"/>', "</View>", ""]
    return "\n".join(lines)


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Encode one sample's classes as brush results and return its task as JSON text (runs in a worker)."""
    mask = read_job_mask(job)
    lm = ctx.labelmap
    results = []
    for class_id in present_ids(mask):
        if class_id == 0:
            continue
        label = ignore_label(lm) if class_id == lm.ignore_index else lm.name_of(class_id)
        alpha = (mask == class_id).view(np.uint8) * 255
        results.append({"id": f"c{class_id}", "type": "brushlabels", "from_name": "tag", "to_name": "image",
                        "original_width": job.width, "original_height": job.height, "image_rotation": 0,
                        "value": {"format": "rle", "rle": encode_rle(alpha), "brushlabels": [label]}})
    kind = resolve_as(ctx.config)
    record: dict[str, object] = {"id": job.index + 1, "result": results}
    if kind == "predictions":
        record["model_version"] = f"animeparse:{ctx.config.layer}"
    else:
        record.update({"was_cancelled": False, "ground_truth": False})
    task = {"id": job.index + 1,
            "data": {"image": f"/data/local-files/?d={job.image_out}", "sample_id": job.sample_id,
                     "split": job.split},
            kind: [record]}
    files, fallback = place_image(job, ctx)
    return WorkResult(payload=(json.dumps(task, separators=_SEP), len(results)), files=files,
                      link_fallback=fallback)


class _TasksSink:
    """Streams tasks into ``tasks.json`` one per line, in sample-id order."""

    def __init__(self, root: Path, ctx: WorkContext) -> None:
        self.warnings: list[str] = []
        (root / CONFIG_NAME).write_text(label_config(ctx.labelmap), encoding="utf-8")
        self._fh: IO[str] = open(root / TASKS_NAME, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
        self._fh.write("[")
        self._tasks = self._regions = 0

    def add(self, job: SampleJob, result: WorkResult) -> None:
        text, regions = result.payload
        with naming_errors(self._fh.name):
            self._fh.write(("," if self._tasks else "") + "\n" + text)
        self._tasks += 1
        self._regions += regions

    def finish(self) -> dict[str, int]:
        with naming_errors(self._fh.name):
            self._fh.write("\n]\n")
            self._fh.close()
        return {"annotations": self._regions, "files": 2}

    def close(self) -> None:
        with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
            self._fh.close()


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> _TasksSink:
    if ctx.config.images != "none":
        (root / "images").mkdir()
    return _TasksSink(root, ctx)
