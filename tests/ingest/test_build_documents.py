"""A documents project end to end (fake encoder): provenance in DuckDB, grouped splits, the gate's and
the reviewer's verdicts respected by mining and export, the same-chunk guard."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from support.encoders import HashingEncoder
from support.sources import DOCS

from embcore.errors import EmbcoreError
from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.ingest.documents import read_documents
from embcore.ingest.prepare import DocsConfig, prepare_documents
from embcore.ingest.quality import GateConfig
from embcore.mining.config import MiningConfig
from embcore.store import Store
from embcore.text import clean_text, match_key
from embcore.workflow import build, create_source_project, run_mining

FAST = dict(strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=3)


def make(tmp_path: Path, gate: GateConfig | None = None, **mining):
    prepared = prepare_documents(
        read_documents(DOCS), DocsConfig(gate=gate or GateConfig(roundtrip="bm25", k=3))
    )
    out = tmp_path / "out"
    res = build(
        None, out, mapping=None, mining=MiningConfig(**(FAST | mining)), export=ExportConfig(group_col="doc_id"),
        encoder=HashingEncoder(), prepared=prepared,
    )  # fmt: skip
    return res, out, prepared


def test_provenance_is_stored_and_offsets_point_into_the_documents(tmp_path: Path) -> None:
    res, out, prepared = make(tmp_path)
    with Store(out / "embcore.duckdb") as store:
        pid = res.project_id
        chunks = store.chunk_table(pid)
        assert len(chunks) == prepared.stats["chunking"]["chunks"]
        for row in chunks.itertuples():
            text = store.document_text(pid, row.doc_id)
            assert clean_text(text[row.char_start : row.char_end]) == row.text
        cur = chunks[chunks["text"].str.startswith("Approximately 42%")].iloc[0]
        assert (
            list(cur["heading_path"])[-1] == "Currency"
            and cur["title"] == "Acme Industrial Corp. Annual Report 2023"
        )
        # the chunk passage carries its provenance (what review shows next to a candidate / positive)
        meta = store.passages(pid).set_index("id").loc[int(cur["passage_id"]), "meta"]
        assert meta["doc_id"] == "acme_10k_2023.md" and meta["heading"].endswith("Currency")
        assert meta["chars"] == f"{cur['char_start']}-{cur['char_end']}"
        # every generated query: method, source chunk, verdict
        table = store.generated_queries(pid)
        assert set(table["method"]) == {"ict", "title"}
        assert set(table["status"]) <= {"kept", "filtered"}
        q = store.queries(pid)
        assert {"doc_id", "heading", "chars", "query_source"} <= set(q["meta"].iloc[0])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"]["gate"]["queries"] == len(table)
    assert manifest["config"]["export"]["group_col"] == "doc_id"


def test_chunks_of_one_document_never_straddle_splits(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path)
    with Store(out / "embcore.duckdb") as store:
        q = store.queries(res.project_id)
    doc_of = {str(t): m["doc_id"] for t, m in zip(q["text"], q["meta"], strict=True)}
    splits = pd.DataFrame(
        [
            {"doc": doc_of[json.loads(x)["query"]], "split": s}
            for s in ("train", "val", "test")
            for x in (out / f"{s}.jsonl").read_text().splitlines()
        ]
    )
    per_doc = splits.groupby("doc")["split"].nunique()
    assert len(per_doc) >= 5 and (per_doc == 1).all()
    assert splits["split"].nunique() >= 2


def test_filtered_and_rejected_queries_are_never_mined_nor_exported(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path)
    with Store(out / "embcore.duckdb") as store:
        pid = res.project_id
        table = store.generated_queries(pid)
        filtered = set(table.loc[table["status"] == "filtered", "text"])
        assert filtered, "the bm25 k=3 gate filters some fixture queries"
        kept = table[table["status"] == "kept"]
        victim = kept.iloc[0]
        store.set_generated_query_status(pid, [int(victim["query_id"])], "rejected")
        inp = store.mining_input(pid)
        assert victim["text"] not in inp.query_texts and not filtered & set(inp.query_texts)
        run_id = run_mining(store, pid, MiningConfig(**FAST), encoder=HashingEncoder())
        mined = set(store.candidates(run_id)["query_id"])
        assert int(victim["query_id"]) not in mined
        export_project(store, pid, tmp_path / "again", ExportConfig(group_col="doc_id"), run_id=run_id)
    texts = {
        json.loads(x)["query"]
        for s in ("train", "val", "test")
        for x in (tmp_path / "again" / f"{s}.jsonl").read_text().splitlines()
    }
    assert victim["text"] not in texts and not filtered & texts
    eval_q = {
        json.loads(x)["text"]
        for x in (tmp_path / "again" / "eval" / "queries.jsonl").read_text().splitlines()
    }
    assert victim["text"] not in eval_q


def test_accepting_a_filtered_query_brings_it_back_and_edits_keep_the_original(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path)
    with Store(out / "embcore.duckdb") as store:
        pid = res.project_id
        table = store.generated_queries(pid)
        f = table[table["status"] == "filtered"].iloc[0]
        store.set_generated_query_status(pid, [int(f["query_id"])], "accepted")
        assert f["text"] in store.mining_input(pid).query_texts
        new = store.edit_generated_query(pid, int(f["query_id"]), "  What   is the edited question? ")
        assert new == "What is the edited question?"
        row = store.generated_queries(pid).set_index("query_id").loc[int(f["query_id"])]
        assert row["text"] == new and row["original_text"] == f["text"] and row["status"] == "accepted"
        other = table[table["query_id"] != f["query_id"]].iloc[0]
        with pytest.raises(Exception, match="already reads"):
            store.edit_generated_query(pid, int(f["query_id"]), other["text"])
        with pytest.raises(Exception, match="not generated queries"):
            store.set_generated_query_status(pid, [10**9], "rejected")


def test_no_negative_is_cut_from_the_querys_own_chunk(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path, gate=GateConfig(enabled=False), num_negatives=5)
    with Store(out / "embcore.duckdb") as store:
        pid = res.project_id
        cands = store.candidates(res.run_id)
        pairs = store.same_chunk_pairs(pid)
        banned = set(zip(pairs["query_id"], pairs["passage_id"], strict=True))
        derived = set(store.derived_passage_ids(pid))
        alive = cands[cands["status"].isin(["selected", "kept"])]
        assert not any((q, p) in banned for q, p in zip(alive["query_id"], alive["passage_id"], strict=True))
        assert not derived & set(alive["passage_id"])
        assert (cands["status"] == "same_chunk").sum() + (cands["status"] == "ict_passage").sum() > 0
        run = store.get_run(res.run_id)
        assert run["stats"]["filters"]["ict_passage"] >= 1
        ict = store.generated_queries(pid, method="ict")
    # an ICT query's sentence is never inside one of its exported negatives
    rows = [
        json.loads(x) for s in ("train", "val", "test") for x in (out / f"{s}.jsonl").read_text().splitlines()
    ]
    ict_texts = set(ict["text"])
    for r in rows:
        if r["query"] in ict_texts:
            assert not any(match_key(r["query"]) in match_key(n) for n in r["neg"]), r["query"]


def test_ict_queries_and_passages_stay_out_of_the_eval_set(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path, gate=GateConfig(enabled=False))
    with Store(out / "embcore.duckdb") as store:
        ict = set(store.generated_queries(res.project_id, method="ict")["text"])
        ict_pos = {t for t in store.passages(res.project_id, kind="generated")["text"]}
    corpus = {json.loads(x)["text"] for x in (out / "eval" / "corpus.jsonl").read_text().splitlines()}
    queries = {json.loads(x)["text"] for x in (out / "eval" / "queries.jsonl").read_text().splitlines()}
    assert ict and not ict & queries and not ict_pos & corpus
    assert queries, "title queries of val / test documents are evaluation queries"


def test_rebuild_with_the_same_settings_reuses_the_project(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path)
    again, _, _ = make(tmp_path)
    assert again.project_id == res.project_id


def test_deleting_a_documents_project_deletes_its_provenance(tmp_path: Path) -> None:
    res, out, _ = make(tmp_path)
    with Store(out / "embcore.duckdb") as store:
        pid = res.project_id
        doc = str(store.documents_frame(pid)["doc_id"].iloc[0])
        assert store.has_sources(pid) and store.derived_passage_ids(pid) and store.document_text(pid, doc)
        store.delete_project(pid)
        assert not store.has_sources(pid)
        assert store.chunk_table(pid).empty and store.documents_frame(pid).empty
        assert store.generated_queries(pid).empty and not store.derived_passage_ids(pid)
        assert store.document_text(pid, doc) is None


def test_a_gate_that_filters_every_query_keeps_no_project(tmp_path: Path) -> None:
    prepared = prepare_documents(
        read_documents(DOCS), DocsConfig(gate=GateConfig(roundtrip="bm25", k=1, max_words=2))
    )
    with Store(tmp_path / "t.duckdb") as store:
        with pytest.raises(EmbcoreError, match="the quality gate filtered all"):
            create_source_project(store, prepared, name="docs", encoder=HashingEncoder())
        assert store.find_project("docs") is None and store.project_names() == []
