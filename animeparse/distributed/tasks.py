"""Ordered streaming over Ray tasks: chunks go out as tasks (a bounded number in flight), answers come back in
submission order, so the driver consumes them exactly as it would a local run's (same duplicates, same output
bytes). Used by ``ingest`` and ``export`` with ``--engine ray``; pixel work with no model needs no actor."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from ..errors import AnimeparseError

__all__ = ["ordered_map", "swap_root"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_CANCEL_WAIT_S = 30.0


def ordered_map(ray: Any, fn: Callable[..., list[R]], chunks: Iterable[list[T]], *args: Any, in_flight: int,
                num_cpus: float, what: str) -> Generator[tuple[list[T], list[R]], None, None]:
    """Yield ``(chunk, fn(chunk, *args))`` for every chunk, in order, ``fn`` running as Ray tasks asking for
    ``num_cpus`` each, at most ``in_flight`` at a time. ``args`` are put in the object store once.

    A task's exception comes back as AnimeparseError (its own message when it was one); a lost worker, after Ray's
    retries, as AnimeparseError saying to run ``what`` again. Closing the generator early (an error in the
    consumer, Ctrl-C) cancels the tasks still out and waits for them, so none writes after the caller cleans up.
    """
    task = ray.remote(num_cpus=num_cpus)(fn)
    refs = [ray.put(a) for a in args]
    pending: deque[tuple[list[T], Any]] = deque()
    it = iter(chunks)
    try:
        while True:
            chunk = next(it, None)
            if chunk is not None:
                pending.append((chunk, task.remote(chunk, *refs)))
            if pending and (len(pending) >= in_flight or chunk is None):
                done, ref = pending.popleft()
                yield done, _get(ray, ref, what)
            elif chunk is None:
                return
    finally:
        if pending:
            out = [ref for _, ref in pending]
            for ref in out:
                ray.cancel(ref, force=False)
            ray.wait(out, num_returns=len(out), timeout=_CANCEL_WAIT_S)


def _get(ray: Any, ref: Any, what: str) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, AnimeparseError):  # already a one-line message naming the file or sample
            raise cause from None
        raise AnimeparseError(f"a Ray {what} task failed: {cause or err}") from None
    except ray.exceptions.RayError as err:  # a worker or node lost beyond Ray's retries
        raise AnimeparseError(f"a Ray {what} task was lost ({type(err).__name__}: {err}); run the {what} "
                              "again") from None


def swap_root(path: str, old_root: str, new_root: str) -> str:
    """``path`` under ``old_root`` moved to ``new_root`` (the store as the driver sees it vs the workers, with
    ``--worker-store``); other paths unchanged."""
    old = old_root.rstrip("/")
    if old_root == new_root or not (path == old or path.startswith(old + "/")):
        return path
    return new_root.rstrip("/") + path[len(old):]
