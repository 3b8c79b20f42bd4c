"""embcore.workflow: the orchestrator of ``embcore build`` and the app's steps."""

from __future__ import annotations

import copy
from pathlib import Path

import embcore
import embcore.ingest.samples as samples_module
from embcore.export.config import ExportConfig
from embcore.ingest.mapping import FieldMapping
from embcore.mining.config import MiningConfig
from embcore.store import Store
from embcore.workflow import build

SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"


def test_build_cleans_once_and_leaves_the_callers_mapping_alone(tmp_path: Path, monkeypatch) -> None:
    # issue 11.4: build mutated the caller's mapping (the grouping column was appended to it)
    calls = []
    real = samples_module._build_samples
    monkeypatch.setattr(samples_module, "_build_samples", lambda *a: calls.append(1) or real(*a))
    mapping = FieldMapping("question", ["context"], ["filing"])
    before = copy.deepcopy(mapping)
    result = build(
        SAMPLE,
        tmp_path / "out",
        mapping=mapping,
        mining=MiningConfig(strategies=["random"], num_negatives=2),
        export=ExportConfig(group_col="ticker"),
    )
    assert mapping == before, "the caller's mapping is not changed"
    assert len(calls) == 1, "the rows are cleaned once"
    assert result.mapping.meta_cols == ["filing", "ticker"]
    with Store(tmp_path / "out" / "embcore.duckdb") as store:
        assert store.get_project(result.project_id)["mapping"]["meta_cols"] == ["filing", "ticker"]
        assert {"filing", "ticker"} <= set(store.queries(result.project_id)["meta"].iloc[0])
