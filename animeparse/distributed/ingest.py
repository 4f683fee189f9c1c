"""``ingest --engine ray``: the check phase's per-item work (decode, check, hash, encode, stage the files) as Ray
tasks; the reader (detect, read) and everything after (duplicates, near-duplicate groups, the report, the commit)
stay in the driver, the store's single writer, exactly as with ``--engine local``.

Workers write each item's files into the run's staging folder inside the store, so the store must be on a
filesystem every node mounts (at the driver's path, or at ``--worker-store``), and they read the source's files at
the driver's path. Both are probed before any work; a node that cannot see them stops the run with its name and the
path. Results come back in item order (a bounded window of tasks in flight), so sample ids, duplicates and
near-duplicate groups are those of a local run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError
from ..formats.base import Item
from ..ingest.report import Finding
from ..ingest.worker import WorkerContext, prepare_item
from ..store import PreparedSample
from .session import (
    EngineConfig,
    check_workers_see_path,
    check_workers_see_store,
    concurrency,
    ray_session,
)
from .tasks import ordered_map, swap_root

__all__ = ["ray_preparer", "ITEMS_PER_TASK"]

log = logging.getLogger(__name__)
ITEMS_PER_TASK = 8  # a Ray task costs ~1-2 ms of scheduling; an item ~5-50 ms of decoding
Prepared = tuple[Item, PreparedSample | None, list[Finding]]
Preparer = Callable[[Iterable[Item], WorkerContext], Iterator[Prepared]]


@contextlib.contextmanager
def ray_preparer(store_root: Path, src: Path, config: EngineConfig) -> Iterator[Preparer]:
    """Connect to Ray (or start a local instance), check that workers see the store and ``src``, and yield
    ``prepare(items, ctx)``: :func:`animeparse.ingest.worker.prepare_item` over ``items`` on Ray, results in item
    order. ``ctx.staging`` (a driver path inside the store) is probed for writes from the workers at the first call.
    Raises AnimeparseError naming the node and the path when a worker cannot read the store or the source."""
    config.check()
    if config.gpus_per_worker:
        raise AnimeparseError("--gpus-per-worker: ingest's work is decoding and hashing on CPUs; drop it")
    with ray_session(config) as ray:
        wroot = check_workers_see_store(ray, store_root, config)
        check_workers_see_path(ray, src, what="source")
        droot = str(Path(store_root).absolute())

        def prepare(items: Iterable[Item], ctx: WorkerContext) -> Iterator[Prepared]:
            if ctx.staging is None:
                raise ValueError("ingest on Ray needs a staging folder in the store")
            wctx = dataclasses.replace(ctx, staging=swap_root(ctx.staging, droot, wroot))
            check_workers_see_path(ray, ctx.staging, what="store's staging folder", write=True,
                                   worker_path=wctx.staging)
            yield from _stream(ray, items, wctx, config, droot, wroot)

        yield prepare


def _stream(ray: Any, items: Iterable[Item], ctx: WorkerContext, config: EngineConfig, droot: str, wroot: str
            ) -> Iterator[Prepared]:
    """Chunks of items as tasks, at most ``concurrency`` in flight, answers yielded in item order."""
    in_flight = concurrency(ray, config)
    log.info("ingest on Ray: %d tasks of %d items in flight", in_flight, ITEMS_PER_TASK)
    it = iter(items)
    chunks = iter(lambda: [_item_to(i, droot, wroot) for i in islice(it, ITEMS_PER_TASK)], [])
    with contextlib.closing(ordered_map(ray, _prepare_chunk, chunks, ctx, in_flight=in_flight,
                                        num_cpus=config.cpus_per_worker, what="ingest")) as results:
        for chunk, answers in results:
            for item, (prepared, findings) in zip(chunk, answers):
                yield _item_from(item, wroot, droot), _prepared_back(prepared, wroot, droot), findings


def _prepare_chunk(items: list[Item], ctx: WorkerContext) -> list[tuple[PreparedSample | None, list[Finding]]]:
    """Run on a Ray worker: prepare_item for each item (bad input comes back as findings, never raised)."""
    return [prepare_item(item, ctx) for item in items]


def _item_to(item: Item, droot: str, wroot: str) -> Item:
    """Files a reader extracted into the store's staging folder, at the workers' store path (and back with the
    roots swapped: the report names the driver's paths)."""
    if droot == wroot:
        return item
    mask_path = item.mask_path and Path(swap_root(str(item.mask_path), droot, wroot))
    return replace(item, image_path=Path(swap_root(str(item.image_path), droot, wroot)), mask_path=mask_path)


_item_from = _item_to


def _prepared_back(p: PreparedSample | None, wroot: str, droot: str) -> PreparedSample | None:
    """Staged file paths written by a worker, at the driver's store path (where the commit renames them)."""
    if p is None or wroot == droot:
        return p
    masks = tuple(replace(m, staged=m.staged and swap_root(m.staged, wroot, droot)) for m in p.masks)
    return replace(p, staged=p.staged and swap_root(p.staged, wroot, droot), masks=masks,
                   source_path=swap_root(p.source_path, wroot, droot), source=swap_root(p.source, wroot, droot))
