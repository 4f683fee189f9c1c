"""Label Studio JSON exports: brush, polygon, rectangle and ellipse regions to one class-index mask per task.

The export is a JSON list of tasks (a single task object is accepted too). Each task names its image in
``task["data"]`` and carries ``annotations`` (and ``predictions``); one Item is yielded per task, in task id order,
from the task's latest non-cancelled annotation or, when it has none, its latest prediction. Coordinates in results
are percentages of ``original_width`` x ``original_height``; brush regions are RLE-coded RGBA images
(:mod:`.lsrle`) whose anti-aliased alpha is thresholded at ``options.alpha_threshold``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import numpy.typing as npt
from PIL import Image

from ...errors import AnimeparseError, FormatError
from ...imageio import IMAGE_EXTENSIONS, image_size_wh
from ...labelmap import LabelMap
from ...rasterize import compose_by_priority, polygon_to_mask, rectangle_to_mask
from ..base import ClassNames, Item, ReadOptions, safe_join
from ..lsrle import rle_to_alpha

__all__ = ["detect", "read", "SHAPE_TYPES", "time_key"]

log = logging.getLogger(__name__)

# labelled tools (BrushLabels, ...) carry their label in value[type]; the bare tools (Brush, ...) get it from a
# "labels" result with the same id
SHAPE_TYPES = frozenset({"brushlabels", "polygonlabels", "rectanglelabels", "ellipselabels",
                         "brush", "polygon", "rectangle", "ellipse"})
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")  # Label Studio prepends uuid4().hex[:8] + "-" to uploads
_DETECT_TYPES = re.compile(r'"type"\s*:\s*"(?:brush|polygon|rectangle|ellipse)(?:labels)?"')
_CONFIG_IMAGE = re.compile(r'<Image\b[^>]*?\bvalue\s*=\s*"\$(\w+)"')
_EPOCH = datetime.min.replace(tzinfo=UTC)


def detect(src: Path) -> float:
    """Confidence that ``src`` is a Label Studio JSON export; reads only the first 64 KiB and never raises."""
    try:
        src = Path(src)
        if not src.is_file() or src.suffix.lower() != ".json":
            return 0.0
        with open(src, encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 16)
    except (OSError, ValueError):
        return 0.0
    if not head.lstrip().startswith(("[", "{")):
        return 0.0
    # Brush exports put megabytes of RLE before a task's "data" key, so look for markers that come early:
    # a region type, or keys only Label Studio writes.
    if _DETECT_TYPES.search(head) or any(k in head for k in ('"was_cancelled"', '"from_name"', '"original_width"')):
        return 0.95
    return 0.5 if '"data"' in head and ('"annotations"' in head or '"predictions"' in head) else 0.0


@dataclass
class _Task:
    """One task after the first pass: the chosen annotation and its shapes with target class ids."""

    index: int
    task: dict[str, Any]
    task_id: Any
    chosen: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    shapes: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)
    error: str | None = None


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per task (sorted by task id) with ``mask_hw`` HxW uint8 ids of ``labelmap``.

    Unknown class names fail the whole file before anything is yielded (one :class:`LabelMapError` listing them);
    a task whose image is missing or whose regions are malformed comes back as an Item with ``error`` set.
    """
    src = Path(src)
    if not 1 <= options.alpha_threshold <= 255:
        raise AnimeparseError(f"alpha threshold must be 1..255, got {options.alpha_threshold}; pass "
                              "--alpha-threshold N (128 keeps the brush stroke's half-opaque edge)")
    tasks = _load_tasks(src)
    image_keys = [*_config_image_keys(src), "image"]
    names = ClassNames(labelmap, options.class_map)
    plans = [_plan(i, task, names) for i, task in enumerate(tasks)]
    names.check(path=src)  # every unknown name of the file in one error, before any item
    plans.sort(key=lambda p: (not isinstance(p.task_id, int), p.task_id if isinstance(p.task_id, int) else 0,
                              str(p.task_id), p.index))
    for plan in plans:
        yield _item(plan, src, image_keys, labelmap, options)


def _load_tasks(src: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise FormatError("file not found; check the path", path=src) from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormatError(f"is not readable JSON ({err}); export the project as 'JSON' from Label Studio",
                          path=src) from err
    except RecursionError as err:  # the C decoder recurses per nesting level: 100000 '[' exhaust the stack
        raise FormatError("is nested too deeply to be a Label Studio export; export the project as 'JSON' from "
                          "Label Studio", path=src) from err
    tasks = [data] if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise FormatError("expected a JSON list of tasks (Label Studio's 'JSON' export)", path=src)
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise FormatError(f"task #{i} has no 'data' object; this reader takes Label Studio's 'JSON' export "
                              "(not JSON-MIN, CSV or COCO)", path=src)
    return tasks


def _config_image_keys(src: Path) -> list[str]:
    """Data keys named by ``<Image value="$key">`` in a labelling config saved beside the export, if any."""
    keys: list[str] = []
    try:
        configs = sorted(p for p in src.parent.glob("*.xml") if p.stat().st_size < 1 << 20)
        for path in configs:
            keys += [k for k in _CONFIG_IMAGE.findall(path.read_text(encoding="utf-8", errors="replace"))
                     if k not in keys]
    except OSError as err:  # the config only refines the guess; the export is read without it
        log.debug("%s: labelling config not read (%s)", src, err)
    return keys


def time_key(record: Mapping[str, Any]) -> tuple[datetime, int]:
    """Sort key of an annotation/prediction: updated_at (else created_at), then id; unparsable times sort first."""
    stamp = record.get("updated_at") or record.get("created_at")
    when = _EPOCH
    if isinstance(stamp, str):
        try:  # parsed, not compared as text: "…:19Z" would sort after "…:19.5Z"
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
        except ValueError:
            pass
    rid = record.get("id")
    return when, rid if isinstance(rid, int) else -1


def _plan(index: int, task: dict[str, Any], names: ClassNames) -> _Task:
    """Pick the annotation, collect its shapes and look their labels up (recording unknown names)."""
    plan = _Task(index=index, task=task, task_id=task.get("id"), meta={"ls_task_id": task.get("id")})
    for key in ("annotations", "predictions"):
        if not isinstance(task.get(key) or [], list):
            plan.error = f"'{key}' is not a list"
            return plan
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    live = [a for a in annotations if not a.get("was_cancelled")]
    predictions = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    plan.meta = {"ls_task_id": plan.task_id, "n_annotations": len(live),
                 "n_cancelled": len(annotations) - len(live)}
    if live:
        plan.chosen = max(live, key=time_key)
        annotator = plan.chosen.get("completed_by")
        if isinstance(annotator, dict):  # older exports inline the user
            annotator = annotator.get("email") or annotator.get("id")
        plan.meta.update({"from": "annotation", "ls_annotation_id": plan.chosen.get("id"), "annotator": annotator,
                          "updated_at": plan.chosen.get("updated_at")})
    elif predictions:
        plan.chosen = max(predictions, key=time_key)
        plan.meta.update({"from": "prediction", "ls_annotation_id": None, "ls_prediction_id": plan.chosen.get("id"),
                          "model_version": plan.chosen.get("model_version"),
                          "updated_at": plan.chosen.get("updated_at") or plan.chosen.get("created_at")})
    if plan.chosen is None:
        return plan
    results = plan.chosen.get("result")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        plan.error = "'result' is not a list of objects"
        return plan
    # bare tools: the label sits in a sibling "labels" result with the same id
    side_labels = {_rid(r): r["value"].get("labels") for r in results
                   if r.get("type") == "labels" and isinstance(r.get("value"), dict)}
    ignored: dict[str, int] = {}
    for result in results:
        rtype = str(result.get("type", "")).lower()
        if rtype not in SHAPE_TYPES:
            if rtype != "labels":  # "labels" results are counted below, once it is known which pair with a shape
                ignored[rtype] = ignored.get(rtype, 0) + 1
            continue
        value = result.get("value")
        labels = value.get(rtype) if isinstance(value, dict) and rtype.endswith("labels") else None
        labels = labels if labels is not None else side_labels.get(_rid(result))
        if not isinstance(labels, list) or not labels or not isinstance(labels[0], str):
            plan.error = plan.error or f"{rtype} result {result.get('id')!r} has no label"
            continue
        if len(labels) > 1:
            log.warning("task %s: result %r has labels %s; using the first", plan.task_id, result.get("id"), labels)
        plan.shapes.append((result, names.id_of(labels[0])))
    paired = {_rid(shape) for shape, _ in plan.shapes}
    unpaired = sum(1 for r in results if r.get("type") == "labels" and _rid(r) not in paired)
    if unpaired:  # text-span or free-standing labels: not regions
        ignored["labels"] = unpaired
    if ignored:
        plan.meta["ignored_results"] = ignored
    return plan


def _rid(result: Mapping[str, Any]) -> str | None:
    """A result's id as a dict key (ids are strings in exports; anything odd pairs with nothing)."""
    rid = result.get("id")
    return str(rid) if isinstance(rid, (str, int)) else None


def _item(plan: _Task, src: Path, image_keys: list[str], labelmap: LabelMap, options: ReadOptions) -> Item:
    where = f"task {plan.task_id if plan.task_id is not None else '#' + str(plan.index)}"
    mask_source = f"{src}#{where.replace(' ', '-')}"
    url, image_path, missing = _find_image(plan.task, image_keys, src, options)
    if missing is not None:
        return Item(image_path=image_path, name=image_path.name, meta={**plan.meta, "image_url": url},
                    error=FormatError(f"{where}: {missing}", path=src))
    meta = {**plan.meta, "image_url": url}

    def failed(message: str) -> Item:
        return Item(image_path=image_path, name=image_path.name, meta=meta, mask_source=mask_source,
                    error=FormatError(f"{where}: {message}", path=src))

    if plan.error:
        return failed(plan.error)
    if plan.chosen is None:
        return Item(image_path=image_path, name=image_path.name, meta=meta)  # unlabelled
    try:
        image_wh = image_size_wh(image_path)
    except FormatError as err:
        return failed(f"image {image_path} is not readable ({err})")
    declared = [_original_size(shape) for shape, _ in plan.shapes]
    sizes = {size for size in declared if size is not None}
    if None in declared:
        return failed("a region has no valid original_width/original_height")
    if not plan.shapes:
        if meta.get("ignored_results"):  # e.g. a classification-only annotation: no segmentation to take
            return Item(image_path=image_path, name=image_path.name, meta=meta)
        sizes = {image_wh}  # an empty submitted annotation: the annotator found nothing, all background
    if len(sizes) > 1:
        listed = " and ".join(f"{w}x{h}" for w, h in sorted(sizes))
        return failed(f"regions disagree on the image size: {listed}; re-export the task from Label Studio")
    ow, oh = next(iter(sizes))
    target_wh = (ow, oh)
    if image_wh != (ow, oh):
        if options.resize_masks != "nearest":
            return failed(f"regions were drawn on a {ow}x{oh} image, but {image_path.name} is {image_wh[0]}x"
                          f"{image_wh[1]}; use the image Label Studio showed or pass --resize-masks nearest")
        target_wh = image_wh  # percent coordinates rasterise exactly at any size; brush masks are resized
    regions: list[tuple[int, npt.NDArray[np.bool_]]] = []
    for shape, class_id in plan.shapes:
        try:
            region = _region(shape, (ow, oh), target_wh, src, options.alpha_threshold)
        except FormatError as err:
            return failed(f"{shape.get('type')} result {shape.get('id')!r}: {err.args[0]}")
        if class_id is not None:  # always: check() has refused unknown names before any item
            regions.append((class_id, region))
    mask = compose_by_priority((target_wh[1], target_wh[0]), regions, labelmap)
    return Item(image_path=image_path, name=image_path.name, mask_hw=mask, mask_source=mask_source, meta=meta)


def _original_size(result: Mapping[str, Any]) -> tuple[int, int] | None:
    """(original_width, original_height) when both are positive whole numbers, else None."""
    size: tuple[Any, Any] = (result.get("original_width"), result.get("original_height"))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and float(v).is_integer()
               for v in size):
        return None
    return int(size[0]), int(size[1])


def _find_image(task: Mapping[str, Any], image_keys: list[str], src: Path,
                options: ReadOptions) -> tuple[str | None, Path, str | None]:
    """(url, image path, None) for a task, or (url, the path expected, why it was not found)."""
    data = task["data"]
    url = next((data[k] for k in image_keys if isinstance(data.get(k), str)), None)
    if url is None:  # no configured key: the first value that looks like an image file
        url = next((v for v in data.values() if isinstance(v, str)
                    and urlparse(v).path.lower().endswith(IMAGE_EXTENSIONS)), None)
    roots = [Path(r) for r in (options.images_dir, src.parent) if r is not None]
    looked: list[str] = []
    names: list[str] = []
    try:
        if url is not None:
            parsed = urlparse(url)
            d = parse_qs(parsed.query).get("d") if "local-files" in parsed.path else None
            if d:  # /data/local-files/?d=dir/0.jpg, relative to the files root; Windows servers write dir\0.jpg
                relative = d[0].replace("\\", "/")
                looked.append(relative)
                for root in roots:  # safe_join refuses ../ and absolute paths: the export must not reach outside
                    candidate = safe_join(root, relative, what="image", source=src)
                    if candidate.is_file():
                        return url, candidate, None
            names.append(Path(relative).name if d else unquote(Path(parsed.path).name))
        upload = task.get("file_upload")
        if isinstance(upload, str):  # the stored upload name, e.g. when data.image is an opaque URL
            names.append(Path(upload).name)
        for name in list(names):
            stripped = _UPLOAD_PREFIX.match(name)
            if stripped:  # the prefixed name is tried first: it is the more specific one
                names.insert(names.index(name) + 1, stripped.group(1))
        names = list(dict.fromkeys(n for n in names if n not in ("", ".", "..")))
        for name in names:
            for root in roots:
                candidate = safe_join(root, name, what="image", source=src)
                if candidate.is_file():
                    return url, candidate, None
    except FormatError as err:
        return url, roots[0] / (names[-1] if names else "image"), str(err.args[0])
    looked += [n for n in names if n not in looked]
    expected = roots[0] / (names[-1] if names else "image")
    if not looked:
        return url, expected, f"no image URL in task data (keys {sorted(data)}); name the image in data.image"
    return url, expected, (f"image {', '.join(looked)} not found in {' or '.join(map(str, roots))}; pass --images "
                           "DIR, the folder holding the images Label Studio served (file names with or without its "
                           "8-hex upload prefix are found)")


def _region(result: Mapping[str, Any], original_wh: tuple[int, int], target_wh: tuple[int, int], src: Path,
            alpha_threshold: int) -> npt.NDArray[np.bool_]:
    """One result's HxW bool region at ``target_wh`` (percent coordinates scale to any size)."""
    value = result.get("value")
    if not isinstance(value, dict):
        raise FormatError("has no 'value' object", path=src)
    rtype = str(result.get("type")).lower().removesuffix("labels")
    w, h = target_wh
    if rtype == "brush":
        if value.get("format", "rle") != "rle" or "rle" not in value:
            raise FormatError(f"brush format {value.get('format')!r} is not 'rle'", path=src)
        alpha = rle_to_alpha(value["rle"], shape_hw=(original_wh[1], original_wh[0]), source=src)
        region = alpha >= alpha_threshold
        if original_wh != target_wh:
            region = np.asarray(Image.fromarray(region).resize(target_wh, Image.Resampling.NEAREST), dtype=bool)
        return region
    if rtype == "polygon":
        points = value.get("points")
        try:
            pts = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            pts = np.zeros((0,))
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
            raise FormatError(f"polygon needs >= 3 finite [x, y] points, got {str(points)[:80]}", path=src)
        return polygon_to_mask(pts / 100.0 * np.array([w, h]), (h, w))
    x, y, rw, rh, rot = (_number(value, k, src) for k in ("x", "y", "width" if rtype == "rectangle" else "radiusX",
                                                          "height" if rtype == "rectangle" else "radiusY",
                                                          "rotation"))
    sx, sy = w / 100.0, h / 100.0
    theta = math.radians(rot)
    if rtype == "rectangle":
        if rot == 0:
            return rectangle_to_mask([x * sx, y * sy, (x + rw) * sx, (y + rh) * sy], (h, w))
        # Label Studio rotates the box clockwise (y down) about its top-left corner (x, y), in pixels
        local = np.array([[0, 0], [rw * sx, 0], [rw * sx, rh * sy], [0, rh * sy]])
        origin = np.array([x * sx, y * sy])
    elif rtype == "ellipse":
        # (x, y) is the centre, radiusX/radiusY percent of width/height; rotation about the centre
        t = np.linspace(0, 2 * np.pi, max(64, min(4096, int(4 * max(rw * sx, rh * sy)))), endpoint=False)
        local = np.stack([rw * sx * np.cos(t), rh * sy * np.sin(t)], axis=1)
        origin = np.array([x * sx, y * sy])
    else:  # pragma: no cover - SHAPE_TYPES lists only the kinds handled above
        raise FormatError(f"unsupported region type {rtype!r}", path=src)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return polygon_to_mask(origin + local @ rotation.T, (h, w))


def _number(value: Mapping[str, Any], key: str, src: Path) -> float:
    """A finite number from a region's value (``rotation`` defaults to 0)."""
    v = value.get(key, 0 if key == "rotation" else None)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise FormatError(f"{key} must be a finite number, got {v!r}", path=src)
    return float(v)
