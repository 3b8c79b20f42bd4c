"""What the Review page's candidate view shows, as plain JSON-ready data (no Streamlit here).

One compact row per candidate of the query (rank, BM25 rank, dense rank, similarity to the
query and to the positive, teacher score, the candidate passage's metadata next to the
query's, decision) and a real side by side of what each retriever alone ranked on top before
fusion, over *every* candidate of the run (filtered ones included), with the overlap marked.
Terms that the query, its positives and a candidate share are located with the BM25
tokenisers (:func:`embcore.mining.tokenize.token_spans`; jieba for Chinese) and returned as
``[start, end, mask]`` runs: the page builds text nodes from them, never HTML or Markdown.

A candidate that is a near-duplicate of a positive (removed as one, or similar to it above
:data:`DIFF_SIMILARITY`, or sharing most of its terms) carries a word-level side-by-side diff
against that positive (:func:`word_diff`). Rows also carry the reviewer's grade (0-3) and, when
the page walks a queue, why the candidate is in it. Corpus-search hits are rows of their own
section (``search``), keyed and decided like candidates.
"""

from __future__ import annotations

import difflib
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
DIFF_SIMILARITY = 0.9
"""Similarity to the positive from which a candidate gets a side-by-side diff against it."""
DIFF_JACCARD = 0.6
"""Share of informative terms in common (Jaccard) from which a candidate gets the diff too."""
DIFF_STATUSES = frozenset({"near_duplicate", "positive_text"})
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


def word_diff(left: str, right: str, tokenizer: str = "word") -> dict[str, Any]:
    """A word-level diff of two texts (a positive and its near-duplicate), for a side-by-side view.

    Returns:
        ``{"left": runs, "right": runs, "ratio": similarity in [0, 1]}``; runs are
        ``[start, end, 1]`` over the words of one side missing from the other (code-point
        offsets, like the highlights), so that equal text stays plain.
    """
    a = token_spans(left, tokenizer)
    b = token_spans(right, tokenizer)
    sm = difflib.SequenceMatcher(a=[t for _, _, t in a], b=[t for _, _, t in b], autojunk=False)
    out: dict[str, Any] = {"left": [], "right": [], "ratio": round(sm.ratio(), 3)}
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            out["left"].append([a[i1][0], a[i2 - 1][1], 1])
        if j2 > j1:
            out["right"].append([b[j1][0], b[j2 - 1][1], 1])
    return out


def _diff_target(
    text: str, status: str, pos_sim: float | None, tok: str, positives: Sequence[tuple[str, set[str]]]
) -> str | None:
    """The positive a candidate nearly duplicates (the one sharing most terms), or None."""
    if not positives:
        return None
    mine = terms(text, tok)
    best, best_j = None, -1.0
    for ptext, pterms in positives:
        union = len(mine | pterms)
        j = len(mine & pterms) / union if union else 0.0
        if j > best_j:
            best, best_j = ptext, j
    near = (
        status in DIFF_STATUSES
        or (pos_sim is not None and pos_sim >= DIFF_SIMILARITY)
        or best_j >= DIFF_JACCARD
    )
    return best if near else None


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


def card(
    q: QueryReview,
    *,
    top_k: int = 10,
    reasons: Mapping[int, str] | None = None,
    search: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the candidate view draws for one query, JSON-ready.

    Args:
        q: the query as loaded for the reviewer.
        top_k: depth of the per-retriever tops.
        reasons: ``{passage_id: why}`` of the candidates that put the query in the current queue.
        search: corpus-search hits (:func:`embcore.review.search.search`) shown as rows.

    Returns:
        ``{"query": {text, hl, meta}, "positives": [...], "columns": [...], "rows": [...],
        "tops": {"k", "bm25": [...], "dense": [...]}, "counts": {...}}``. A row:
        ``pid, section ('mined' | 'given' | 'kept' | 'filtered' | 'search'; in this order: the
        selected candidates by rank, given / generated negatives, survivors that were not
        selected when shown, what the filters removed, corpus-search hits), rank, bm25, dense,
        simq, simp, teacher, status, status_word, decision, grade, text, hl, meta (values by
        column), diff (value differs from the query's), source, own (one of the query's
        positives), can_accept, why (in the queue because ..., or None), near (a word diff
        against the positive it nearly duplicates, or None)``.
    """
    tok = highlight_tokenizer([q.text, *(str(t) for t in q.positives["text"])])
    q_terms = terms(q.text, tok)
    p_terms: set[str] = set()
    for t in q.positives["text"]:
        p_terms |= terms(str(t), tok)
    pos_ids = {int(p) for p in q.positives["passage_id"]}
    pos_keys = {match_key(str(t)) for t in q.positives["text"]}
    pos_terms = [(str(t), terms(str(t), tok)) for t in q.positives["text"]]
    reasons = reasons or {}
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
        grade = r.get("grade")
        grade = None if grade is None or (isinstance(grade, float) and math.isnan(grade)) else int(grade)
        target = None if pid in pos_ids else _diff_target(str(r["text"]), str(r.get("status")), _num(r.get("pos_sim")),
                                                          tok, pos_terms)  # fmt: skip
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
            "grade": grade,
            "why": reasons.get(pid),
            "near": None
            if target is None
            else {"positive": target, **word_diff(target, str(r["text"]), tok)},
        }

    status = shown["status"] if len(shown) else pd.Series([], dtype=object)
    rows = [row(r, "mined") for r in _records(shown[~status.isin((GIVEN, "kept"))])]
    rows += [row(r, "given") for r in _records(shown[status == GIVEN])]
    rows += [row(r, "kept") for r in _records(shown[status == "kept"])]
    rows += [row(r, "filtered") for r in _records(filtered)]
    if search is not None and len(search):
        rows += [_search_row(h, row) for h in _records(search)]
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


def _search_row(hit: Mapping[str, Any], row: Any) -> dict[str, Any]:
    """A corpus-search hit as a row of the candidate view (section ``search``)."""
    parts = []
    if _present_num(hit.get("bm25_rank")):
        parts.append(f"BM25 #{int(hit['bm25_rank'])}")
    if _present_num(hit.get("dense_rank")):
        parts.append(f"dense #{int(hit['dense_rank'])}")
    status = hit.get("status") if isinstance(hit.get("status"), str) else None
    given = bool(hit.get("given")) if hit.get("given") is not None else False
    where = (
        ("already a candidate: " + status_word(status))
        if status
        else ("already listed (given)" if given else "")
    )
    r = row(
        {"passage_id": hit["passage_id"], "rank": hit.get("rank"), "bm25_rank": hit.get("bm25_rank"),
         "dense_rank": hit.get("dense_rank"), "dense_score": hit.get("dense_score"), "pos_sim": None,
         "status": "search", "decision": hit.get("decision"), "text": hit["text"], "meta": hit.get("meta"),
         "sources": "search: " + " · ".join(parts)},
        "search",
    )  # fmt: skip
    r["status_word"] = where or "corpus search hit"
    r["own"] = r["own"] or bool(hit.get("positive"))
    r["can_accept"] = not r["own"]
    return r


def _present_num(v: Any) -> bool:
    return _num(v) is not None


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
