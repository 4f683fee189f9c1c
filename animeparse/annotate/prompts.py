"""Interactive prompts from Label Studio, and the brush regions sent back.

Label Studio's editor sends the annotator's smart-tool marks as ``context.result``: KeyPointLabels (``x``/``y`` in
percent of the image) and RectangleLabels (``x``/``y``/``width``/``height`` in percent), each with the class it was
drawn in. A point in the label :data:`NEGATIVE_LABEL` (the second keypoint label that ``ls config --interactive``
adds), or one Label Studio marks ``is_positive: false`` (alt-click), is a negative click. All positive marks of one
request must name the same class: that is the class of the returned region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..formats.lsrle import encode_mask_rle
from ..labelmap import LabelMap
from .config import BRUSH_CONTROL, IGNORE_LABEL, IMAGE_KEY, NEGATIVE_LABEL

__all__ = ["NEGATIVE_LABEL", "Prompt", "PromptError", "parse_prompt", "region_result", "mask_results"]



class PromptError(ValueError):
    """The request's prompt cannot be used (malformed mark, unknown class, mixed classes); the message says why."""


@dataclass(frozen=True)
class Prompt:
    """One interactive request: ``class_name`` (a label-map class), ``points_xy`` Kx2 float32 pixel (x, y),
    ``labels`` K int64 (1 positive, 0 negative), ``box_xyxy`` 4 float32 pixels or None, image ``shape_hw``."""

    class_name: str
    points_xy: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    box_xyxy: npt.NDArray[np.float32] | None
    shape_hw: tuple[int, int]


def _number(value: Mapping[str, Any], key: str, what: str) -> float:
    v = value.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
        raise PromptError(f"{what} has no numeric value.{key} (got {v!r})")
    return float(v)


def parse_prompt(context: Any, labelmap: LabelMap, *, shape_hw: tuple[int, int]) -> Prompt | None:
    """The prompt in a predict request's ``params.context`` (None when it holds no marks: a plain prediction).

    ``shape_hw``: the image's size (marks are in percent of it). Raises :class:`PromptError` on a malformed mark,
    a class not in ``labelmap``, or positive marks of two classes.
    """
    if context is None:
        return None
    if not isinstance(context, Mapping):
        raise PromptError(f"context must be a JSON object, got {type(context).__name__}")
    marks = context.get("result")
    if marks is None or marks == []:
        return None
    if not isinstance(marks, list):
        raise PromptError(f"context.result must be a list of marks, got {type(marks).__name__}")
    h, w = shape_hw
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    box: list[float] | None = None
    classes: set[str] = set()
    for i, mark in enumerate(marks):
        what = f"context.result[{i}]"
        if not isinstance(mark, Mapping) or not isinstance(mark.get("value"), Mapping):
            raise PromptError(f"{what} is not a Label Studio region (no value object)")
        value, kind = mark["value"], mark.get("type")
        names = value.get(kind) if isinstance(kind, str) else None
        if kind not in ("keypointlabels", "rectanglelabels") or not isinstance(names, list) or not names:
            raise PromptError(f"{what} must be a keypointlabels or rectanglelabels mark with a label, got type "
                              f"{kind!r}")
        name = str(names[0])
        negative = kind == "keypointlabels" and (name == NEGATIVE_LABEL or mark.get("is_positive") is False)
        if not negative:
            if name != IGNORE_LABEL and name not in labelmap:
                raise PromptError(f"class {name!r} is not in the store's label map {labelmap.name}; use one of its "
                                  "classes (regenerate the config with `animeparse ls config --interactive`)")
            classes.add(name)
        x, y = _number(value, "x", what) * w / 100.0, _number(value, "y", what) * h / 100.0
        if kind == "keypointlabels":
            points.append((x, y))
            labels.append(0 if negative else 1)
        else:
            bw, bh = _number(value, "width", what) * w / 100.0, _number(value, "height", what) * h / 100.0
            box = [min(x, x + bw), min(y, y + bh), max(x, x + bw), max(y, y + bh)]  # the last box drawn counts
    if len(classes) > 1:
        raise PromptError(f"the marks name several classes ({', '.join(sorted(classes))}); one request refines one "
                          "region: use one class (and the 'negative' keypoint label for negative clicks)")
    if not classes:
        raise PromptError("the marks hold only negative clicks; add a positive click or a box in the class wanted")
    return Prompt(class_name=classes.pop(), points_xy=np.asarray(points, np.float32).reshape(-1, 2),
                  labels=np.asarray(labels, np.int64), shape_hw=(h, w),
                  box_xyxy=None if box is None else np.asarray(box, np.float32))


def region_result(region_hw: npt.NDArray[np.bool_], class_name: str, *, score: float | None = None,
                  control: str = BRUSH_CONTROL, to_name: str = IMAGE_KEY, region_id: str | None = None
                  ) -> dict[str, Any]:
    """One ``brushlabels`` result: an HxW bool region as Label Studio RLE (alpha 255 inside), in ``class_name``."""
    h, w = region_hw.shape
    result: dict[str, Any] = {
        "id": region_id or f"ap-{class_name}", "from_name": control, "to_name": to_name, "type": "brushlabels",
        "original_width": w, "original_height": h, "image_rotation": 0,
        "value": {"format": "rle", "rle": encode_mask_rle(region_hw.astype(np.uint8) * np.uint8(255)),
                  "brushlabels": [class_name]}}
    if score is not None:
        result["score"] = round(float(score), 4)
    return result


def mask_results(mask_hw: npt.NDArray[np.uint8], labelmap: LabelMap, *,
                 confidence_hw: npt.NDArray[np.floating[Any]] | None = None, control: str = BRUSH_CONTROL,
                 to_name: str = IMAGE_KEY) -> tuple[list[dict[str, Any]], float | None]:
    """One region per class in an HxW uint8 mask (background left out, 255 = ``ignore``), each scored by the mean
    of ``confidence_hw`` (HxW, 0..1) over it; and the prediction's score, the mean of the region scores."""
    results, scores = [], []
    present: Sequence[int] = [int(v) for v in np.flatnonzero(np.bincount(mask_hw.ravel(), minlength=256))]
    for class_id in present:
        if class_id == 0:
            continue
        region = mask_hw == class_id
        name = IGNORE_LABEL if class_id == 255 else labelmap.name_of(class_id)
        score = float(confidence_hw[region].mean()) if confidence_hw is not None else None
        if score is not None:
            scores.append(score)
        results.append(region_result(region, name, score=score, control=control, to_name=to_name,
                                     region_id=f"ap{class_id}"))
    return results, (float(np.mean(scores)) if scores else None)
