"""The totals table at the top of docs/reliability.md agrees with the totals each section generates, and the
faults tables agree with what the fault tests recorded in the same run."""

from __future__ import annotations

import re

import pytest

from ..conftest import REPO
from .conftest import DESELECTED, LONG_DESELECTED
from .faultkit import RECORDED, table

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


def _rows(table: str) -> dict[str, tuple[str, ...]]:
    """A faults table's rows: case (mount mode normalised) -> (runs, faults, samples, lost, doubled); the
    ``measured`` column (restart times, polls) is left out, it differs from run to run."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[1].isdigit():
            rows[_MODE.sub("(MODE)", cells[0])] = tuple(cells[1:6])
    return rows


# the full-disk and read-only cases name how the fault was made: a real mount, or injected where mounting is refused
_MODE = re.compile(r"\((?:tmpfs|bind-mount-ro|injected-[a-z-]+)\)")


@pytest.mark.server  # it reads what the fault tests (Label Studio server, kill-and-rerun) recorded in this session
@pytest.mark.slow
def test_fault_tables_are_rederived_from_this_run(request: pytest.FixtureRequest) -> None:
    """The faults tables of docs/reliability.md equal what the fault tests that ran before this one in the same
    session recorded (tests/reliability/faultkit.py: RECORDED); the long table only where the long sweep ran."""
    config = request.config
    modules = ("tests/reliability/test_faults.py", "tests/reliability/test_concurrency.py")
    partial = (config.getoption("keyword") or any("::" in str(arg) for arg in config.args)
               or any(nodeid.startswith(modules) for nodeid in DESELECTED if nodeid not in LONG_DESELECTED)
               or not all(any(item.nodeid.startswith(m) for item in request.session.items) for m in modules))
    if partial or not RECORDED:
        pytest.skip("the fault tests (test_faults.py, test_concurrency.py) did not all run in this session")
    long_tests = {item.nodeid for item in request.session.items if item.get_closest_marker("long")}
    text = DOC.read_text(encoding="utf-8")
    for name, records in (("ci", [r for r in RECORDED if r["test"] not in long_tests]),
                          ("long", [r for r in RECORDED if r["test"] in long_tests])):
        if not records:
            assert name == "long", "no record from the CI fault tests"
            continue
        doc = re.search(rf"<!-- faults-table: {name} -->\n(.*?)<!-- /faults-table: {name} -->", text, re.S)
        assert doc, f"docs/reliability.md lost its {name} faults table"
        got, want = _rows(table(records)), _rows(doc[1])
        assert got == want, (
            f"the {name} faults table differs from this run: only in the doc {set(want.items()) - set(got.items())}, "
            f"only in the run {set(got.items()) - set(want.items())}; regenerate it: ANIMEPARSE_FAULT_LEDGER=FILE "
            f"pytest ..., then python -m tests.reliability.faultkit --summary FILE --update-docs {name}")
