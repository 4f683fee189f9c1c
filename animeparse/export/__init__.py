"""Export a store's masks to the formats training code and annotation tools read.

``export(ds, out, ExportConfig(format=...))`` writes one of :data:`EXPORTERS` (the format registry's writers:
``coco``, ``danbooru-parsing``, ``index-png``, ``labelme``, ``labelstudio``, ``celebamask``, ``parquet``) into a new
folder, streaming (memory flat in the dataset size), on every core, atomically (a temp folder renamed into place).
The store is only read. Each format's writer lives in its module under :mod:`animeparse.formats`; this package is
the generic engine. See docs/export.md for each layout and what is lossy.
"""

from .base import ExportConfig, ExportError, SampleJob
from .engine import EXPORTERS, ExportResult, export, plan_jobs

__all__ = ["EXPORTERS", "ExportConfig", "ExportError", "ExportResult", "SampleJob", "export", "plan_jobs"]
