"""Where work runs: the one seam between the runners (ingest, export, validate, prelabel, pseudo) and the engines.

A runner builds its batches and hands them to an :class:`Executor`; it never imports an engine. Two engines
implement the interface: :class:`animeparse.parallel.LocalExecutor` (this machine: forked processes or this process)
and :class:`animeparse.distributed.RayExecutor` (``--engine ray``: Ray tasks for pixel work, a Ray actor pool for
model work). :func:`animeparse.parallel.executor_for` picks one from an :class:`EngineConfig`, which the CLI builds
from its options in one place (``animeparse/cli/common.py``). The store's single writer stays in the calling
process: executors compute, the runner commits what comes back, in the order it went out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .errors import AnimeparseError

__all__ = ["ENGINES", "EngineConfig", "Executor"]

ENGINES = ("local", "ray")
B = TypeVar("B")
R = TypeVar("R")


@dataclass(frozen=True)
class EngineConfig:
    """Where the work runs (one field per CLI option).

    ``engine``: ``local`` (this machine's processes) or ``ray``. ``ray_address``: a running cluster
    (``ray://host:10001`` or ``host:6379``; ``auto`` = the one this node joined); None starts a local instance for the
    run and stops it after. ``workers``: parallel model replicas (actors) or tasks; None = sized from the cluster.
    ``gpus_per_worker`` / ``cpus_per_worker``: resources each worker asks Ray for (fractions allowed: on a 2-core
    machine whole-CPU actors deadlock against Ray Data's read tasks). ``worker_store``: the store's path as the
    workers see it, when the shared filesystem is mounted at another path there.
    """

    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 0.5
    worker_store: str | None = None

    def check(self) -> None:
        if self.engine not in ENGINES:
            raise AnimeparseError(f"--engine {self.engine!r}: use one of {', '.join(ENGINES)}")
        if self.workers is not None and self.workers < 1:
            raise AnimeparseError(f"--workers must be >= 1 with --engine ray, got {self.workers}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise AnimeparseError(f"need --gpus-per-worker >= 0 and --cpus-per-worker > 0, got "
                                  f"{self.gpus_per_worker} and {self.cpus_per_worker}")
        if self.engine == "local" and (self.ray_address or self.gpus_per_worker or self.worker_store):
            raise AnimeparseError("--ray-address, --gpus-per-worker and --worker-store need --engine ray")


class Executor(Protocol):
    """An ordered map over batches with a per-worker init, plus what a runner needs to hand its workers paths.

    ``remote``: whether workers may run on other machines (then every path they read or write must be on a shared
    filesystem; the runner proves it with :meth:`check_path` before anything is written). ``workers``: the actor
    pool's size once :meth:`size_pool` ran (0 for the local engine).
    """

    config: EngineConfig
    remote: bool
    workers: int

    def open(self, store_root: Path, *, sources: Sequence[tuple[Path, str]] = ()
             ) -> contextlib.AbstractContextManager[Any]:
        """Connect (Ray: join or start a cluster) and prove the workers read the store at ``store_root`` and each
        ``(path, what)`` of ``sources``; raises AnimeparseError naming the node, the path and the fix."""
        ...

    def worker_path(self, path: str) -> str:
        """``path`` (the driver's, under the store) as the workers see it (``--worker-store``)."""
        ...

    def driver_path(self, path: str) -> str:
        """The inverse of :meth:`worker_path`: a path a worker returned, as this process sees it."""
        ...

    def check_path(self, path: Path | str, *, what: str, write: bool = False, worker_path: str | None = None
                   ) -> None:
        """Prove every worker reads (``write``: writes) ``path`` (at ``worker_path`` when it differs there)."""
        ...

    def file_on_workers(self, path: Path | str, what: str) -> str:
        """A model file as the workers load it; one outside the store is probed on every worker first."""
        ...

    def size_pool(self, tasks: int) -> int:
        """Size the actor pool for ``tasks`` batches (before anything is written: a pool the cluster cannot hold
        is refused here); returns :attr:`workers`."""
        ...

    def ordered_map(self, fn: Callable[[Any, B], R], batches: Iterable[B], *, context: Any = None,
                    init: Callable[[Any], Any] | None = None, what: str, actors: bool = False
                    ) -> Generator[tuple[B, R], None, None]:
        """Yield ``(batch, fn(state, batch))`` for every batch, in order, where each worker computes
        ``state = init(context)`` once (``context`` itself without ``init``). ``fn`` and ``init`` must be
        module-level functions. ``actors``: model work (a fixed pool of long-lived workers, each loading its models
        once in ``init``) rather than pixel work. ``what`` names the command in errors. Closing the generator early
        stops the work still out."""
        ...
