#!/usr/bin/env bash
# Set up (with test tools and Chromium), lint and run the whole test suite. Extra args go to pytest.
# Lint first: any `ruff check` finding or a file `ruff format` would change fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
