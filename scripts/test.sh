#!/usr/bin/env bash
# One command from a fresh clone: install into .venv with the test extras, then run the test suite.
# Usage: bash scripts/test.sh [pytest options]
EXTRAS="test" source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
# headless Chromium (Debian's package) for the FiftyOne app screenshot test; needs root, else that test installs
# nothing and skips (under CI=true it fails instead)
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
    >/dev/null 2>&1 || echo "could not install chromium; the view screenshot test will try again" >&2
fi

exec "$VENV/bin/python" -m pytest "$@"
