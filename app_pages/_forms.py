"""Widget groups too long for a page: reading the chosen file, the field mapping, the mining settings.

Each returns a core object (``RawTable``, ``FieldMapping``, ``MiningConfig``); nothing here
computes anything the core does not provide.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from app_pages._common import K, env_value
from app_pages._ui import error, esc
from embcore.augment.eda import OPS
from embcore.augment.llm import NO_ENDPOINT, REWRITE_PRESETS, TASKS, LLMConfig
from embcore.augment.project import AugmentConfig, AugmentPreview
from embcore.errors import EmbcoreError
from embcore.ingest.mapping import (
    DEFAULT_NULL_VALUES,
    FieldMapping,
    parse_null_values,
    suggest_mapping,
    validate_mapping,
)
from embcore.ingest.profile import DataProfile, profile_data
from embcore.ingest.read import RawTable, read_table
from embcore.ingest.samples import IngestResult, build_samples
from embcore.mining.config import STRATEGIES, MiningConfig, RuleSpec
from embcore.models.prompts import SAMPLE_TYPES
from embcore.models.teacher import NORMALIZATIONS, TEACHER_KINDS, TeacherConfig
from embcore.store import Store

NONE = "(none)"
_MAPPING_KEYS = (
    K.W_QUERY_COL, K.W_POS_COLS, K.W_META_COLS, K.W_NEG_COL, K.W_NULLS, K.W_MERGE, K.W_CONFIRM_MAPPING, K.W_NAME,
    K.INGEST, K.PROFILE,
)  # fmt: skip
MERGE_LABELS = {
    "text+meta": "when the query text and every metadata column agree",
    "text": "on the query text alone",
}


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
    """Selectboxes for the query, positive, metadata and negative columns, preset to the suggestion;
    the texts that count as missing and how rows sharing a query merge.

    When no column name was familiar the suggestion is a guess from the content: it is shown as
    such and the returned mapping stays ``guessed`` until the user ticks the confirmation.
    Column names and notes are shown as plain text, never as Markdown.
    """
    cols = raw.columns
    try:
        sugg = suggest_mapping(raw)
    except EmbcoreError as exc:
        error(exc)
        sugg = FieldMapping(cols[0], cols[1:2], guessed=True)
    for note in sugg.notes:
        st.text(note)
    if sugg.guessed:
        st.warning(
            "No familiar column names: the query and positive columns below are a guess from the content. "
            "Check them (and the preview above) before creating the project."
        )
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
    nulls = c1.text_input(
        "Texts that count as missing (comma-separated)", value=",".join(DEFAULT_NULL_VALUES), key=K.W_NULLS,
        help="A cell holding exactly one of these (after cleaning) is treated as empty. 'NA' is not in the "
        "default list: in real data it is often a ticker, a country code or 'North America'.",
    )  # fmt: skip
    merge = c2.radio(
        "Merge rows sharing a query", list(MERGE_LABELS), format_func=MERGE_LABELS.get, key=K.W_MERGE,
        help="With metadata (e.g. ticker), the same question about two companies stays two samples.",
    )  # fmt: skip
    confirmed = True
    if sugg.guessed:
        confirmed = st.checkbox(
            "The query and positive columns are right (confirm the guessed mapping)", key=K.W_CONFIRM_MAPPING
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
        null_values=parse_null_values(nulls),
        merge_queries=merge,
        guessed=sugg.guessed and not confirmed,
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


def data_profile(raw: RawTable, result: IngestResult) -> DataProfile:
    """The profile of the previewed file under its mapping (computed once per mapping)."""
    key = json.dumps([raw.sha256, result.mapping.to_dict()], sort_keys=True, default=str)
    cached = st.session_state.get(K.PROFILE)
    if cached is not None and cached[0] == key:
        return cached[1]
    with st.spinner("Profiling…"):
        prof = profile_data(raw, result)
    st.session_state[K.PROFILE] = (key, prof)
    return prof


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


# --------------------------------------------------------------------------- Augment & scores

CUSTOM = "(custom instruction)"
OTHER = "(other type)"
TARGETS = {"query": "queries", "pos": "positives", "both": "queries and positives"}
KINDS = {"auto": "auto (detect from the folder)", "bi": "bi-encoder", "cross": "cross-encoder"}


def prompt_form(named: dict[str, str]) -> str:
    """A named prompt (the mining model's own, then the defaults) or a typed instruction; its text."""
    options = [*named, CUSTOM]
    name = st.selectbox(
        "Named prompt", options, key=K.W_PROMPT_NAME,
        format_func=lambda n: n if n == CUSTOM else f"{n}: {named[n] or '(empty)'}",
    )  # fmt: skip
    if name == CUSTOM:
        return st.text_input("Instruction (empty = no prompt)", key=K.W_PROMPT_TEXT)
    return named[name]


def type_form() -> str:
    """A sample ``type`` (FlagEmbedding's values, none, or free text)."""
    options = [NONE, *SAMPLE_TYPES, OTHER]
    kind = st.selectbox("Sample type", options, index=options.index("normal"), key=K.W_TYPE_PICK)
    if kind == OTHER:
        return st.text_input("Type", key=K.W_TYPE_TEXT).strip()
    return "" if kind == NONE else kind


def eda_form(max_samples: int | None) -> AugmentConfig | None:
    """Rule-based augmentation: operations, copies per sample, rate, target, seed."""
    c1, c2, c3 = st.columns(3)
    ops = c1.multiselect(
        "Operations", list(OPS), default=["synonym", "swap"], key=K.W_AUG_OPS,
        help="synonym: WordNet synonyms (jieba + Cilin for Chinese); insert: a synonym at a random place; "
        "swap: two words trade places; delete: words dropped at random.",
    )  # fmt: skip
    n = c2.number_input("Copies per sample", 1, 20, 1, key=K.W_AUG_N)
    rate = c3.number_input("Rate (share of words changed)", 0.01, 1.0, 0.1, 0.05, key=K.W_AUG_RATE)
    target = c1.selectbox("Augment", list(TARGETS), format_func=TARGETS.get, key=K.W_AUG_TARGET)
    seed = c2.number_input("Seed", value=42, step=1, key=K.W_AUG_SEED)
    protect = c3.checkbox(
        "Protect facts", value=True, key=K.W_AUG_PROTECT,
        help="Numbers, amounts, percentages, names, tickers and the row's metadata values (e.g. its ticker) "
        "stay untouched and in place.",
    )  # fmt: skip
    if not ops:
        return None
    try:
        return AugmentConfig(
            ops=list(ops), n=int(n), rate=float(rate), target=target, seed=int(seed), max_samples=max_samples,
            protect=bool(protect),
        ).validate()  # fmt: skip
    except EmbcoreError as exc:
        error(exc)
        return None


def llm_form(max_samples: int | None) -> tuple[AugmentConfig, LLMConfig] | None:
    """LLM generation: tasks, endpoint, model and API key (the key stays in this session only).

    Without an endpoint (none typed, no ``OPENAI_BASE_URL`` on the server) everything but the
    endpoint field is disabled and one line says why: nothing goes to a public API by default.
    """
    note = st.empty()  # the reason the section is off, above its fields
    c1, c2, c3 = st.columns(3)
    url = c2.text_input(
        "Endpoint base URL", value=env_value("OPENAI_BASE_URL"), key=K.W_LLM_URL,
        placeholder="http://127.0.0.1:8000/v1",
        help="The address of your own OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...). A public API "
        "is used only if you type its address here.",
    )  # fmt: skip
    off = not url.strip()
    if off:
        note.info(esc(NO_ENDPOINT), icon=":material/cloud_off:")
    tasks = c1.multiselect(
        "Tasks", list(TASKS), key=K.W_LLM_TASKS, placeholder="choose tasks", disabled=off,
        help="paraphrase: reworded queries; query-gen: new questions a positive answers; pos-gen: new positives; "
        "neg-gen: hard negatives (same topic, wrong detail), reviewed on the Review page; back-translate: "
        "through a pivot language; rewrite: simplify, shorten, ...",
    )  # fmt: skip
    model = c3.text_input("Model", value=env_value("OPENAI_MODEL"), key=K.W_LLM_MODEL, disabled=off)
    n = c1.number_input("Items per input", 1, 20, 3, key=K.W_LLM_N, disabled=off)
    if K.W_LLM_KEY not in st.session_state and st.session_state.get(K.LLM_KEY):
        st.session_state[K.W_LLM_KEY] = st.session_state[K.LLM_KEY]  # back on this page: same session key
    has_env = bool(env_value("OPENAI_API_KEY"))
    key = c2.text_input(
        "API key", type="password", key=K.W_LLM_KEY, disabled=off,
        placeholder="using $OPENAI_API_KEY of the server" if has_env else "none (servers without auth)",
        help="Kept in this browser session only: never written to DuckDB, exports or logs.",
    )  # fmt: skip
    st.session_state[K.LLM_KEY] = key
    pivot = c3.text_input("Back-translation pivot language", key=K.W_LLM_PIVOT, placeholder="automatic",
                          disabled=off or "back-translate" not in tasks)  # fmt: skip
    instruction = c3.text_input(
        "Rewrite instruction", value="simplify", key=K.W_LLM_INSTR, disabled=off or "rewrite" not in tasks,
        help=f"One of {', '.join(REWRITE_PRESETS)}, or your own instruction.",
    )  # fmt: skip
    if off or not tasks:
        return None
    if not model.strip():
        st.caption("Enter the name of a model your server serves to start.")
        return None
    try:
        llm = LLMConfig.from_env(
            model=model.strip() or None, base_url=url.strip() or None, api_key=key or None
        )
        cfg = AugmentConfig(
            llm_tasks=list(tasks), llm_n=int(n), llm_model=llm.model, llm_base_url=llm.base_url,
            pivot=pivot.strip() or None, instruction=instruction.strip() or "simplify", max_samples=max_samples,
        ).validate()  # fmt: skip
    except EmbcoreError as exc:
        error(exc)
        return None
    return cfg, llm


def augment_preview(preview: AugmentPreview) -> list[int]:
    """The generated items as an editable table (untick "keep" or delete rows); the kept row numbers."""
    table = preview.table()
    table.insert(0, "keep", True)
    edited = st.data_editor(
        table, key=K.aug_preview(preview.run_id), hide_index=True, width="stretch", num_rows="delete",
        disabled=[c for c in table.columns if c != "keep"],
        column_config={"keep": st.column_config.CheckboxColumn("keep", help="Untick (or delete the row) to drop it.")},
    )  # fmt: skip
    return [int(i) for i in edited.index[edited["keep"].astype(bool)]]


def teacher_form() -> TeacherConfig | None:
    """Teacher model, kind, normalisation (applied on export), temperature, bi-encoder query instruction."""
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    model = c1.text_input(
        "Teacher model ('default' = bundled bi-encoder, or a local cross-encoder / bi-encoder folder)",
        value="default", key=K.W_TEACHER_MODEL,
    )  # fmt: skip
    kind = c2.selectbox("Kind", list(TEACHER_KINDS), format_func=KINDS.get, key=K.W_TEACHER_KIND)
    norm = c3.selectbox("Normalisation (on export)", list(NORMALIZATIONS), key=K.W_TEACHER_NORM)
    temp = c4.number_input("Softmax temperature", 0.01, 100.0, 1.0, 0.05, key=K.W_TEACHER_TEMP,
                           disabled=norm != "softmax")  # fmt: skip
    prompt = c1.text_input("Query instruction (bi-encoder teacher only)", key=K.W_TEACHER_PROMPT)
    try:
        return TeacherConfig(
            model=model.strip() or "default",
            kind=kind,
            normalize=norm,
            temperature=float(temp),
            query_prompt=prompt,
        ).validate()  # type: ignore[arg-type]
    except EmbcoreError as exc:
        error(exc)
        return None


def export_teacher(last: dict[str, Any] | None) -> TeacherConfig | None:
    """Export option: teacher scores from the last scoring run's teacher (or another model)."""
    if not st.checkbox("Add teacher scores (pos_scores / neg_scores)", key=K.W_EX_TEACHER):
        return None
    last = last or {}
    c1, c2 = st.columns([3, 1])
    model = c1.text_input(
        "Teacher model", value=str(last.get("model") or "default"), key=K.W_EX_TEACHER_MODEL
    )
    norms = list(NORMALIZATIONS)
    norm = c2.selectbox(
        "Normalisation", norms, index=norms.index(last.get("normalize", "raw")), key=K.W_EX_TEACHER_NORM
    )
    same = bool(last) and model.strip() == last.get("model")
    st.caption(
        f"Same teacher as scoring run {last['run_id']}: its scores come from the cache."
        if same else "Pairs this teacher has not scored yet are scored during the export (slow on big projects)."
    )  # fmt: skip
    try:
        return TeacherConfig(
            model=model.strip() or "default", kind=last["kind"] if same else "auto", normalize=norm,  # type: ignore[arg-type]
            temperature=float(last.get("temperature", 1.0)) if same else 1.0,
            query_prompt=str(last.get("query_prompt") or "") if same else "",
            passage_prompt=str(last.get("passage_prompt") or "") if same else "",
        ).validate()  # fmt: skip
    except EmbcoreError as exc:
        error(exc)
        return None
