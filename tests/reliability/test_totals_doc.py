"""The totals table at the top of docs/reliability.md agrees with the totals each section generates."""

from __future__ import annotations

import re

from ..conftest import REPO

DOC = REPO / "docs" / "reliability.md"


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def test_summary_matches_the_sections() -> None:
    text = DOC.read_text(encoding="utf-8")
    summary = _section(text, "Totals")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| \[([a-z ]+)\]\([^)]*\) \| (.+)$", summary, re.M)}
    assert set(rows) == {"bad inputs", "faults", "fuzzing"}, rows

    bad = re.search(r"\*\*(\d+) bad inputs tried\*\*.*?(\d+) commands run.*?\*\*samples lost: (\d+)\*\*",
                    _section(text, "Bad inputs"), re.S)
    assert bad, "the bad-inputs section lost its generated totals line"
    assert rows["bad inputs"].startswith(f"**{bad[1]}** bad inputs, {bad[2]} commands") and bad[3] == "0"

    faults = _section(text, "Faults")
    total = r"\| \*\*total\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\* \| \*\*\d+\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\*"
    ci = re.search(r"<!-- faults-table: ci -->.*?" + total, faults, re.S)
    long = re.search(r"<!-- faults-table: long -->.*?" + total, faults, re.S)
    assert ci and long, "a generated faults table lost its total row"
    assert rows["faults"].startswith(f"**{ci[2]}** faults injected in {ci[1]} runs | **{long[2]}** kills")
    assert (ci[3], ci[4], long[3], long[4]) == ("0", "0", "0", "0"), "samples lost or doubled"

    fuzz = re.search(r"\| total \| \*\*(\d+)\*\* \| \*\*(\d+)\*\* \|", _section(text, "Fuzzing"))
    assert fuzz, "the fuzzing budget table lost its total row"
    assert rows["fuzzing"].startswith(f"**{fuzz[1]}** generated examples | **{fuzz[2]}**")
