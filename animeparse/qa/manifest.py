"""The manifest itself (code ``manifest_corrupt``, error): the store's health checks of ``manifest.sqlite``
(:mod:`animeparse.store.health`: schema, SQLite's integrity_check and foreign_key_check, text that is not UTF-8),
one finding per problem, with the problem lines and the fix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..store import Dataset
from ..store.health import MAX_PROBLEMS, manifest_problems
from ..store.manifest import MANIFEST_NAME
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleFacts

__all__ = ["check_manifest", "MAX_PROBLEMS"]


def check_manifest(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]:
    """One ``manifest_corrupt`` finding per problem the store's health checks find."""
    for p in manifest_problems(ds.root):
        yield Finding(Severity.ERROR, "manifest_corrupt", None, f"{p.what}; {p.fix}", file=MANIFEST_NAME,
                      data={"problems": p.problems})
