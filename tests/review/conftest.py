"""Fixtures of the review tests: the bundled sample as a project, mined (BM25 + dense with the fake
``HashingEncoder``, so both retrievers' ranks and every similarity are real numbers), in a
DuckDB file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from review_fixtures import mine_sample  # noqa: E402

from embcore.store import Store  # noqa: E402


@pytest.fixture
def mined(tmp_path: Path) -> Iterator[tuple[Store, int, int]]:
    """(store, project id, run id) on a fresh DuckDB file."""
    with Store(tmp_path / "review.duckdb") as store:
        pid, run_id = mine_sample(store)
        yield store, pid, run_id
