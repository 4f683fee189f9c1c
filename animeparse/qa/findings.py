"""QA findings and the validate report: data (JSON) plus a plain-text summary table.

A finding is never an exception: every problem a check sees comes back as a :class:`Finding` with a severity, a
stable code, the sample it concerns (None for store-level findings), a message that names the file and the fix,
and a JSON-ready ``data`` dict.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_json

__all__ = ["Severity", "Finding", "QAReport"]


class Severity(StrEnum):
    """How bad a finding is. ``error``: the label or file is wrong; ``warning``: suspicious, look at it;
    ``info``: for the record."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """2 for error, 1 for warning, 0 for info (compare with ``>=`` for ``--fail-on``)."""
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class Finding:
    """One problem. ``sample`` is the sample id (None for a store-level finding such as an orphan file);
    ``file`` the store-relative path concerned, when there is one; ``check`` the CHECKS name that found it
    (filled in by the runner)."""

    severity: Severity
    code: str
    sample: str | None
    message: str
    file: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    check: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity.value, "code": self.code, "check": self.check, "sample": self.sample,
                "file": self.file, "message": self.message, "data": self.data}


def _sort_key(f: Finding) -> tuple[int, str, str, str, str]:
    return (-f.severity.rank, f.check, f.sample or "", f.code, f.message)


@dataclass
class QAReport:
    """Everything one validate run found. ``findings`` are sorted: errors first, then by check, sample, code."""

    store: str
    layer: str
    samples: int
    checks: list[str]
    config: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)  # e.g. the left/right vote counts

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings, key=_sort_key)

    def count(self, severity: Severity | str) -> int:
        return sum(f.severity == Severity(severity) for f in self.findings)

    def failed(self, fail_on: Severity | str = Severity.ERROR) -> bool:
        """True when some finding is at or above ``fail_on`` (the CLI's exit code 1)."""
        threshold = Severity(fail_on).rank
        return any(f.severity.rank >= threshold for f in self.findings)

    def by_sample(self, sample_id: str) -> list[Finding]:
        return [f for f in self.findings if f.sample == sample_id]

    def codes_of(self, sample_id: str) -> set[str]:
        return {f.code for f in self.findings if f.sample == sample_id}

    def summary_rows(self) -> list[tuple[str, str, str, int]]:
        """(check, severity, code, count): errors first, then by check and code."""
        counts = Counter((f.check, f.severity, f.code) for f in self.findings)
        rows = sorted(counts.items(), key=lambda kv: (-kv[0][1].rank, kv[0][0], kv[0][2]))
        return [(check, sev.value, code, n) for (check, sev, code), n in rows]

    def worst_samples(self, limit: int = 10) -> list[dict[str, Any]]:
        """Samples with the most errors, then warnings: ``{sample, error, warning, info, codes}``."""
        per: dict[str, Counter[str]] = defaultdict(Counter)
        codes: dict[str, set[str]] = defaultdict(set)
        for f in self.findings:
            if f.sample is not None:
                per[f.sample][f.severity.value] += 1
                codes[f.sample].add(f.code)
        ranked = sorted(per, key=lambda s: (-per[s]["error"], -per[s]["warning"], -per[s]["info"], s))
        return [{"sample": s, "error": per[s]["error"], "warning": per[s]["warning"], "info": per[s]["info"],
                 "codes": sorted(codes[s])} for s in ranked[:limit]]

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store, "layer": self.layer, "samples": self.samples, "checks": self.checks,
            "config": self.config, "stats": self.stats,
            "counts": {s.value: self.count(s) for s in Severity},
            "summary": [{"check": c, "severity": s, "code": code, "count": n}
                        for c, s, code, n in self.summary_rows()],
            "worst_samples": self.worst_samples(limit=len(self.findings) or 1),
            "findings": [f.to_json() for f in self.findings],
        }

    def write_json(self, path: Path | str) -> None:
        """Write :meth:`to_json` atomically (sorted keys: the same store gives the same file)."""
        atomic_write_json(Path(path), self.to_json())

    def render(self, *, limit: int = 20) -> str:
        """Plain-text summary: totals, counts by check and severity, the worst samples, the first ``limit``
        findings (errors first)."""
        n_err, n_warn, n_info = (self.count(s) for s in Severity)
        lines = [f"validate {self.store} (layer {self.layer}): {self.samples} samples, {len(self.checks)} checks; "
                 f"{n_err} errors, {n_warn} warnings, {n_info} info"]
        rows = self.summary_rows()
        if rows:
            wc = max(len("check"), *(len(r[0]) for r in rows))
            wk = max(len("code"), *(len(r[2]) for r in rows))
            lines.append(f"  {'check':<{wc}}  {'severity':<8}  {'code':<{wk}}  count")
            lines += [f"  {c:<{wc}}  {s:<8}  {code:<{wk}}  {n}" for c, s, code, n in rows]
        worst = [w for w in self.worst_samples(limit=10) if w["error"] or w["warning"]]
        if worst:
            lines.append("worst samples:")
            lines.append(f"  {'sample':<16}  errors  warnings  codes")
            lines += [f"  {w['sample']:<16}  {w['error']:>6}  {w['warning']:>8}  {', '.join(w['codes'])}"
                      for w in worst]
        shown = self.findings[:limit]
        if shown:
            lines.append("findings:")
            lines += [f"  {f.severity.value}: {f.message}" for f in shown]
        if len(self.findings) > len(shown):
            lines.append(f"  ... and {len(self.findings) - len(shown)} more (write them all with --json FILE)")
        return "\n".join(lines)


def dumps(report: QAReport) -> str:
    """The JSON report as text (for tests and pipes)."""
    return json.dumps(report.to_json(), indent=2, sort_keys=True)
