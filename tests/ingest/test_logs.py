"""Search logs: clicks -> positives, skip-above -> given negatives, aggregation, dwell, unknown ids."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from embcore.errors import EmbcoreError
from embcore.ingest.logs import LogConfig, normalise_query, parse_ids, samples_from_log
from embcore.ingest.read import RawTable

CORPUS = {
    "d1": "Acme revenue was 4.8 billion dollars in 2023.",
    "d2": "Acme revenue was 4.5 billion dollars in 2022.",
    "d3": "Acme employs 12,400 people.",
    "d4": "Beta sells routers.",
}


def raw(rows: list[dict]) -> RawTable:
    return RawTable(pd.DataFrame(rows), "log.jsonl", "0" * 64, "jsonl")


def test_clicks_skip_above_and_aggregation_across_sessions() -> None:
    log = raw(
        [
            {"query": "Acme revenue 2023?", "shown": ["d2", "d3", "d1"], "clicked": ["d1"], "session": "s1"},
            {"query": "acme  REVENUE 2023", "shown": "d3|d1|d2", "clicked": "d1", "session": "s2"},
            {"query": "beta products", "shown": '["d4", "d9"]', "clicked": "[]", "session": "s3"},
            {"query": "", "shown": ["d1"], "clicked": ["d1"], "session": "s4"},
        ]
    )
    res = samples_from_log(log, CORPUS)
    assert len(res.samples) == 1
    s = res.samples[0]
    assert s.query in ("Acme revenue 2023?", "acme REVENUE 2023")
    assert s.positives == [CORPUS["d1"]]
    # d2 and d3 were shown above the click in the first impression, d3 in the second
    assert set(s.negatives) == {CORPUS["d2"], CORPUS["d3"]}
    assert s.meta["sessions"] == "2" and s.meta["impressions"] == "2"
    rep = res.report
    assert rep["queries"] == 2 and rep["queries_without_positive"] == 1
    assert rep["unknown_ids"] == 1 and rep["unknown_id_examples"] == ["d9"]
    assert rep["rows_dropped"] == {"missing_query": 1}
    assert res.negative_origin == "log:skip-above"


def test_a_result_clicked_in_another_session_is_never_a_negative() -> None:
    log = raw(
        [
            {"query": "acme revenue", "shown": ["d2", "d1"], "clicked": ["d1"]},
            {"query": "acme revenue", "shown": ["d2", "d1"], "clicked": ["d2"]},
        ]
    )
    s = samples_from_log(log, CORPUS).samples[0]
    assert set(s.positives) == {CORPUS["d1"], CORPUS["d2"]} and s.negatives == []


def test_dwell_and_click_thresholds() -> None:
    log = raw(
        [
            {
                "query": "acme revenue",
                "shown": ["d2", "d1", "d3"],
                "clicked": ["d1", "d3"],
                "dwell": json.dumps({"d1": 45, "d3": 2}),
            },
            {"query": "acme staff", "shown": ["d3"], "clicked": ["d3"], "dwell": "3"},
        ]
    )
    res = samples_from_log(log, CORPUS, LogConfig(min_dwell=10))
    assert [s.positives for s in res.samples] == [[CORPUS["d1"]]]
    assert res.samples[0].negatives == [CORPUS["d2"]]
    assert res.report["clicks_below_dwell"] == 2
    with pytest.raises(EmbcoreError, match="no query has a qualifying click"):
        samples_from_log(log, CORPUS, LogConfig(min_clicks=2))


def test_position_column_stands_for_a_click() -> None:
    log = raw([{"q": "acme staff", "results": "d1 d3", "clicks": "", "click_position": 2}])
    s = samples_from_log(log, CORPUS).samples[0]
    assert s.positives == [CORPUS["d3"]] and s.negatives == [CORPUS["d1"]]


def test_missing_columns_are_named() -> None:
    with pytest.raises(EmbcoreError, match="not found: shown, clicked"):
        samples_from_log(raw([{"query": "x", "foo": 1}]), CORPUS)


def test_helpers() -> None:
    assert (
        parse_ids("a; b ;c") == ["a", "b", "c"] and parse_ids(None) == [] and parse_ids(["x", None]) == ["x"]
    )
    assert normalise_query("  Acme   Revenue?? ") == "acme revenue"


def test_build_from_a_log_stores_skip_above_as_reviewable_negatives(tmp_path: Path) -> None:
    from support.encoders import HashingEncoder

    from embcore.export.config import ExportConfig
    from embcore.ingest.prepare import prepare_log
    from embcore.mining.config import MiningConfig
    from embcore.store import Store
    from embcore.workflow import build

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in CORPUS.items())
    )
    log = tmp_path / "log.csv"
    pd.DataFrame(
        [
            {"query": "acme revenue 2023", "shown": "d2|d1", "clicked": "d1", "session_id": "a"},
            {"query": "acme staff", "shown": "d4|d3", "clicked": "d3", "session_id": "b"},
            {"query": "beta products", "shown": "d4", "clicked": "d4", "session_id": "c"},
        ]
    ).to_csv(log, index=False)
    prepared = prepare_log(log, corpus)
    res = build(
        None, tmp_path / "out", mapping=None, mining=MiningConfig(strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None),
        export=ExportConfig(ratios=(1.0, 0.0, 0.0)), encoder=HashingEncoder(), prepared=prepared,
    )  # fmt: skip
    with Store(tmp_path / "out" / "embcore.duckdb") as store:
        pid = res.project_id
        given = store.given_negatives(pid)
        assert set(given["origin"]) == {"log:skip-above"} and len(given) == 2
        cands = store.candidates(res.run_id, include_given=True)
        assert set(cands.loc[cands["status"] == "given", "sources"]) == {"log:skip-above"}
        assert len(store.passages(pid)) == 4  # the whole corpus, not only clicked results
    rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    first = next(r for r in rows if r["query"] == "acme revenue 2023")
    assert first["neg"][0] == CORPUS["d2"]
