"""What reviewers decide reaches the export: an extra positive confirmed in the false-negative
queue, graded qrels, grades that keep a passage out of the negatives, the resolved decision of
several reviewers (majority, tie, adjudication), flags, and the manifest's review section."""

from __future__ import annotations

import json
from pathlib import Path

from support.review import mine_sample

from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.export.verify import verify_export
from embcore.export.write import corpus_id
from embcore.review import agreement, queues
from embcore.review import model as review
from embcore.store import Store
from embcore.text import text_hash

CFG = ExportConfig(ratios=(0.5, 0.0, 0.5), seed=3)


def _export(store: Store, pid: int, out: Path) -> tuple[dict, dict[str, list[dict]], list[list[str]]]:
    res = export_project(store, pid, out, CFG)
    root = res.version_dir
    manifest = json.loads((root / "manifest.json").read_text())
    records = {
        s: [json.loads(x) for x in (root / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "test")
    }
    qrels = [line.split("\t") for line in (root / "eval" / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    return manifest, records, qrels


def _test_query(store: Store, pid: int, run_id: int, out: Path) -> tuple[int, str, list[tuple[int, str]]]:
    """A test-split query whose candidates are no other query's positive (adding one as a positive
    keeps the query's split), with those candidates (id, text)."""
    _, records, _ = _export(store, pid, out)
    in_test = {r["query"] for r in records["test"]}
    positives = {int(p) for p in store.positives(pid)["passage_id"]}
    for qid in review.query_order(store, pid, run_id):
        qid = int(qid)
        q = review.load_query(store, pid, run_id, qid)
        if q.text not in in_test:
            continue
        c = q.candidates[~q.candidates["status"].isin(["positive_id", "positive_text"])]
        free = [
            (int(p), str(t))
            for p, t in zip(c["passage_id"], c["text"], strict=True)
            if int(p) not in positives
        ]
        if len(free) >= 3:
            return qid, q.text, free
    raise AssertionError("no suitable test query in the sample")


def _rec(records: dict[str, list[dict]], text: str) -> dict:
    [r] = [r for r in records["test"] if r["query"] == text]
    return r


def test_confirmed_false_negative_becomes_an_extra_positive_and_a_qrel(tmp_path: Path) -> None:
    with Store(tmp_path / "x.duckdb") as store:
        pid, run_id = mine_sample(store, distractors=96)
        qid, text, free = _test_query(store, pid, run_id, tmp_path / "out")
        fn = queues.compute(store, pid, run_id, "false_negatives", threshold=-1.0)
        assert free[0][0] in fn.item_reasons(qid), "every candidate is suspected with threshold -1"
        review.decide(store, pid, qid, free[0][0], "positive", reviewer="alice")  # "also a positive"
        review.decide(store, pid, qid, free[1][0], "accept", reviewer="alice")  # "a true negative"
        manifest, records, qrels = _export(store, pid, tmp_path / "out")
        r = _rec(records, text)
        assert free[0][1] in r["pos"] and free[0][1] not in r["neg"]
        assert free[1][1] in r["neg"]
        qid_beir = "q" + text_hash(text)[:16]
        assert [qid_beir, corpus_id(text_hash(free[0][1])), "1"] in qrels
        assert manifest["qrels"]["graded"] is False


def test_graded_qrels_and_grades_that_keep_a_passage_out_of_the_negatives(tmp_path: Path) -> None:
    with Store(tmp_path / "x.duckdb") as store:
        pid, run_id = mine_sample(store, distractors=96)
        qid, text, free = _test_query(store, pid, run_id, tmp_path / "out")
        review.decide(store, pid, qid, free[0][0], "accept", reviewer="alice")
        review.grade(store, pid, qid, free[0][0], 2, reviewer="alice")  # partly answers: relevant
        review.decide(store, pid, qid, free[1][0], "accept", reviewer="alice")
        review.grade(store, pid, qid, free[1][0], 1, reviewer="alice")  # related: a fine hard negative
        manifest, records, qrels = _export(store, pid, tmp_path / "out")
        r = _rec(records, text)
        assert free[0][1] not in r["neg"], "a passage graded relevant is never a negative"
        assert free[1][1] in r["neg"]
        qid_beir = "q" + text_hash(text)[:16]
        mine = {c: g for q, c, g in qrels if q == qid_beir}
        assert mine[corpus_id(text_hash(free[0][1]))] == "2"
        assert corpus_id(text_hash(free[1][1])) not in mine
        assert sorted(mine.values()) == ["2", "3"], "the positive scores 3 once grades are used"
        assert {g for _, _, g in qrels} <= {"2", "3"}
        assert manifest["qrels"]["graded"] is True and manifest["qrels"]["graded_candidates_in_qrels"] == 1
        assert verify_export(tmp_path / "out")[0] == [], "embcore verify accepts a graded export"
        card = (tmp_path / "out" / "current" / "README.md").read_text(encoding="utf-8")
        assert "relevance in the evaluation qrels is graded 0-3" in card
        assert "(1 of them added to the qrels)" in card


def test_export_follows_majority_ties_and_adjudication(tmp_path: Path) -> None:
    with Store(tmp_path / "x.duckdb") as store:
        pid, run_id = mine_sample(store, distractors=96)
        qid, text, free = _test_query(store, pid, run_id, tmp_path / "out")
        (a, ta), (b, tb), (c, tc) = free[:3]
        for who, da, db, dc in (
            ("alice", "accept", "accept", "reject"),
            ("bob", "accept", "positive", "reject"),
        ):
            review.decide(store, pid, qid, a, da, reviewer=who)
            review.decide(store, pid, qid, b, db, reviewer=who)
            review.decide(store, pid, qid, c, dc, reviewer=who)
        manifest, records, _ = _export(store, pid, tmp_path / "out")
        r = _rec(records, text)
        assert ta in r["neg"], "both accepted"
        assert tb not in r["neg"] and tb not in r["pos"], "a tie is neither a negative nor a positive"
        assert tc not in r["neg"], "both rejected"
        section = manifest["review"]
        assert "most frequent" in section["policy"]
        assert section["agreement"]["resolved_by"] == {"unanimous": 2, "tie": 1}
        [pair] = section["agreement"]["cohen_kappa"]
        assert (pair["a"], pair["b"], pair["items"]) == ("alice", "bob", 3)
        # the dataset card says who reviewed, how decisions were resolved, and how much they agreed
        card = (tmp_path / "out" / "current" / "README.md").read_text(encoding="utf-8")
        assert "- reviewers: alice, bob" in card and "most frequent decision" in card
        assert f"alice / bob {pair['kappa']:.2f} on 3" in card
        assert "candidates the reviewers disagreed on: 1 (0 adjudicated by a lead, 1 ties left out" in card
        # the lead adjudicates the tie: the export follows
        agreement.adjudicate(store, pid, qid, b, "positive", lead="lead")
        manifest, records, _ = _export(store, pid, tmp_path / "out")
        assert tb in _rec(records, text)["pos"]
        assert manifest["review"]["agreement"]["resolved_by"]["adjudicated"] == 1


def test_flagged_query_is_left_out(tmp_path: Path) -> None:
    with Store(tmp_path / "x.duckdb") as store:
        pid, run_id = mine_sample(store, distractors=96)
        qid, text, _ = _test_query(store, pid, run_id, tmp_path / "out")
        review.flag_query(
            store, pid, qid, "wrong_positive", "the context answers another question", reviewer="alice"
        )
        manifest, records, _ = _export(store, pid, tmp_path / "out")
        assert all(r["query"] != text for s in records.values() for r in s)
        assert manifest["removed"]["flagged_wrong_positive"] == 1


def test_the_export_preview_follows_flags_and_grades(tmp_path: Path) -> None:
    """The Export page's preview is cached by a fingerprint of what an export reads: a flag, a grade
    or an adjudication (no decision logged) must change it, or the page shows stale counts."""
    from embcore.export.plan import preview_export

    with Store(tmp_path / "x.duckdb") as store:
        pid, run_id = mine_sample(store)
        assert preview_export(store, pid, run_id, CFG).removed["flagged_queries"] == 0
        qid = int(review.query_order(store, pid, run_id)[0])
        review.flag_query(store, pid, qid, "bad_query", "ambiguous", reviewer="alice")
        assert preview_export(store, pid, run_id, CFG).removed["flagged_queries"] == 1
        other = int(review.query_order(store, pid, run_id)[1])
        cand = int(review.load_query(store, pid, run_id, other).shown["passage_id"].iloc[0])
        before = store.export_fingerprint(pid, run_id)
        review.grade(store, pid, other, cand, 3, reviewer="alice")
        assert store.export_fingerprint(pid, run_id) != before, "a grade keeps a passage out of the negatives"
