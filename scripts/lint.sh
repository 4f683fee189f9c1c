#!/usr/bin/env bash
# ruff (the rule set in ruff.toml) over the repository and mypy (the [mypy] sections of setup.cfg) over the
# package, with the pinned versions of the test extra; CI (.ci/run) runs this before the tests.
# Usage: bash scripts/lint.sh
EXTRAS="test" source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
status=0
echo "ruff check: $("$VENV/bin/ruff" --version)"
"$VENV/bin/ruff" check . || status=1
echo "mypy: $("$VENV/bin/mypy" --version)"
"$VENV/bin/mypy" || status=1
exit "$status"
