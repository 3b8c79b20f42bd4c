"""The one run recorder (issue 11.2): every long step records start, status, timings, counts and
provenance through ``store.recorded_run``; teacher scoring and ``embcore eval|finetune --db`` too."""

from __future__ import annotations

import os
import socket

import pytest
from support.encoders import HashingEncoder

from embcore.errors import CancelledError
from embcore.ingest.samples import Sample
from embcore.models.teacher import TeacherConfig, score_run
from embcore.store import Store

SECRET = "sk-test-0123456789"


def _project(store: Store) -> int:
    samples = [Sample(f"What did unit {i} earn?", [f"Unit {i} earned {i} million."], negatives=[f"Unit {i} opened."])
               for i in range(4)]  # fmt: skip
    return store.create_project("p", samples)


def test_a_finished_run_records_provenance_timings_counts_and_stats(tmp_path) -> None:
    with Store(tmp_path / "r.duckdb") as store:
        pid = _project(store)
        with store.recorded_run(pid, "mine", {"k": 1}, seed=7, model_id="m", data_hash="h") as run:
            assert store.get_run(run.id)["status"] == "running"
            with run.step("mine"):
                pass
            run.counts["candidates"] = 3
            run.stats = {"sources": {"bm25": 3}}
        row = store.get_run(run.id)
    assert row["status"] == "done" and row["error"] is None
    assert (row["config"], row["seed"], row["model_id"], row["data_hash"]) == ({"k": 1}, 7, "m", "h")
    assert (row["pid"], row["host"]) == (os.getpid(), socket.gethostname())
    assert set(row["timings"]) == {"mine_s", "total_s"} and row["finished_at"] is not None
    assert row["counts"] == {"candidates": 3} and row["stats"] == {"sources": {"bm25": 3}}


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (CancelledError("cancelled during dense (1/4)"), "cancelled"),
        (RuntimeError("boom"), "failed"),
        (KeyboardInterrupt(), "interrupted"),
    ],  # fmt: skip
)
def test_the_end_of_a_run_is_recorded_and_the_error_raised(exc: BaseException, status: str) -> None:
    with Store() as store:
        pid = _project(store)
        with pytest.raises(type(exc)), store.recorded_run(pid, "score", {}) as run:
            with run.step("score"):
                raise exc
        row = store.get_run(run.id)
    assert row["status"] == status
    assert row["error"] == (str(exc) or type(exc).__name__)
    assert set(row["timings"]) == {"score_s", "total_s"}


def test_a_recorded_error_never_holds_a_secret() -> None:
    with Store() as store:
        with pytest.raises(RuntimeError), store.recorded_run(None, "augment", {}, secrets=[SECRET]) as run:
            run.secrets.append("hunter2")
            raise RuntimeError(f"401 from https://user:hunter2@llm.example/v1 with key {SECRET}")
        error = store.get_run(run.id)["error"]
    assert SECRET not in error and "hunter2" not in error and "llm.example" in error


def test_teacher_scoring_records_a_cancel_with_timings() -> None:
    # before the recorder, a cancelled scoring run was recorded as 'failed', without timings
    def cancel(stage: str, done: int, total: int) -> bool:
        return False

    with Store() as store:
        pid = _project(store)
        with store.recorded_run(pid, "mine", {}) as mine:
            pass
        with pytest.raises(CancelledError):
            score_run(store, pid, mine.id, TeacherConfig(model="default", kind="bi"), encoder=HashingEncoder(),
                      progress=cancel)  # fmt: skip
        [row] = store.runs(pid, "score").to_dict("records")
        assert row["status"] == "cancelled" and "total_s" in str(row["timings"])
        assert (
            score_run(
                store, pid, mine.id, TeacherConfig(model="default", kind="bi"), encoder=HashingEncoder()
            )
            == 8
        )
        done = store.get_run(int(store.runs(pid, "score")["id"].iloc[-1]))
    assert done["status"] == "done" and done["counts"] == {"pairs": 8} and "score_s" in done["timings"]
