"""Data page, documents and search logs: upload, settings, a preview (files read, unreadable ones with
their reason, chunks), then "Create project" (queries made, quality gate run, provenance stored).

User strings (file names, headings, chunk texts) reach the screen only through ``st.dataframe``,
``st.text`` and escaped Markdown.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from app_pages._common import K, env_value, flash, get_encoder
from app_pages._ui import esc, guarded
from embcore.augment.llm import NO_ENDPOINT, ChatClient, LLMConfig, resolve_base_url
from embcore.ingest.chunking import ChunkSpec
from embcore.ingest.documents import (
    TABLE_EXTENSIONS,
    TableColumns,
    documents_from_table,
    read_uploaded,
    suggest_table_columns,
)
from embcore.ingest.llm_queries import DEFAULT_PROMPT, LLMQueryConfig
from embcore.ingest.logs import LogConfig
from embcore.ingest.prepare import DocsConfig, prepare_documents, prepare_log
from embcore.ingest.quality import ROUNDTRIPS, GateConfig
from embcore.ingest.read import read_table
from embcore.workflow import create_source_project

DOC_TYPES = [
    "zip",
    "txt",
    "md",
    "markdown",
    "html",
    "htm",
    "pdf",
    "docx",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "parquet",
]
CHUNK_MODES = {
    "paragraph": "Paragraph",
    "sentence": "Sentence",
    "document": "Whole document",
    "tokens": "Token window",
}
METHODS = {
    "ict": "Sentence -> rest of its chunk (ICT)",
    "title": "Title / heading -> chunk",
    "llm": "LLM questions",
}


def _table_columns(upload: Any) -> tuple[Any, TableColumns]:
    raw = read_table(upload, name=upload.name)
    guess = suggest_table_columns(raw)
    cols = raw.columns
    c1, c2, c3 = st.columns(3)
    text_col = c1.selectbox("Text column", cols, index=cols.index(guess.text_col), key=K.W_DOC_TEXT_COL)
    none = ["(none)"]
    id_col = c2.selectbox(
        "Id column",
        none + cols,
        index=(cols.index(guess.id_col) + 1) if guess.id_col else 0,
        key=K.W_DOC_ID_COL,
    )
    title_col = c3.selectbox(
        "Title column",
        none + cols,
        index=(cols.index(guess.title_col) + 1) if guess.title_col else 0,
        key=K.W_DOC_TITLE_COL,
    )
    pick = lambda v: None if v == "(none)" else v  # noqa: E731
    return raw, TableColumns(text_col, pick(id_col), pick(title_col))


def _settings() -> tuple[DocsConfig, ChatClient | None]:
    c1, c2, c3 = st.columns(3)
    mode = c1.selectbox("Chunks", list(CHUNK_MODES), format_func=CHUNK_MODES.get, key=K.W_CHUNK)
    spec = ChunkSpec(mode)  # type: ignore[arg-type]
    if mode == "tokens":
        size = c2.number_input("Window (tokens, 0 = the model's maximum)", 0, 8192, 0, key=K.W_CHUNK_SIZE)
        overlap = c3.number_input("Overlap (tokens)", 0, 4096, 32, key=K.W_CHUNK_OVERLAP)
        spec = (
            ChunkSpec.parse(f"tokens:{int(size) or ''}:{int(overlap)}")
            if size
            else ChunkSpec("tokens", None, int(overlap))
        )
    methods = st.multiselect(
        "Queries for the chunks",
        list(METHODS),
        default=["ict", "title"],
        format_func=METHODS.get,
        key=K.W_Q_METHODS,
    )
    c1, c2, c3 = st.columns(3)
    per_chunk = c1.number_input(
        "Queries per chunk (ICT sentences / LLM queries)", 1, 10, 1, key=K.W_Q_PER_CHUNK
    )
    share_ict = c2.slider("Share of chunks with an ICT query", 0.05, 1.0, 1.0, key=K.W_Q_SHARE_ICT)
    share_title = c3.slider("Share of headings with a title query", 0.05, 1.0, 1.0, key=K.W_Q_SHARE_TITLE)
    shares = {"ict": share_ict, "title": share_title, "llm": 1.0}
    c1, c2, c3 = st.columns(3)
    gate_on = c1.toggle("Quality gate", value=True, key=K.W_GATE)
    d = GateConfig()
    roundtrip = c2.selectbox(
        "Round trip by",
        ROUNDTRIPS,
        index=ROUNDTRIPS.index(d.roundtrip),
        key=K.W_ROUNDTRIP,
        disabled=not gate_on,
    )
    k = c3.number_input(
        "Round trip: within the top k", 1, 1000, d.k, key=K.W_ROUNDTRIP_K, disabled=not gate_on
    )
    client, llm = None, LLMQueryConfig()
    if "llm" in methods:
        client, llm = _llm_settings()
    cfg = DocsConfig(
        chunk=spec,
        queries={m: shares[m] for m in methods},
        per_chunk=int(per_chunk),
        gate=GateConfig(enabled=gate_on, roundtrip=roundtrip, k=int(k)),
        llm=llm,
    )
    return cfg, client


def _llm_settings() -> tuple[ChatClient | None, LLMQueryConfig]:
    """Endpoint, model, key (this session only) and the editable prompt; off with the reason without an endpoint."""
    c1, c2, c3 = st.columns(3)
    url = c1.text_input(
        "LLM base URL",
        value=env_value("OPENAI_BASE_URL"),
        key=K.W_SRC_LLM_URL,
        placeholder="http://127.0.0.1:8000/v1",
    )
    model = c2.text_input("Model", value=env_value("OPENAI_MODEL"), key=K.W_SRC_LLM_MODEL)
    key = c3.text_input("API key (kept in this browser session only)", type="password", key=K.W_SRC_LLM_KEY)
    prompt = st.text_area(
        "Prompt ({passage} {title} {n} {language} {styles} are filled in)",
        value=DEFAULT_PROMPT,
        height=180,
        key=K.W_SRC_PROMPT,
    )
    llm = LLMQueryConfig(prompt=prompt)
    if not resolve_base_url(url):
        st.info(NO_ENDPOINT)
        return None, llm
    with guarded("LLM settings"):
        llm.validate()
        client = ChatClient(LLMConfig.from_env(model=model or None, base_url=url, api_key=key or ""))
    return client, llm


def documents_form(store: Any) -> None:
    """Upload documents (or a table of documents), choose chunking, queries and the gate, preview, create."""
    uploads = st.file_uploader(
        "Documents: .txt .md .html .pdf .docx files, a .zip of them, or a table with a text column",
        type=DOC_TYPES,
        accept_multiple_files=True,
        key=K.W_DOC_UPLOAD,
    )
    if not uploads:
        st.stop()
    table = len(uploads) == 1 and any(uploads[0].name.lower().endswith(e) for e in TABLE_EXTENSIONS)
    with guarded("Reading the documents"):
        if table:
            raw, cols = _table_columns(uploads[0])
            docset = documents_from_table(raw, cols)
        else:
            docset = read_uploaded(uploads)
    rep = docset.report()
    c1, c2, c3 = st.columns(3)
    c1.metric("Files", f"{rep['files_seen']:,}")
    c2.metric("Documents read", f"{rep['documents']:,}")
    c3.metric("Unreadable", f"{len(rep['unreadable']):,}")
    if rep["unreadable"]:
        st.warning(f"{len(rep['unreadable'])} file(s) could not be read; the others are used.")
        st.dataframe(pd.DataFrame(rep["unreadable"]), hide_index=True, width="stretch")
    st.subheader("Chunks and queries")
    cfg, client = _settings()
    if "llm" in cfg.queries and client is None:
        st.stop()
    settings_key = json.dumps([[f.file_id for f in uploads], cfg.to_dict()], sort_keys=True, default=str)
    cached = st.session_state.get(K.SRC_PREVIEW)
    if st.button("Make queries (preview)", key=K.W_SRC_PREVIEW, icon=":material/preview:"):
        with guarded("Making queries"), st.spinner("Chunking and making queries…"):
            prepared = prepare_documents(docset, cfg, llm_client=client)
        st.session_state[K.SRC_PREVIEW] = cached = (settings_key, prepared)
    if not cached or cached[0] != settings_key:
        st.stop()
    prepared = cached[1]
    _preview(prepared)
    _create(store, prepared, default_name=docset.name.rsplit(".", 1)[0] or "documents")


def _preview(prepared: Any) -> None:
    stats = prepared.stats
    ch = stats.get("chunking") or {}
    st.caption(
        esc(
            f"{ch.get('chunks', 0):,} chunks ({ch.get('mode')}, mean {ch.get('mean_chars', 0):.0f} characters; "
            f"{ch.get('too_short_dropped', 0)} too short dropped) · {len(prepared.ingest.samples):,} queries made"
        )  # fmt: skip
    )
    st.dataframe(prepared.raw.df.head(300), hide_index=True, width="stretch", height=260)
    st.caption(
        "The quality gate runs when the project is created; the Queries page then shows every query with its verdict."
    )


def _create(store: Any, prepared: Any, default_name: str) -> None:
    name = st.text_input("Project name", value=default_name, key=K.W_SRC_NAME)
    replace = st.checkbox(
        "Replace an existing project with this name (its reviews are lost)", key=K.W_SRC_REPLACE
    )
    if st.button("Create project", key=K.W_SRC_CREATE, type="primary", icon=":material/add:"):
        with guarded("Creating the project"), st.spinner("Storing, running the quality gate…"):
            encoder = get_encoder("default") if prepared.kind == "documents" else None
            info = create_source_project(store, prepared, name=name, replace=replace, encoder=encoder)
        st.session_state[K.PROJECT] = info.project_id
        for key in (K.RUN, K.QUERY, K.Q_QUERY, K.SRC_PREVIEW):
            st.session_state.pop(key, None)
        gate = prepared.stats.get("gate") or {}
        kept = (
            f"; the quality gate kept {gate['kept']:,} of {gate['queries']:,} queries"
            if gate.get("enabled")
            else ""
        )
        nxt = "Next: review the queries, then Mine." if prepared.kind == "documents" else "Next: Mine."
        flash("success", f"Project {name!r} created with {len(info.ingest.samples):,} queries{kept}. {nxt}")
        st.rerun()


def log_form(store: Any) -> None:
    """Upload a search log and its corpus; clicks become positives, skip-above results negatives to review."""
    c1, c2 = st.columns(2)
    log_file = c1.file_uploader(
        "Search log (query, shown ids, clicked ids[, dwell, session])",
        type=["csv", "tsv", "json", "jsonl", "parquet"],
        key=K.W_LOG_UPLOAD,
    )
    corpus = c2.file_uploader(
        "Corpus (id, text[, title]) the ids refer to",
        type=["csv", "tsv", "json", "jsonl", "parquet"],
        key=K.W_CORPUS_UPLOAD,
    )
    if log_file is None or corpus is None:
        st.stop()
    c1, c2 = st.columns(2)
    min_clicks = c1.number_input("Clicks for a positive", 1, 1000, 1, key=K.W_MIN_CLICKS)
    min_dwell = c2.number_input(
        "Shortest dwell time of a counted click (s, 0 = any)", 0.0, 3600.0, 0.0, key=K.W_MIN_DWELL
    )
    with guarded("Reading the search log"):
        prepared = prepare_log(
            log_file,
            corpus,
            cfg=LogConfig(int(min_clicks), float(min_dwell) or None),
            log_name=log_file.name,
            corpus_name=corpus.name,
        )
    lg = prepared.stats["log"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Log rows", f"{lg['rows']:,}")
    c2.metric("Queries (samples)", f"{lg['samples']:,}")
    c3.metric("Skip-above negatives", f"{lg['skip_above_negatives']:,}")
    c4.metric("Unknown ids", f"{lg['unknown_ids']:,}")
    if lg["unknown_ids"]:
        st.warning(
            esc(
                f"{lg['unknown_ids']} result ids are not in the corpus, e.g. {', '.join(lg['unknown_id_examples'][:5])}"
            )
        )
    if lg["queries_without_positive"]:
        st.caption(f"{lg['queries_without_positive']:,} queries had no qualifying click and are left out.")
    _create(store, prepared, default_name=log_file.name.rsplit(".", 1)[0])
