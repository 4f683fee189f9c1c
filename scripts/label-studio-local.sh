#!/usr/bin/env bash
# Start a local Label Studio server for `animeparse ls push/pull`, the way the tests start theirs.
#
# Usage: bash scripts/label-studio-local.sh [--install-only]
#
# Label Studio pins many packages, so it gets a virtualenv of its own (LS_VENV, default <repo>/.cache/ls-venv),
# made on first use and reused after. Environment (all optional):
#   LS_DATA_DIR   server data: database, uploads, the admin user  (default <repo>/.cache/ls-data)
#   LS_PORT       port (default 8080); LS_HOST: interface (default 127.0.0.1: only this machine)
#   LS_FILES_ROOT local-files document root for `ls push --images local-files` (default: the repo's parent);
#                 the store must lie below it, and push needs the same value (--document-root or
#                 LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)
#   LS_VERSION    the label-studio release to install (default below; the tests use the same)
#   LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN: the admin user made on the FIRST
#                 start of a data dir (defaults: admin@localhost, a random password and token saved in
#                 LS_DATA_DIR/animeparse-credentials, mode 600). The token is a legacy API token, which works only
#                 when the organisation was created with it, so these matter on the first start only.
# The server runs in the foreground (exec: its PID is this script's); stop it with Ctrl-C or kill.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_VERSION="${LS_VERSION:-1.23.2}"
LS_VENV="${LS_VENV:-$ROOT/.cache/ls-venv}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
# label-studio 1.23.2 asks for sentry-sdk>=2.16 with no upper bound, and sentry-sdk 3 dropped the send_default_pii
# option it passes: the server then dies at start with "Unknown option 'send_default_pii'"
SENTRY_PIN="sentry-sdk>=2.16,<3"

if [ ! -x "$LS_VENV/bin/label-studio" ]; then
  echo "installing label-studio $LS_VERSION into $LS_VENV (a few minutes, once)" >&2
  rm -rf "$LS_VENV"
  "$PY" -m venv "$LS_VENV"
  "$LS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "label-studio==$LS_VERSION" \
    "$SENTRY_PIN" 2>&1 | grep -v "is neither a file nor a directory" >&2 || true
  "$LS_VENV/bin/python" -c "import label_studio" || { echo "label-studio did not install" >&2; exit 1; }
fi
# a venv made before the pin: bring sentry-sdk back under 3
if ! "$LS_VENV/bin/python" -c "import sentry_sdk, sys; sys.exit(int(sentry_sdk.VERSION.split('.')[0]) >= 3)"; then
  echo "installing $SENTRY_PIN into $LS_VENV (sentry-sdk 3 stops label-studio $LS_VERSION from starting)" >&2
  "$LS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SENTRY_PIN" 2>&1 \
    | grep -v "is neither a file nor a directory" >&2 || true
fi
[ "${1:-}" = "--install-only" ] && exit 0

LS_DATA_DIR="${LS_DATA_DIR:-$ROOT/.cache/ls-data}"
mkdir -p "$LS_DATA_DIR"
CRED="$LS_DATA_DIR/animeparse-credentials"
if [ ! -f "$CRED" ] && [ -z "${LABEL_STUDIO_USER_TOKEN:-}" ]; then
  ( umask 077
    printf 'LABEL_STUDIO_USERNAME=%s\nLABEL_STUDIO_PASSWORD=%s\nLABEL_STUDIO_USER_TOKEN=%s\n' \
      "${LABEL_STUDIO_USERNAME:-admin@localhost}" "$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')" \
      "$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')" > "$CRED" )
fi
if [ -f "$CRED" ]; then
  set -a; . "$CRED"; set +a
fi

# everything Label Studio writes goes below the data dir (even `--help` writes into ~/.local otherwise)
export LABEL_STUDIO_BASE_DATA_DIR="$LS_DATA_DIR"
export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true
export LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true
# `animeparse ls serve` runs beside this server on 127.0.0.1, which Label Studio refuses as an ML backend or webhook
# address (SSRF protection) unless these are off; they only matter for a server that others can reach
export ML_BLOCK_LOCAL_IP="${ML_BLOCK_LOCAL_IP:-false}"
export SSRF_PROTECTION_ENABLED="${SSRF_PROTECTION_ENABLED:-false}"
export LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="${LS_FILES_ROOT:-$(dirname "$ROOT")}"
PORT="${LS_PORT:-8080}"
HOST="${LS_HOST:-127.0.0.1}"
if [ -f "$CRED" ]; then
  echo "Label Studio: http://$HOST:$PORT  (user and password in $CRED)" >&2
  echo "  export LABEL_STUDIO_URL=http://$HOST:$PORT" >&2
  echo "  export LABEL_STUDIO_API_KEY=\$(sed -n 's/^LABEL_STUDIO_USER_TOKEN=//p' '$CRED')" >&2
fi
echo "  local files root: $LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" >&2
exec "$LS_VENV/bin/label-studio" start --no-browser --internal-host "$HOST" --port "$PORT"
