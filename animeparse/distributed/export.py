"""``export --engine ray``: the format's per-sample work (decode the mask, encode RLE / PNGs / polygons, place the
image) as Ray tasks; the format's sink (the JSON files that span samples) runs in the driver as results stream in,
in sample order, so the output is byte-identical to ``--engine local``.

Workers read the store (at the driver's path, or ``--worker-store``) and write each sample's files into the
export's temp folder beside ``--out``, so both must be on a filesystem every node mounts; both are probed before
any work, and a node that cannot see them stops the export with its name and the path (nothing is left behind).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import AnimeparseError
from ..export.base import SampleJob, WorkContext, WorkResult
from ..export.engine import work_chunk
from .session import EngineConfig, check_workers_see_path, check_workers_see_store, concurrency, ray_session
from .tasks import ordered_map, swap_root

__all__ = ["ray_runner"]

log = logging.getLogger(__name__)
Runner = Callable[[Sequence[SampleJob], WorkContext], Iterator[tuple[SampleJob, WorkResult]]]


@contextlib.contextmanager
def ray_runner(store_root: Path, config: EngineConfig, *, chunk: int) -> Iterator[Runner]:
    """Connect to Ray (or start a local instance), check that workers read the store, and yield
    ``run(jobs, ctx)``: (job, result) in job order, ``chunk`` jobs per task, ``config.workers`` tasks in flight
    (default: the cluster's CPUs / ``cpus_per_worker``). ``ctx.root`` (the export's temp folder) is probed for
    writes from the workers at the first call. Raises AnimeparseError naming the node and the path when a worker
    cannot read the store or write the output."""
    config.check()
    if config.gpus_per_worker:
        raise AnimeparseError("--gpus-per-worker: export's work is decoding and encoding on CPUs; drop it")
    with ray_session(config) as ray:
        wroot = check_workers_see_store(ray, store_root, config)
        droot = str(Path(store_root).absolute())

        def run(jobs: Sequence[SampleJob], ctx: WorkContext) -> Iterator[tuple[SampleJob, WorkResult]]:
            check_workers_see_path(ray, ctx.root, what="export's output folder", write=True)
            in_flight = concurrency(ray, config)
            log.info("export on Ray: %d tasks of %d samples in flight", in_flight, chunk)
            chunks = ([replace(j, image_src=swap_root(j.image_src, droot, wroot),
                               mask_src=swap_root(j.mask_src, droot, wroot)) for j in jobs[i:i + chunk]]
                      for i in range(0, len(jobs), chunk))
            with contextlib.closing(ordered_map(ray, work_chunk, chunks, ctx, in_flight=in_flight,
                                                num_cpus=config.cpus_per_worker, what="export")) as results:
                start = 0
                for part, answers in results:
                    yield from zip(jobs[start:start + len(part)], answers)  # the driver's jobs, not the remapped
                    start += len(part)

        yield run
