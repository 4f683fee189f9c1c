"""One local Ray instance (2 CPUs, 127.0.0.1 only) for the --engine ray tests, started once and stopped at the end.

Commands run in this process reuse the connection; commands run as subprocesses join it with
``--ray-address`` (the fixture's value)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    from animeparse.distributed import EngineConfig, ray_session

    with ray_session(EngineConfig(engine="ray"), num_cpus=2) as ray:
        yield ray.get_runtime_context().gcs_address


