"""embcore.review.model without the UI: navigation by id, filters, bulk rules, durability of a click
when the process is killed right after it, versioned writes, undo, done, flags (and their
export), query edits, shared-term highlights, and the 003 migration."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from support.app import ROOT, SAMPLE, make_project

from embcore.errors import EmbcoreError
from embcore.review import model as review
from embcore.store import Store


def test_step_and_locate_by_id() -> None:
    order = np.array([2, 5, 9, 14], dtype=np.int64)
    assert review.step(order, None, +1) == 2 and review.step(order, None, -1) == 14
    assert review.step(order, 5, +1) == 9 and review.step(order, 5, -1) == 2
    assert review.step(order, 14, +1) is None and review.step(order, 2, -1) is None
    # the current query was filtered out (id 7): next / previous are its neighbours by id
    assert review.step(order, 7, +1) == 9 and review.step(order, 7, -1) == 5
    assert review.locate(order, 9).label == "3 / 4"
    assert review.locate(order, 7).label == "– / 4"


def test_next_unreviewed_wraps() -> None:
    order = np.array([1, 2, 3, 4], dtype=np.int64)
    reviewed = np.array([2, 3], dtype=np.int64)
    assert review.next_unreviewed(order, reviewed, 1) == 4
    assert review.next_unreviewed(order, reviewed, 4) == 1  # wraps round
    assert review.next_unreviewed(order, np.array([1, 2, 3, 4]), 1) is None
    assert review.start_query(order, reviewed) == 1


def test_filter_validation() -> None:
    with pytest.raises(EmbcoreError, match="allowed: all, unreviewed, reviewed"):
        review.ReviewFilter.make("done")
    flt = review.ReviewFilter.make("all", {"ticker": [], "filing": ["2024_10K"]}, (), "  x ")
    assert flt.meta == (("filing", ("2024_10K",)),) and flt.text == "x" and flt.active


def test_unknown_decision_and_band() -> None:
    store = Store(":memory:")
    pid, run_id = make_project(store, SAMPLE)
    with pytest.raises(EmbcoreError, match="unknown decision"):
        review.decide(store, pid, 1, 1, "maybe")
    with pytest.raises(EmbcoreError, match="band is empty"):
        review.band_pairs(store, run_id, "score", 2.0, 1.0)
    with pytest.raises(EmbcoreError, match="unknown score column"):
        review.band_pairs(store, run_id, "text; DROP TABLE queries", 0, 1)


def test_text_search_is_literal() -> None:
    store = Store(":memory:")
    pid, run_id = make_project(store, SAMPLE)
    queries = store.queries(pid).set_index("id")["text"]
    pos = store.positives(pid).groupby("query_id")["text"].apply(" ".join)

    def expected(needle: str) -> list[int]:
        return [int(q) for q, t in queries.items() if needle.lower() in (t + " " + pos.get(q, "")).lower()]

    for needle in ("%", "_", "NET REVENUE", "6%"):  # LIKE wildcards are matched literally
        got = review.query_order(store, pid, run_id, review.ReviewFilter.make(text=needle)).tolist()
        assert got == expected(needle), needle


def test_a_click_survives_a_killed_process(tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from support.app import SAMPLE, make_project
        from embcore.review import model as review
        from embcore.store import Store
        store = Store({str(db)!r})
        pid, run_id = make_project(store, SAMPLE)
        q = review.load_query(store, pid, run_id, int(review.query_order(store, pid, run_id)[0]))
        review.decide(store, pid, q.query_id, q.next_up, "accept")
        print(q.query_id, q.next_up, flush=True)
        os.kill(os.getpid(), 9)  # the server dies right after the click
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    qid, passage = (int(x) for x in proc.stdout.split())
    with Store(db) as store:
        assert store.decisions(1, qid).query("passage_id == @passage")["decision"].tolist() == ["accept"]
        assert qid not in store.reviewed_query_ids(1), "one decision does not make the query reviewed"
        # the decision moved the (unnamed) reviewer's version of the query: shared 0 + own 1
        assert store.versions([qid]) == {qid: 1}
        assert store.reviewer_versions([qid], "") == {qid: 1}


# --------------------------------------------------------------------------- versioned writes, undo, flags


def _project() -> tuple[Store, int, int]:
    store = Store(":memory:")
    pid, run_id = make_project(store, SAMPLE)
    return store, pid, run_id


def test_versioned_write_applies_only_at_the_version_seen() -> None:
    store, pid, run_id = _project()
    qid = int(review.query_order(store, pid, run_id)[0])
    q = review.load_query(store, pid, run_id, qid)
    a, b = (int(p) for p in q.shown["passage_id"].iloc[:2])
    assert q.version == 0
    first = review.decide(store, pid, qid, a, "accept", version=0, run_id=run_id)
    assert first.applied and first.versions == {qid: 1} and first.action_id is not None
    stale = review.decide(store, pid, qid, b, "reject", version=0, run_id=run_id)
    assert stale.status == "stale" and "changed since this page was drawn" in stale.message
    assert store.decisions(pid)["passage_id"].tolist() == [a], "nothing written"
    assert store.action_count(pid) == 1
    assert review.decide(store, pid, qid, b, "reject", version=1, run_id=run_id).applied
    assert review.load_query(store, pid, run_id, qid).version == 2


def test_undo_restores_exactly_and_refuses_when_changed_later() -> None:
    store, pid, run_id = _project()
    qid = int(review.query_order(store, pid, run_id)[0])
    q = review.load_query(store, pid, run_id, qid)
    cands = [int(p) for p in q.shown["passage_id"]]
    accept_all = review.accept_remaining(store, pid, run_id, qid, version=0)
    assert accept_all.pairs == len(cands) and qid in store.reviewed_query_ids(pid)
    assert store.query_state(qid)["reviewed"] == "complete"
    positive = review.decide(store, pid, qid, cands[0], "positive", run_id=run_id)
    assert store.positive_origins(qid, cands[0]) == ["review"]
    # undoing "accept remaining" now would overwrite the later "positive" on cands[0]: refused
    refused = review.undo(store, pid, accept_all.action_id, run_id=run_id)
    assert refused.status == "stale" and f"passage {cands[0]}" in refused.message
    assert review.undo(store, pid, positive.action_id, run_id=run_id).applied
    assert not (store.positives(pid)["origin"] == "review").any()
    assert review.undo(store, pid, accept_all.action_id, run_id=run_id).applied
    assert store.decisions(pid).empty and qid not in store.reviewed_query_ids(pid)
    assert review.undo(store, pid, accept_all.action_id).status == "stale", "undone once only"
    undo_id = int(review.history(store, pid)["id"].iloc[0])
    with pytest.raises(EmbcoreError, match="an undo cannot be undone"):
        review.undo(store, pid, undo_id)


def test_done_reopen_and_completeness() -> None:
    store, pid, run_id = _project()
    qid = int(review.query_order(store, pid, run_id)[0])
    assert review.mark_done(store, pid, qid, version=0).applied
    assert store.query_state(qid)["reviewed"] == "done"
    assert review.mark_done(store, pid, qid).status == "unchanged"
    q = review.load_query(store, pid, run_id, qid)
    for p in q.shown["passage_id"]:  # decisions never undo "done"
        review.decide(store, pid, qid, int(p), "reject", run_id=run_id)
        review.decide(store, pid, qid, int(p), None, run_id=run_id)
    assert qid in store.reviewed_query_ids(pid)
    assert review.mark_done(store, pid, qid, False, run_id=run_id).applied
    assert qid not in store.reviewed_query_ids(pid), "reopened and not every candidate decided"


def test_flagged_queries_are_left_out_of_the_export_and_counted(tmp_path: Path) -> None:
    from embcore.export.config import ExportConfig
    from embcore.export.exporter import export_project

    store, pid, run_id = _project()
    order = [int(q) for q in review.query_order(store, pid, run_id)]
    review.flag_query(store, pid, order[0], "bad_query", "ambiguous: which company?")
    review.flag_query(store, pid, order[1], "wrong_positive", "the context answers another question")
    review.flag_query(store, pid, order[2], "wrong_positive", "wrong filing year")
    res = export_project(store, pid, tmp_path / "out", ExportConfig(), run_id=run_id)
    texts = store.queries(pid).set_index("id")["text"]
    written = {
        json.loads(line)["query"]
        for split in ("train", "val", "test")
        for line in (tmp_path / "out" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    }
    assert not {texts[q] for q in order[:3]} & written
    assert len(written) == len(order) - 3
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    removed = json.dumps(manifest)
    assert res.removed["flagged_queries"] == 3
    assert res.removed["flagged_bad_query"] == 1 and res.removed["flagged_wrong_positive"] == 2
    assert '"flagged_queries": 3' in removed
    # unflag: exported again
    review.flag_query(store, pid, order[0], None)
    assert review.progress(store, pid).flagged == 2


def test_edit_query_refuses_a_duplicate_text() -> None:
    store, pid, run_id = _project()
    a, b = (int(q) for q in review.query_order(store, pid, run_id)[:2])
    other = store.queries(pid).set_index("id").loc[b, "text"]
    with pytest.raises(EmbcoreError, match=f"query {b} of this project already has this text"):
        review.edit_query(store, pid, a, other.upper().lower() if other.islower() else other)
    with pytest.raises(EmbcoreError, match="cannot be empty"):
        review.edit_query(store, pid, a, " \u200b ")


def test_shared_terms_highlight_english_and_chinese() -> None:
    from embcore.mining.tokenize import token_spans
    from embcore.review.view import HL_POSITIVE, HL_QUERY, highlight, highlight_tokenizer, terms

    text = "Net revenue rose; NET-revenue fell."
    assert [(text[s:e], t) for s, e, t in token_spans(text)][:3] == [("Net", "net"), ("revenue", "revenue"),
                                                                         ("rose", "rose")]  # fmt: skip
    runs = highlight(text, "word", {"revenue"}, {"net"})
    assert [(text[s:e], m) for s, e, m in runs] == [("Net", HL_POSITIVE), ("revenue", HL_QUERY),
                                                    ("NET", HL_POSITIVE), ("revenue", HL_QUERY)]  # fmt: skip
    query, positive = "公司的营业收入是多少？", "公司二零二三年营业收入为十亿元。"
    assert highlight_tokenizer([query, positive]) == "jieba"
    q_terms = terms(query, "jieba")
    assert {"营业", "收入"} <= q_terms and "的" not in q_terms, "jieba words, stopwords dropped"
    cand = "竞争对手的营业收入下降。"
    runs = highlight(cand, "jieba", q_terms, terms(positive, "jieba"))
    assert [cand[s:e] for s, e, _ in runs] == ["营业收入"]
    assert runs[0][2] == HL_QUERY | HL_POSITIVE


def test_migration_003_upgrades_an_older_database(tmp_path: Path) -> None:
    import duckdb

    from embcore.store.connection import migration_files, split_statements

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP DEFAULT current_timestamp)")  # fmt: skip
    for version, name, sql in migration_files():
        if version <= 2:
            for statement in split_statements(sql):
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
    con.execute("INSERT INTO query_review (query_id, project_id) VALUES (7, 1)")
    con.execute(
        "INSERT INTO decision_log (project_id, query_id, passage_id, decision) VALUES (1, 7, 3, 'accept')"
    )
    con.close()
    with Store(path) as store:
        assert store.schema_version() >= 3
        assert store.reviewed_states(1) == {7: "done"}
        log = store.decision_log(1)
        assert log[["action_id", "prev_decision"]].isna().values.tolist() == [[True, True]]
