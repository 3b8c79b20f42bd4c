"""Fixtures of the real-browser tests: the app server (see ``browser_helpers``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_helpers import app_server  # noqa: E402


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra environment of the app server (a test module overrides this fixture to change it)."""
    return {}


@pytest.fixture
def server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """``streamlit run app.py`` on a free port; yields (url, DuckDB path) and stops it afterwards."""
    with app_server(tmp_path, server_env) as running:
        yield running
