#!/usr/bin/env bash
# One command from a fresh clone: install into .venv, then run the whole pipeline on generated data.
# Usage: bash scripts/demo.sh [DIR] [animeparse demo options]
EXTRAS="" source "$(dirname "$0")/_venv.sh"
exec "$VENV/bin/animeparse" demo "$@"
