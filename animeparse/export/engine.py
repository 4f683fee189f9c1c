"""The export engine: pick the samples, run the format's per-sample work on the executor it is handed (both cores,
or Ray tasks across a cluster), stream the results to the format's sink, and move the finished folder into place.
The formats it writes are the registry's writers (:data:`animeparse.formats.WRITERS`); a manifest-only format
(``parquet``: ``FORMAT.manifest_only``) has no per-sample work: its
``write_manifest(ds, root, config)`` fills the temp folder from the manifest alone.

Memory is flat in the dataset size: workers decode and encode one sample at a time and send back small results
(annotation text, counts), at most ``4 x workers`` chunks are in flight, and sinks write as results arrive. The
store is opened read-only by the caller and never written: an export leaves no run row, so it can run beside an
ingest or an annotation session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import AnimeparseError
from ..executor import EngineConfig, Executor
from ..formats import WRITERS
from ..fsutil import fsync_dir
from ..parallel import executor_for
from ..store import Dataset
from ..store.records import check_layer
from .base import IMAGE_MODES, ExportConfig, ExportError, SampleJob, WorkContext, WorkResult

__all__ = ["EXPORTERS", "ExportResult", "export", "plan_jobs", "work_chunk"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
# run(jobs, ctx) -> (job, result) in job order, on the executor the export was handed
Runner = Callable[[Sequence[SampleJob], WorkContext], Generator[tuple[SampleJob, WorkResult], None, None]]
DEFAULT_LAYER = "gt"

# the format modules the engine writes, by name: the one registry's writers
EXPORTERS: dict[str, ModuleType] = WRITERS
# config fields every format takes; the rest belong to the formats whose FORMAT.options name them
_COMMON = frozenset({"format", "layer", "splits", "images", "workers", "chunk"})
_CHOICES = {"palette_mode": ("l", "p", "rgb"), "ls_as": (None, "predictions", "annotations")}
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: ``out`` (the finished folder), ``samples`` exported, ``by_split`` counts,
    ``annotations`` (COCO annotations, Label Studio regions; 0 for folder formats), ``files`` written and
    ``warnings`` (what was lossy, images copied where a link was asked for); ``class_num``: sis-anime's number of
    characters (the seed's ``--class_num``), None for other formats."""

    out: Path
    format: str
    samples: int
    by_split: dict[str, int]
    annotations: int
    files: int
    warnings: tuple[str, ...]
    class_num: int | None = None


def check_config(config: ExportConfig) -> ModuleType:
    """The exporter module for ``config``; ExportError (saying what to pass) for unknown formats, options that do
    not apply to the format, and bad values."""
    module = EXPORTERS.get(config.format)
    if module is None:
        raise ExportError(f"unknown export format {config.format!r}; use one of {', '.join(EXPORTERS)}")
    if config.layer is not None:
        check_layer(config.layer)
    if config.images not in IMAGE_MODES:
        raise ExportError(f"images must be one of {', '.join(IMAGE_MODES)}, got {config.images!r}")
    if module.FORMAT.manifest_only and config.images != ExportConfig.images:
        raise ExportError(f"--images applies to the formats that write image files, not {config.format} (it points "
                          "at the store's files in place: root + image); drop it")
    if config.workers < 0 or config.chunk < 1:
        raise ExportError(f"workers must be >= 0 and chunk >= 1, got {config.workers} and {config.chunk}")
    defaults = ExportConfig(format=config.format)
    for f in fields(ExportConfig):
        if f.name in _CHOICES and getattr(config, f.name) not in _CHOICES[f.name]:
            choices = ", ".join(str(c) for c in _CHOICES[f.name] if c is not None)
            raise ExportError(f"{f.name} must be one of {choices}, got {getattr(config, f.name)!r}")
        if f.name in _COMMON or f.name in module.FORMAT.options:
            continue
        if getattr(config, f.name) != getattr(defaults, f.name):
            users = [n for n, m in EXPORTERS.items() if f.name in m.FORMAT.options]
            flag = "--as" if f.name == "ls_as" else "--" + f.name.replace("_", "-")
            raise ExportError(f"{flag} applies to --format {' / '.join(users)}, not {config.format}; drop it")
    return module


def _check_out(out: Path, store_root: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError("output folder exists and is not empty; choose a new folder (an export never merges into "
                          "or overwrites one)", path=out)
    real_out, real_store = Path(os.path.realpath(out)), Path(os.path.realpath(store_root))
    if real_out == real_store or real_store in real_out.parents:
        # the store's repair step deletes unknown PNGs under masks/; an export inside the store could vanish
        raise ExportError("output folder is inside the store; choose a folder outside it", path=out)


def _with_layer(config: ExportConfig) -> ExportConfig:
    """Mask formats export one layer: ``gt`` unless ``config.layer`` names another."""
    return config if config.layer is not None else replace(config, layer=DEFAULT_LAYER)


def plan_jobs(ds: Dataset, config: ExportConfig, module: ModuleType) -> list[SampleJob]:
    """One job per sample with a mask in ``config.layer`` (default ``gt``; and in ``config.splits`` when given;
    for a format whose ``FORMAT.unlabelled``, every sample, ``mask_src`` empty where it has none), sorted by sample
    id; stems unique in the export (case-insensitively: a collision gets the sample id appended)."""
    layer = config.layer or DEFAULT_LAYER
    unlabelled = module.FORMAT.unlabelled  # the layout has a place for samples without a mask too
    samples = ds.samples() if unlabelled else ds.samples(layer=layer)
    if config.splits:
        wanted = set(config.splits)
        samples = [s for s in samples if s.split in wanted]
        missing = sorted(wanted - {s.split for s in samples})
        if missing:
            log.warning("no samples with a %r mask in split(s) %s", layer, ", ".join(missing))
    if not samples and unlabelled:
        raise ExportError(f"no samples{' in split(s) ' + ', '.join(config.splits) if config.splits else ''}; "
                          "nothing to export", path=ds.root)
    if not samples:
        layers = ", ".join(f"{k} ({n})" for k, n in ds.layers().items()) or "none"
        where = f" in split(s) {', '.join(config.splits)}" if config.splits else ""
        raise ExportError(f"no samples have a {layer!r} mask{where}; nothing to export (layers in the store: "
                          f"{layers}); pass --layer or --split", path=ds.root)
    jobs: list[SampleJob] = []
    used: set[str] = set()
    root = str(ds.root)
    for index, s in enumerate(samples):
        record = ds.mask_record(s.id, layer)
        if record is None and not unlabelled:  # removed between the two queries by a concurrent writer
            raise ExportError(f"sample {s.id} lost its {layer!r} mask during the export; run it again",
                              path=ds.root)
        # os.path over pathlib: this loop runs once per sample before any worker starts
        stem = _UNSAFE.sub("_", os.path.splitext(os.path.basename(s.name.replace("\\", "/")))[0]).strip(" .") or s.id
        if stem.casefold() in used:
            stem = f"{stem}_{s.id}"
        used.add(stem.casefold())
        job = SampleJob(index=index, sample_id=s.id, name=s.name, stem=stem, ext=os.path.splitext(s.image)[1].lower(),
                        split=s.split, width=s.width, height=s.height, image_src=os.path.join(root, s.image),
                        mask_src=os.path.join(root, record.path) if record is not None else "",
                        character=s.character)
        jobs.append(replace(job, image_out=module.image_relpath(job, config)))
    return jobs


def export(ds: Dataset, out: Path | str, config: ExportConfig, *, progress: Progress | None = None,
           engine: EngineConfig | Executor | None = None) -> ExportResult:
    """Export ``config.layer`` of ``ds`` to the new folder ``out`` in ``config.format``.

    Built in a temp folder beside ``out`` and renamed into place when complete: a failed or interrupted export
    leaves nothing (``out`` must be absent or empty). ``progress(done, total)`` is called as samples finish.
    ``engine``: where the per-sample work runs, an :class:`EngineConfig` (or an executor); with ``engine="ray"``
    it runs as Ray tasks (``engine.workers`` in flight; the store and ``out``'s parent must be on a filesystem every
    node mounts, probed first) while the format's sink runs here; the output is byte-identical to the local
    engine's (``config.workers`` processes).
    Raises ExportError for bad options, an existing non-empty ``out`` or nothing to export.
    """
    module = check_config(config)
    executor = executor_for(engine, workers=config.workers)
    out = Path(out).absolute()
    _check_out(out, ds.root)
    if module.FORMAT.manifest_only:
        if executor.remote:
            log.info("%s reads the manifest only: written here, no Ray work", config.format)
        return _export_manifest(ds, out, config, module, progress)
    config = _with_layer(config)
    jobs = plan_jobs(ds, config, module)
    if config.polygons:  # said up front, before a long run; the counts come with the result's warnings
        log.warning("--polygons is lossy: traced contours differ from the mask along edges; regions with holes are "
                    "kept as RLE (COCO polygons cannot cut holes)")
    if executor.remote and executor.config.gpus_per_worker:
        raise AnimeparseError("--gpus-per-worker: export's work is decoding and encoding on CPUs; drop it")
    run: Runner = partial(_run, executor=executor, chunk=config.chunk)
    # connected, and the store probed from the workers, before anything is written
    with executor.open(ds.root):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        ctx = WorkContext(config=config, labelmap=ds.labelmap, root=str(tmp), store_name=ds.card.name,
                          characters=tuple((c.id, c.name) for c in ds.characters()))
        return _export_jobs(out, tmp, ctx, module, jobs, run, progress)


def _export_jobs(out: Path, tmp: Path, ctx: WorkContext, module: ModuleType, jobs: list[SampleJob],
                 run: Runner, progress: Progress | None) -> ExportResult:
    """Feed every job's result to the format's sink, then move ``tmp`` onto ``out`` (or remove it on failure)."""
    config = ctx.config
    sink = None
    try:
        sink = module.open_sink(tmp, ctx, jobs)
        fallbacks = 0
        # closed before the temp folder is removed: no worker may still be writing into it
        with contextlib.closing(run(jobs, ctx)) as results:  # type: ignore[type-var]  # a generator
            for done, (job, result) in enumerate(results, 1):
                sink.add(job, result)
                fallbacks += result.link_fallback
                if progress:
                    progress(done, len(jobs))
        counts = sink.finish()
        os.replace(tmp, out)  # rename(2) may replace an empty folder
        fsync_dir(out.parent)
    except BaseException:
        if sink is not None:
            sink.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    warnings = list(sink.warnings)
    if fallbacks:
        warnings.append(f"{fallbacks} images were copied, not linked: the store and {out} are on different "
                        "filesystems (or this one has no hard links)")
    for w in warnings:
        log.warning("%s", w)
    by_split: dict[str, int] = {}
    for j in jobs:
        by_split[j.split] = by_split.get(j.split, 0) + 1
    return ExportResult(out=out, format=config.format, samples=len(jobs), by_split=by_split,
                        annotations=counts.get("annotations", 0), files=counts.get("files", 0),
                        warnings=tuple(warnings), class_num=counts.get("class_num"))


def _export_manifest(ds: Dataset, out: Path, config: ExportConfig, module: ModuleType,
                     progress: Progress | None) -> ExportResult:
    """A manifest-only format: ``module.write_manifest`` fills a temp folder, renamed onto ``out`` when done."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        counts = module.write_manifest(ds, tmp, config, progress=progress)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    by_split = dict(sorted(counts["by_split"].items()))
    return ExportResult(out=out, format=config.format, samples=sum(by_split.values()), by_split=by_split,
                        annotations=counts.get("annotations", 0), files=counts.get("files", 0), warnings=())


# -- the parallel part ---------------------------------------------------------------------------------------------
def _run(jobs: Sequence[SampleJob], ctx: WorkContext, *, executor: Executor, chunk: int
         ) -> Generator[tuple[SampleJob, WorkResult], None, None]:
    """(job, result) in job order, ``chunk`` jobs per batch on ``executor`` (a bounded window in flight)."""
    chunks = [list(jobs[i:i + chunk]) for i in range(0, len(jobs), chunk)]
    if not executor.remote and len(chunks) == 1:
        yield from zip(chunks[0], work_chunk(chunks[0], ctx))
        return
    if executor.remote:  # workers write into ctx.root and read the store at their path to it
        executor.check_path(ctx.root, what="export's output folder", write=True)
        chunks = [[replace(j, image_src=executor.worker_path(j.image_src),
                           mask_src=executor.worker_path(j.mask_src) if j.mask_src else "")
                   for j in part] for part in chunks]
    start = 0
    with contextlib.closing(executor.ordered_map(_work, chunks, context=ctx, what="export")) as results:
        for part, answers in results:
            yield from zip(jobs[start:start + len(part)], answers)  # the driver's jobs, not the remapped
            start += len(part)


def _work(ctx: WorkContext, part: list[SampleJob]) -> list[WorkResult]:
    return work_chunk(part, ctx)


def work_chunk(part: list[SampleJob], ctx: WorkContext) -> list[WorkResult]:
    """The format's per-sample ``work`` for each job of ``part`` (in a worker process or a Ray task); any
    failure comes back as an ExportError with a plain message naming the sample."""
    module = EXPORTERS[ctx.config.format]
    results = []
    for job in part:
        try:
            results.append(module.work(job, ctx))
        except (AnimeparseError, OSError) as err:
            if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
                raise  # a write that failed (full disk, read-only, I/O error): the CLI names the path and the fix
            # re-raised as a plain message: exceptions with keyword context do not survive pickling intact
            hint = "; the store changed during the export? run it again" if isinstance(err, OSError) else ""
            raise ExportError(f"sample {job.sample_id} ({job.name}): {err}{hint}") from None
    return results


def describe(result: ExportResult) -> list[tuple[str, Any]]:
    """Rows for the CLI's summary table."""
    return [("format", result.format), ("samples", result.samples),
            ("by split", ", ".join(f"{k} {v}" for k, v in sorted(result.by_split.items()))),
            ("annotations", result.annotations), ("files", result.files), ("out", result.out),
            *([("class_num", f"{result.class_num} (characters; the seed's --class_num)")]
              if result.class_num is not None else [])]
