#!/usr/bin/env bash
# One command from a fresh clone: install into .venv, then run the whole pipeline on generated data.
# Usage: bash scripts/demo.sh [DIR] [animeparse demo options]
# the sam extra brings torch (the bundled manga translator and the parser need it) and segment-anything
EXTRAS="sam" source "$(dirname "$0")/_venv.sh"
exec "$VENV/bin/animeparse" demo "$@"
