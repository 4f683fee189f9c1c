"""``--engine ray``: the long commands' model and pixel work spread over a Ray cluster (:class:`RayExecutor`); the
driver keeps the store's single writer and commits results as they stream in. See docs/scaling.md."""

from .executor import RayExecutor
from .session import (
    ENGINES,
    EngineConfig,
    check_workers_see_path,
    check_workers_see_store,
    concurrency,
    probe_store,
    ray_session,
    worker_root,
)

__all__ = ["ENGINES", "EngineConfig", "RayExecutor", "ray_session", "check_workers_see_store", "worker_root",
           "probe_store", "check_workers_see_path", "concurrency"]
