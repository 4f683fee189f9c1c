"""Run the checks: pixel checks in worker processes (decoding is the cost), store checks in the driver.

The driver reads the manifest rows, hands samples to a fork pool in chunks with a bounded number in flight (memory
stays flat however large the store), gathers each sample's findings and :class:`SampleFacts`, then runs the
store-level checks (orphans, duplicates, left/right majority, layers) with those facts.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AnimeparseError, StoreError
from ..labelmap import LabelMap
from ..labelorder import suspect_label_order
from ..parallel import LocalExecutor
from ..store import Dataset, MaskRecord, Sample
from ..store.manifest import MANIFEST_NAME
from .config import QAConfig
from .findings import Finding, QAReport, Severity
from .sample_view import SampleFacts, SampleView

__all__ = ["validate", "inspect_sample"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
Task = tuple[Sample, list[MaskRecord], bool]
# samples per pool task: amortises the pickling round trip (~0.1 ms) over a few decodes (~4 ms each at 512 px)
CHUNK = 4


@dataclass(frozen=True)
class WorkerContext:
    """What every worker needs; pickled once per worker process."""

    root: Path
    labelmap: LabelMap
    cfg: QAConfig
    checks: tuple[str, ...]  # sample checks to run, in CHECKS order
    want_pixel_sha: bool  # the duplicates check runs
    want_lr: bool  # the lr_convention check runs


def validate(ds: Dataset, cfg: QAConfig | None = None, *, progress: Progress | None = None) -> QAReport:
    """Run every check of :data:`animeparse.qa.CHECKS` not in ``cfg.skip`` on ``ds``; return the report.

    ``progress(done, total)`` is called as samples are checked. Bad data never raises: it comes back as findings.
    Raises AnimeparseError for an unknown check name, and lets store errors (missing manifest ...) through.
    """
    from . import CHECKS, SAMPLE_CHECKS, STORE_CHECKS

    cfg = cfg or QAConfig()
    unknown = sorted(set(cfg.skip) - set(CHECKS))
    if unknown:
        raise AnimeparseError(f"unknown checks {unknown} in skip; the checks are: {', '.join(CHECKS)}")
    sample_checks = tuple(n for n in SAMPLE_CHECKS if n not in cfg.skip)
    store_checks = [n for n in STORE_CHECKS if n not in cfg.skip]
    findings: list[Finding] = []
    if "manifest" in store_checks:  # first: every other check reads its rows from the manifest
        findings += _guarded("manifest", lambda: STORE_CHECKS["manifest"](ds, cfg, {}), None)
    try:
        samples = ds.samples()
        masks = ds.all_mask_records()
    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError) as err:  # bytes, JSON or columns damaged
        damage = [f.message for f in findings if f.code == "manifest_corrupt"]
        raise StoreError(f"the manifest's rows could not be read ({type(err).__name__}: {err})"
                         f"{': ' + damage[0] if damage else ''}", path=ds.root / MANIFEST_NAME) from err
    # rows that share a pixel or file hash with another row are the exact-duplicate candidates: hash their pixels
    shared = {k for k, n in Counter(s.sha256 for s in samples).items() if n > 1}
    shared |= {k for k, n in Counter(s.file_sha256 for s in samples).items() if n > 1}
    tasks: list[Task] = [(s, masks.get(s.id, []), s.sha256 in shared or s.file_sha256 in shared) for s in samples]
    ctx = WorkerContext(root=ds.root, labelmap=ds.labelmap, cfg=cfg, checks=sample_checks,
                        want_pixel_sha="duplicates" in store_checks, want_lr="lr_convention" in store_checks)
    facts: dict[str, SampleFacts] = {}
    if "label_order" in sample_checks:  # parse the bundled maps once, here: the forked workers inherit the cache
        suspect_label_order(np.zeros((1, 1), np.uint8), ds.labelmap)
    if sample_checks or ctx.want_pixel_sha or ctx.want_lr:
        done = 0
        for results in _parallel(tasks, ctx, cfg.workers):
            for sid, found, fact in results:
                findings += found
                facts[sid] = fact
            done += len(results)
            if progress:
                progress(done, len(tasks))
    for name in (n for n in store_checks if n != "manifest"):
        findings += _guarded(name, functools.partial(STORE_CHECKS[name], ds, cfg, facts), None)
    votes = Counter(f.lr or "none" for f in facts.values()) if ctx.want_lr else Counter()
    stats: dict[str, Any] = {"lr": {"declared": ds.card.lr_convention, "subject": votes["subject"],
                                    "image": votes["image"], "no_vote": votes["none"]}} if ctx.want_lr else {}
    return QAReport(store=str(ds.root), layer=cfg.layer, samples=len(samples),
                    checks=[*sample_checks, *store_checks], config=cfg.to_json(), findings=findings, stats=stats)


def inspect_sample(task: Task, ctx: WorkerContext) -> tuple[str, list[Finding], SampleFacts]:
    """Run the sample checks on one sample (decoding each file at most once); return its findings and facts."""
    from . import SAMPLE_CHECKS
    from .layout import lr_vote

    sample, masks, need_sha = task
    view = SampleView(ctx.root, ctx.labelmap, sample, masks, ctx.cfg.layer, need_pixel_sha=need_sha)
    findings: list[Finding] = []
    for name in ctx.checks:
        findings += _guarded(name, functools.partial(SAMPLE_CHECKS[name], view, ctx.cfg), sample.id)
    lr, reason = None, ""
    if ctx.want_lr:  # the vote is the lr_convention check's sample part: guarded like the checks

        def vote() -> Iterator[Finding]:
            nonlocal lr, reason
            lr, reason = lr_vote(view, ctx.cfg)
            return iter(())

        findings += _guarded("lr_convention", vote, sample.id)
    return sample.id, findings, SampleFacts(pixel_sha=view.pixel_sha if ctx.want_pixel_sha else None, lr=lr,
                                            lr_reason=reason)


def _guarded(name: str, run: Callable[[], Iterator[Finding]], sample_id: str | None) -> list[Finding]:
    """The check's findings tagged with its name; a check that crashes becomes one error finding (a bug to report),
    so one odd sample never stops the run."""
    try:
        return [replace(f, check=name) for f in run()]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as err:  # a damaged manifest, not a bug of the check
        where = f" for sample {sample_id}" if sample_id else ""
        return [Finding(Severity.ERROR, "manifest_corrupt", sample_id, f"check {name} could not read the manifest"
                        f"{where} ({err}); see the manifest check's findings for the damage and the fix",
                        file=MANIFEST_NAME, check=name)]
    except Exception as err:  # noqa: BLE001 - findings are data: a failing check must not hide the others
        log.exception("check %s failed%s", name, f" on sample {sample_id}" if sample_id else "")
        where = f" on sample {sample_id}" if sample_id else ""
        return [Finding(Severity.ERROR, "check_failed", sample_id, f"check {name} failed{where} ({err!r}); this is a "
                        f"bug in animeparse: please report it, and --skip {name} to go on", check=name)]


def _parallel(tasks: Sequence[Task], ctx: WorkerContext, workers: int
              ) -> Iterator[list[tuple[str, list[Finding], SampleFacts]]]:
    """inspect_sample over ``tasks`` in chunks, in order, on ``workers`` fork processes with at most
    4 chunks per worker in flight; ``workers`` 0 runs here."""
    chunks = [tasks[i:i + CHUNK] for i in range(0, len(tasks), CHUNK)]
    if workers <= 0 or len(chunks) <= 1:
        for chunk in chunks:
            yield [inspect_sample(t, ctx) for t in chunk]
        return
    import cv2

    # one OpenCV thread per worker process (there is one process per core already), set here so the forked workers
    # inherit it: cv2.setNumThreads inside a forked child deadlocks once this process has used OpenCV's thread pool
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        pool = LocalExecutor(workers=min(workers, len(chunks)), window=4 * workers)
        for _, results in pool.ordered_map(_work, chunks, context=ctx, init=_init_worker, what="validate"):
            yield results
    finally:
        cv2.setNumThreads(threads)


def _init_worker(ctx: WorkerContext) -> WorkerContext:
    import cv2

    # truncated PNGs are findings here; OpenCV's stderr warning about each would only garble the progress bar
    cv2.setLogLevel(2)  # LOG_LEVEL_ERROR
    return ctx


def _work(ctx: WorkerContext, chunk: Sequence[Task]) -> list[tuple[str, list[Finding], SampleFacts]]:
    return [inspect_sample(t, ctx) for t in chunk]
