"""embcore.export (plan, write, manifest, exporter): negative selection semantics, JSONL schema, validation, atomic writes, BEIR, manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import embcore
from embcore.errors import CancelledError, EmbcoreError
from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.export.plan import preview_export
from embcore.export.publish import resolve_export
from embcore.export.write import validate_records
from embcore.ingest.mapping import FieldMapping
from embcore.ingest.read import read_table
from embcore.ingest.samples import Sample, build_samples
from embcore.store import Store
from embcore.text import match_key

SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"
ALL_TRAIN = (1.0, 0.0, 0.0)
BASE_KEYS = ["query", "pos", "neg"]
ALLOWED_KEYS = {"query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _all_records(out: Path) -> dict[str, dict[str, Any]]:
    recs = {}
    for s in ("train", "val", "test"):
        for r in _read_jsonl(out / f"{s}.jsonl"):
            assert r["query"] not in recs
            recs[r["query"]] = r | {"_split": s}
    return recs


def _add_run(
    store: Store, pid: int, rows: list[tuple[int, int, int, str]], config: dict[str, Any] | None = None
) -> int:
    """A finished mining run whose candidates are (query_id, passage_id, rank, status)."""
    frame = pd.DataFrame(
        {
            "query_id": [r[0] for r in rows],
            "passage_id": [r[1] for r in rows],
            "sources": ["manual"] * len(rows),
            "score": [1.0 / r[2] for r in rows],
            "rank": [r[2] for r in rows],
            "bm25_rank": [None] * len(rows),
            "bm25_score": [None] * len(rows),
            "dense_rank": [None] * len(rows),
            "dense_score": [None] * len(rows),
            "pos_sim": [None] * len(rows),
            "status": [r[3] for r in rows],
        }
    )
    with store.recorded_run(pid, "mine", config or {"strategies": ["manual"]}, seed=0) as run:
        run.counts["candidates"] = store.save_candidates(pid, run.id, frame)
    return run.id


# --------------------------------------------------------------------------- a small hand-made project

QUERIES = [f"Question number {i} about the annual report?" for i in range(8)]
PASSAGES = [f"Passage {i}: a distinct paragraph of the annual report." for i in range(8)]
GIVEN = {0: "A negative given by the data for question 0.", 3: "A negative given by the data for question 3."}


@pytest.fixture
def small() -> tuple[Store, int, dict[str, Any]]:
    samples = []
    for i, (q, p) in enumerate(zip(QUERIES, PASSAGES, strict=True)):
        negs = [GIVEN[i]] if i in GIVEN else []
        samples.append(
            Sample(q, [p], negatives=negs, meta={"ticker": "ACME" if i % 2 else "NWND"}, source_rows=[i + 1])
        )
    store = Store()
    pid = store.create_project(
        "small", samples, source_name="small.csv", source_sha256="0" * 64, source_format="csv"
    )
    qid = {str(t): int(i) for i, t in zip(store.queries(pid)["id"], store.queries(pid)["text"], strict=True)}
    pas = {
        str(t): int(i) for i, t in zip(store.passages(pid)["id"], store.passages(pid)["text"], strict=True)
    }
    ids = {
        "q": [qid[q] for q in QUERIES],
        "p": [pas[p] for p in PASSAGES],
        "given": {k: pas[v] for k, v in GIVEN.items()},
    }
    yield store, pid, ids
    store.close()


def test_negative_pool_semantics(small: tuple[Store, int, dict[str, Any]], tmp_path: Path) -> None:
    # Issue 10.1: decisions count, the 'reviewed' flag does not. Per query: given negatives (unless
    # rejected), accepted candidates, then the run's undecided auto-selected ones, topped up from
    # its other survivors to the number the run selected; rejections and positives never.
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    old = _add_run(store, pid, [(q[6], p[2], 1, "selected")])
    store.set_decision(pid, q[6], p[2], "accept")  # accepted in an older run: still a negative
    run = _add_run(
        store,
        pid,
        [
            # q0: no decision -> given negative, then the auto-selected ones in rank order
            (q[0], p[4], 2, "selected"), (q[0], p[3], 1, "selected"), (q[0], p[5], 3, "kept"),
            (q[0], p[7], 4, "near_duplicate"),
            # q1: one selected rejected, one kept accepted -> accepted + the undecided selected one
            (q[1], p[3], 1, "selected"), (q[1], p[4], 2, "selected"), (q[1], p[5], 3, "kept"),
            # q2: its only candidate relabelled as a positive
            (q[2], p[6], 1, "selected"),
            # q3: its given negative gets rejected; the run's selection stays
            (q[3], p[1], 1, "selected"),
        ],
    )  # fmt: skip
    assert old < run
    store.set_decision(pid, q[1], p[3], "reject")
    store.set_decision(pid, q[1], p[5], "accept")
    store.set_decision(pid, q[2], p[6], "positive")
    store.set_decision(pid, q[3], ids["given"][3], "reject")
    for i in (1, 2, 3):  # a decision no longer marks a query reviewed: the reviewer says "done"
        store.set_done(pid, q[i])

    cfg = ExportConfig(ratios=ALL_TRAIN, empty_negatives="drop")
    res = export_project(store, pid, tmp_path / "out", cfg, run_id=run)
    recs = _all_records(tmp_path / "out")
    neg = {i: recs[QUERIES[i]]["neg"] for i in range(8) if QUERIES[i] in recs}
    assert neg[0] == [GIVEN[0], PASSAGES[3], PASSAGES[4]]
    assert neg[1] == [PASSAGES[5], PASSAGES[4]]  # 1 accepted + 1 auto = the 2 the run selected
    assert neg[3] == [PASSAGES[1]]  # rejecting the given negative keeps the automatic selection
    assert neg[6] == [PASSAGES[2]]
    # no negative left: q2 (its candidate became a positive), q4, q5, q7 (no candidate): left out
    assert set(recs) == {QUERIES[i] for i in (0, 1, 3, 6)}
    assert sorted(d["query"] for d in res.manifest["samples_left_out"]["first"]) == sorted(
        QUERIES[i] for i in (2, 4, 5, 7)
    )
    assert res.negatives["left_out_samples"] == 4 and res.counts["train"]["left_out"] == 4
    pool = store.negative_pool(pid, run)
    assert set(pool["tier"]) <= {0, 1, 2, 3, 4}
    # a 'kept' candidate is only a stand-by, and a near_duplicate one is never in the pool
    assert PASSAGES[5] not in neg[0] and PASSAGES[7] not in neg[0]
    assert not ((pool["query_id"] == q[0]) & (pool["passage_id"] == p[7])).any()


def test_partly_reviewed_query_keeps_its_automatic_negatives(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path
) -> None:
    # Issue 10.1: 2 accepted + 4 undecided exported only the 2 accepted; now the undecided
    # auto-selected ones stay, topped up from the survivors to the run's num_negatives.
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    rows = [(q[0], p[i], i, "selected") for i in range(1, 7)] + [(q[0], p[7], 7, "kept")]
    run = _add_run(store, pid, rows, config={"strategies": ["manual"], "num_negatives": 6})
    store.set_decision(pid, q[0], p[1], "accept")
    store.set_decision(pid, q[0], p[2], "accept")
    store.set_decision(pid, q[0], p[3], "reject")
    export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN), run_id=run)
    neg = _all_records(tmp_path / "out")[QUERIES[0]]["neg"]
    assert neg == [GIVEN[0], PASSAGES[1], PASSAGES[2], PASSAGES[4], PASSAGES[5], PASSAGES[6], PASSAGES[7]]
    assert PASSAGES[3] not in neg


def test_positive_then_undo_exports_what_it_did_before(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path
) -> None:
    # Issue 10.1: a query with P then Undo was exported with 0 negatives.
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    run = _add_run(store, pid, [(q[2], p[i], i, "selected") for i in (1, 3, 4)] + [(q[2], p[5], 9, "kept")])
    cfg = ExportConfig(ratios=ALL_TRAIN)
    export_project(store, pid, tmp_path / "before", cfg, run_id=run)
    store.set_decision(pid, q[2], p[3], "positive")
    export_project(store, pid, tmp_path / "during", cfg, run_id=run)
    during = _all_records(tmp_path / "during")[QUERIES[2]]
    assert PASSAGES[3] in during["pos"] and PASSAGES[3] not in during["neg"]
    store.set_decision(pid, q[2], p[3], None)  # undo
    export_project(store, pid, tmp_path / "after", cfg, run_id=run)
    before, after = _snapshot(tmp_path / "before"), _snapshot(tmp_path / "after")
    before.pop("manifest.json"), after.pop("manifest.json")
    assert before == after
    assert _all_records(tmp_path / "after")[QUERIES[2]]["neg"] == [PASSAGES[1], PASSAGES[3], PASSAGES[4]]


def test_latest_finished_run_is_the_default(small: tuple[Store, int, dict[str, Any]], tmp_path: Path) -> None:
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    _add_run(store, pid, [(q[5], p[1], 1, "selected")])
    _add_run(store, pid, [(q[5], p[2], 1, "selected")])
    columns = {"sources": ["x"], "score": [1.0], "rank": [1], "bm25_rank": [None], "bm25_score": [None],
               "dense_rank": [None], "dense_score": [None], "pos_sim": [None], "status": ["selected"]}  # fmt: skip
    with store.recorded_run(pid, "mine", {}) as unfinished:  # still running while the export reads
        store.save_candidates(
            pid, unfinished.id, pd.DataFrame({"query_id": [q[5]], "passage_id": [p[3]], **columns})
        )
        export_project(store, pid, tmp_path / "o", ExportConfig(ratios=ALL_TRAIN))
    assert _all_records(tmp_path / "o")[QUERIES[5]]["neg"] == [PASSAGES[2]]


def test_negative_equal_to_a_positive_after_normalisation_is_dropped(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path
) -> None:
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    variant = "  PASSAGE 4: a distinct paragraph of the ａｎｎｕａｌ report. "
    assert match_key(variant) == match_key(PASSAGES[4])
    [vid] = store.ensure_passages(pid, [variant], kind="generated", origin="test")
    run = _add_run(
        store, pid, [(q[4], vid, 1, "selected"), (q[4], p[4], 2, "selected"), (q[4], p[0], 3, "selected")]
    )
    res = export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN), run_id=run)
    rec = _all_records(tmp_path / "out")[QUERIES[4]]
    assert rec["neg"] == [PASSAGES[0]]
    assert res.removed["negative_equals_positive"] == 2


def test_max_negatives_caps(small: tuple[Store, int, dict[str, Any]], tmp_path: Path) -> None:
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    run = _add_run(store, pid, [(q[0], p[i], i, "selected") for i in range(1, 7)])
    export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN, max_negatives=2), run_id=run)
    assert _all_records(tmp_path / "out")[QUERIES[0]]["neg"] == [GIVEN[0], PASSAGES[1]]
    with pytest.raises(EmbcoreError, match="max_negatives"):
        ExportConfig(max_negatives=-1)


def test_forbidden_auto_negative_is_replaced_by_a_kept_candidate(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path
) -> None:
    # Store.negative_pool: 'kept' candidates (tier 3) only replace auto-selected ones (tier 2) the
    # export must drop, e.g. a val/test positive offered as a train negative; the count stays the same.
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    auto, standby = [p[1], p[2]], [p[5], p[6], p[7]]
    rows = [(q[0], pp, i + 1, "selected") for i, pp in enumerate(auto)]
    rows += [(q[0], pp, i + 3, "kept") for i, pp in enumerate(standby)]
    run = _add_run(store, pid, rows)
    exercised = False
    for seed in range(40):
        out = tmp_path / f"s{seed}"
        res = export_project(store, pid, out, ExportConfig(seed=seed, ratios=(0.5, 0.25, 0.25)), run_id=run)
        recs = _all_records(out)
        if recs[QUERIES[0]]["_split"] != "train":
            continue
        eval_pos = {t for r in recs.values() if r["_split"] != "train" for t in r["pos"]}
        texts = [PASSAGES[i] for i in (1, 2)], [PASSAGES[i] for i in (5, 6, 7)]
        allowed_auto = [t for t in texts[0] + texts[1] if t not in eval_pos]
        expected = [GIVEN[0]] + allowed_auto[:2]
        assert recs[QUERIES[0]]["neg"] == expected, f"seed {seed}"
        n_forbidden = sum(t in eval_pos for t in texts[0])
        exercised |= n_forbidden > 0
        assert res.removed["train_negative_is_eval_positive"] >= n_forbidden
    assert exercised, "no seed put an auto-selected negative's owner into val/test"


def test_cross_split_negatives_are_removed_unless_allowed(tmp_path: Path) -> None:
    raw = read_table(SAMPLE)
    samples = build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"])).samples
    with Store() as store:
        pid = store.create_project("s", samples)
        qs = store.queries(pid)
        ps = store.passages(pid)
        rows = [
            (int(qid), int(ps["id"].iloc[(k * 5 + j) % len(ps)]), j + 1, "selected")
            for k, qid in enumerate(qs["id"])
            for j in range(5)
        ]
        run = _add_run(store, pid, rows)
        strict = export_project(store, pid, tmp_path / "strict", ExportConfig(), run_id=run)
        loose = export_project(
            store, pid, tmp_path / "loose", ExportConfig(allow_cross_split_negatives=True), run_id=run
        )
    assert strict.removed["train_negative_is_eval_positive"] > 0
    assert loose.removed["train_negative_is_eval_positive"] == 0
    recs = _all_records(tmp_path / "strict")
    eval_pos = {match_key(t) for r in recs.values() if r["_split"] != "train" for t in r["pos"]}
    for r in recs.values():
        if r["_split"] == "train":
            assert not eval_pos & {match_key(t) for t in r["neg"]}
    loose_recs = _all_records(tmp_path / "loose")
    assert any(
        eval_pos & {match_key(t) for t in r["neg"]} for r in loose_recs.values() if r["_split"] == "train"
    )


# --------------------------------------------------------------------------- JSONL schema


def test_schema_minimal_keys_in_order(small: tuple[Store, int, dict[str, Any]], tmp_path: Path) -> None:
    store, pid, _ = small
    export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN))
    lines = (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8
    for line in lines:
        obj = json.loads(line)
        assert list(obj) == BASE_KEYS
        assert isinstance(obj["query"], str) and obj["query"]
        assert isinstance(obj["pos"], list) and obj["pos"] and all(isinstance(t, str) for t in obj["pos"])
        assert isinstance(obj["neg"], list) and all(isinstance(t, str) for t in obj["neg"])
    assert (tmp_path / "out" / "train.jsonl").read_bytes().endswith(b"\n")


def test_schema_with_prompt_type_and_scores(small: tuple[Store, int, dict[str, Any]], tmp_path: Path) -> None:
    store, pid, ids = small
    q, p = ids["q"], ids["p"]
    run = _add_run(store, pid, [(q[0], p[1], 1, "selected"), (q[2], p[3], 1, "selected")])
    store.set_sample_fields(pid, prompt="Represent this question for retrieval: ", query_ids=[q[0]])
    store.set_sample_fields(pid, type_="normal")
    calls: list[tuple[list[str], list[list[str]], list[str]]] = []

    def teacher(queries: list[str], texts: list[list[str]], prompts: list[str]) -> list[list[float]]:
        calls.append((queries, texts, prompts))
        return [[round(1.0 - 0.1 * j, 3) for j in range(len(t))] for t in texts]

    cfg = ExportConfig(ratios=ALL_TRAIN, query_prompt="Default instruction: ")
    export_project(
        store, pid, tmp_path / "out", cfg, run_id=run, teacher=teacher, teacher_info={"model": "fake"}
    )
    recs = _all_records(tmp_path / "out")
    for text, r in recs.items():
        keys = [k for k in r if k != "_split"]
        assert keys == ["query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"]
        assert len(r["pos_scores"]) == len(r["pos"]) and len(r["neg_scores"]) == len(r["neg"])
        assert all(isinstance(s, float) for s in r["pos_scores"] + r["neg_scores"])
        assert r["type"] == "normal"
        expected_prompt = (
            "Represent this question for retrieval: " if text == QUERIES[0] else "Default instruction: "
        )
        assert r["prompt"] == expected_prompt
    assert recs[QUERIES[0]]["neg"] == [GIVEN[0], PASSAGES[1]]
    assert recs[QUERIES[0]]["neg_scores"] == [0.9, 0.8]
    assert len(calls) == 1 and len(calls[0][0]) == 8
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["teacher"] == {"model": "fake"}


def test_every_line_matches_allowed_schema_on_sample(tmp_path: Path) -> None:
    raw = read_table(SAMPLE)
    samples = build_samples(raw, FieldMapping("question", ["context", "answer"])).samples
    with Store() as store:
        pid = store.create_project("s", samples)
        export_project(store, pid, tmp_path / "out", ExportConfig(sample_type="normal"))
    n = 0
    for s in ("train", "val", "test"):
        for r in _read_jsonl(tmp_path / "out" / f"{s}.jsonl"):
            n += 1
            assert set(r) <= ALLOWED_KEYS
            assert list(r)[:3] == BASE_KEYS
            assert r["type"] == "normal"
            assert "pos_scores" not in r and "prompt" not in r
    assert n == len(samples)


# --------------------------------------------------------------------------- validate_records


def test_validate_records_accepts_good_records() -> None:
    validate_records(
        [
            {"query": "q", "pos": ["a"], "neg": ["b"]},
            {"query": "q2", "pos": ["a", "c"], "neg": [], "pos_scores": [1.0, 0.5], "neg_scores": []},
        ]
    )


@pytest.mark.parametrize(
    ("record", "pattern"),
    [
        ({"query": "", "pos": ["a"], "neg": []}, "empty query"),
        ({"query": "   ", "pos": ["a"], "neg": []}, "empty query"),
        ({"query": "q", "pos": [], "neg": []}, "'pos' must be a non-empty list"),
        ({"query": "q", "neg": []}, "'pos' must be a non-empty list"),
        ({"query": "q", "pos": [""], "neg": []}, "'pos' must be a non-empty list"),
        ({"query": "q", "pos": ["a"], "neg": "b"}, "'neg' must be a list"),
        (
            {"query": "q", "pos": ["The Frame."], "neg": ["the  ｆｒａｍｅ.\u200b"]},
            "equals one of its positives",
        ),
        (
            {"query": "q", "pos": ["a", "b"], "neg": [], "pos_scores": [1.0], "neg_scores": []},
            "pos_scores has 1 values for 2",
        ),
        (
            {"query": "q", "pos": ["a"], "neg": ["b"], "pos_scores": [1.0], "neg_scores": []},
            "neg_scores has 0 values for 1",
        ),
    ],
)
def test_validate_records_errors(record: dict[str, Any], pattern: str) -> None:
    good = {"query": "fine", "pos": ["x"], "neg": []}
    with pytest.raises(EmbcoreError, match=pattern) as ei:
        validate_records([good, record])
    assert "sample 2" in str(ei.value)


# --------------------------------------------------------------------------- atomic publish


def _snapshot(folder: Path) -> dict[str, bytes]:
    """The files of the export published at ``folder`` (its current version)."""
    folder = resolve_export(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cancel_at(stage_step: int):
    def progress(stage: str, done: int, total: int) -> bool:
        return not (stage == "export" and done == stage_step)

    return progress


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_failure_leaves_no_files_in_a_fresh_folder(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path, step: int
) -> None:
    store, pid, _ = small
    out = tmp_path / "fresh"
    with pytest.raises(CancelledError):
        export_project(store, pid, out, ExportConfig(ratios=ALL_TRAIN), progress=_cancel_at(step))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind
    assert store.exports(pid).empty


@pytest.mark.parametrize("step", [1, 4])
def test_failure_keeps_a_previous_export_intact(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path, step: int
) -> None:
    store, pid, ids = small
    out = tmp_path / "out"
    export_project(store, pid, out, ExportConfig(ratios=(0.5, 0.25, 0.25)))
    before = _snapshot(out)
    run = _add_run(store, pid, [(ids["q"][0], ids["p"][1], 1, "selected")])
    with pytest.raises(CancelledError):
        export_project(
            store, pid, out, ExportConfig(ratios=ALL_TRAIN, seed=7), run_id=run, progress=_cancel_at(step)
        )
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_teacher_with_wrong_score_count_fails_before_writing(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path
) -> None:
    store, pid, _ = small

    def short_teacher(queries: list[str], texts: list[list[str]], prompts: list[str]) -> list[list[float]]:
        return [[0.5] * (len(t) - 1) for t in texts]

    with pytest.raises(EmbcoreError, match="scores has"):
        export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN), teacher=short_teacher)
    assert list(tmp_path.iterdir()) == []


def test_a_flat_export_of_an_older_version_is_upgraded_in_place(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path
) -> None:
    # Older embcore wrote the files straight into OUT: a new export becomes OUT/v0001-*, OUT/current
    # points to it, the flat files become links into current, and unrelated files stay untouched.
    store, pid, _ = small
    out = tmp_path / "out"
    export_project(store, pid, out, ExportConfig(ratios=(0.5, 0.25, 0.25)))
    flat = resolve_export(out)
    legacy = tmp_path / "legacy"
    shutil.copytree(flat, legacy)
    (legacy / "notes.txt").write_text("mine", encoding="utf-8")
    (legacy / "val.jsonl").unlink()
    (legacy / "val.jsonl").mkdir()  # not an export file: left alone
    assert resolve_export(legacy) == legacy
    export_project(store, pid, legacy, ExportConfig(ratios=ALL_TRAIN, seed=3))
    cur = resolve_export(legacy)
    assert cur != legacy and cur.parent == legacy and (legacy / "current").is_symlink()
    assert (legacy / "train.jsonl").is_symlink() and os.readlink(
        legacy / "train.jsonl"
    ) == "current/train.jsonl"
    assert (legacy / "train.jsonl").read_bytes() == (cur / "train.jsonl").read_bytes()
    assert len(_read_jsonl(legacy / "train.jsonl")) == 8
    assert (legacy / "eval").is_symlink() and (legacy / "eval" / "corpus.jsonl").is_file()
    assert (legacy / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (legacy / "val.jsonl").is_dir() and not (legacy / "val.jsonl").is_symlink()
    assert not [p.name for p in legacy.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- BEIR eval + manifest


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Any]:
    raw = read_table(SAMPLE)
    mapping = FieldMapping("question", ["context"], ["ticker", "filing"])
    res = build_samples(raw, mapping)
    out = tmp_path_factory.mktemp("sample") / "out"
    with Store() as store:
        pid = store.create_project(
            "sample",
            res.samples,
            source_name="sample_qa.csv",
            source_sha256=raw.sha256,
            source_format=raw.format,
            mapping=mapping.to_dict(),
            cleaning=res.report(),
        )
        result = export_project(
            store, pid, out, ExportConfig(seed=42), manifest_extra={"config": {"note": "test"}}
        )
        info = {
            "n_passages": len(store.passages(pid)),
            "exports": store.exports(pid),
            "splits": store.split_sizes(result.export_id),
            "sha": raw.sha256,
            "report": res.report(),
        }
    return out, info, result


def test_all_files_written(sample_export: tuple[Path, dict[str, Any], Any]) -> None:
    out, _, result = sample_export
    expected = {
        "train.jsonl", "val.jsonl", "test.jsonl", "manifest.json", "eval/corpus.jsonl", "eval/queries.jsonl",
        "eval/qrels/val.tsv", "eval/qrels/test.tsv",
    }  # fmt: skip
    expected.add("dropped_rows.csv")
    # the other formats (tests/export/) and the dataset card
    expected |= {"README.md", "hf/dataset_dict.json"} | {f"st/{s}.parquet" for s in ("train", "val", "test")}
    expected |= {f"hf/{s}/{f}" for s in ("train", "val", "test")
                 for f in ("data-00000-of-00001.arrow", "dataset_info.json", "state.json")}  # fmt: skip
    assert set(_snapshot(out)) == expected
    assert set(result.files) == expected - {"manifest.json"}
    # the root holds the version, the pointer and stable links to every file of the current export
    assert result.version_dir is not None and resolve_export(out) == result.version_dir.resolve()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("v0")) == sorted(
        ["current", "dropped_rows.csv", "eval", "manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]
        + ["README.md", "hf", "st"]
    )


def test_splits_disjoint_by_passage(sample_export: tuple[Path, dict[str, Any], Any]) -> None:
    out, _, result = sample_export
    owner: dict[str, str] = {}
    for q, r in _all_records(out).items():
        for t in r["pos"]:
            assert owner.setdefault(match_key(t), r["_split"]) == r["_split"], (q, t)
    c = result.counts
    assert c["train"]["samples"] > c["val"]["samples"] > 0 and c["test"]["samples"] > 0
    assert sum(v["samples"] for v in c.values()) == 96


def test_beir_eval_files_consistent(sample_export: tuple[Path, dict[str, Any], Any]) -> None:
    out, info, _ = sample_export
    corpus = _read_jsonl(out / "eval" / "corpus.jsonl")
    queries = _read_jsonl(out / "eval" / "queries.jsonl")
    corpus_by_id = {d["_id"]: d for d in corpus}
    query_by_id = {d["_id"]: d for d in queries}
    assert len(corpus_by_id) == len(corpus) and len(query_by_id) == len(queries)
    assert all(set(d) == {"_id", "title", "text"} for d in corpus)
    assert all(set(d) == {"_id", "text"} for d in queries)
    # corpus = every unique passage of the project
    assert len(corpus) == info["n_passages"] == 91
    df = pd.read_csv(SAMPLE).dropna(subset=["question", "context"])
    assert {match_key(d["text"]) for d in corpus} == {match_key(c) for c in df["context"]}
    recs = _all_records(out)
    expected_queries = {q for q, r in recs.items() if r["_split"] != "train"}
    assert {d["text"] for d in queries} == expected_queries
    for split in ("val", "test"):
        lines = (out / "eval" / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        assert lines[0] == "query-id\tcorpus-id\tscore"
        pairs = set()
        for line in lines[1:]:
            qid, cid, score = line.split("\t")
            assert qid in query_by_id, qid
            assert cid in corpus_by_id, cid
            assert score == "1"
            pairs.add((query_by_id[qid]["text"], corpus_by_id[cid]["text"]))
        want = {(q, t) for q, r in recs.items() if r["_split"] == split for t in r["pos"]}
        assert pairs == want


def test_manifest_contents(sample_export: tuple[Path, dict[str, Any], Any]) -> None:
    out, info, result = sample_export
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["tool"] == "embcore" and m["version"] == embcore.__version__
    assert m["format"] == "FlagEmbedding"
    assert m["seed"] == 42
    assert m["input"] == {"name": "sample_qa.csv", "sha256": info["sha"], "format": "csv"}
    assert m["mapping"]["query_col"] == "question" and m["mapping"]["pos_cols"] == ["context"]
    assert m["config"]["export"]["ratios"] == [0.8, 0.1, 0.1]
    assert m["config"]["note"] == "test"
    for s in ("train", "val", "test"):
        n_lines = len(_read_jsonl(out / f"{s}.jsonl"))
        assert m["counts"][s]["samples"] == n_lines == result.counts[s]["samples"]
    assert m["dropped_rows"] == info["report"]["dropped"]
    assert {d["row"] for d in m["dropped_rows"]} == {d["row"] for d in info["report"]["dropped"]} and len(
        m["dropped_rows"]
    ) == 4
    assert m["cleaning"]["rows_read"] == 100
    assert "export_s" in m["timings"]
    assert m["split"]["groups"] == 91 and m["split"]["largest_group"] == 2
    for rel, digest in m["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    assert "manifest.json" not in m["files"]


def test_export_recorded_in_store(sample_export: tuple[Path, dict[str, Any], Any]) -> None:
    out, info, result = sample_export
    ex = info["exports"]
    assert len(ex) == 1 and int(ex["id"].iloc[0]) == result.export_id
    assert Path(ex["out_dir"].iloc[0]) == result.version_dir.resolve() == resolve_export(out)
    assert Path(ex["root_dir"].iloc[0]) == out.resolve()
    splits = info["splits"]
    assert splits == {s: c["samples"] for s, c in result.counts.items() if c["samples"]}


def test_export_is_deterministic(tmp_path: Path) -> None:
    raw = read_table(SAMPLE)
    samples = build_samples(raw, FieldMapping("question", ["context"], ["ticker"])).samples
    outs = []
    for i in range(2):
        with Store() as store:
            pid = store.create_project("s", samples)
            export_project(store, pid, tmp_path / f"o{i}", ExportConfig(seed=5))
        outs.append(_snapshot(tmp_path / f"o{i}"))
    outs[0].pop("manifest.json")
    outs[1].pop("manifest.json")
    assert outs[0] == outs[1]


def test_group_and_stratify_columns(tmp_path: Path) -> None:
    raw = read_table(SAMPLE)
    samples = build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"])).samples
    ticker_of = {s.query: s.meta["ticker"] for s in samples}
    with Store() as store:
        pid = store.create_project("s", samples)
        export_project(store, pid, tmp_path / "g", ExportConfig(group_col="ticker", ratios=(0.6, 0.2, 0.2)))
        with pytest.raises(
            EmbcoreError, match="unknown grouping column 'sector'; metadata columns: filing, ticker"
        ):
            export_project(store, pid, tmp_path / "bad", ExportConfig(group_col="sector"))
        export_project(
            store, pid, tmp_path / "s", ExportConfig(stratify_col="ticker", ratios=(0.5, 0.25, 0.25))
        )
    split_of_ticker: dict[str, set[str]] = {}
    for q, r in _all_records(tmp_path / "g").items():
        split_of_ticker.setdefault(ticker_of[q], set()).add(r["_split"])
    assert all(len(v) == 1 for v in split_of_ticker.values())
    assert len(set().union(*split_of_ticker.values())) >= 2
    assert not (tmp_path / "bad").exists()
    per: dict[str, set[str]] = {}
    for q, r in _all_records(tmp_path / "s").items():
        per.setdefault(ticker_of[q], set()).add(r["_split"])
    assert all(v == {"train", "val", "test"} for v in per.values())


def test_case_variant_passages_stay_in_one_split(tmp_path: Path) -> None:
    # Real 10-K data has the same context in two casings ("ITEM 6. [RESERVED]" / "Item 6. [Reserved]").
    # embcore treats them as one text (match_key): they must not straddle train and val/test.
    samples = [Sample(f"Filler question {i}?", [f"Filler passage number {i}."]) for i in range(30)]
    samples.append(Sample("What does Item 6 contain?", ["ITEM 6. [RESERVED]"]))
    samples.append(Sample("Is Item 6 reserved in the annual report?", ["Item 6. [Reserved]"]))
    with Store() as store:
        pid = store.create_project("case", samples)
        for seed in range(8):
            out = tmp_path / f"s{seed}"
            export_project(store, pid, out, ExportConfig(seed=seed, ratios=(0.4, 0.3, 0.3)))
            split_of = {r["pos"][0]: r["_split"] for r in _all_records(out).values()}
            assert split_of["ITEM 6. [RESERVED]"] == split_of["Item 6. [Reserved]"], f"seed {seed}"


def test_empty_project_cannot_be_exported(tmp_path: Path) -> None:
    with Store() as store:
        pid = store.create_project("empty", [])
        with pytest.raises(EmbcoreError, match="no sample with a positive"):
            export_project(store, pid, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- empty negatives (issue 9.15)


def _no_neg_run(store: Store, pid: int, ids: dict[str, Any]) -> int:
    """q1's only selected candidate gets rejected; q1 has margin-filtered candidates; q2..q7 none."""
    q, p = ids["q"], ids["p"]
    return _add_run(
        store,
        pid,
        [(q[1], p[3], 1, "selected"), (q[1], p[4], 2, "relative_margin"), (q[1], p[5], 3, "max_score"),
         (q[1], p[6], 4, "positive_text"), (q[0], p[2], 1, "selected")],
        config={"strategies": ["manual"], "num_negatives": 2},
    )  # fmt: skip


@pytest.mark.parametrize("policy", ["top-up", "random", "drop"])
def test_no_sample_is_written_with_an_empty_negative_list(
    small: tuple[Store, int, dict[str, Any]], tmp_path: Path, policy: str
) -> None:
    store, pid, ids = small
    run = _no_neg_run(store, pid, ids)
    store.set_decision(pid, ids["q"][1], ids["p"][3], "reject")
    res = export_project(
        store, pid, tmp_path / "o", ExportConfig(ratios=(0.5, 0.25, 0.25), empty_negatives=policy), run_id=run
    )
    recs = _all_records(tmp_path / "o")
    assert all(r["neg"] for r in recs.values()), "an empty neg list crashes trainers"
    n = res.negatives
    assert n["samples_without_negatives"] == 6  # q1 after the rejection, q2, q4..q7 (q0, q3 have given ones)
    m = res.manifest["negatives"]
    assert m["policy"] == policy and m["samples_without_negatives"] == 6
    if policy == "drop":
        assert n["left_out_samples"] == 6 and len(recs) == 2
        assert {d["reason"] for d in res.manifest["samples_left_out"]["first"]} == {
            "no negative left after review and filters (policy: drop)"
        }
        # a left-out val/test query still counts in the evaluation set
        cur = resolve_export(tmp_path / "o")
        eval_queries = {
            json.loads(x)["text"] for x in (cur / "eval" / "queries.jsonl").read_text().splitlines()
        }
        assert eval_queries == {
            r["query"] for s in ("val", "test") for r in _read_jsonl(cur / f"{s}.jsonl")
        } | {d["query"] for d in res.manifest["samples_left_out"]["first"] if d["split"] != "train"}
        return
    assert len(recs) == 8 and n["left_out_samples"] == 0
    q1 = recs[QUERIES[1]]["neg"]
    assert PASSAGES[3] not in q1 and PASSAGES[6] not in q1 and PASSAGES[1] not in q1
    if policy == "top-up":
        # the run's next candidates by rank (margin / score filtered), never a positive_text one
        eval_pos = {t for r in recs.values() if r["_split"] != "train" for t in r["pos"]}
        train = recs[QUERIES[1]]["_split"] == "train"
        allowed = [t for t in (PASSAGES[4], PASSAGES[5]) if not (train and t in eval_pos)]
        assert q1[: len(allowed)] == allowed and len(q1) == 2  # the run's candidates first, then random
        assert n["topped_up_samples"] == int(bool(allowed)) and n["topped_up_negatives"] == len(allowed)
        assert n["random_samples"] == 5 + int(len(allowed) < 2)
    else:
        assert n["topped_up_samples"] == 0 and n["random_samples"] == 6
    for i in (2, 4, 5, 6, 7):
        r = recs[QUERIES[i]]
        assert len(r["neg"]) == 2 and PASSAGES[i] not in r["neg"]
    # random negatives are seeded: the same export twice gives the same files
    export_project(
        store,
        pid,
        tmp_path / "o2",
        ExportConfig(ratios=(0.5, 0.25, 0.25), empty_negatives=policy),
        run_id=run,
    )
    a, b = _snapshot(tmp_path / "o"), _snapshot(tmp_path / "o2")
    a.pop("manifest.json"), b.pop("manifest.json")
    assert a == b


def test_config_rejects_unknown_policy_and_zero_cap() -> None:
    with pytest.raises(
        EmbcoreError, match="empty_negatives='never' is not allowed; choose one of: top-up, random, drop"
    ):
        ExportConfig(empty_negatives="never")  # type: ignore[arg-type]
    with pytest.raises(EmbcoreError, match="max_negatives must be at least 1"):
        ExportConfig(max_negatives=0)


def test_eda_copies_inherit_their_sources_negatives(tmp_path: Path) -> None:
    # Issue 10.4: EDA copies (augmented after mining) had no negatives of their own.
    samples = [
        Sample(f"Question {i} about the filing?", [f"Passage {i} of the annual filing text."])
        for i in range(6)
    ]
    with Store() as store:
        pid = store.create_project("eda", samples)
        qs = store.queries(pid)
        ps = store.passages(pid)
        q = [int(x) for x in qs["id"]]
        p = [int(x) for x in ps["id"]]
        run = _add_run(store, pid, [(q[0], p[3], 1, "selected"), (q[0], p[4], 2, "selected")])
        store.set_decision(pid, q[0], p[4], "reject")
        store.add_derived(
            pid,
            queries=[{"parent_id": q[0], "text": "Question 0 about filing the?", "origin": "augment:swap",
                      "positives": [("Passage 0 of the annual filing text.", "data")]}],
        )  # fmt: skip
        export_project(
            store, pid, tmp_path / "o", ExportConfig(ratios=ALL_TRAIN, empty_negatives="drop"), run_id=run
        )
    recs = _all_records(tmp_path / "o")
    assert recs["Question 0 about filing the?"]["neg"] == recs["Question 0 about the filing?"]["neg"]
    assert recs["Question 0 about filing the?"]["neg"] == ["Passage 3 of the annual filing text."]


# --------------------------------------------------------------------------- dropped rows (issue 9.12)


def test_manifest_lists_the_first_dropped_rows_and_the_csv_all(tmp_path: Path) -> None:
    rows = ["question,context"] + [f"Question {i}?,Passage number {i} is here." for i in range(30)]
    rows += [f",Orphan passage {i}." for i in range(250)]  # 250 rows without a question
    src = tmp_path / "big.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    raw = read_table(src)
    res = build_samples(raw, FieldMapping("question", ["context"]))
    with Store() as store:
        pid = store.create_project("big", res.samples, cleaning=res.report())
        out = export_project(store, pid, tmp_path / "o", ExportConfig(dropped_rows_listed=100))
    m = out.manifest
    assert len(m["dropped_rows"]) == 100 and m["dropped_rows_total"] == 250
    assert m["dropped_by_reason"] == {"missing_query": 250}
    assert m["dropped_rows_file"] == "dropped_rows.csv" and "dropped_rows.csv" in m["files"]
    import csv

    with open(resolve_export(tmp_path / "o") / "dropped_rows.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 250 and table[0]["code"] == "missing_query" and table[0]["row"] == "31"
    assert len((resolve_export(tmp_path / "o") / "manifest.json").read_bytes()) < 60_000


# --------------------------------------------------------------------------- preview (issue 10.4)


def test_preview_matches_what_the_export_writes(tmp_path: Path) -> None:
    raw = read_table(SAMPLE)
    samples = build_samples(raw, FieldMapping("question", ["context"], ["ticker"])).samples
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("s", samples)
        qs, ps = store.queries(pid), store.passages(pid)
        rows = [
            (int(qid), int(ps["id"].iloc[(k * 5 + j) % len(ps)]), j + 1, "selected")
            for k, qid in enumerate(qs["id"])
            for j in range(4)
        ]
        run = _add_run(store, pid, rows)
        cfg = ExportConfig(seed=3)
        t0 = time.perf_counter()
        pv = preview_export(store, pid, run, cfg)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = preview_export(store, pid, run, cfg)
        assert again is pv and time.perf_counter() - t0 < first  # cached while nothing changed
        res = export_project(store, pid, tmp_path / "o", cfg, run_id=run)
        assert pv.counts == res.counts and pv.removed == res.removed and pv.negatives == res.negatives
        assert pv.removed["train_negative_is_eval_positive"] > 0
        assert pv.leakage["positive_pairs_across_splits"] == res.leakage["positive_pairs_across_splits"]
        # a decision changes the preview
        store.set_decision(pid, int(qs["id"].iloc[0]), int(ps["id"].iloc[0]), "reject")
        assert preview_export(store, pid, run, cfg) is not pv
    assert not (tmp_path / "preview").exists()


def test_same_query_text_with_other_metadata_is_one_eval_query(tmp_path: Path) -> None:
    # Issue 10.2 keeps "How much net cash ...?" of COST and of AMD as two training samples; the eval
    # set must still hold one query id per text (BEIR ids are unique) with both positives relevant.
    csv = tmp_path / "d.csv"
    rows = ["question,context,ticker"]
    rows += [
        f"What was segment {i} revenue?,Segment {i} revenue was {i} million dollars.,T{i}" for i in range(40)
    ]
    rows += [
        "How much net cash came from operations?,COST generated 11 billion dollars from operations.,COST",
        "How much net cash came from operations?,AMD generated 1.7 billion dollars from operations.,AMD",
    ]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    samples = build_samples(read_table(csv), FieldMapping("question", ["context"], ["ticker"])).samples
    assert sum(s.query == "How much net cash came from operations?" for s in samples) == 2
    with Store() as store:
        pid = store.create_project("same-text", samples)
        for seed in range(6):
            out = tmp_path / f"o{seed}"
            export_project(store, pid, out, ExportConfig(seed=seed, ratios=(0.4, 0.3, 0.3)))
            ids = [
                json.loads(line)["_id"] for line in (out / "eval" / "queries.jsonl").read_text().splitlines()
            ]
            assert len(ids) == len(set(ids)), f"seed {seed}: duplicate eval query ids"
            qrels = [ln.split("\t") for s in ("val", "test")
                     for ln in (out / "eval" / "qrels" / f"{s}.tsv").read_text().splitlines()[1:]]  # fmt: skip
            assert len(qrels) == len({tuple(x) for x in qrels})
            texts = {json.loads(line)["_id"]: json.loads(line)["text"]
                     for line in (out / "eval" / "queries.jsonl").read_text().splitlines()}  # fmt: skip
            cash = [q for q, t in texts.items() if t == "How much net cash came from operations?"]
            if cash:  # in val/test this seed: one query, both companies' passages relevant
                assert sum(1 for q, _, _ in qrels if q == cash[0]) == 2
