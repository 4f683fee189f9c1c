"""``ls push``: samples of a store become Label Studio tasks, their prelabel masks become predictions.

One task per sample, found again by ``data.sample_id``, so pushing twice never duplicates a task; a task that
already has a prediction with the layer's run id as ``model_version`` gets no second one. Each class present in a
prelabel mask becomes one brush region (Label Studio RLE, bit-identical to :mod:`animeparse.formats.lsrle`'s;
alpha 255 inside); decoding those regions by label-map priority gives the mask back exactly.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError, StoreError
from ..formats.lsrle import encode_mask_rle
from ..labelmap import IGNORE_INDEX, LabelMap
from ..store import Dataset, Sample, UnknownSelection
from .characters import character_result, characters_for_config
from .client import Connection, LabelStudioError, ProjectInfo, TaskInfo
from .config import (
    BRUSH_CONTROL,
    CHARACTER_CONTROL,
    IGNORE_LABEL,
    IMAGE_KEY,
    config_choices,
    config_labels,
    label_config,
    unknown_config_labels,
)
from .ranking import order_samples

__all__ = ["PushConfig", "PushReport", "push", "select_samples", "resolve_layer", "mask_to_results",
           "ensure_project", "IMAGE_MODES", "DOCUMENT_ROOT_ENV"]

log = logging.getLogger(__name__)

IMAGE_MODES = ("upload", "local-files")
CHARACTER_MODEL_VERSION = "character"  # the prediction that carries only the character choice (no mask layer)
DOCUMENT_ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
_UPLOADED = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{16})\.[A-Za-z0-9]+$")  # Label Studio's "<8 hex>-<our file name>"
Progress = Callable[[int, int | None], None]
_ONLY = ("unlabeled", "labeled", "status:", "tag:", "split:", "character:", "hair_color:", "eye_color:", "skin_color:")


@dataclass(frozen=True)
class PushConfig:
    """What ``ls push`` does; CLI options map 1:1.

    ``layer``: the prelabel layer sent as predictions (None: the store's only ``prelabel/*`` layer, if it has
    exactly one; ``"none"``: no predictions). ``only``: filters that must all hold (``unlabeled`` = no ``gt`` mask
    yet, ``labeled``, ``status:S``, ``tag:T``, ``split:S``). ``limit``: at most this many samples, taken after
    ordering by ``order`` (:mod:`.ranking`: ``low-confidence``, the lowest prelabel score first; ``uncertainty``,
    the highest entropy of ``parser`` first; ``id``), so the least certain are annotated first. ``images``: ``upload``
    (copies the image files into Label Studio) or ``local-files`` (the server reads them from the store, which
    must lie under its ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``: ``document_root``, default that variable).
    ``sam_prompts``: add the SAM prompt controls to the config; ``interactive``: those and the ``negative``
    keypoint label (the config for ``ls serve``).
    """

    project: str
    layer: str | None = None
    only: tuple[str, ...] = ()
    limit: int | None = None
    images: str = "upload"
    document_root: Path | None = None
    sam_prompts: bool = False
    interactive: bool = False
    batch_size: int = 32
    order: str = "low-confidence"
    parser: str | None = None


@dataclass
class PushReport:
    """What a push did. Counts are of samples / tasks / predictions."""

    url: str
    project: str
    project_id: int = 0
    project_created: bool = False
    config_updated: bool = False
    storage_connected: bool = False
    layer: str | None = None
    model_version: str | None = None
    selected: int = 0
    tasks_created: int = 0
    tasks_existing: int = 0
    tasks_repaired: int = 0
    predictions_added: int = 0
    predictions_existing: int = 0
    without_prelabel: list[str] = field(default_factory=list)


def push(ds: Dataset, conn: Connection, config: PushConfig, *, progress: Progress | None = None) -> PushReport:
    """Create or update the project, one task per selected sample, and the prelabel layer as predictions."""
    if config.images not in IMAGE_MODES:
        raise AnimeparseError(f"--images must be one of {', '.join(IMAGE_MODES)}, got {config.images!r}")
    layer = resolve_layer(ds, config.layer)
    samples = select_samples(ds, only=config.only, limit=config.limit, layer=layer, order=config.order,
                             parser=config.parser)
    report = PushReport(url=conn.url, project=config.project, layer=layer, selected=len(samples),
                        model_version=layer.split("/", 1)[1] if layer else None)
    url_of: Callable[[Sample], str] | None = None
    if config.images == "local-files":
        url_of = _local_files_urls(ds, config.document_root)  # checked before anything is created
    characters = characters_for_config(ds)
    project, report.project_created, report.config_updated = ensure_project(
        conn, config.project, label_config(ds.labelmap, sam=config.sam_prompts, interactive=config.interactive,
                                           characters=characters), ds.labelmap)
    report.project_id = project.id
    if url_of is not None:
        report.storage_connected = conn.ensure_local_storage(project.id, (ds.root / "images").resolve())

    tasks, report.tasks_repaired = _tasks_by_sample(conn, project.id, ds)
    missing = [s for s in samples if s.id not in tasks]
    report.tasks_existing = len(samples) - len(missing)
    for start in range(0, len(missing), config.batch_size):
        batch = missing[start:start + config.batch_size]
        if url_of is not None:
            conn.import_tasks(project.id, [{"data": _task_data(s, url_of(s))} for s in batch])
        else:
            conn.upload_images(project.id, [(Path(s.image).name, ds.image_path(s)) for s in batch])
        report.tasks_created += len(batch)
        if progress:
            progress(start + len(batch), len(missing))
    if missing:
        tasks, _ = _tasks_by_sample(conn, project.id, ds)  # uploads get their sample_id here
    lost = [s.id for s in missing if s.id not in tasks]
    if lost:
        raise LabelStudioError(f"Label Studio at {conn.url} did not create tasks for {len(lost)} samples (first "
                               f"{lost[0]}); run the push again")
    if layer is not None and report.model_version is not None:
        _push_predictions(ds, conn, project, samples, tasks, layer, report.model_version, config, report)
    elif any(s.character for s in samples):  # no mask layer to send: the characters go as their own prediction
        _push_predictions(ds, conn, project, samples, tasks, None, CHARACTER_MODEL_VERSION, config, report)
    log.info("push to %s project %s: %s", conn.url, project.id, report)
    return report


def resolve_layer(ds: Dataset, layer: str | None) -> str | None:
    """The prelabel layer to push: the named one (checked), ``None`` for ``"none"``, else the only one."""
    prelabels = [name for name in ds.layers() if name.startswith("prelabel/")]
    if layer == "none":
        return None
    if layer is not None:
        if layer not in ds.layers():
            raise StoreError(f"the store has no mask layer {layer!r}; its prelabel layers: "
                             f"{', '.join(prelabels) or '(none)'}", path=ds.root)
        if "/" not in layer:
            raise StoreError(f"--layer {layer!r} is not a KIND/RUN layer; pass a prelabel layer such as "
                             "'prelabel/RUN'", path=ds.root)
        return layer
    if len(prelabels) > 1:
        raise StoreError(f"the store has {len(prelabels)} prelabel layers ({', '.join(prelabels)}); choose one with "
                         "--layer (or --layer none)", path=ds.root)
    if not prelabels:
        log.info("%s has no prelabel layer: tasks are pushed without predictions", ds.root)
    return prelabels[0] if prelabels else None


def select_samples(ds: Dataset, *, only: tuple[str, ...] = (), limit: int | None = None,
                   layer: str | None = None, order: str = "low-confidence", parser: str | None = None) -> list[Sample]:
    """Samples passing every ``only`` filter in ``order`` (:func:`.ranking.order_samples`; by default the lowest
    prelabel score first, then by id), at most ``limit``."""
    try:
        chosen = ds.select(only, allowed=_ONLY)
    except UnknownSelection as err:
        raise AnimeparseError(f"unknown --only filter {err.rule!r}; use unlabeled, labeled, status:NAME, tag:NAME, "
                              "split:NAME, character:NAME or hair_color:NAME (eye_color:, skin_color:)") from None
    chosen = order_samples(ds, chosen, order=order, layer=layer, parser=parser)
    if limit is not None:
        if limit < 0:
            raise AnimeparseError(f"--limit must be >= 0, got {limit}")
        chosen = chosen[:limit]
    return chosen


def mask_to_results(mask_hw: npt.NDArray[np.uint8], labelmap: LabelMap) -> list[dict[str, Any]]:
    """One ``brushlabels`` result per class present in an HxW uint8 mask (background left out; 255 = ``ignore``).

    Each region's RLE holds alpha 255 inside and 0 outside (written to all four channels, as the SDK's
    ``mask2rle`` does), so any alpha threshold 1..255 reads the region back exactly.
    """
    h, w = mask_hw.shape
    results = []
    for class_id in (int(v) for v in np.flatnonzero(np.bincount(mask_hw.ravel(), minlength=256))):
        if class_id == 0:
            continue
        name = IGNORE_LABEL if class_id == IGNORE_INDEX else labelmap.name_of(class_id)
        alpha = np.where(mask_hw == class_id, np.uint8(255), np.uint8(0))
        results.append({
            "id": f"ap{class_id}", "from_name": BRUSH_CONTROL, "to_name": IMAGE_KEY, "type": "brushlabels",
            "original_width": w, "original_height": h, "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_mask_rle(alpha), "brushlabels": [name]}})
    return results


def ensure_project(conn: Connection, title: str, xml: str, labelmap: LabelMap) -> tuple[ProjectInfo, bool, bool]:
    """(project, created, config updated). An existing project keeps its config when its region labels are the
    map's; labels the map lacks are refused (a pull could not store them); missing labels are added."""
    project = conn.find_project(title)
    if project is None:
        return conn.create_project(title, xml, description=f"animeparse: label map {labelmap.name} "
                                                           f"v{labelmap.version}"), True, False
    if project.label_config.strip() == xml.strip():
        return project, False, False
    foreign = unknown_config_labels(project.label_config, labelmap)
    if foreign:
        raise LabelStudioError(f"label mismatch: project {title!r} on {conn.url} has labels {foreign} that the "
                               f"store's label map {labelmap.name} lacks; push to a new --project, or rename those "
                               "labels in Label Studio (Settings > Labeling Interface)")
    ours = set(config_labels(xml).get(BRUSH_CONTROL, []))
    theirs = {v for values in config_labels(project.label_config).values() for v in values}
    our_choices = set(config_choices(xml).get(CHARACTER_CONTROL, []))
    if ours <= theirs and our_choices <= set(config_choices(project.label_config).get(CHARACTER_CONTROL, [])):
        return project, False, False  # same labels: the user's own layout and extra controls stay
    conn.update_project(project.id, label_config=xml)
    return conn.project(project.id), False, True


def _task_data(sample: Sample, url: str) -> dict[str, Any]:
    return {IMAGE_KEY: url, "sample_id": sample.id, "name": sample.name}


def _local_files_urls(ds: Dataset, document_root: Path | None) -> Callable[[Sample], str]:
    """``/data/local-files/?d=...`` URLs relative to the server's document root (checked to contain the store)."""
    root_text = str(document_root) if document_root is not None else os.environ.get(DOCUMENT_ROOT_ENV)
    if not root_text:
        raise AnimeparseError(f"--images local-files needs the server's {DOCUMENT_ROOT_ENV}: pass --document-root "
                              f"DIR or set {DOCUMENT_ROOT_ENV} (the same value the server was started with), or "
                              "use --images upload")
    root = Path(root_text).resolve()
    images = (ds.root / "images").resolve()
    if not images.is_relative_to(root):
        raise AnimeparseError(f"the store's images {images} are not under the local-files document root {root}; "
                              "start Label Studio with a document root above the store, or use --images upload")

    def url_of(sample: Sample) -> str:
        return "/data/local-files/?d=" + quote((images / Path(sample.image).name).relative_to(root).as_posix())

    return url_of


def _tasks_by_sample(conn: Connection, project_id: int, ds: Dataset) -> tuple[dict[str, TaskInfo], int]:
    """The project's tasks by ``data.sample_id``, and how many were given it now: uploaded tasks lack it until
    push adds it (also after a push interrupted in between), and are recognised by their file name."""
    found: dict[str, TaskInfo] = {}
    repaired = 0
    for task in conn.tasks(project_id):
        sid = task.data.get("sample_id")
        if not isinstance(sid, str):
            match = _UPLOADED.match(task.file_upload or "")
            if not match or match.group(1) not in ds or match.group(1) in found:
                continue
            sid = match.group(1)
            sample = ds.sample(sid)
            conn.update_task_data(task.id, {**task.data, "sample_id": sid, "name": sample.name})
            repaired += 1
        if sid in found:
            log.warning("project %s: sample %s has tasks %s and %s; using the first", project_id, sid,
                        found[sid].id, task.id)
            continue
        found[sid] = task
    return found, repaired


def _push_predictions(ds: Dataset, conn: Connection, project: ProjectInfo, samples: list[Sample],
                      tasks: Mapping[str, TaskInfo], layer: str | None, model_version: str, config: PushConfig,
                      report: PushReport) -> None:
    """One prediction per sample: the ``layer`` mask's regions (None: none) and the character choice."""
    pending: list[dict[str, Any]] = []
    for sample in samples:
        task = tasks[sample.id]
        if model_version in task.model_versions:
            report.predictions_existing += 1
            continue
        chosen = [character_result(sample.character)] if sample.character else []
        record = ds.mask_record(sample.id, layer) if layer else None
        mask = ds.read_mask(sample.id, layer) if layer else None
        if layer is None and not chosen:
            continue
        if layer is not None and (record is None or mask is None):
            report.without_prelabel.append(sample.id)
            continue
        regions = mask_to_results(mask, ds.labelmap) if mask is not None else []
        prediction: dict[str, Any] = {"task": task.id, "model_version": model_version, "result": regions + chosen}
        if record is not None and record.score is not None:
            prediction["score"] = float(record.score)
        pending.append(prediction)
        if len(pending) >= config.batch_size:
            report.predictions_added += conn.import_predictions(project.id, pending)
            pending = []
    if pending:
        report.predictions_added += conn.import_predictions(project.id, pending)
    if report.predictions_added and project.model_version != model_version:
        # the project's model version picks the predictions annotators start from: the run just pushed
        conn.update_project(project.id, model_version=model_version)
