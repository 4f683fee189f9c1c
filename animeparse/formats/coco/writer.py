"""COCO export: one annotation per (image, class present), compressed RLE from pycocotools.

Layout: ``instances_<split>.json`` per split at the root and ``images/<stem><ext>``; ``file_name`` is
``images/<stem><ext>``, relative to the root (pass the root as the image folder to Detectron2, MMDetection,
FiftyOne). Category ids are the label-map ids (background 0 only with ``include_background``; 255 never), image ids
are 1..N in sample-id order over the whole export, annotation ids count from 1 in each file. ``area`` and ``bbox``
come from the exact region's RLE (``mask.area``, ``mask.toBbox``) even when the segmentation is a polygon.
With ``polygons`` a region becomes its outer contour rings, unless it has holes or a ring has fewer than 3 vertices:
COCO unions an annotation's polygons and cannot cut a hole, so such a region stays RLE (never silently filled).
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask

from ... import __version__
from ...fsutil import naming_errors
from ..contours import region_polygons
from ..writing import (
    ExportConfig,
    SampleJob,
    WorkContext,
    WorkResult,
    class_ids_for_export,
    place_image,
    present_ids,
    read_job_mask,
)

__all__ = ["image_relpath", "json_name", "work", "open_sink", "encode_mask_annotations"]

log = logging.getLogger(__name__)

_SEP = (",", ":")


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"images/{job.stem}{job.ext}"


def json_name(split: str) -> str:
    """The annotation file of a split, relative to the export root."""
    return f"instances_{split}.json"


def _stack_rle(regions_whn: npt.NDArray[np.bool_]) -> list[dict[str, object]]:
    """Encode an NxWxH bool stack (regions transposed: C order) as N pycocotools RLEs.

    Transposed C-ordered regions are exactly the HxWxN Fortran-ordered uint8 array pycocotools' encoder walks
    (column-major), so no copy is made between the comparison and the encoder.
    """
    return coco_mask.encode(regions_whn.view(np.uint8).transpose(2, 1, 0))


def encode_mask_annotations(mask_hw: npt.NDArray[np.uint8], *, class_ids: Sequence[int], instances: bool = False,
                            ) -> tuple[list[int], list[dict[str, object]], npt.NDArray[np.uint32],
                                       npt.NDArray[np.float64]]:
    """RLE-encode the regions of an HxW uint8 mask: (category ids, RLEs with ``counts`` bytes, areas, xywh boxes).

    One region per id in ``class_ids`` (each must be present), or with ``instances`` one per 8-connected component
    of each class, in raster order of the component's first pixel.
    """
    mask_t = np.ascontiguousarray(mask_hw.T)  # one transpose, so every class compare yields column-major bytes
    cats: list[int] = []
    rles: list[dict[str, object]] = []
    for class_group in ([list(class_ids)] if not instances else [[c] for c in class_ids]):
        if not class_group:
            continue
        if not instances:
            ids = np.asarray(class_group, np.uint8)
            rles += _stack_rle(mask_t[None] == ids[:, None, None])
            cats += class_group
            continue
        (c,) = class_group
        n, labels = cv2.connectedComponents((mask_hw == c).view(np.uint8), connectivity=8)
        labels_t = np.ascontiguousarray(labels.T)
        # one class at a time bounds the stack: a speckled class may have hundreds of components
        for start in range(1, n, 64):
            ks = np.arange(start, min(n, start + 64), dtype=labels_t.dtype)
            rles += _stack_rle(labels_t[None] == ks[:, None, None])
            cats += [c] * len(ks)
    if not rles:
        return [], [], np.zeros(0, np.uint32), np.zeros((0, 4))
    # pycocotools' area() sizes its result with a uint8 array: over 255 RLEs per call it overflows under NumPy 2
    areas = np.concatenate([coco_mask.area(rles[i:i + 255]) for i in range(0, len(rles), 255)])
    return cats, rles, areas, coco_mask.toBbox(rles)


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Encode one sample's annotations as JSON text without ``id`` (the driver numbers them); copy its image.

    Payload: (annotation JSON strings, regions kept as RLE because of holes, because of tiny rings).
    """
    cfg = ctx.config
    mask = read_job_mask(job)
    files, fallback = place_image(job, ctx)
    ids = class_ids_for_export(ctx.labelmap, present_ids(mask), include_background=cfg.include_background)
    cats, rles, areas, boxes = encode_mask_annotations(mask, class_ids=ids, instances=cfg.instances)
    texts: list[str] = []
    holes = tiny = 0
    for k, (cat, rle) in enumerate(zip(cats, rles)):
        seg: object = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}  # type: ignore[attr-defined]
        if cfg.polygons:
            with warnings.catch_warnings():  # pycocotools 2.0.x under numpy 2 warns on every decode; nothing to act on
                warnings.simplefilter("ignore", DeprecationWarning)
                region = coco_mask.decode(rle)
            poly = region_polygons(region)
            if poly.holes:
                holes += 1
            elif poly.degenerate or not poly.rings:
                tiny += 1
            else:
                seg = [ring.reshape(-1).tolist() for ring in poly.rings]
        ann = {"image_id": job.index + 1, "category_id": cat, "iscrowd": 0, "area": int(areas[k]),
               "bbox": [float(v) for v in boxes[k]], "segmentation": seg}
        texts.append(json.dumps(ann, separators=_SEP))
    return WorkResult(payload=(texts, holes, tiny), files=files, link_fallback=fallback)


class _CocoSink:
    """Writes one JSON per split: categories and images up front (known from the manifest), then annotations as
    the workers' results arrive, one per line; nothing but the open files is held."""

    def __init__(self, root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> None:
        self.warnings: list[str] = []
        self._config = ctx.config
        self._files: dict[str, IO[str]] = {}
        self._next_id: dict[str, int] = {}
        self._holes = self._tiny = self._annotations = 0
        head = self._head(ctx)
        for split in sorted({j.split for j in jobs}):
            fh = open(root / json_name(split), "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115 - closed by close()
            self._files[split] = fh
            self._next_id[split] = 1
            fh.write(head)
            fh.write(",\n".join(json.dumps({"id": j.index + 1, "width": j.width, "height": j.height,
                                            "file_name": j.image_out, "sample_id": j.sample_id}, separators=_SEP)
                                for j in jobs if j.split == split))
            fh.write('\n],\n"annotations": [')

    def _head(self, ctx: WorkContext) -> str:
        lm = ctx.labelmap
        cats = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in lm.classes
                if c.id != 0 or self._config.include_background]
        parts = ["{"]
        if self._config.info:
            now = datetime.now(UTC)
            info = {"description": f"{ctx.store_name}: layer {self._config.layer}", "version": f"{lm.name} "
                    f"v{lm.version}", "year": now.year, "contributor": f"animeparse {__version__}",
                    "date_created": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "url": "", "labelmap_sha256": lm.sha256}
            parts.append(f'"info": {json.dumps(info, separators=_SEP)},\n')
        parts.append('"categories": [\n' + ",\n".join(json.dumps(c, separators=_SEP) for c in cats) + "\n],\n")
        parts.append('"images": [\n')
        return "".join(parts)

    def add(self, job: SampleJob, result: WorkResult) -> None:
        texts, holes, tiny = result.payload
        self._holes += holes
        self._tiny += tiny
        fh = self._files[job.split]
        n = self._next_id[job.split]
        # splice the id in front: workers cannot know how many annotations came before theirs
        with naming_errors(fh.name):
            fh.write("".join(f'{"," if n + k > 1 else ""}\n{{"id":{n + k},{t[1:]}' for k, t in enumerate(texts)))
        self._next_id[job.split] = n + len(texts)
        self._annotations += len(texts)

    def finish(self) -> dict[str, int]:
        for fh in self._files.values():
            with naming_errors(fh.name):
                fh.write("\n]}\n")
                fh.close()
        if self._config.polygons:
            self.warnings.append(
                "polygons are lossy: a rasterised contour differs from the mask along its edges (pycocotools drops "
                f"part of every boundary pixel); {self._holes} regions with holes and {self._tiny} with rings under 3 "
                "points were kept as RLE")
        return {"annotations": self._annotations, "files": len(self._files)}

    def close(self) -> None:
        for fh in self._files.values():
            with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
                fh.close()


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> _CocoSink:
    return _CocoSink(root, ctx, jobs)
