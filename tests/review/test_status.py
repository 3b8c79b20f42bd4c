"""Where a project stands: one aggregate query, five steps with states and counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.ingest.samples import Sample
from embcore.mining.config import MiningConfig
from embcore.review.status import project_steps
from embcore.store import Store
from embcore.workflow import run_mining


def _samples(n: int = 6) -> list[Sample]:
    return [
        Sample(f"What did company {i} sell in 2024?", [f"Company {i} sold {i} widgets in 2024."])
        for i in range(n)
    ]


def _states(store: Store, pid: int) -> list[tuple[str, str, str]]:
    return [(s.key, s.state, s.detail) for s in project_steps(store, pid)]


def test_steps_follow_the_project(tmp_path: Path) -> None:
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples())
        other = store.create_project("other", _samples(3))
        assert _states(store, pid) == [
            ("data", "done", "6 samples"),
            ("mine", "current", "no run yet"),
            ("review", "todo", "0 of 6 reviewed"),
            ("export", "todo", "not exported yet"),
            ("train", "todo", "not trained yet"),
        ]
        cfg = MiningConfig(
            strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=2
        )
        run_id = run_mining(store, pid, cfg)
        assert [s[1] for s in _states(store, pid)] == ["done", "done", "current", "todo", "todo"]
        store.set_done(pid, int(store.queries(pid)["id"].iloc[0]))
        assert _states(store, pid)[2] == ("review", "current", "1 of 6 reviewed")
        # exporting before the review is finished: review stays "partial", training is next
        export_project(store, pid, tmp_path / "out", ExportConfig(ratios=(0.5, 0.25, 0.25)), run_id=run_id)
        assert [s[1] for s in _states(store, pid)] == ["done", "done", "partial", "done", "current"]
        assert _states(store, pid)[3][2] == "1 export"
        with store.recorded_run(pid, "eval", {}):
            pass
        assert _states(store, pid)[4] == ("train", "current", "not trained yet, 1 evaluation")
        with store.recorded_run(pid, "finetune", {}):
            pass
        with pytest.raises(RuntimeError), store.recorded_run(pid, "finetune", {}):
            raise RuntimeError("out of memory")
        assert _states(store, pid)[4] == ("train", "done", "1 fine-tune, 1 evaluation")
        for qid in store.queries(pid)["id"]:
            store.set_done(pid, int(qid))
        assert [s[1] for s in _states(store, pid)] == ["done"] * 5
        # counts are per project
        assert store.project_counts(other) == {
            "samples": 3, "augmented": 0, "mining_runs": 0, "reviewed": 0, "queries": 3,
            "exports": 0, "finetunes": 0, "evaluations": 0,
        }  # fmt: skip


def test_export_without_review_marks_review_skipped_and_counts_augmented(tmp_path: Path) -> None:
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples())
        qid = int(store.queries(pid)["id"].iloc[0])
        store.add_derived(
            pid,
            queries=[
                {
                    "parent_id": qid,
                    "text": "What did company zero sell?",
                    "origin": "augment:swap",
                    "positives": [],
                }
            ],
        )
        cfg = MiningConfig(
            strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=2
        )
        run_id = run_mining(store, pid, cfg)
        export_project(store, pid, tmp_path / "out", ExportConfig(ratios=(1.0, 0.0, 0.0)), run_id=run_id)
        states = _states(store, pid)
        assert states[0] == ("data", "done", "6 samples (+1 augmented)")
        assert states[2] == ("review", "skipped", "0 of 7 reviewed")
        assert states[4][1] == "current"
