"""Model work on a Ray Data actor pool, streamed back to the driver in the order it went out.

Used by ``prelabel`` and ``pseudo manga`` with ``--engine ray``. Each dataset row is one of the command's own
batches (so a batch has the same images on every engine, and the results are the local engine's byte for byte);
``map_batches`` with a callable class runs the rows on a fixed pool of actors (each loads its model once, in its
constructor), one row per call. Ray Data keeps the order (``preserve_order``), so the driver commits batch after
batch exactly as a local run would, while the actors work ahead.

Errors a worker can explain (:class:`~animeparse.errors.AnimeparseError`, ``OSError``: a model or image it cannot
read) come back as data, in order, and the driver raises them as the same one-line error after committing every
batch before them, as the local engine does. Anything else (a bug, a GPU out of memory, a lost node) ends the run
with one AnimeparseError naming the cause; what was committed stays and the same command finishes the rest.
"""

from __future__ import annotations

import contextlib
import logging
import math
import pickle
import re
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .. import errors
from ..errors import AnimeparseError
from ..executor import EngineConfig

__all__ = ["BatchWorker", "ordered_actor_map", "pool_size", "path_on_workers"]

log = logging.getLogger(__name__)
# a task's results come back when its block is done: a few batches per block keeps commits streaming
_MAX_ROWS_PER_BLOCK = 32


def pool_size(ray: Any, engine: EngineConfig, tasks: int) -> int:
    """Actors for the pool: ``engine.workers``, else one per GPU share (``--gpus-per-worker``) or one per whole
    CPU (``--cpus-per-worker`` rounded up to 1: a model replica keeps a core busy), never more than ``tasks``.
    Raises AnimeparseError when the cluster cannot hold the pool (it would wait forever for resources)."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if engine.gpus_per_worker > 0 and gpus < engine.gpus_per_worker:
        raise AnimeparseError(f"--gpus-per-worker {engine.gpus_per_worker}, but the Ray cluster has {gpus:g} GPUs; "
                              "start the worker nodes with their GPUs (`ray start --address=HEAD:6379 --num-gpus N`) "
                              "or run on the CPU (--gpus-per-worker 0)")
    if engine.workers:
        n = engine.workers
    elif engine.gpus_per_worker > 0:
        n = int(gpus / engine.gpus_per_worker)
    else:
        n = int(cpus / max(1.0, engine.cpus_per_worker))
    n = max(1, min(n, tasks))
    need_cpu, need_gpu = n * engine.cpus_per_worker, n * engine.gpus_per_worker
    if need_cpu > cpus + 1e-9 or need_gpu > gpus + 1e-9:
        raise AnimeparseError(f"{n} Ray workers at {engine.cpus_per_worker:g} CPU / {engine.gpus_per_worker:g} GPU "
                              f"each need {need_cpu:g} CPUs and {need_gpu:g} GPUs; the cluster has {cpus:g} and "
                              f"{gpus:g}: pass fewer --workers or smaller --cpus-per-worker / --gpus-per-worker")
    return n


def path_on_workers(path: Path | str, store_root: Path | str, workers_root: str) -> tuple[str, bool]:
    """Where workers find ``path``: under the store, at the same place below the workers' store path (True);
    elsewhere, at the driver's path (False: it must be on a filesystem every node mounts there)."""
    path, root = Path(path).absolute(), Path(store_root).absolute()
    try:
        rel = path.relative_to(root)
    except ValueError:
        return str(path), False
    return str(PurePosixPath(workers_root, *rel.parts)), True


class BatchWorker:
    """Base of the actors: ``setup(spec)`` loads the models once; ``work(task)`` turns one batch (any picklable
    object) into its result. Errors they can explain are caught and sent back as data (see the module doc)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._error: tuple[str, str, str | None] | None = None
        try:
            self.setup(spec)
        except (AnimeparseError, OSError) as err:
            self._error = _as_data(err, f"a Ray worker on {socket.gethostname()} could not start: ")

    def setup(self, spec: dict[str, Any]) -> None:
        raise NotImplementedError

    def work(self, task: Any) -> Any:
        raise NotImplementedError

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for raw in batch["task"]:
            if self._error is not None:
                answer: tuple[str, Any] = ("error", self._error)
            else:
                try:
                    answer = ("ok", self.work(pickle.loads(raw)))
                except (AnimeparseError, OSError) as err:
                    answer = ("error", _as_data(err, f"on Ray worker {socket.gethostname()}: "))
            out.append(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        return {"index": batch["index"], "answer": np.array(out, dtype=object)}


def ordered_actor_map(ray: Any, worker: type[BatchWorker], spec: dict[str, Any], tasks: Sequence[Any], *,
                      engine: EngineConfig, workers: int, what: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, worker.work(tasks[i]))`` for every task, in order, computed by ``workers`` actors of class
    ``worker`` (each built once with ``spec``) asking Ray for ``engine``'s CPUs and GPUs each. ``what`` names the
    command in errors. Closing the generator early stops the pool."""
    if not tasks:
        return
    rows = [{"index": i, "task": pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL)} for i, t in enumerate(tasks)]
    per_block = max(1, min(_MAX_ROWS_PER_BLOCK, len(rows) // (workers * 16)))
    dataset = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_block))
    resources: dict[str, Any] = {"num_cpus": engine.cpus_per_worker}
    if engine.gpus_per_worker > 0:
        resources["num_gpus"] = engine.gpus_per_worker
    dataset = dataset.map_batches(worker, fn_constructor_kwargs={"spec": spec}, batch_size=1,
                                  batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
                                  **resources)
    dataset.context.execution_options.preserve_order = True
    expected = 0
    with _quiet_ray_data():
        rows_out = iter(dataset.iter_rows())
        try:
            for row in rows_out:
                index = int(row["index"])
                if index != expected:  # preserve_order is what makes the commits follow the local order
                    raise AnimeparseError(f"internal: Ray returned batch {index} where {expected} was due")
                expected += 1
                status, value = pickle.loads(row["answer"])
                if status == "error":
                    raise _from_data(value)
                yield index, value
        except ray.exceptions.RayError as err:
            log.debug("Ray %s run failed", what, exc_info=True)
            raise AnimeparseError(f"a Ray {what} worker failed ({_cause_line(err)}); what was committed is kept: "
                                  f"run the same {what} command again to finish") from err
        finally:
            close = getattr(rows_out, "close", None)
            if close is not None:
                close()


def _as_data(err: BaseException, prefix: str) -> tuple[str, str, str | None]:
    if isinstance(err, OSError) and not isinstance(err, AnimeparseError):
        where = f"{err.filename}: " if err.filename else ""
        return "AnimeparseError", f"{prefix}{where}{err.strerror or err}", None
    return type(err).__name__, f"{prefix}{err}", getattr(err, "sample_id", None)


def _from_data(value: tuple[str, str, str | None]) -> AnimeparseError:
    """The worker's error as the same AnimeparseError subclass where it can be rebuilt from a message."""
    name, message, sample_id = value
    cls = getattr(errors, name, AnimeparseError)
    if not (isinstance(cls, type) and issubclass(cls, AnimeparseError)):
        cls = AnimeparseError
    try:
        return cls(message, sample_id=sample_id)  # type: ignore[call-arg]
    except TypeError:  # a subclass with its own constructor (MissingDependencyError)
        return AnimeparseError(message, sample_id=sample_id)


_ERROR_LINE = re.compile(r"^(?!ray\.)[A-Za-z_][\w.]*(?:Error|Exception): .+$", re.MULTILINE)


def _cause_line(err: BaseException) -> str:
    """The user code's own exception line from a Ray error's text (Ray wraps it in its own), else its first line."""
    text = str(err)
    found = _ERROR_LINE.findall(text)
    if found:
        return found[-1].strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)


@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """Ray Data logs each execution at INFO on the driver, and warns that its progress bars are off (the
    commands show their own); its other warnings (a pool waiting for resources) still show."""
    levels = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    saved = {}
    for name, level in levels.items():
        logger = logging.getLogger(name)
        saved[name] = logger.level
        if logger.getEffectiveLevel() < level:
            logger.setLevel(level)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
