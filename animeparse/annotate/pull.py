"""``ls pull``: a project's annotations become the store's ``gt`` layer, with provenance.

The export comes through a snapshot (:meth:`Connection.export_snapshot`) and is decoded by the same reader as
``animeparse ingest`` of a Label Studio export (:mod:`animeparse.formats.labelstudio`): brush RLE thresholded at
``alpha_threshold``, overlaps by label-map priority, class names looked up in the store's map (unknown names stop
the pull, all listed). Tasks are matched to samples by ``data.sample_id``.

Rules, per task:

- **Several annotations**: the latest that was not cancelled, by ``updated_at`` and then annotation id (the
  reader's rule); such tasks are listed in the report. A task whose annotations were all cancelled is skipped.
- **Newer replaces older**: a stored ``gt`` mask is replaced when the annotation is newer than what made it (the
  same project's earlier annotation, or a ``gt`` from elsewhere written before the annotation's ``updated_at``);
  an older annotation is kept out (``kept_newer``) unless ``force``. The same annotation, or the same pixels,
  write nothing, so a second pull changes nothing.
- **Reviewed** samples are never changed without ``force`` (``kept_reviewed``).
- **Character**: the choice in the latest live annotation's ``character`` Choices block becomes the sample's
  character (:mod:`.characters`); no choice leaves it as it is.
- **Another project's gt**: when a sample's ``gt`` came from another Label Studio project (two projects sharing
  samples) and this project's annotation differs, the pull is refused before anything is written, naming the
  first such sample and both projects; with ``force`` the usual newer-replaces-older rule decides.

Each sample is committed on its own, so a pull that is interrupted is finished by running it again.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import LabelMapError
from ..formats import labelstudio
from ..formats.base import ClassNames, ReadOptions
from ..fsutil import read_json
from ..store import Dataset, MaskInput, MaskRecord
from .characters import chosen_character
from .client import Connection, LabelStudioError, ProjectInfo
from .config import PROMPT_CONTROLS, config_labels

__all__ = ["PullConfig", "PullReport", "pull", "apply_export", "DEFAULT_ALPHA_THRESHOLD"]

log = logging.getLogger(__name__)

DEFAULT_ALPHA_THRESHOLD = 128  # brush alpha at or above which a pixel is painted (half-opaque edge kept)
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class PullConfig:
    """What ``ls pull`` does; CLI options map 1:1. ``class_map``: Label Studio label -> store class name
    (``--map OLD=NEW``, NEW may be ``ignore``). ``export_timeout``: seconds to wait for the snapshot."""

    project: str
    force: bool = False
    alpha_threshold: int = DEFAULT_ALPHA_THRESHOLD
    class_map: Mapping[str, str] = field(default_factory=dict)
    export_timeout: float = 3600.0


@dataclass
class PullReport:
    """What a pull did, by sample id (tasks for problems that have no sample)."""

    url: str
    project: str
    project_id: int = 0
    run_id: str | None = None
    tasks: int = 0
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_reviewed: list[str] = field(default_factory=list)
    kept_newer: list[str] = field(default_factory=list)
    no_annotation: list[str] = field(default_factory=list)
    several: list[dict[str, Any]] = field(default_factory=list)  # sample_id, task_id, annotations, chosen
    unknown_tasks: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    characters_set: list[str] = field(default_factory=list)  # samples whose character the annotation changed

    def summary(self) -> dict[str, Any]:
        """Counts (lists become their lengths), plus the errors and the several-annotation tasks in full."""
        out: dict[str, Any] = {k: len(v) if isinstance(v, list) else v for k, v in asdict(self).items()}
        out["errors"], out["several"] = list(self.errors), list(self.several)
        return out


def pull(ds: Dataset, conn: Connection, config: PullConfig, *, progress: Progress | None = None) -> PullReport:
    """Export the project and store its annotations as ``gt`` (``ds`` must be open for writing)."""
    project = conn.find_project(config.project)
    if project is None:
        titles = conn.project_titles()
        raise LabelStudioError(f"no project titled {config.project!r} on {conn.url}; push to it first (animeparse "
                               f"ls push DS --project {config.project!r}) or check --project (projects there: "
                               f"{', '.join(map(repr, titles[:10])) or 'none'})")
    _check_config_labels(ds, project, config, conn.url)
    params = {"url": conn.url, "project": project.title, "project_id": project.id, "force": config.force,
              "alpha_threshold": config.alpha_threshold, "class_map": dict(config.class_map)}
    run_id = ds.start_run("ls-pull", params=params)
    try:
        with tempfile.TemporaryDirectory(prefix="animeparse-ls-pull-") as tmp:
            export = conn.export_snapshot(project.id, Path(tmp) / "export.json", timeout=config.export_timeout)
            tasks = read_json(export, error=LabelStudioError, what="a Label Studio export")
            report = apply_export(ds, tasks, config=config, project=project, url=conn.url,
                                  users=conn.user_emails(), run_id=run_id, progress=progress)
    except BaseException:
        ds.finish_run(run_id, status="failed")
        raise
    ds.finish_run(run_id, summary=report.summary())
    log.info("pull from %s project %s: %s", conn.url, project.id, report.summary())
    return report


def apply_export(ds: Dataset, tasks: Any, *, config: PullConfig, project: ProjectInfo, url: str,
                 users: Mapping[int, str] | None = None, run_id: str | None = None,
                 progress: Progress | None = None) -> PullReport:
    """Store the annotations of an exported task list (Label Studio JSON) as ``gt``, following the module's rules."""
    if not isinstance(tasks, list):
        raise LabelStudioError("the export is not a JSON list of tasks; run the pull again")
    report = PullReport(url=url, project=project.title, project_id=project.id, run_id=run_id, tasks=len(tasks))
    sample_of: dict[int, str] = {}
    cleaned = []
    for task in tasks:
        tid, data = task.get("id") if isinstance(task, dict) else None, (task or {}).get("data")
        sid = data.get("sample_id") if isinstance(data, dict) else None
        if not isinstance(tid, int) or not isinstance(sid, str) or sid not in ds or sid in sample_of.values():
            log.warning("task %s has no sample of this store (data.sample_id %r); skipped", tid, sid)
            report.unknown_tasks.append(tid if isinstance(tid, int) else -1)
            continue
        sample_of[tid] = sid
        cleaned.append(_clean_task(task, Path(ds.sample(sid).image).name))
        character = chosen_character(task)
        if character is not None and ds.sample(sid).character != character:
            ds.set_character([sid], character)
            report.characters_set.append(sid)
    with tempfile.TemporaryDirectory(prefix="animeparse-ls-pull-") as tmp:
        # the reader looks the image up by the file name written into data.image: the store's own file
        src = Path(tmp) / "tasks.json"
        src.write_text(json.dumps(cleaned), encoding="utf-8")
        options = ReadOptions(alpha_threshold=config.alpha_threshold, class_map=dict(config.class_map),
                              images_dir=ds.root / "images")
        try:
            items = list(labelstudio.read(src, labelmap=ds.labelmap, options=options))
        except LabelMapError as err:
            raise LabelMapError(f"label mismatch in project {project.title!r} on {url}: {err.args[0]}") from None
    if not config.force:
        _refuse_other_projects(ds, items, sample_of, project=project, url=url)
    for done, item in enumerate(items, 1):
        tid = item.meta.get("ls_task_id")
        sid = sample_of[tid] if isinstance(tid, int) else ""
        if item.error is not None:
            report.errors.append(f"task {tid} (sample {sid}): {item.error.args[0]}")
        elif item.mask_hw is None:
            report.no_annotation.append(sid)
        else:
            _store(ds, sid, item.mask_hw, dict(item.meta), config=config, project=project, url=url,
                   users=users or {}, run_id=run_id, report=report)
        if progress:
            progress(done, len(items))
    return report


def _clean_task(task: Mapping[str, Any], image_name: str) -> dict[str, Any]:
    """The task as the reader should see it: annotations only (no predictions, no embedded prediction), without
    the SAM prompt results, and the store's image file as ``data.image``."""
    annotations = []
    for ann in task.get("annotations") or []:
        if not isinstance(ann, dict):
            continue
        ann = {k: v for k, v in ann.items() if k != "prediction"}
        if isinstance(ann.get("result"), list):
            ann["result"] = [r for r in ann["result"]
                             if not (isinstance(r, dict) and r.get("from_name") in PROMPT_CONTROLS)]
        annotations.append(ann)
    return {"id": task["id"], "data": {"image": image_name}, "annotations": annotations}


def _store(ds: Dataset, sid: str, mask: npt.NDArray[np.uint8], meta: dict[str, Any], *, config: PullConfig,
           project: ProjectInfo, url: str, users: Mapping[int, str], run_id: str | None,
           report: PullReport) -> None:
    """Decide add / replace / keep for one sample and write it."""
    if (meta.get("n_annotations") or 0) > 1:
        report.several.append({"sample_id": sid, "task_id": meta.get("ls_task_id"),
                               "annotations": meta.get("n_annotations"), "chosen": meta.get("ls_annotation_id")})
    annotator = meta.get("annotator")
    origin = {"kind": "human", "source": "label-studio", "url": url, "project": project.title,
              "project_id": project.id, "task_id": meta.get("ls_task_id"),
              "annotation_id": meta.get("ls_annotation_id"),
              "annotator": users.get(annotator, annotator) if isinstance(annotator, int) else annotator,
              "updated_at": meta.get("updated_at"), "n_annotations": meta.get("n_annotations"),
              "alpha_threshold": config.alpha_threshold, "run": run_id}
    existing = ds.mask_record(sid, "gt")
    action = "add"
    if existing is not None:
        action = _compare(ds, existing, origin, mask, force=config.force)
    if action in ("add", "replace"):
        ds.put_mask(sid, "gt", MaskInput(mask, origin=origin, source=f"{url} task {meta.get('ls_task_id')}"),
                    replace=action == "replace", run_id=run_id)
        (report.added if action == "add" else report.replaced).append(sid)
    else:
        getattr(report, action).append(sid)


def _refuse_other_projects(ds: Dataset, items: list[Any], sample_of: Mapping[int, str], *, project: ProjectInfo,
                           url: str) -> None:
    """Raise when an annotation would overwrite a ``gt`` mask pulled from another Label Studio project (another
    project id, or the same id on another server) with different pixels; names the first sample and both
    projects."""
    conflicts: list[tuple[str, Mapping[str, Any]]] = []
    for item in items:
        tid = item.meta.get("ls_task_id")
        sid = sample_of.get(tid) if isinstance(tid, int) else None
        if sid is None or item.error is not None or item.mask_hw is None:
            continue
        existing = ds.mask_record(sid, "gt")
        old: Mapping[str, Any] = existing.origin if existing is not None else {}
        if old.get("source") != "label-studio" or (old.get("project_id"), old.get("url")) == (project.id, url):
            continue
        stored = ds.read_mask(sid, "gt")
        if stored is None or stored.shape != item.mask_hw.shape or not np.array_equal(stored, item.mask_hw):
            conflicts.append((sid, old))
    if conflicts:
        sid, old = conflicts[0]
        more = f" (and {len(conflicts) - 1} more samples)" if len(conflicts) > 1 else ""
        raise LabelStudioError(
            f"sample {sid}{more} has gt pulled from project {old.get('project')!r} (id {old.get('project_id')} on "
            f"{old.get('url')}); pulling project {project.title!r} (id {project.id} on {url}) would overwrite it "
            "with different pixels; nothing was written. Pass --force to let the newer annotation win, or pull "
            "the second project into another store")


def _compare(ds: Dataset, existing: MaskRecord, origin: Mapping[str, Any], mask: npt.NDArray[np.uint8], *,
             force: bool) -> str:
    """``unchanged`` / ``kept_reviewed`` / ``kept_newer`` / ``replace`` for a sample that has a ``gt`` mask."""
    old = existing.origin
    same_project = old.get("source") == "label-studio" and old.get("project_id") == origin["project_id"] \
        and old.get("url") == origin["url"]
    if same_project and old.get("annotation_id") == origin["annotation_id"] \
            and old.get("updated_at") == origin["updated_at"]:
        return "unchanged"
    stored = ds.read_mask(existing.sample_id, "gt")
    if stored is not None and stored.shape == mask.shape and np.array_equal(stored, mask):
        return "unchanged"
    if ds.sample(existing.sample_id).status == "reviewed" and not force:
        return "kept_reviewed"
    new_when = _when(origin["updated_at"])
    if same_project:
        old_key = (_when(old.get("updated_at")), _int(old.get("annotation_id")))
        older = None not in (new_when, old_key[0]) and (new_when, _int(origin["annotation_id"])) <= old_key  # type: ignore[operator]  # None excluded first
    else:  # a gt from elsewhere (an import, another project) written after the annotation was last changed
        created = _when(existing.created_at)
        older = new_when is not None and created is not None and new_when < created
    return "kept_newer" if older and not force else "replace"


def _when(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def _check_config_labels(ds: Dataset, project: ProjectInfo, config: PullConfig, url: str) -> None:
    """Refuse a project whose region labels (prompt controls aside) the store cannot hold, before exporting."""
    names = ClassNames(ds.labelmap, config.class_map)
    for control, values in config_labels(project.label_config).items():
        if control not in PROMPT_CONTROLS:
            for value in values:
                names.id_of(value)
    if names.unknown:
        raise LabelMapError(f"label mismatch: project {project.title!r} on {url} has labels "
                            f"{sorted(names.unknown)} that the store's label map {ds.labelmap.name} lacks; map them "
                            "with --map LABEL=CLASS (CLASS may be 'ignore'), or pull into a store with that map")

