"""Connect to Ray (or start a local instance) for ``--engine ray``, and check that workers can read the store.

The store keeps its single writer: Ray workers only read (images, masks, model files) and compute; the driver
commits what they return. So every worker must see the store's files, at the driver's path or at the path given
by ``worker_store`` (the same shared filesystem mounted elsewhere). :func:`check_workers_see_store` proves that
before any work starts, and refuses with the path and the fix when a worker cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError, MissingDependencyError

__all__ = ["ENGINES", "EngineConfig", "ray_session", "check_workers_see_store", "worker_root", "probe_store"]

log = logging.getLogger(__name__)
ENGINES = ("local", "ray")


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


_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _import_ray(*, loopback: bool) -> Any:
    """Import ray. ``loopback``: a local instance this process starts binds 127.0.0.1 only (Ray otherwise
    listens on every interface so other nodes can join; a one-run instance needs no other node)."""
    if loopback:
        os.environ.setdefault(_LOOPBACK_ENV, "0")  # read by Ray at import, and by the processes it starts
    try:
        import ray
        from ray._private import ray_constants
    except ImportError as err:
        raise MissingDependencyError("ray", "ray") from err
    if loopback and os.environ.get(_LOOPBACK_ENV) == "0":
        ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable was set
    return ray


@contextlib.contextmanager
def ray_session(config: EngineConfig, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Yield the ``ray`` module, connected. Reuses a connection this process already has (tests, notebooks);
    otherwise connects to ``config.ray_address`` or starts a local instance (``num_cpus``: its CPU count, default all
    cores), and disconnects (stopping a local instance) on exit. Ray Data's own progress bars are turned off: the
    commands show theirs. A local instance listens on 127.0.0.1 only."""
    ray = _import_ray(loopback=not config.ray_address)
    from ray.data import DataContext

    owned = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                                  "configure_logging": False}
        try:
            if config.ray_address:
                ray.init(address=config.ray_address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = config.ray_address or "a local instance"
            raise AnimeparseError(f"could not start or reach Ray at {where}: {err}; check --ray-address (or run "
                                  "`ray start --head` on the driver node)") from err
        owned = True
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.execution_options.verbose_progress = False
    try:
        yield ray
    finally:
        if owned:
            ray.shutdown()


def worker_root(store_root: Path | str, config: EngineConfig) -> str:
    """The store's path as workers see it."""
    return str(config.worker_store or Path(store_root).absolute())


def probe_store(root: str, labelmap_sha256: str) -> dict[str, Any]:
    """Run on a worker: can it read the store at ``root`` (the locked label map file hashes to the driver's)?"""
    import socket

    path = Path(root) / "labelmap.json"
    try:
        got = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        return {"ok": False, "host": socket.gethostname(), "why": f"cannot read {path} ({err.strerror or err})"}
    if got != labelmap_sha256:
        return {"ok": False, "host": socket.gethostname(),
                "why": f"{path} is another store (label map SHA-256 {got[:12]}, the driver's {labelmap_sha256[:12]})"}
    return {"ok": True, "host": socket.gethostname(), "why": ""}


def check_workers_see_store(ray: Any, store_root: Path | str, config: EngineConfig, *,
                            probes: int | None = None) -> str:
    """Probe the store from Ray workers (one small task per node, at least ``probes`` tasks spread over the
    nodes); return the workers' store path. Raises AnimeparseError naming the node and the path when any cannot read
    it: the store must be on a filesystem every node mounts (pass ``--worker-store`` if it is mounted elsewhere)."""
    root = worker_root(store_root, config)
    sha = hashlib.sha256((Path(store_root) / "labelmap.json").read_bytes()).hexdigest()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    remote = ray.remote(num_cpus=0.01)(probe_store)
    count = max(len(nodes), probes or 1)
    if len(nodes) > 1:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        refs = [remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            root, sha) for n in nodes]
    else:
        refs = [remote.remote(root, sha) for _ in range(count)]
    for answer in ray.get(refs):
        if not answer["ok"]:
            raise AnimeparseError(
                f"a Ray worker on {answer['host']} cannot read the store: {answer['why']}; put the store on a "
                "filesystem every node mounts at the same path, or pass --worker-store PATH (where the workers "
                "see it)", path=store_root)
    log.info("%d Ray node(s) read the store at %s", len(nodes), root)
    return root
