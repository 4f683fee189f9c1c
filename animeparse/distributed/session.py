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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError, MissingDependencyError
from ..executor import ENGINES, EngineConfig

__all__ = ["ENGINES", "EngineConfig", "ray_session", "check_workers_see_store", "worker_root", "probe_store",
           "check_workers_see_path", "probe_path", "concurrency"]

log = logging.getLogger(__name__)
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


_PROBE_PREFIX = ".animeparse-probe-"


def _fingerprint(path: Path) -> str:
    """What a worker must find at ``path`` to be looking at the driver's files: a folder's sorted top-level names
    (but the probes' own reply files, which other nodes write meanwhile), a file's size and first 64 KiB (a
    same-named local folder on a worker node differs)."""
    h = hashlib.sha256()
    if path.is_dir():
        for name in sorted(n for n in os.listdir(path) if not n.startswith(_PROBE_PREFIX)):
            h.update(name.encode("utf-8", "surrogateescape") + b"\0")
    else:
        with open(path, "rb") as fh:
            h.update(str(os.fstat(fh.fileno()).st_size).encode() + b"\0" + fh.read(1 << 16))
    return h.hexdigest()


def probe_path(path: str, fingerprint: str, reply: str | None = None) -> dict[str, Any]:
    """Run on a worker: does ``path`` hold what the driver sees there (:func:`_fingerprint`)? With ``reply``
    (a file name), also write that file into the folder ``path``, which the driver then looks for: the worker's
    writes land where the driver reads them."""
    import socket

    host = socket.gethostname()
    try:
        got = _fingerprint(Path(path))
    except OSError as err:
        return {"ok": False, "host": host, "why": f"cannot read {path} ({err.strerror or err})"}
    if got != fingerprint:
        return {"ok": False, "host": host, "why": f"{path} there holds other files than on the driver"}
    if reply is not None:
        try:
            (Path(path) / reply).write_bytes(host.encode())
        except OSError as err:
            return {"ok": False, "host": host, "why": f"cannot write into {path} ({err.strerror or err})"}
    return {"ok": True, "host": host, "why": ""}


def check_workers_see_path(ray: Any, path: Path | str, *, what: str, write: bool = False,
                           worker_path: str | None = None) -> None:
    """Probe ``path`` (a file or folder the workers use: an ingest's SRC, an export's output folder) from every
    Ray node, at ``worker_path`` there (default: the same path); with ``write``, also prove that files workers write
    into the folder show up on the driver. Raises AnimeparseError naming the node, ``what`` and the path when a
    worker cannot."""
    import secrets

    path = Path(path).absolute()
    there = worker_path or str(path)
    reply = f"{_PROBE_PREFIX}{secrets.token_hex(6)}" if write else None
    fingerprint = _fingerprint(path)  # before the reply files exist: they are not part of it
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    remote = ray.remote(num_cpus=0.01)(probe_path)
    if len(nodes) > 1:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        refs = [remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            there, fingerprint, reply and f"{reply}-{i}") for i, n in enumerate(nodes)]
    else:
        refs = [remote.remote(there, fingerprint, reply and f"{reply}-0")]
    try:
        answers = ray.get(refs)
        missing = [i for i in range(len(refs)) if reply]
        for _ in range(20):  # a network filesystem may show another client's new file a moment later
            missing = [i for i in missing if not (path / f"{reply}-{i}").exists()]
            if not missing or not all(a["ok"] for a in answers):
                break
            time.sleep(0.1)
    finally:
        if reply:
            for i in range(len(refs)):
                (path / f"{reply}-{i}").unlink(missing_ok=True)
    for answer in answers:
        if not answer["ok"]:
            raise AnimeparseError(
                f"a Ray worker on {answer['host']} cannot use the {what} {there}: {answer['why']}; put it on a "
                "filesystem every node mounts at the same path", path=path)
    if missing:
        raise AnimeparseError(f"files Ray workers write into the {what} {path} do not appear on the driver; put it "
                              "on a filesystem every node mounts at the same path", path=path)


def concurrency(ray: Any, config: EngineConfig) -> int:
    """Ray tasks to keep in flight: ``config.workers``, else as many as the cluster's CPUs (and GPUs, when
    workers ask for them) hold at ``cpus_per_worker`` each."""
    if config.workers:
        return config.workers
    resources = ray.cluster_resources()
    n = int(resources.get("CPU", 1) / config.cpus_per_worker)
    if config.gpus_per_worker:
        n = min(n, int(resources.get("GPU", 0) / config.gpus_per_worker))
    return max(1, n)
