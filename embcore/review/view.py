"""What the Review page's candidate view shows, as plain JSON-ready data (no Streamlit here).

One compact row per candidate of the query (rank, BM25 rank, dense rank, similarity to the
query and to the positive, teacher score, the candidate passage's metadata next to the
query's, decision) and a real side by side of what each retriever alone ranked on top before
fusion, over *every* candidate of the run (filtered ones included), with the overlap marked.
Terms that the query, its positives and a candidate share are located with the BM25
tokenisers (:func:`embcore.mining.tokenize.token_spans`; jieba for Chinese) and returned as
``[start, end, mask]`` runs: the page builds text nodes from them, never HTML or Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from embcore.mining.filters import fast_match_key as match_key
from embcore.mining.tokenize import (
    AUTO_CJK_THRESHOLD,
    CHINESE_STOPWORDS,
    ENGLISH_STOPWORDS,
    token_spans,
)
from embcore.review.model import GIVEN, QueryReview, describe_origin
from embcore.text import cjk_ratio

HL_QUERY = 1
"""Highlight bit: the term is also in the query."""
HL_POSITIVE = 2
"""Highlight bit: the term is also in a positive."""

MAX_META_COLUMNS = 4
STOPWORDS = ENGLISH_STOPWORDS | CHINESE_STOPWORDS

STATUS_WORDS: dict[str, str] = {
    "selected": "selected",
    "kept": "survivor (not selected)",
    "given": "given / generated",
    "positive_id": "the query's own positive",
    "positive_text": "same text as the positive",
    "near_duplicate": "near-duplicate of the positive",
    "relative_margin": "too close to the positive (relative margin)",
    "absolute_margin": "too close to the positive (absolute margin)",
    "max_score": "score above the maximum",
    "min_score": "score below the minimum",
    "range": "outside the rank window",
}
"""Plain words for candidate statuses (a filter's name otherwise)."""


# --------------------------------------------------------------------------- shared-term highlights


def highlight_tokenizer(texts: Iterable[str]) -> str:
    """``jieba`` when the texts are mostly Chinese (the BM25 ``auto`` rule), else ``word``."""
    texts = [t for t in texts if t]
    total = sum(len(t) for t in texts)
    if not total:
        return "word"
    share = sum(cjk_ratio(t) * len(t) for t in texts) / total
    return "jieba" if share >= AUTO_CJK_THRESHOLD else "word"


def _useful(token: str) -> bool:
    if token in STOPWORDS:
        return False
    return len(token) > 1 or token.isdigit() or cjk_ratio(token) > 0


def terms(text: str, tokenizer: str) -> set[str]:
    """The informative (non-stopword) terms of a text."""
    return {t for _, _, t in token_spans(text, tokenizer) if _useful(t)}


def highlight(text: str, tokenizer: str, query_terms: set[str], positive_terms: set[str]) -> list[list[int]]:
    """Runs ``[start, end, mask]`` of ``text`` whose term is in the query (bit 1) and/or a positive (bit 2).

    Overlapping spans (jieba search mode) are merged; the runs do not overlap and are sorted.
    """
    spans = []
    for start, end, tok in token_spans(text, tokenizer):
        mask = (HL_QUERY if tok in query_terms else 0) | (HL_POSITIVE if tok in positive_terms else 0)
        if mask and _useful(tok):
            spans.append([start, end, mask])
    if not spans or tokenizer != "jieba":  # word / whitespace tokens never overlap
        return spans
    marks: list[int] = [0] * len(text)
    for start, end, mask in spans:
        for i in range(start, end):
            marks[i] |= mask
    runs: list[list[int]] = []
    i, n = 0, len(marks)
    while i < n:
        if not marks[i]:
            i += 1
            continue
        j = i
        while j < n and marks[j] == marks[i]:
            j += 1
        runs.append([i, j, marks[i]])
        i = j
    return runs


# --------------------------------------------------------------------------- rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")`` without its per-cell overhead (pyarrow-backed strings)."""
    if not len(frame):
        return []
    columns = {c: frame[c].tolist() for c in frame.columns}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _num(v: Any, digits: int = 3) -> float | None:
    if v is None or v is pd.NA:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else round(f, digits)


def _rank(v: Any) -> int | None:
    f = _num(v, 0)
    return None if f is None else int(f)


def meta_columns(
    query_meta: Mapping[str, Any], metas: Iterable[Mapping[str, Any]], limit: int = MAX_META_COLUMNS
) -> list[str]:
    """Metadata columns to show: the query's keys first, then the candidates' (at most ``limit``)."""
    cols: list[str] = [str(k) for k in query_meta]
    for m in metas:
        for k in m:
            if str(k) not in cols:
                cols.append(str(k))
    return cols[:limit]


def status_word(status: str) -> str:
    """Plain words for a candidate status."""
    return STATUS_WORDS.get(status, f"removed by {status}")


def card(q: QueryReview, *, top_k: int = 10) -> dict[str, Any]:
    """Everything the candidate view draws for one query, JSON-ready.

    Returns:
        ``{"query": {text, hl, meta}, "positives": [...], "columns": [...], "rows": [...],
        "tops": {"k", "bm25": [...], "dense": [...]}, "counts": {...}}``. A row:
        ``pid, section ('mined' | 'given' | 'kept' | 'filtered'; in this order: the selected
        candidates by rank, given / generated negatives, survivors that were not selected when
        shown, what the filters removed), rank, bm25, dense, simq, simp, teacher,
        status, status_word, decision, text, hl, meta (values by column), diff (value differs
        from the query's), source, own (one of the query's positives), can_accept``.
    """
    tok = highlight_tokenizer([q.text, *(str(t) for t in q.positives["text"])])
    q_terms = terms(q.text, tok)
    p_terms: set[str] = set()
    for t in q.positives["text"]:
        p_terms |= terms(str(t), tok)
    pos_ids = {int(p) for p in q.positives["passage_id"]}
    pos_keys = {match_key(str(t)) for t in q.positives["text"]}
    c = q.candidates
    shown = q.shown
    filtered = q.filtered
    has_meta = "meta" in c.columns
    metas = list(c["meta"]) if has_meta and len(c) else []
    cols = meta_columns(q.meta, [m for m in metas if isinstance(m, dict)])
    has_teacher = "teacher_score" in c.columns

    def row(r: Mapping[str, Any], section: str) -> dict[str, Any]:
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        values = [None if meta.get(k) is None else str(meta[k]) for k in cols]
        diff = [
            v is not None and k in q.meta and str(q.meta[k]) != v for k, v in zip(cols, values, strict=True)
        ]
        pid = int(r["passage_id"])
        own = pid in pos_ids or match_key(str(r["text"])) in pos_keys
        decision = r.get("decision") if isinstance(r.get("decision"), str) else None
        return {
            "pid": pid,
            "section": section,
            "rank": _rank(r.get("rank")),
            "bm25": _rank(r.get("bm25_rank")),
            "dense": _rank(r.get("dense_rank")),
            "simq": _num(r.get("dense_score")),
            "simp": _num(r.get("pos_sim")),
            "teacher": _num(r.get("teacher_score")) if has_teacher else None,
            "status": str(r.get("status")),
            "status_word": status_word(str(r.get("status"))),
            "decision": decision,
            "text": str(r["text"]),
            "hl": highlight(str(r["text"]), tok, q_terms, p_terms),
            "meta": values,
            "diff": diff,
            "source": describe_origin(r.get("sources"))
            if r.get("status") == GIVEN
            else str(r.get("sources")),
            "own": own,
            "can_accept": not own,
        }

    status = shown["status"] if len(shown) else pd.Series([], dtype=object)
    rows = [row(r, "mined") for r in _records(shown[~status.isin((GIVEN, "kept"))])]
    rows += [row(r, "given") for r in _records(shown[status == GIVEN])]
    rows += [row(r, "kept") for r in _records(shown[status == "kept"])]
    rows += [row(r, "filtered") for r in _records(filtered)]
    positives = []
    for r in _records(q.positives):
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        positives.append({
            "pid": int(r["passage_id"]),
            "text": str(r["text"]),
            "hl": highlight(str(r["text"]), tok, q_terms, set()),
            "origin": str(r.get("origin")),
            "meta": [None if meta.get(k) is None else str(meta[k]) for k in cols],
            "teacher": _num(r.get("teacher_score")) if "teacher_score" in q.positives.columns else None,
        })  # fmt: skip
    counts = q.counts()
    return {
        "query": {
            "text": q.text,
            "hl": highlight(q.text, tok, set(), p_terms),
            "meta": [[str(k), str(v)] for k, v in q.meta.items()],
        },
        "positives": positives,
        "columns": cols,
        "rows": rows,
        "tops": retriever_tops(c, top_k, cols),
        "counts": counts,
        "teacher": has_teacher,
        "tokenizer": tok,
    }


def retriever_tops(candidates: pd.DataFrame, k: int = 10, cols: Sequence[str] = ()) -> dict[str, Any]:
    """What BM25 and dense retrieval each ranked on top before fusion, over every candidate of the run.

    Returns:
        ``{"k": k, "bm25": [item...], "dense": [item...], "overlap": n}``; an item:
        ``pid, rank, status, status_word, decision, text, both (in the other list's top k too), meta``.
    """
    out: dict[str, Any] = {"k": int(k), "bm25": [], "dense": [], "overlap": 0}
    if not len(candidates):
        return out
    tops = {}
    for name, col in (("bm25", "bm25_rank"), ("dense", "dense_rank")):
        sub = candidates[candidates[col].notna()].sort_values(col, kind="stable").head(k)
        tops[name] = sub
    ids = {name: {int(p) for p in sub["passage_id"]} for name, sub in tops.items()}
    both = ids["bm25"] & ids["dense"]
    for name, sub in tops.items():
        for r in _records(sub):
            meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
            out[name].append({
                "pid": int(r["passage_id"]),
                "rank": _rank(r.get(f"{name}_rank")),
                "status": str(r.get("status")),
                "status_word": status_word(str(r.get("status"))),
                "decision": r.get("decision") if isinstance(r.get("decision"), str) else None,
                "text": str(r["text"]),
                "both": int(r["passage_id"]) in both,
                "meta": [None if meta.get(c) is None else str(meta[c]) for c in cols],
            })  # fmt: skip
    out["overlap"] = len(both)
    return out
