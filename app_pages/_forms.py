"""Widget groups too long for a page: reading the chosen file, the field mapping, the mining settings.

Each returns a core object (``RawTable``, ``FieldMapping``, ``MiningConfig``); nothing here
computes anything the core does not provide.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from app_pages._common import K
from app_pages._ui import error
from embcore.errors import EmbcoreError
from embcore.ingest import (
    FieldMapping,
    IngestResult,
    RawTable,
    build_samples,
    read_table,
    suggest_mapping,
    validate_mapping,
)
from embcore.mining.config import STRATEGIES, MiningConfig, RuleSpec
from embcore.store import Store

NONE = "(none)"
_MAPPING_KEYS = (K.W_QUERY_COL, K.W_POS_COLS, K.W_META_COLS, K.W_NEG_COL, K.W_NAME, K.INGEST)


def read_source(source: Any, cache_key: str) -> RawTable | None:
    """Read an uploaded file or a path once per session (a new file resets the mapping widgets)."""
    cached = st.session_state.get(K.RAW)
    if cached is not None and cached[0] == cache_key:
        return cached[1]
    try:
        raw = read_table(source)
    except EmbcoreError as exc:
        error(exc)
        return None
    for key in _MAPPING_KEYS:
        st.session_state.pop(key, None)
    st.session_state[K.RAW] = (cache_key, raw)
    return raw


def mapping_widgets(raw: RawTable) -> FieldMapping:
    """Selectboxes for the query, positive, metadata and negative columns, preset to the suggestion."""
    cols = raw.columns
    try:
        sugg = suggest_mapping(raw)
    except EmbcoreError as exc:
        error(exc)
        sugg = FieldMapping(cols[0], cols[1:2])
    for note in sugg.notes:
        st.caption(note.replace("*", "\\*").replace("_", "\\_"))
    c1, c2 = st.columns(2)
    query_col = c1.selectbox("Query column", cols, index=cols.index(sugg.query_col), key=K.W_QUERY_COL)
    pos_cols = c2.multiselect(
        "Positive column(s)", cols, default=[c for c in sugg.pos_cols if c in cols], key=K.W_POS_COLS,
        help="Each selected column gives one positive per row; rows sharing a query are grouped.",
    )  # fmt: skip
    meta_cols = c1.multiselect(
        "Metadata columns", cols, default=[c for c in sugg.meta_cols if c in cols], key=K.W_META_COLS,
        help="Kept for review filters, mining rules and split grouping (e.g. ticker).",
    )  # fmt: skip
    neg_options = [NONE, *cols]
    neg = c2.selectbox(
        "Given negatives column", neg_options, index=neg_options.index(sugg.neg_col or NONE), key=K.W_NEG_COL
    )
    return FieldMapping(
        query_col=query_col,
        pos_cols=list(pos_cols),
        meta_cols=[c for c in meta_cols if c != query_col and c not in pos_cols],
        neg_col=None if neg == NONE else neg,
        score_col=sugg.score_col if sugg.score_col not in (query_col, *pos_cols) else None,
        pos_threshold=sugg.pos_threshold,
        neg_threshold=sugg.neg_threshold,
        sample_type=sugg.sample_type,
    )


def cleaning_preview(raw: RawTable, mapping: FieldMapping) -> IngestResult | None:
    """The samples and cleaning report this mapping gives (computed once per mapping)."""
    key = json.dumps([raw.sha256, mapping.to_dict()], sort_keys=True, default=str)
    cached = st.session_state.get(K.INGEST)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        validate_mapping(raw, mapping)
        with st.spinner("Cleaning…"):
            result = build_samples(raw, mapping)
    except EmbcoreError as exc:
        error(exc)
        return None
    st.session_state[K.INGEST] = (key, result)
    return result


FILTERS = {
    "relative margin (drop candidates scoring within x% of the positive)": "relative",
    "absolute margin (drop candidates scoring within x of the positive)": "absolute",
    "none": "none",
}


def mining_form(meta_keys: list[str]) -> MiningConfig | None:
    """Mining settings: strategies, model, number of negatives, window, margins, rules, seed."""
    d = MiningConfig()
    c1, c2, c3 = st.columns(3)
    strategies = c1.multiselect(
        "Strategies", list(STRATEGIES), default=["hybrid"], key=K.W_STRATEGIES,
        help="bm25: lexical; dense: bi-encoder; hybrid: both, fused; in-batch / random: easy negatives; "
        "rules: same or different metadata value (e.g. another filing of the same company).",
    )  # fmt: skip
    model = c2.text_input(
        "Model (path or id; 'default' = bundled all-MiniLM-L6-v2)", value=d.model, key=K.W_MODEL
    )
    seed = c3.number_input("Seed", value=d.seed, step=1, key=K.W_SEED)
    num_neg = c1.number_input("Negatives per query", 1, 100, d.num_negatives, key=K.W_NUM_NEG)
    top_k = c2.number_input("Candidates per strategy (top-k)", 1, 1000, d.top_k, key=K.W_TOP_K)
    range_min = c3.number_input("Skip the first n survivors (window start)", 0, 1000, 0, key=K.W_RANGE_MIN)
    range_max = c3.number_input("Window end (0 = no limit)", 0, 1000, 0, key=K.W_RANGE_MAX)
    kind = FILTERS[c1.selectbox("False-negative filter", list(FILTERS), key=K.W_FILTER)]
    margin = c2.number_input("Margin", 0.0, 1.0, 0.05, step=0.01, format="%.3f", key=K.W_MARGIN)
    near_dup = c1.number_input(
        "Near-duplicate threshold (cosine to a positive; 0 = off)",
        0.0,
        1.0,
        0.98,
        step=0.01,
        key=K.W_NEAR_DUP,
    )
    rules: list[RuleSpec] = []
    if "rules" in strategies:
        if not meta_keys:
            st.warning("The rules strategy needs a metadata column; this project has none.")
        else:
            col = c2.selectbox("Rule: metadata column", meta_keys, key=K.W_RULE_COL)
            rel = c3.selectbox("Rule: relation to the query's value", ["same", "different"], key=K.W_RULE_REL)
            rules.append(RuleSpec(column=col, relation=rel))  # type: ignore[arg-type]
    try:
        return MiningConfig(
            strategies=list(strategies),
            num_negatives=int(num_neg),
            top_k=int(top_k),
            model=model.strip() or "default",
            rules=rules,
            range_min=int(range_min),
            range_max=int(range_max) or None,
            relative_margin=float(margin) if kind == "relative" else None,
            absolute_margin=float(margin) if kind == "absolute" else None,
            near_duplicate_threshold=float(near_dup) or None,
            seed=int(seed),
        ).validate()
    except EmbcoreError as exc:
        error(exc)
        return None


def train_runs_table(store: Store, pid: int) -> pd.DataFrame:
    """Finished evaluation and fine-tuning runs as rows of metrics (a fine-tuning gives base + fine-tuned)."""
    runs = store.runs(pid)
    runs = runs[runs["kind"].isin(["eval", "finetune"]) & (runs["status"] == "done")]
    rows = []
    for r in runs.itertuples(index=False):
        stats = json.loads(r.stats) if isinstance(r.stats, str) else (r.stats or {})
        results = (
            [("", stats)]
            if r.kind == "eval"
            else [("base", stats.get("base")), ("fine-tuned", stats.get("finetuned"))]
        )
        for tag, res in results:
            if not res:
                continue
            label = f"run {r.id} {r.kind}" + (f" ({tag})" if tag else "")
            rows.append({"label": label, "model": res.get("model_id"), "split": res.get("split"),
                         "queries": res.get("n_queries"), **res.get("metrics", {})})  # fmt: skip
    return pd.DataFrame(rows)
