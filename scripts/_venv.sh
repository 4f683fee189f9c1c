# Sourced by demo.sh and test.sh: make .venv (Python 3.11+) if missing and install the project with EXTRAS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ANIMEPARSE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# reinstall only when the package metadata changed, so repeated runs start fast
STAMP="$VENV/.animeparse-installed-${EXTRAS:-none}"
if [ ! -f "$STAMP" ] || [ "$ROOT/setup.cfg" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT${EXTRAS:+[$EXTRAS]}" 2>&1 \
    | grep -v "is neither a file nor a directory" || true
  "$VENV/bin/python" -c "import animeparse" && touch "$STAMP"
fi
