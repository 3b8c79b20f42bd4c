"""Fixtures for documents / search-log inputs: fixture folders, a store, the fake OpenAI server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1]), str(_HERE.parent / "augment"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fake_openai import fake_openai  # noqa: E402, F401 - the shared fixture

from embcore.store import Store  # noqa: E402


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.duckdb") as s:
        yield s
