"""The fuzz budget table in docs/reliability.md is the one the code runs (``fuzzkit.budget_table``), and every
property in it is a test that runs with that budget."""

from __future__ import annotations

import re

from ..conftest import REPO
from .conftest import PROFILES
from .fuzzkit import BUDGET, budget_table

SECTION = "<!-- section: fuzzing"


def _section() -> str:
    text = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("<!-- section:", start + len(SECTION))
    return text[start:end if end >= 0 else len(text)]


def test_docs_show_the_budget_the_code_runs():
    assert budget_table() in _section(), "regenerate the table: python -m tests.reliability.fuzzkit"
    ratio = PROFILES["long"]["max_examples"] // PROFILES["ci"]["max_examples"]
    assert f"`long`: {ratio} times as many" in _section()


def test_every_budgeted_property_is_one_fuzz_test():
    used = [name for path in sorted((REPO / "tests" / "reliability").glob("test_fuzz_*.py"))
            for name in re.findall(r'@fuzz\("([a-z0-9_]+)"\)', path.read_text(encoding="utf-8"))]
    assert sorted(used) == sorted(BUDGET)
