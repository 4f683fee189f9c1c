"""One bounded, ordered process pool for the commands' per-item pixel work (ingest, validate, stats, export).

Workers are forked (they inherit the imported modules and start in milliseconds; they never touch the store's
SQLite), at most ``window`` tasks are in flight (memory flat in the number of items), results come back in input
order, and a worker dies with the process that forked it (Linux ``PR_SET_PDEATHSIG``), so a SIGKILLed command
leaves no orphaned workers behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["ordered_map"]

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
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: workers may outlive a killed parent
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    if initializer is not None:
        initializer(*initargs)
