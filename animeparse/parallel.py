"""The local engine: one bounded, ordered process pool for the commands' per-item pixel work (ingest, validate,
stats, export), and :class:`LocalExecutor`, the :class:`~animeparse.executor.Executor` over it.

Workers are forked (they inherit the imported modules and start in milliseconds; they never touch the store's
SQLite), at most ``window`` tasks are in flight (memory flat in the number of items), results come back in input
order, and a worker dies with the process that forked it (Linux ``PR_SET_PDEATHSIG``), so a SIGKILLed command
leaves no orphaned workers behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .executor import EngineConfig, Executor

__all__ = ["LocalExecutor", "executor_for", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, window: int | None = None,
                initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
                ) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` in the order of ``items``, computed on ``workers`` forked processes with at most
    ``window`` (default ``4 * workers``) items in flight; ``workers <= 0`` runs everything in this process (and
    ``initializer`` is not called). ``fn`` and ``initializer`` must be module-level functions. On an error or when
    the consumer stops early, the items not yet started are cancelled."""
    if workers <= 0:
        for item in items:
            yield item, fn(item)
        return
    limit = window or 4 * workers
    pending: deque[tuple[T, cf.Future[R]]] = deque()
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                initializer=_child_init, initargs=(os.getpid(), initializer, initargs)) as pool:
        try:
            for item in items:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) >= limit:
                    done, fut = pending.popleft()
                    yield done, fut.result()
            while pending:
                done, fut = pending.popleft()
                yield done, fut.result()
        except BaseException:
            for _, fut in pending:
                fut.cancel()
            raise


def _child_init(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl in this libc: workers may outlive the parent
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    if initializer is not None:
        initializer(*initargs)


class LocalExecutor:
    """:class:`~animeparse.executor.Executor` on this machine: ``workers`` forked processes (0 = this process), at
    most ``window`` batches in flight (default ``4 * workers``). Paths are the driver's; nothing to probe."""

    remote = False

    def __init__(self, config: EngineConfig | None = None, *, workers: int = 0, window: int | None = None) -> None:
        self.config = config or EngineConfig()
        self.local_workers, self.window = workers, window
        self.workers = 0

    @contextlib.contextmanager
    def open(self, store_root: Path, *, sources: Sequence[tuple[Path, str]] = ()) -> Iterator[LocalExecutor]:
        yield self

    def worker_path(self, path: str) -> str:
        return path

    def driver_path(self, path: str) -> str:
        return path

    def check_path(self, path: Path | str, *, what: str, write: bool = False, worker_path: str | None = None
                   ) -> None:
        return None

    def file_on_workers(self, path: Path | str, what: str) -> str:
        return str(path)

    def size_pool(self, tasks: int) -> int:
        return self.workers

    def ordered_map(self, fn: Callable[[Any, T], R], batches: Iterable[T], *, context: Any = None,
                    init: Callable[[Any], Any] | None = None, what: str = "", actors: bool = False
                    ) -> Generator[tuple[T, R], None, None]:
        if self.local_workers <= 0:
            state = init(context) if init is not None else context
            for batch in batches:
                yield batch, fn(state, batch)
            return
        yield from ordered_map(partial(_call, fn), batches, workers=self.local_workers, window=self.window,
                               initializer=_init_state, initargs=(init, context))


def executor_for(engine: EngineConfig | Executor | None, *, workers: int = 0, window: int | None = None
                 ) -> Executor:
    """The executor for ``engine`` (checked): a :class:`LocalExecutor` with ``workers`` processes for ``local`` (and
    for None), :class:`animeparse.distributed.RayExecutor` for ``ray``; an executor is returned as it is."""
    if engine is None:
        return LocalExecutor(workers=workers, window=window)
    if not isinstance(engine, EngineConfig):
        return engine
    engine.check()
    if engine.engine == "ray":
        from .distributed import RayExecutor

        return RayExecutor(engine)
    return LocalExecutor(engine, workers=workers, window=window)


# the one per-worker state of the local pool, set once in each forked worker by its initializer
_STATE: Any = None


def _init_state(init: Callable[[Any], Any] | None, context: Any) -> None:
    global _STATE
    _STATE = init(context) if init is not None else context


def _call(fn: Callable[[Any, T], R], batch: T) -> R:
    return fn(_STATE, batch)
