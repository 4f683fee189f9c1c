#!/usr/bin/env bash
# One command from a fresh clone: install into .venv with the test extras, then run the test suite.
# Usage: bash scripts/test.sh [--fast] [pytest options]
#   (no flag)  the whole suite, what CI runs (.ci/run), with the 25 slowest tests listed at the end
#   --fast     the everyday subset: no servers (Label Studio, FiftyOne/mongod, Chromium), no Ray, no long sweeps,
#              no slow kill-and-rerun or training cases, no GPU (docs/testing.md, "Markers and skips")
FAST_MARKERS="not server and not ray and not long and not slow and not gpu"
fast=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then fast=1; else args+=("$arg"); fi
done
EXTRAS="test" source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
if [ "$fast" = 1 ]; then
  exec "$VENV/bin/python" -m pytest -m "$FAST_MARKERS" "${args[@]}"
fi
# headless Chromium (Debian's package) for the FiftyOne app screenshot test; needs root, else that test installs
# nothing and skips (under CI=true it fails instead)
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
    >/dev/null 2>&1 || echo "could not install chromium; the view screenshot test will try again" >&2
fi

exec "$VENV/bin/python" -m pytest --durations=25 "${args[@]}"
