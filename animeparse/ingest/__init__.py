"""Bring images and their labels from a source into a store, through a format reader (:mod:`.run`).

``ingest(ds, src, IngestConfig(...))`` checks every item (:mod:`.worker`, on the executor it is handed), finds exact
and near duplicates (:mod:`.neardup`) and commits what was accepted; :mod:`.report` holds the findings and report.
"""

from .report import Finding, IngestError, IngestReport
from .run import IngestConfig, ingest

__all__ = ["IngestConfig", "IngestError", "IngestReport", "Finding", "ingest"]
