"""Bring images and their labels from a source into a store, through a format reader.

Two phases. *Check*: the reader names items; workers (on the :class:`~animeparse.executor.Executor` it is handed:
both cores, or Ray tasks across a cluster) decode, hash and check each image and mask, encode the masks and stage the
files in the store; the driver finds exact and near duplicates in item order; everything prepared is spooled to a
temp file in the store. *Commit*: unless the run is refused, the spool is committed in batches (files first, then one
transaction per batch). Refused means: any error with ``on_error="fail"`` (the default), or any error or warning
with ``strict``; then nothing is written at all. A run killed during commit is resumed by running it again: what
was committed is found as exact duplicates and the rest is added.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import shutil
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from ..errors import AnimeparseError, FormatError, LabelMapError
from ..executor import EngineConfig, Executor
from ..formats import READERS, detect_format
from ..formats.base import ClassNames, Item, ReadOptions
from ..fsutil import TMP_SUFFIX
from ..labelmap import IGNORE_INDEX, Remap
from ..parallel import executor_for
from ..store import Dataset, PreparedSample, new_run_id
from .characters import CharacterRule, apply_rule, parse_character_rule
from .neardup import DEFAULT_NEAR_DUP_BITS, NearDupIndex
from .report import Finding, IngestError, IngestReport
from .worker import WorkerContext, prepare_item

__all__ = ["IngestConfig", "IngestError", "IngestReport", "Finding", "ingest", "ITEMS_PER_TASK"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
Prepared = tuple[Item, PreparedSample | None, list[Finding]]
COMMIT_BATCH = 64
ITEMS_PER_TASK = 8  # on a remote executor: a Ray task costs ~1-2 ms of scheduling; an item ~5-50 ms of decoding


@dataclass(frozen=True)
class IngestConfig:
    """Ingest options; CLI flags map 1:1.

    ``on_error``: ``fail`` (any refused item refuses the run, nothing written) or ``skip`` (add the good items).
    ``strict``: warnings refuse the run too. ``remap``: a table applied to index masks (``--remap``).
    ``near_dup_bits``: dHash Hamming distance for near duplicates (-1 turns the check off). ``workers``: processes
    for decoding (0 = in this process). ``character_from``: where each sample's character id comes from
    (``dirname``, ``regex:PATTERN``, ``csv:FILE``; :mod:`.characters`), None: from the layout, if it names one.
    """

    format: str = "auto"
    split: str | None = None
    on_error: str = "fail"
    strict: bool = False
    read: ReadOptions = field(default_factory=ReadOptions)
    remap: Remap | None = None
    near_dup_bits: int = DEFAULT_NEAR_DUP_BITS
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    character_from: str | None = None


def ingest(ds: Dataset, src: Path | str, config: IngestConfig = IngestConfig(), *,
           progress: Callable[[str], Progress | None] | None = None,
           engine: EngineConfig | Executor | None = None) -> IngestReport:
    """Ingest ``src`` into ``ds``; return the report, or raise :class:`IngestError` (carrying it) when refused.

    ``progress(phase)`` returns a ``progress(done, total)`` callback for the ``check`` and ``commit`` phases.
    ``engine``: where the check phase's per-item work runs: an :class:`EngineConfig` (or an executor). With
    ``engine="ray"`` it runs as Ray tasks (``engine.workers`` in flight; the store and ``src`` must be on a
    filesystem every node mounts, probed first); the rest runs here, as with the default local engine
    (``config.workers`` processes), and gives the same result.
    """
    executor = executor_for(engine, workers=config.workers)
    src = Path(src)
    if not src.exists():
        raise FormatError("source not found; check the path", path=src)
    if config.on_error not in ("fail", "skip"):
        raise AnimeparseError(f"on_error must be 'fail' or 'skip', got {config.on_error!r}")
    name = detect_format(src) if config.format == "auto" else config.format
    if name is None:
        raise FormatError(f"no reader recognises this source; pass --format (one of {', '.join(READERS)})", path=src)
    if name not in READERS:
        raise FormatError(f"unknown format {name!r}; use one of {', '.join(READERS)}", path=src)
    read = _source_labelmap(ds, config)
    rule = parse_character_rule(config.character_from) if config.character_from else None
    log.info("%s: reading as %s", src, name)
    # the run row is written only once the run is accepted: a refused ingest leaves the store byte-identical
    run_id = new_run_id("import")
    params = {"src": str(src), "format": name, "split": config.split, "on_error": config.on_error,
              "strict": config.strict, "resize_masks": config.read.resize_masks, "map": dict(config.read.class_map),
              "remap": config.remap.source if config.remap else None, "character_from": config.character_from}
    report = IngestReport(run_id=run_id, format=name, source=str(src))
    spool = ds.root / f".ingest-{run_id}{TMP_SUFFIX}"
    staging = ds.root / f".staging-{run_id}{TMP_SUFFIX}"
    if executor.remote and executor.config.gpus_per_worker:
        raise AnimeparseError("--gpus-per-worker: ingest's work is decoding and hashing on CPUs; drop it")
    try:
        # connected and probed before the staging folder exists: a worker that cannot see the store or the
        # source stops the run with the store untouched; a remote executor serves the check phase only
        with executor.open(ds.root, sources=[(src, "source")] if executor.remote else []):
            staging.mkdir()
            read_options = dataclasses.replace(read, work_dir=staging / "extracted")
            ctx = WorkerContext(labelmap=ds.labelmap, options=read_options, format=name, run_id=run_id,
                                split=config.split, id_lut=_id_lut(ds, config), colours=_colours(ds, config.read),
                                staging=str(staging))
            groups = _check(ds, src, name, config, ctx, report, spool, executor,
                            progress("check") if progress else None, rule)
        refuse = bool(report.refused and config.on_error == "fail")
        refuse = refuse or bool(config.strict and (report.refused or report.count("warning")))
        if refuse:
            raise IngestError(f"ingest of {src} refused: {report.refused} errors, {report.count('warning')} warnings "
                              "(see the report); nothing was written", report=report)
        ds.start_run("import", params=params, run_id=run_id)
        try:
            _commit(ds, spool, groups, report, run_id, progress("commit") if progress else None)
            names = dict(getattr(READERS[name], "character_names", lambda _src: {})(src))
            names.update(rule.names if rule is not None else {})
            if names:  # display names the layout (characters.json) or the --character-from CSV gives
                ds.name_characters(names)
        except BaseException as err:
            ds.finish_run(run_id, status="failed", summary={"added": report.added, "error": str(err)[:500]})
            raise
    finally:
        spool.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    report.committed = True
    ds.finish_run(run_id, summary={"seen": report.seen, "added": report.added, "with_mask": report.with_mask,
                                   "duplicates": report.duplicates, "near_duplicates": report.near_duplicates,
                                   "refused": report.refused})
    return report


def _check(ds: Dataset, src: Path, name: str, config: IngestConfig, ctx: WorkerContext, report: IngestReport,
           spool: Path, executor: Executor, progress: Progress | None,
           rule: CharacterRule | None = None) -> dict[str, str]:
    """Phase 1: prepare every item, record findings, spool the new samples; return near-dup group updates."""
    existing = {s.id for s in ds.samples()}
    index = NearDupIndex(config.near_dup_bits)
    index.add_many([(s.id, s.dup_group, s.phash) for s in ds.samples()])
    groups: dict[str, str] = {}
    in_run: set[str] = set()
    items = READERS[name].read(src, labelmap=ds.labelmap, options=ctx.options)
    if rule is not None:
        items = (apply_rule(rule, i, src) for i in items)
    # results closed before the staging folder is removed: no worker may still be writing into it
    with open(spool, "wb") as out, contextlib.closing(_prepare(executor, items, ctx)) as results:
        for item, prepared, findings in results:
            report.seen += 1
            report.findings += findings
            for f in findings:
                if f.code == "unknown_colours":
                    _add_unknown_colours(report, f, item.name)
            if prepared is not None:
                if prepared.id in existing or prepared.id in in_run:
                    report.duplicates += 1
                    report.findings.append(Finding("info", "exact_duplicate", str(item.image_path),
                                                   f"{item.image_path}: same pixels as sample {prepared.id}; skipped",
                                                   {"sample": prepared.id}))
                else:
                    match = index.match(prepared.phash)
                    if match:
                        other, group, dist = match
                        group = group or other
                        groups[other] = groups.get(other, group)
                        groups[prepared.id] = group
                        index.set_group(other, group)
                        report.near_duplicates += 1
                        report.findings.append(Finding(
                            "warning", "near_duplicate", str(item.image_path),
                            f"{item.image_path}: near duplicate of sample {other} ({dist} of 256 hash bits differ); "
                            f"both are in group {group}, which splits keep together", {"sample": other,
                                                                                        "distance": dist}))
                    index.add_many([(prepared.id, groups.get(prepared.id), prepared.phash)])
                    in_run.add(prepared.id)
                    pickle.dump(prepared, out, protocol=pickle.HIGHEST_PROTOCOL)
            if progress:
                progress(report.seen, None)
    return groups


def _commit(ds: Dataset, spool: Path, groups: dict[str, str], report: IngestReport, run_id: str,
            progress: Progress | None) -> None:
    """Phase 2: commit the spooled samples in batches; each batch's files first, then its rows together."""
    batch: list[PreparedSample] = []
    done = 0
    # groups of samples already in the store go with the first batch; new samples' with their own batch
    pending_existing = {sid: g for sid, g in groups.items() if sid in ds}

    def flush() -> None:
        nonlocal done, pending_existing
        batch_groups = {p.id: groups[p.id] for p in batch if p.id in groups}
        batch_groups.update(pending_existing)
        pending_existing = {}
        added = ds.add_prepared(batch, run_id=run_id, dup_groups=batch_groups)
        report.added += sum(added)
        report.with_mask += sum(a and bool(p.masks) for a, p in zip(added, batch))
        done += len(batch)
        batch.clear()
        if progress:
            progress(done, None)

    with open(spool, "rb") as fh:
        while True:
            try:
                batch.append(pickle.load(fh))
            except EOFError:
                break
            if len(batch) >= COMMIT_BATCH:
                flush()
    if batch:
        flush()


def _prepare(executor: Executor, items: Iterable[Item], ctx: WorkerContext) -> Generator[Prepared, None, None]:
    """prepare_item over items in order on ``executor`` with a bounded window (memory flat in N): one item per
    batch locally, :data:`ITEMS_PER_TASK` per Ray task, whose files are at the workers' store path."""
    if not executor.remote:
        for (item,), (result,) in executor.ordered_map(_prepare_batch, ([i] for i in items), context=ctx,
                                                       what="ingest"):
            yield (item, *result)
        return
    if ctx.staging is None:
        raise ValueError("ingest on Ray needs a staging folder in the store")
    wctx = dataclasses.replace(ctx, staging=executor.worker_path(ctx.staging))
    executor.check_path(ctx.staging, what="store's staging folder", write=True, worker_path=wctx.staging)
    it = iter(items)
    batches = iter(lambda: [_item_to(i, executor.worker_path) for i in islice(it, ITEMS_PER_TASK)], [])
    with contextlib.closing(executor.ordered_map(_prepare_batch, batches, context=wctx, what="ingest")) as results:
        for batch, answers in results:
            for item, (prepared, findings) in zip(batch, answers):
                yield _item_to(item, executor.driver_path), _prepared_back(prepared, executor.driver_path), findings


def _prepare_batch(ctx: WorkerContext, items: list[Item]) -> list[tuple[PreparedSample | None, list[Finding]]]:
    """Run on a worker: prepare_item for each item (bad input comes back as findings, never raised)."""
    return [prepare_item(item, ctx) for item in items]


def _item_to(item: Item, move: Callable[[str], str]) -> Item:
    """Files a reader extracted into the store's staging folder, at the workers' store path (and back: the report
    names the driver's paths)."""
    image = move(str(item.image_path))
    if image == str(item.image_path) and (item.mask_path is None or move(str(item.mask_path)) == str(item.mask_path)):
        return item
    mask_path = item.mask_path and Path(move(str(item.mask_path)))
    return replace(item, image_path=Path(image), mask_path=mask_path)


def _prepared_back(p: PreparedSample | None, move: Callable[[str], str]) -> PreparedSample | None:
    """Staged file paths written by a worker, at the driver's store path (where the commit renames them)."""
    if p is None:
        return p
    masks = tuple(replace(m, staged=m.staged and move(m.staged)) for m in p.masks)
    return replace(p, staged=p.staged and move(p.staged), masks=masks, source_path=move(p.source_path),
                   source=move(p.source))


def _source_labelmap(ds: Dataset, config: IngestConfig) -> ReadOptions:
    """The read options with ``source_labelmap`` (the map the source's ids are in) set from ``--remap`` when that
    is given; LabelMapError when the two disagree, or when the source's map is not the store's and no remap says
    how its ids become the store's."""
    read, stated = config.read, config.read.source_labelmap
    if config.remap is not None:
        if stated not in (None, config.remap.source):
            raise LabelMapError(f"--source-labelmap {stated} but --remap maps from {config.remap.source}; drop one")
        return dataclasses.replace(read, source_labelmap=config.remap.source)
    if stated not in (None, ds.labelmap.name):
        raise LabelMapError(f"--source-labelmap {stated}: the store uses {ds.labelmap.name}; pass --remap {stated} "
                            "to map the source's ids onto the store's (a bundled table or your own JSON)")
    return read


def _id_lut(ds: Dataset, config: IngestConfig) -> np.ndarray | None:
    """256-entry id table for index masks from --remap and numeric --map entries (-1 = not covered)."""
    numeric = {k: v for k, v in config.read.class_map.items() if k.isdecimal()}
    if config.remap is None and not numeric:
        return None
    lut = config.remap.lut() if config.remap else np.arange(256, dtype=np.int16)
    names = ClassNames(ds.labelmap)  # NEW may be a class name, 'ignore' or 'background', as for named sources
    for k, v in numeric.items():
        if int(k) > 255:  # no mask id: a category id of an annotation format (COCO results), mapped by its reader
            continue
        new = int(v) if v.isdecimal() else names.id_of(v)
        if new is None or new > 255:  # the lookup fills a uint8 mask: 273 would wrap to 17 unseen
            raise LabelMapError(f"--map {k}={v}: NEW must be an id 0..255, a class of {ds.labelmap.name} or "
                                "'ignore'")
        lut[int(k)] = new
    return lut


def _colours(ds: Dataset, options: ReadOptions) -> dict[int, int]:
    if options.palette is not None:
        return {(r << 16) | (g << 8) | b: i for (r, g, b), i in options.palette.items()}
    colours = {(c.color[0] << 16) | (c.color[1] << 8) | c.color[2]: c.id for c in ds.labelmap.classes}
    colours.setdefault(0xFFFFFF, IGNORE_INDEX)  # white is ignore unless a class uses it (as label-map palettes do)
    return colours


def _add_unknown_colours(report: IngestReport, finding: Finding, sample: str) -> None:
    for colour, pixels in finding.data.get("colours", {}).items():
        entry = report.unknown_colours.setdefault(colour, {"pixels": 0, "samples": []})
        entry["pixels"] += pixels
        if len(entry["samples"]) < 20:
            entry["samples"].append(sample)
