"""Findings and the ingest report: what was added, skipped and suspicious, as data (JSON) and a summary table."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError
from ..fsutil import atomic_write_json

__all__ = ["Finding", "IngestReport", "IngestError", "SEVERITIES"]

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One thing ingest noticed. ``error``: the item was refused; ``warning``: added but suspicious (``--strict``
    refuses the run); ``info``: e.g. an exact duplicate that was skipped."""

    severity: str
    code: str
    file: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestReport:
    """Everything an ingest did; ``committed`` is False when the run was refused and nothing was written."""

    run_id: str
    format: str
    source: str
    seen: int = 0
    added: int = 0
    with_mask: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    committed: bool = False
    findings: list[Finding] = field(default_factory=list)
    unknown_colours: dict[str, dict[str, Any]] = field(default_factory=dict)

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    @property
    def refused(self) -> int:
        return self.count("error")

    def first_problem(self) -> str | None:
        """The first error's message (else the first warning's) on one line: what the CLI's error line quotes."""
        for severity in ("error", "warning"):
            for f in self.findings:
                if f.severity == severity:
                    return " ".join(f.message.split())
        return None

    def skipped_message(self) -> str:
        """One line for a committed run that skipped items (``--on-error skip``): counts and the first error."""
        first = self.first_problem()
        return (f"{self.refused} of {self.seen} items refused and skipped ({self.added} added)"
                + (f"; first: {first}" if first else "") + "; see the report")

    def summary_rows(self) -> list[tuple[str, str, int]]:
        """(severity, code, count), errors first."""
        counts = Counter((f.severity, f.code) for f in self.findings)
        return sorted(((s, c, n) for (s, c), n in counts.items()), key=lambda r: (SEVERITIES.index(r[0]), r[1]))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = [{"severity": s, "code": c, "count": n} for s, c, n in self.summary_rows()]
        return data

    def write_json(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    def render(self, *, limit: int = 10) -> str:
        """A plain-text summary table plus the first ``limit`` errors and warnings."""
        lines = [f"{self.source} ({self.format}): {self.seen} seen, {self.added} added, {self.with_mask} with masks, "
                 f"{self.duplicates} exact duplicates skipped, {self.near_duplicates} near duplicates, "
                 f"{self.refused} refused" + ("" if self.committed else " - NOTHING WRITTEN")]
        if self.findings:
            lines.append(f"  {'severity':<8}  {'code':<22}  count")
            lines += [f"  {s:<8}  {c:<22}  {n}" for s, c, n in self.summary_rows()]
        shown = [f for f in self.findings if f.severity != "info"][:limit]
        lines += [f"  {f.severity}: {f.message}" for f in shown]
        more = sum(f.severity != "info" for f in self.findings) - len(shown)
        if more > 0:
            lines.append(f"  ... and {more} more (see --report FILE)")
        for colour, info in sorted(self.unknown_colours.items(), key=lambda kv: -kv[1]["pixels"])[:limit]:
            lines.append(f"  unknown colour {colour}: {info['pixels']} pixels in {len(info['samples'])} masks, "
                         f"e.g. {', '.join(info['samples'][:3])}")
        return "\n".join(lines)


class IngestError(AnimeparseError):
    """The ingest was refused (errors, or warnings under ``--strict``); nothing was written. ``report`` says why."""

    def __init__(self, message: str, *, report: IngestReport) -> None:
        self.report = report
        first = report.first_problem()
        # the CLI prints this one line: it must name the offending file and the problem, not only the source
        super().__init__(f"{message}; first: {first}" if first else message)


def dumps(report: IngestReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True)
