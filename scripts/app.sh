#!/usr/bin/env bash
# Quick start: set up, then launch the app on the bundled sample data with the default
# DuckDB file data/embcore.duckdb (override with EMBCORE_DB). Binds 127.0.0.1:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m streamlit run app.py "$@"
