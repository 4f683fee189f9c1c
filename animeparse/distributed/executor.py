"""``--engine ray``: :class:`RayExecutor`, the :class:`~animeparse.executor.Executor` over a Ray cluster.

Pixel work (ingest, export) goes out as Ray tasks, a bounded number in flight, answers back in submission order
(:mod:`.tasks`); model work (prelabel, pseudo manga: ``actors=True``) runs on a Ray Data actor pool whose actors
each run the runner's ``init`` once (load the models) and then its ``fn`` per batch (:mod:`.actors`). Either way
the driver consumes the results exactly as it would a local run's, and stays the store's single writer.
This module knows nothing of the commands: the runners hand it module-level functions and picklable batches.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..executor import EngineConfig
from .actors import BatchWorker, ordered_actor_map, path_on_workers, pool_size
from .session import check_workers_see_path, check_workers_see_store, concurrency, ray_session
from .tasks import ordered_map, swap_root

__all__ = ["RayExecutor"]

log = logging.getLogger(__name__)
B = TypeVar("B")
R = TypeVar("R")


class RayExecutor:
    """Work on Ray as ``config`` says (``config.check()`` first). :meth:`open` connects (or starts a local
    instance) and proves the workers read the store; everything else needs it open."""

    remote = True

    def __init__(self, config: EngineConfig) -> None:
        config.check()
        self.config = config
        self.workers = 0
        self.ray: Any = None

    @contextlib.contextmanager
    def open(self, store_root: Path, *, sources: Sequence[tuple[Path, str]] = ()) -> Iterator[RayExecutor]:
        with ray_session(self.config) as ray:
            self.ray, self.store_root = ray, store_root
            try:
                self.root = check_workers_see_store(ray, store_root, self.config)
                self._droot = str(Path(store_root).absolute())
                for path, what in sources:
                    check_workers_see_path(ray, path, what=what)
                yield self
            finally:
                self.ray = None

    def worker_path(self, path: str) -> str:
        return swap_root(path, self._droot, self.root)

    def driver_path(self, path: str) -> str:
        return swap_root(path, self.root, self._droot)

    def check_path(self, path: Path | str, *, what: str, write: bool = False, worker_path: str | None = None
                   ) -> None:
        check_workers_see_path(self.ray, path, what=what, write=write, worker_path=worker_path)

    def file_on_workers(self, path: Path | str, what: str) -> str:
        there, in_store = path_on_workers(path, self.store_root, self.root)
        if not in_store:  # files in the store were proven readable with it
            check_workers_see_path(self.ray, Path(path).absolute(), what=what)
        return there

    def size_pool(self, tasks: int) -> int:
        self.workers = pool_size(self.ray, self.config, tasks)
        return self.workers

    def ordered_map(self, fn: Callable[[Any, B], R], batches: Iterable[B], *, context: Any = None,
                    init: Callable[[Any], Any] | None = None, what: str, actors: bool = False
                    ) -> Generator[tuple[B, R], None, None]:
        if actors:
            tasks = list(batches)
            spec = {"fn": fn, "init": init, "context": context}
            for i, value in ordered_actor_map(self.ray, _StatefulWorker, spec, tasks, engine=self.config,
                                              workers=self.workers, what=what):
                yield tasks[i], value
            return
        in_flight = concurrency(self.ray, self.config)
        log.info("%s on Ray: %d tasks in flight", what, in_flight)
        chunks: Iterable[Any] = batches
        with contextlib.closing(ordered_map(self.ray, _task, chunks, fn, init, context, in_flight=in_flight,
                                            num_cpus=self.config.cpus_per_worker, what=what)) as results:
            yield from results  # type: ignore[misc]  # tasks.ordered_map types its chunks as lists


def _task(batch: Any, fn: Callable[[Any, Any], Any], init: Callable[[Any], Any] | None, context: Any) -> Any:
    """Run as a Ray task: the worker's state from ``context``, then ``fn`` on the batch."""
    return fn(init(context) if init is not None else context, batch)


class _StatefulWorker(BatchWorker):
    """One actor: ``init(context)`` once (the models), then ``fn(state, batch)`` per batch."""

    def setup(self, spec: dict[str, Any]) -> None:
        init, self.fn = spec["init"], spec["fn"]
        self.state = init(spec["context"]) if init is not None else spec["context"]

    def work(self, task: Any) -> Any:
        return self.fn(self.state, task)
