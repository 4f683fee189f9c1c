"""The main job end to end on generated data with the embedded defaults (SQLite store, bundled label map).

Stages run now: generate faces -> init store -> ingest -> info. Each stage is idempotent, so a demo killed at any
moment finishes when run again. Later stages (validate, prelabel, pseudo manga, export) join as they land.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .ingest import IngestConfig, ingest
from .labelmap import load_labelmap
from .store import Dataset, DatasetInfo
from .synth import LR_CONVENTION, write_demo_data

__all__ = ["DemoResult", "run_demo"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]


@dataclass
class DemoResult:
    """Where each output of the demo is."""

    root: Path
    raw: Path
    store: Path
    info: DatasetInfo
    outputs: dict[str, Path] = field(default_factory=dict)


def run_demo(root: Path | str, *, n: int = 50, seed: int = 0, size: int = 512,
             progress: Callable[[str], Progress | None] | None = None) -> DemoResult:
    """Run every stage that exists on ``n`` generated faces under ``root``; resumable.

    ``progress(stage)`` returns a ``progress(done, total)`` callback for that stage (or None).
    """
    root = Path(root)
    raw, store = root / "raw", root / "store"
    write_demo_data(raw, n, seed=seed, size=size, progress=progress("generate") if progress else None)
    with Dataset.create(store, labelmap=load_labelmap("danbooru-parsing"), name="animeparse-demo",
                        lr_convention=LR_CONVENTION, exist_ok=True) as ds:
        ingest(ds, raw, IngestConfig(format="index-folder"), progress=progress)
        info = ds.info()
    return DemoResult(root=root, raw=raw, store=store, info=info,
                      outputs={"generated faces": raw / "images", "generated masks": raw / "masks",
                               "store": store, "manifest": store / "manifest.sqlite",
                               "stored masks": store / "masks" / "gt"})
