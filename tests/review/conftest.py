"""Fixtures of the review tests: the bundled sample as a project, mined (BM25 + dense with the fake
``HashingEncoder``, so both retrievers' ranks and every similarity are real numbers), in a
DuckDB file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package may not be pip-installed in a fresh checkout
    sys.path.insert(0, str(ROOT))

from embcore.mining.config import MiningConfig  # noqa: E402
from embcore.models.encoders import HashingEncoder  # noqa: E402
from embcore.store import Store  # noqa: E402
from embcore.workflow import create_project, run_mining  # noqa: E402

SAMPLE = ROOT / "embcore" / "data" / "sample_qa.csv"


def mine_sample(store: Store, name: str = "sample", **cfg: object) -> tuple[int, int]:
    """The bundled sample as a project with one hybrid run (fake encoder); (project id, run id)."""
    pid = create_project(store, SAMPLE, name=name).project_id
    options = {"strategies": ["hybrid"], "num_negatives": 3, "top_k": 10} | cfg
    return pid, run_mining(store, pid, MiningConfig(**options), encoder=HashingEncoder())  # type: ignore[arg-type]


@pytest.fixture
def mined(tmp_path: Path) -> Iterator[tuple[Store, int, int]]:
    """(store, project id, run id) on a fresh DuckDB file."""
    with Store(tmp_path / "review.duckdb") as store:
        pid, run_id = mine_sample(store)
        yield store, pid, run_id
