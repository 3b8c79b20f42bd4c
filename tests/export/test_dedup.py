"""embcore.export.dedup and its use by the export (issue 16): one notion of "the same passage" for the
split, the negative checks and the eval corpus; near-duplicates; the leakage report."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from embcore.errors import EmbcoreError
from embcore.export.config import ExportConfig
from embcore.export.dedup import (
    NearDupConfig,
    leakage_problems,
    leakage_report,
    near_duplicate_pairs,
    passage_classes,
    shingle_sets,
)
from embcore.export.exporter import export_project
from embcore.export.publish import resolve_export
from embcore.ingest.samples import Sample
from embcore.store import Store
from embcore.text import equivalence_key

WORDS = (
    "revenue margin segment growth cash flow dividend capital debt equity risk market customer product "
    "supplier inventory lease tax audit filing quarter annual operating income expense asset liability"
).split()


def _sentence(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _brute(texts: list[str], thr: float) -> set[tuple[int, int]]:
    values, offsets = shingle_sets(texts, 3)
    sets = [set(values[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(texts))]  # distinct shingles
    out = set()
    for i, j in itertools.combinations(range(len(texts)), 2):
        if sets[i] and sets[j] and len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= thr:
            out.add((i, j))
    return out


def test_near_duplicate_pairs_match_brute_force() -> None:
    rng = random.Random(3)
    base = [_sentence(rng) for _ in range(30)]
    texts = list(base)
    for t in base[:15]:  # edited copies: one to six words changed
        words = t.split()
        for _ in range(rng.randint(1, 6)):
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        texts.append(" ".join(words))
    for thr in (0.5, 0.7, 0.9):
        found = {(i, j) for i, j, _ in near_duplicate_pairs(texts, NearDupConfig(threshold=thr))}
        assert found == _brute(texts, thr), thr
    assert near_duplicate_pairs(texts) == near_duplicate_pairs(list(texts))  # deterministic


def test_near_duplicates_of_real_boilerplate_and_chinese() -> None:
    texts = [
        "The Financial Statement Schedule for IBM’s Form 10-K is located on page S-1.",
        "The Financial Statement Schedule for IBM's 2023 Form 10-K is located on page S-1.",
        "Apple designs and sells smartphones, personal computers, tablets and wearables.",
        "公司2023年实现营业收入123亿元，同比增长15%，主要来自数据中心业务的快速增长。",
        "公司2023年实现营业收入123亿元，同比增长15％，主要来自数据中心业务快速增长。",
        "银行2022年净利润下降，主要原因是信贷减值损失增加。",
    ]
    pairs = {(i, j) for i, j, _ in near_duplicate_pairs(texts, NearDupConfig(threshold=0.7))}
    assert pairs == {(0, 1), (3, 4)}


def test_passage_classes_join_normalised_and_near_twins() -> None:
    texts = [
        "ITEM 6. [RESERVED]",
        "Item 6—Reserved",
        "ITEM 8: FINANCIAL STATEMENTS AND SUPPLEMENTARY DATA",
        "Item 8. Financial Statements and Supplementary Data",
        "The Financial Statement Schedule for IBM’s Form 10-K is located on page S-1.",
        "The Financial Statement Schedule for IBM's 2023 Form 10-K is located on page S-1.",
        "Something else entirely about leases.",
    ]
    pc = passage_classes(texts, NearDupConfig(threshold=0.7))
    k = pc.klass
    assert k[0] == k[1] and k[2] == k[3] and k[4] == k[5]
    assert len({k[0], k[2], k[4], k[6]}) == 4
    assert pc.info["distinct_after_normalisation"] == 5 and pc.info["near_duplicate_groups"] == 1
    off = passage_classes(texts, None)
    assert off.klass[4] != off.klass[5] and off.info["near_duplicate_step"] == "off"
    small = passage_classes(texts, NearDupConfig(max_passages=3))
    assert small.info["near_duplicate_step"].startswith("skipped")
    with pytest.raises(EmbcoreError, match="Jaccard"):
        NearDupConfig(threshold=1.5)


def test_leakage_report_counts_each_kind() -> None:
    by_split = {
        "train": [
            {"query": "What is in Item 6?", "pos": ["ITEM 6. [RESERVED]"], "neg": ["Chevron’s refinery inputs."]},
            {"query": "Where is the schedule?", "pos": ["The Financial Statement Schedule for IBM’s Form 10-K is located on page S-1."], "neg": ["x y z"]},
            {"query": "Same text?", "pos": ["Exactly this passage."], "neg": ["a b c"]},
        ],
        "test": [
            {"query": "Item 6 content?", "pos": ["Item 6—Reserved"], "neg": ["q r s"]},
            {"query": "Schedule location?", "pos": ["The Financial Statement Schedule for IBM's 2023 Form 10-K is located on page S-1."], "neg": ["t u v"]},
            {"query": "Same text?!", "pos": ["Exactly this passage."], "neg": ["d e f"]},
            {"query": "Refinery?", "pos": ["Chevron's refinery inputs."], "neg": ["g h i"]},
        ],
        "val": [],
    }  # fmt: skip
    rep = leakage_report(by_split, NearDupConfig(threshold=0.7))
    assert rep["positive_pairs_across_splits"] == {"exact": 1, "normalised": 1, "near_duplicate": 1}
    assert rep["queries_in_another_split"] == 2  # "Same text?" and "Same text?!" are one query
    assert rep["train_negatives_that_are_eval_positives"]["normalised"] == 1
    assert rep["thresholds"]["near_duplicates"]["threshold"] == 0.7
    problems = leakage_problems(rep)
    assert len(problems) == 5 and any("near-duplicate" in p for p in problems)
    assert len(leakage_problems(rep, allow_cross_split_negatives=True)) == 4
    clean = {s: [r for r in v if r["query"].startswith(("What", "Where"))] for s, v in by_split.items()}
    assert leakage_problems(leakage_report(clean, NearDupConfig())) == []


# --------------------------------------------------------------------------- in the export


def _read(out: Path) -> dict[str, list[dict[str, Any]]]:
    cur = resolve_export(out)
    return {
        s: [json.loads(x) for x in (cur / f"{s}.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
        for s in ("train", "val", "test")
    }


TWINS = [
    ("What does Item 6 contain?", "ITEM 6. [RESERVED]", "Is Item 6 reserved in the annual report?", "Item 6—Reserved"),
    ("What share of refinery inputs was imported?", "Imported crude oil accounted for about 60 percent of Chevron’s U.S. refinery inputs in 2023.",
     "How much of Chevron's refinery input was imported crude?", "Imported crude oil accounted for about 60 percent of Chevron's U.S. refinery inputs in 2023."),
    ("What is Item 8 titled?", "ITEM 8: FINANCIAL STATEMENTS AND SUPPLEMENTARY DATA",
     "Which item covers the financial statements?", "Item 8. Financial Statements and Supplementary Data"),
    ("Where is IBM's schedule?", "The Financial Statement Schedule for IBM’s Form 10-K is located on page S-1.",
     "On which page is the IBM schedule?", "The Financial Statement Schedule for IBM's 2023 Form 10-K is located on page S-1."),
    ("公司2023年营业收入是多少？", "公司２０２３年实现营业收入１２３亿元，同比增长１５％。",
     "2023年营收增长多少？", "公司2023年实现营业收入123亿元,同比增长15%."),
]  # fmt: skip


@pytest.fixture
def twin_project() -> Any:
    rng = random.Random(0)
    samples = [Sample(f"Filler question number {i}?", [_sentence(rng, 25)]) for i in range(40)]
    for qa, pa, qb, pb in TWINS:
        samples += [Sample(qa, [pa]), Sample(qb, [pb])]
    store = Store()
    pid = store.create_project("twins", samples)
    yield store, pid
    store.close()


def test_twins_never_straddle_splits(twin_project: Any, tmp_path: Path) -> None:
    # Issue 16: "ITEM 6. [RESERVED]" (train) vs "Item 6—Reserved" (test) and friends.
    store, pid = twin_project
    for seed in range(12):
        out = tmp_path / f"s{seed}"
        res = export_project(store, pid, out, ExportConfig(seed=seed, ratios=(0.4, 0.3, 0.3)))
        split_of = {t: s for s, recs in _read(out).items() for r in recs for t in r["pos"]}
        for _, pa, _, pb in TWINS:
            assert split_of[pa] == split_of[pb], (seed, pa)
        leak = res.manifest["leakage"]
        assert leak["positive_pairs_across_splits"] == {"exact": 0, "normalised": 0, "near_duplicate": 0}
        assert leak["queries_in_another_split"] == 0
        assert leak["thresholds"]["near_duplicates"]["threshold"] == 0.7


def test_near_duplicates_off_still_joins_normalised_twins(twin_project: Any, tmp_path: Path) -> None:
    store, pid = twin_project
    seen_apart = False
    for seed in range(12):
        out = tmp_path / f"s{seed}"
        res = export_project(
            store, pid, out, ExportConfig(seed=seed, ratios=(0.4, 0.3, 0.3), near_duplicates=None)
        )
        split_of = {t: s for s, recs in _read(out).items() for r in recs for t in r["pos"]}
        for _, pa, _, pb in TWINS[:3] + TWINS[4:]:
            assert split_of[pa] == split_of[pb], (seed, pa)
        seen_apart |= split_of[TWINS[3][1]] != split_of[TWINS[3][3]]
        assert res.manifest["leakage"]["thresholds"]["near_duplicates"] is None
        assert res.manifest["config"]["export"]["near_duplicates"] is None
    assert seen_apart, (
        "the near-twin pair (only near, not equal) should fall apart without the near-duplicate step"
    )


def test_a_near_twin_of_a_positive_is_never_its_negative(twin_project: Any, tmp_path: Path) -> None:
    store, pid = twin_project
    q = store.queries(pid)
    p = store.passages(pid)
    qid = {t: int(i) for i, t in zip(q["id"], q["text"], strict=True)}
    pas = {t: int(i) for i, t in zip(p["id"], p["text"], strict=True)}
    rows = []
    for qa, pa, qb, pb in TWINS:
        rows += [(qid[qa], pas[pb], 1), (qid[qb], pas[pa], 1)]  # the twin offered as the negative
        rows += [(qid[qa], pas[TWINS[(TWINS.index((qa, pa, qb, pb)) + 1) % 5][1]], 2)]
    frame = pd.DataFrame(
        {
            "query_id": [r[0] for r in rows], "passage_id": [r[1] for r in rows], "sources": "manual",
            "score": 0.5, "rank": [r[2] for r in rows], "bm25_rank": None, "bm25_score": None, "dense_rank": None,
            "dense_score": None, "pos_sim": None, "status": "selected",
        }
    )  # fmt: skip
    with store.recorded_run(pid, "mine", {"num_negatives": 2}) as mine:
        store.save_candidates(pid, mine.id, frame)
    run = mine.id
    res = export_project(store, pid, tmp_path / "o", ExportConfig(ratios=(1.0, 0.0, 0.0)), run_id=run)
    for r in _read(tmp_path / "o")["train"]:
        twins = {t for _, pa, _, pb in TWINS for t in (pa, pb) if {pa, pb} & set(r["pos"])}
        assert not twins & set(r["neg"]), r["query"]
    assert res.removed["negative_equals_positive"] == 8  # 4 normalised twin pairs, each offered both ways
    assert res.removed["negative_near_duplicate_of_positive"] == 2  # the IBM near-twins, both ways
    assert res.manifest["leakage"]["train_negatives_that_are_eval_positives"]["near_duplicate"] == 0


def test_eval_corpus_holds_one_entry_per_normalised_passage(twin_project: Any, tmp_path: Path) -> None:
    store, pid = twin_project
    export_project(store, pid, tmp_path / "o", ExportConfig(ratios=(0.4, 0.3, 0.3), seed=1))
    cur = resolve_export(tmp_path / "o")
    corpus = [json.loads(x) for x in (cur / "eval" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    keys = [equivalence_key(d["text"]) for d in corpus]
    assert len(keys) == len(set(keys))
    assert len(corpus) == 40 + len(TWINS) * 2 - 4  # the four normalised twin pairs are one entry each
