"""Metadata rules: candidates chosen by a relation on any mapped metadata column.

A rule such as ``{"column": "ticker", "relation": "same", "tag": "hard"}`` proposes, for each
query, passages whose ``ticker`` equals the query's (hard: the most similar first, by dense
cosine); ``"different"`` + ``"easy"`` proposes random passages of other tickers. Nothing here
knows about any particular dataset: the column is whatever the user mapped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.mining.config import RELATIONS, RuleSpec
from embcore.mining.dense import TopK, chunk_rows, concat_topk, topk_rows
from embcore.progress import ProgressFn, report

_MISSING = frozenset({"", "nan", "none", "null", "<na>", "nat"})


def _value(meta: dict[str, str], column: str) -> str:
    """The metadata value as a string, "" when missing (None, NaN and their string forms)."""
    value = meta.get(column)
    text = "" if value is None else str(value).strip()
    return "" if text.casefold() in _MISSING else text


def meta_codes(
    query_meta: Sequence[dict[str, str]], passage_meta: Sequence[dict[str, str]], column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``column`` for queries and passages in one shared code space.

    Args:
        query_meta: Per query, metadata dict.
        passage_meta: Per passage, metadata dict.
        column: The metadata column.

    Returns:
        (query_codes (nq,), passage_codes (np,)) int64; -1 where the value is missing, empty or NaN.

    Raises:
        EmbcoreError: If no query or no passage has the column.
    """
    q_vals = [_value(m, column) for m in query_meta]
    p_vals = [_value(m, column) for m in passage_meta]
    if not any(q_vals) or not any(p_vals):
        seen = sorted({k for m in list(query_meta) + list(passage_meta) for k in m})
        raise EmbcoreError(
            f"rule column {column!r} is missing from the {'query' if not any(q_vals) else 'passage'} metadata; "
            f"available columns: {', '.join(seen) or '(none mapped)'}"
        )
    codes, uniques = pd.factorize(pd.Series(q_vals + p_vals, dtype=object))
    empty = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
    codes = np.asarray(codes, np.int64)
    if empty.size:
        codes[codes == empty[0]] = -1
    return codes[: len(q_vals)], codes[len(q_vals) :]


def relation_mask(q_codes: np.ndarray, p_codes: np.ndarray, relation: str) -> np.ndarray:
    """(len(q_codes), len(p_codes)) bool: passages in ``relation`` to each query (missing values never match)."""
    if relation not in RELATIONS:
        raise EmbcoreError(f"relation={relation!r} is not allowed; choose one of: {', '.join(RELATIONS)}")
    both = (q_codes[:, None] >= 0) & (p_codes[None, :] >= 0)
    same = q_codes[:, None] == p_codes[None, :]
    return both & (same if relation == "same" else ~same)


def _rule_scores(
    rule: RuleSpec,
    q_rows: np.ndarray,
    p_rows: np.ndarray | None,
    n_passages: int,
    query_emb: np.ndarray | None,
    passage_emb: np.ndarray | None,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """(len(q_rows), n) float64 scores: cosine (hard rules) or random keys (easy rules) against
    ``p_rows`` (None = every passage)."""
    if rule.tag == "hard":
        if query_emb is None or passage_emb is None:
            raise EmbcoreError(f"hard rule {rule.label!r} needs embeddings (a dense model)")
        p = passage_emb if p_rows is None else passage_emb[p_rows]
        return (query_emb[q_rows] @ p.T).astype(np.float64)
    if rng is None:
        raise EmbcoreError(f"easy rule {rule.label!r} needs a seeded random generator")
    return rng.random((len(q_rows), n_passages if p_rows is None else len(p_rows)))


def rule_topk(
    rule: RuleSpec,
    q_codes: np.ndarray,
    p_codes: np.ndarray,
    k: int,
    *,
    query_emb: np.ndarray | None = None,
    passage_emb: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    chunk_mb: int = 64,
    progress: ProgressFn | None = None,
) -> TopK:
    """Up to ``k`` passages per query satisfying the rule, hard (most similar) or easy (random) first.

    ``same`` rules score each value's queries against that value's passages only (small blocks);
    ``different`` rules score query chunks against the whole corpus with same-valued passages masked.

    Args:
        rule: The rule (its ``tag`` decides the order).
        q_codes: (nq,) query codes of the rule's column (see :func:`meta_codes`).
        p_codes: (np,) passage codes.
        k: Candidates per query.
        query_emb: (nq, dim) embeddings, required for ``hard`` rules.
        passage_emb: (np, dim) embeddings, required for ``hard`` rules.
        rng: Seeded generator, required for ``easy`` rules.
        chunk_mb: Memory budget of one block's score matrix.
        progress: Progress callback (stage ``rules``).

    Returns:
        A :class:`TopK` (nq, k) whose scores are cosines (hard) or random keys (easy).
    """
    if rule.relation not in RELATIONS:
        raise EmbcoreError(
            f"relation={rule.relation!r} is not allowed; choose one of: {', '.join(RELATIONS)}"
        )
    if rule.relation == "same":
        return _same_value_topk(rule, q_codes, p_codes, k, query_emb, passage_emb, rng, chunk_mb, progress)
    rows = chunk_rows(len(p_codes), chunk_mb, itemsize=8)
    parts = []
    for start in range(0, len(q_codes), rows):
        q_rows = np.arange(start, min(start + rows, len(q_codes)))
        # 1. scores against the whole corpus, 2. forbid passages outside the relation, 3. top-k
        scores = _rule_scores(rule, q_rows, None, len(p_codes), query_emb, passage_emb, rng)
        scores[~relation_mask(q_codes[q_rows], p_codes, rule.relation)] = -np.inf
        parts.append(topk_rows(scores, k))
        report(progress, "rules", int(q_rows[-1]) + 1, len(q_codes))
    return concat_topk(parts, k)


def _same_value_topk(
    rule: RuleSpec,
    q_codes: np.ndarray,
    p_codes: np.ndarray,
    k: int,
    query_emb: np.ndarray | None,
    passage_emb: np.ndarray | None,
    rng: np.random.Generator | None,
    chunk_mb: int,
    progress: ProgressFn | None,
) -> TopK:
    """Top-k within each metadata value: one small (queries x passages) block per value."""
    out = TopK(np.full((len(q_codes), k), -1, np.int64), np.full((len(q_codes), k), -np.inf))
    # 1. queries and passages sorted by code; the run of each code in both
    q_order, p_order = np.argsort(q_codes, kind="stable"), np.argsort(p_codes, kind="stable")
    q_sorted, p_sorted = q_codes[q_order], p_codes[p_order]
    codes = np.unique(q_sorted[q_sorted >= 0])
    q_lo, q_hi = np.searchsorted(q_sorted, codes), np.searchsorted(q_sorted, codes, side="right")
    p_lo, p_hi = np.searchsorted(p_sorted, codes), np.searchsorted(p_sorted, codes, side="right")
    # 2. per code (and per chunk of its queries): scores, top-k, map back to passage indices
    for i in range(len(codes)):
        passages = p_order[p_lo[i] : p_hi[i]]
        if passages.size == 0:
            continue
        queries = q_order[q_lo[i] : q_hi[i]]
        rows = chunk_rows(passages.size, chunk_mb, itemsize=8)
        for start in range(0, queries.size, rows):
            q_rows = queries[start : start + rows]
            top = topk_rows(
                _rule_scores(rule, q_rows, passages, len(p_codes), query_emb, passage_emb, rng), k
            )
            out.indices[q_rows] = np.where(top.indices >= 0, passages[np.maximum(top.indices, 0)], -1)
            out.scores[q_rows] = top.scores
        report(progress, "rules", int(q_hi[i]), len(q_codes))
    return out
