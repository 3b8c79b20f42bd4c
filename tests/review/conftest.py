"""Fixtures of the review tests: the bundled sample as a project, mined (see
:func:`support.review.mine_sample`), in a DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.review import mine_sample

from embcore.store import Store


@pytest.fixture
def mined(tmp_path: Path) -> Iterator[tuple[Store, int, int]]:
    """(store, project id, run id) on a fresh DuckDB file."""
    with Store(tmp_path / "review.duckdb") as store:
        pid, run_id = mine_sample(store)
        yield store, pid, run_id
