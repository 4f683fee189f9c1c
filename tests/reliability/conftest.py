"""Shared settings of the reliability suite.

Hypothesis profiles for the fuzz tests (``test_fuzz_*.py``), chosen with ``HYPOTHESIS_PROFILE``:

- ``ci`` (the default): few examples per property, derandomized (the same inputs on every run, so CI is
  reproducible) and no example database (nothing written into the checkout);
- ``long``: many more examples from a fresh random seed each run; failing examples are kept in
  ``.cache/hypothesis`` and replayed first on the next run.

Each property asks for its share of the profile's budget with :func:`tests.reliability.fuzzkit.examples`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from ..conftest import REPO

PROFILES = {
    "ci": {"max_examples": 100, "derandomize": True, "database": None},
    "long": {"max_examples": 5000, "derandomize": False,
             "database": DirectoryBasedExampleDatabase(str(REPO / ".cache" / "hypothesis"))},
}
for _name, _kw in PROFILES.items():
    settings.register_profile(_name, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], **_kw)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


DESELECTED: set[str] = set()  # node ids deselected in this session (-m, -k): test_totals_doc needs whole modules
LONG_DESELECTED: set[str] = set()  # of those, the long sweeps (deselected unless asked)


def pytest_deselected(items) -> None:
    for item in items:
        DESELECTED.add(item.nodeid)
        if item.get_closest_marker("long"):
            LONG_DESELECTED.add(item.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    """What the fuzzed inputs came to (refused, decoded exactly ...), per property that ran."""
    from .fuzzkit import OUTCOMES

    if OUTCOMES:
        terminalreporter.section(f"fuzz outcomes (profile {settings.get_current_profile_name()})")
        for prop, counts in sorted(OUTCOMES.items()):
            terminalreporter.write_line(f"{prop}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
