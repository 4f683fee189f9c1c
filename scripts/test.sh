#!/usr/bin/env bash
# One command from a fresh clone: install into .venv with the test extras, then run the test suite.
# Usage: bash scripts/test.sh [pytest options]
EXTRAS="test" source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
