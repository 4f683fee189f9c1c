"""The store's run records: a command's parameters, models and versions when it starts, its summary when it ends.

Part of :class:`~animeparse.store.Dataset`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .._version import __version__
from .manifest import now_utc
from .records import RunRecord
from .writes import DatasetWrites

__all__ = ["DatasetRuns", "new_run_id"]


class DatasetRuns(DatasetWrites):
    """The run methods of :class:`~animeparse.store.Dataset`."""

    def runs(self, *, kind: str | None = None) -> list[RunRecord]:
        args: tuple[str, ...] = ()
        sql = "SELECT * FROM runs"
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [RunRecord.from_row(r) for r in self._db.execute(sql + " ORDER BY started_at, id", args)]

    def run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def start_run(self, kind: str, *, params: Mapping[str, Any] | None = None, models: Mapping[str, Any] | None = None,
                  run_id: str | None = None) -> str:
        """Record a run (or resume an unfinished one with the same id) and return its id."""
        run_id = run_id or new_run_id(kind)
        existing = self.run(run_id)
        if existing is not None:
            return run_id
        import platform

        versions = {"animeparse": __version__, "python": platform.python_version(), "numpy": np.__version__}
        with self.transaction() as db:
            db.execute("INSERT INTO runs (id, kind, params, models, versions, started_at) VALUES (?,?,?,?,?,?)",
                       (run_id, kind, json.dumps(dict(params or {}), sort_keys=True, default=str),
                        json.dumps(dict(models or {}), sort_keys=True), json.dumps(versions), now_utc()))
        return run_id

    def finish_run(self, run_id: str, *, summary: Mapping[str, Any] | None = None, status: str = "finished") -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                       (status, json.dumps(dict(summary or {}), sort_keys=True, default=str), now_utc(), run_id))


def new_run_id(kind: str) -> str:
    """``KIND-YYYYmmdd-HHMMSS-xxxx``: sortable by start time, unique enough for one store."""
    return f"{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"
