"""Queries page (AppTest): generated queries with their provenance and verdict; accept / reject / edit
(J/K/A/X/E buttons) write to DuckDB and decide what mining and export see."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.app import texts
from support.encoders import HashingEncoder
from support.sources import DOCS

from app_pages._common import K
from embcore.ingest.documents import read_documents
from embcore.ingest.prepare import DocsConfig, prepare_documents
from embcore.ingest.quality import GateConfig
from embcore.workflow import create_source_project


@pytest.fixture
def docs_project(store) -> int:
    prepared = prepare_documents(read_documents(DOCS), DocsConfig(gate=GateConfig(roundtrip="bm25", k=3)))
    return create_source_project(store, prepared, name="docs", encoder=HashingEncoder()).project_id


def test_table_project_has_no_generated_queries(new_app, sample_project) -> None:
    at = new_app("app_pages/queries.py", project=sample_project[0])
    assert any("no generated queries" in t for t in texts(at.info))


def test_review_generated_queries(new_app, store, docs_project: int) -> None:
    pid = docs_project
    at = new_app("app_pages/queries.py", project=pid)
    assert not at.exception
    first = at.session_state[K.Q_QUERY]
    table = store.generated_queries(pid).set_index("query_id")
    assert at.text[0].value == table.loc[first, "text"]
    assert any("made by" in c for c in texts(at.caption))
    # X rejects and moves on; the query leaves the mining input
    at.button(key=K.W_Q_REJECT).click().run()
    assert store.generated_queries(pid).set_index("query_id").loc[first, "status"] == "rejected"
    assert at.session_state[K.Q_QUERY] != first
    assert table.loc[first, "text"] not in store.mining_input(pid).query_texts
    # K goes back, A accepts
    at.button(key=K.W_Q_PREV).click().run()
    assert at.session_state[K.Q_QUERY] == first
    at.button(key=K.W_Q_ACCEPT).click().run()
    assert store.generated_queries(pid).set_index("query_id").loc[first, "status"] == "accepted"
    # E opens the edit box; saving stores the new text and keeps the original
    at.session_state[K.Q_QUERY] = first
    at.run()
    at.button(key=K.W_Q_EDIT).click().run()
    at.text_input(key=K.W_Q_EDIT_TEXT).set_value("An edited question about Acme?").run()
    at.button(key=K.W_Q_SAVE).click().run()
    row = store.generated_queries(pid).set_index("query_id").loc[first]
    assert (
        row["text"] == "An edited question about Acme?" and row["original_text"] == table.loc[first, "text"]
    )
    assert not at.exception


def test_filtered_queries_show_their_reason(new_app, store, docs_project: int) -> None:
    at = new_app("app_pages/queries.py", project=docs_project)
    at.radio(key=K.W_Q_STATUS).set_value("filtered").run()
    assert not at.exception
    assert any("Filtered by the quality gate: roundtrip" in t for t in texts(at.warning))


def test_data_page_documents_flow(new_app, store) -> None:
    at = new_app()
    at.radio(key=K.W_INPUT_KIND).set_value("documents").run()
    assert not at.exception
    uploader = at.file_uploader(key=K.W_DOC_UPLOAD)
    for p in sorted(DOCS.iterdir()):
        uploader.upload(p.name, p.read_bytes(), "application/octet-stream")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents read"] == "6" and metrics["Unreadable"] == "0"
    at.selectbox(key=K.W_ROUNDTRIP).set_value("bm25").run()
    at.button(key=K.W_SRC_PREVIEW).click().run()
    assert not at.exception and any("chunks" in c for c in texts(at.caption))
    at.session_state[K.ENCODER] = HashingEncoder()
    at.text_input(key=K.W_SRC_NAME).set_value("docs-app")
    at.button(key=K.W_SRC_CREATE).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    pid = store.project_id("docs-app")
    assert any("the quality gate kept" in t for t in texts(at.success))
    assert len(store.chunk_table(pid)) > 10


def test_data_page_llm_without_endpoint_says_why(new_app, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    at = new_app()
    at.radio(key=K.W_INPUT_KIND).set_value("documents").run()
    at.file_uploader(key=K.W_DOC_UPLOAD).upload(
        "a.txt", (DOCS / "gamma_risk_factors.txt").read_bytes(), "text/plain"
    )
    at.run()
    at.multiselect(key=K.W_Q_METHODS).set_value(["llm"]).run()
    assert not at.exception
    assert any("no endpoint is set" in t for t in texts(at.info))
    assert "{passage}" in at.text_area(key=K.W_SRC_PROMPT).value


def test_data_page_search_log(new_app, store, tmp_path: Path) -> None:
    corpus = "id,text\nd1,Acme revenue was 4.8 billion in 2023.\nd2,Acme revenue was 4.5 billion in 2022.\nd3,Beta sells routers.\n"
    log = "query,shown,clicked,session\nacme revenue 2023,d2|d1,d1,s1\nbeta products,d3,d3,s2\nacme revenue 2023?,d2|d1|x9,d1,s3\n"
    at = new_app()
    at.radio(key=K.W_INPUT_KIND).set_value("log").run()
    at.file_uploader(key=K.W_LOG_UPLOAD).upload("log.csv", log.encode(), "text/csv")
    at.file_uploader(key=K.W_CORPUS_UPLOAD).upload("corpus.csv", corpus.encode(), "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert (
        metrics["Queries (samples)"] == "2"
        and metrics["Skip-above negatives"] == "1"
        and metrics["Unknown ids"] == "1"
    )
    at.button(key=K.W_SRC_CREATE).click().run()
    assert not at.exception and not at.error
    pid = store.project_id("log")
    assert set(store.given_negatives(pid)["origin"]) == {"log:skip-above"}


def test_export_page_groups_a_documents_project_by_document(new_app, store, docs_project: int) -> None:
    at = new_app("app_pages/export.py", project=docs_project)
    assert not at.exception
    assert at.selectbox(key=K.W_GROUP).value == "doc_id"
