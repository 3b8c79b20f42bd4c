"""Candidate lists and their fusion (reciprocal-rank or weighted-score) with provenance.

Every strategy yields a :class:`CandidateList`: flat arrays, one row per (query, candidate),
ranked 1..n within each query. :func:`fuse` merges any number of them into one ranking per
query and keeps, for each source, the rank and score at which it found the candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from embcore.errors import EmbcoreError
from embcore.mining.config import FUSIONS
from embcore.mining.dense import TopK

KIND_PASSAGE = 0
KIND_QUERY = 1
KIND_NAMES: tuple[str, str] = ("passage", "query")


@dataclass
class CandidateList:
    """One source's ranked candidates.

    Attributes:
        source: Source label (``bm25``, ``dense``, ``inbatch``, ``rule:same-ticker`` ...).
        query_idx: (n,) int64 query indices, grouped (sorted) by query.
        cand_kind: (n,) int8, ``KIND_PASSAGE`` or ``KIND_QUERY``.
        cand_idx: (n,) int64 indices into passages (or queries for ``KIND_QUERY``).
        score: (n,) float64 the source's own score.
        rank: (n,) int64 1-based rank within the query.
    """

    source: str
    query_idx: np.ndarray
    cand_kind: np.ndarray
    cand_idx: np.ndarray
    score: np.ndarray
    rank: np.ndarray

    def __len__(self) -> int:
        return int(self.query_idx.shape[0])


@dataclass
class FusedCandidates:
    """All candidates of a run, one row per (query, candidate), sorted by query then rank.

    Attributes:
        query_idx: (m,) int64.
        cand_kind: (m,) int8.
        cand_idx: (m,) int64.
        score: (m,) float64 fused score (the source's score when only one list was fused).
        rank: (m,) int64 1-based rank within the query.
        source_mask: (m,) int64 bit i set when ``sources[i]`` proposed the candidate.
        sources: Source labels in bit order.
        source_rank: Per source, (m,) float64 rank in that source's list (NaN if absent).
        source_score: Per source, (m,) float64 score in that source's list (NaN if absent).
    """

    query_idx: np.ndarray
    cand_kind: np.ndarray
    cand_idx: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    source_mask: np.ndarray
    sources: list[str]
    source_rank: dict[str, np.ndarray] = field(default_factory=dict)
    source_score: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.query_idx.shape[0])

    def take(self, order: np.ndarray) -> FusedCandidates:
        """Rows in ``order`` (a permutation or a subset)."""
        return FusedCandidates(
            query_idx=self.query_idx[order],
            cand_kind=self.cand_kind[order],
            cand_idx=self.cand_idx[order],
            score=self.score[order],
            rank=self.rank[order],
            source_mask=self.source_mask[order],
            sources=list(self.sources),
            source_rank={k: v[order] for k, v in self.source_rank.items()},
            source_score={k: v[order] for k, v in self.source_score.items()},
        )

    def source_labels(self) -> np.ndarray:
        """(m,) object array of '+'-joined source labels per row."""
        codes, inverse = np.unique(self.source_mask, return_inverse=True)
        names = np.array(
            ["+".join(s for i, s in enumerate(self.sources) if int(c) >> i & 1) for c in codes], dtype=object
        )
        return names[inverse.reshape(-1)]


def rank_in_groups(sorted_groups: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal values (``sorted_groups`` grouped)."""
    n = sorted_groups.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths) + 1


def from_topk(
    source: str, topk: TopK, *, kind: int = KIND_PASSAGE, query_rows: np.ndarray | None = None
) -> CandidateList:
    """Flatten a :class:`TopK` (rows = queries, -1 = padding) into a :class:`CandidateList`.

    Args:
        source: Source label.
        topk: The per-query top-k.
        kind: Candidate kind of every row.
        query_rows: Query index of each topk row (default ``arange``).
    """
    n_rows, k = topk.indices.shape
    rows = np.arange(n_rows, dtype=np.int64) if query_rows is None else np.asarray(query_rows, np.int64)
    valid = topk.indices >= 0
    q = np.repeat(rows, k).reshape(n_rows, k)[valid]
    rank = np.broadcast_to(np.arange(1, k + 1, dtype=np.int64), (n_rows, k))[valid]
    return CandidateList(
        source=source,
        query_idx=q,
        cand_kind=np.full(q.shape[0], kind, dtype=np.int8),
        cand_idx=topk.indices[valid].astype(np.int64),
        score=topk.scores[valid].astype(np.float64),
        rank=rank,
    )


def ranked_list(
    source: str,
    query_idx: np.ndarray,
    cand_idx: np.ndarray,
    score: np.ndarray,
    *,
    kind: int | np.ndarray = KIND_PASSAGE,
    order: np.ndarray | None = None,
) -> CandidateList:
    """Build a :class:`CandidateList` from unordered pairs: dedupe, sort per query, rank.

    Args:
        source: Source label.
        query_idx: (n,) query of each pair.
        cand_idx: (n,) candidate of each pair.
        score: (n,) score shown for each pair.
        kind: Candidate kind(s).
        order: (n,) sort key, smaller first (default ``-score``); ties keep input order.
    """
    q = np.asarray(query_idx, np.int64)
    c = np.asarray(cand_idx, np.int64)
    kinds = np.broadcast_to(np.asarray(kind, np.int8), q.shape).copy()
    s = np.asarray(score, np.float64)
    key = -s if order is None else np.asarray(order, np.float64)
    # 1. sort by query, then key, then input position
    idx = np.lexsort((np.arange(q.shape[0]), key, q))
    q, c, kinds, s = q[idx], c[idx], kinds[idx], s[idx]
    # 2. keep the first occurrence of each (query, kind, candidate)
    pair = _pair_keys(q, kinds, c)
    _, first = np.unique(pair, return_index=True)
    keep = np.zeros(q.shape[0], bool)
    keep[first] = True
    q, c, kinds, s = q[keep], c[keep], kinds[keep], s[keep]
    return CandidateList(source, q, kinds, c, s, rank_in_groups(q))


def _pair_keys(q: np.ndarray, kind: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One int64 key per (query, kind, candidate) triple."""
    width = int(c.max()) + 1 if c.size else 1
    return (q.astype(np.int64) * 2 + kind.astype(np.int64)) * width + c.astype(np.int64)


def _minmax_per_query(q: np.ndarray, s: np.ndarray, n_queries: int) -> np.ndarray:
    """Scores min-max scaled to [0, 1] within each query (1.0 when a query's scores are all equal)."""
    lo = np.full(n_queries, np.inf)
    hi = np.full(n_queries, -np.inf)
    np.minimum.at(lo, q, s)
    np.maximum.at(hi, q, s)
    span = (hi - lo)[q]
    return np.where(span > 0, (s - lo[q]) / np.where(span > 0, span, 1.0), 1.0)


def fuse(
    lists: Sequence[CandidateList],
    *,
    method: Literal["rrf", "weighted"] = "rrf",
    rrf_k: int = 60,
    weights: Mapping[str, float] | None = None,
) -> FusedCandidates:
    """Merge candidate lists into one ranking per query, keeping per-source provenance.

    ``rrf``: score = sum over sources of ``weight / (rrf_k + rank)``. ``weighted``: score = sum
    of ``weight * minmax(score)`` (min-max within query and source; absent = 0). With a single
    list its own order and scores are kept. Ties: best single-source rank, then source order,
    then candidate index.

    Args:
        lists: The candidate lists (empty lists are fine).
        method: ``rrf`` or ``weighted``.
        rrf_k: RRF constant.
        weights: Per-source weight (default 1.0).

    Returns:
        :class:`FusedCandidates` sorted by query, then rank.
    """
    if method not in FUSIONS:
        raise EmbcoreError(f"fusion={method!r} is not allowed; choose one of: {', '.join(FUSIONS)}")
    weights = dict(weights or {})
    sources = [lst.source for lst in lists]
    if len(set(sources)) != len(sources):
        raise EmbcoreError(f"duplicate candidate sources: {sources}")
    # 1. all rows, tagged with their source id
    sid = np.concatenate(
        [np.full(len(lst), i, np.int64) for i, lst in enumerate(lists)] or [np.zeros(0, np.int64)]
    )
    cat = {a: _cat(lists, a) for a in ("query_idx", "cand_kind", "cand_idx", "score", "rank")}
    n_queries = int(cat["query_idx"].max()) + 1 if len(sid) else 0
    # 2. one output row per distinct (query, kind, candidate): sort the keys, runs of equal keys
    keys = _pair_keys(cat["query_idx"], cat["cand_kind"], cat["cand_idx"])
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    starts = (
        np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        if keys.size
        else np.zeros(0, np.int64)
    )
    m = starts.shape[0]
    inv = np.empty(keys.shape[0], np.int64)
    inv[by_key] = np.repeat(np.arange(m), np.diff(np.r_[starts, keys.shape[0]]))
    first = by_key[starts]  # first occurrence = earliest source
    # 3. provenance: source bitmask, rank and score per source
    mask = np.bitwise_or.reduceat(np.left_shift(1, sid)[by_key], starts) if m else np.zeros(0, np.int64)
    src_rank = {s: np.full(m, np.nan) for s in sources}
    src_score = {s: np.full(m, np.nan) for s in sources}
    bounds = np.cumsum([0, *(len(lst) for lst in lists)])
    for i, s in enumerate(sources):
        rows = slice(bounds[i], bounds[i + 1])  # the lists are concatenated in order
        src_rank[s][inv[rows]] = cat["rank"][rows]
        src_score[s][inv[rows]] = cat["score"][rows]
    # 4. fused score
    w = np.array([weights.get(s, 1.0) for s in sources], np.float64)[sid] if len(sid) else np.zeros(0)
    if len(lists) == 1:
        score = src_score[sources[0]]
        sort_key = src_rank[sources[0]]
    else:
        if method == "rrf":
            contrib = w / (rrf_k + cat["rank"])
        else:
            contrib = w * _minmax_per_query(
                cat["query_idx"] * len(lists) + sid, cat["score"], n_queries * len(lists)
            )
        score = np.bincount(inv, weights=contrib, minlength=m)
        sort_key = -score
    best_rank = np.minimum.reduceat(cat["rank"][by_key], starts) if m else np.zeros(0, np.int64)
    first_src = sid[first]
    q = cat["query_idx"][first]
    c = cat["cand_idx"][first]
    # 5. order within query: fused score, then one tie-break key (best rank, source order, candidate index)
    tie = (best_rank.astype(np.int64) * 64 + first_src) * (int(c.max(initial=0)) + 1) + c
    order = np.lexsort((tie, sort_key, q))
    out = FusedCandidates(
        query_idx=q,
        cand_kind=cat["cand_kind"][first],
        cand_idx=c,
        score=score,
        rank=np.zeros(m, np.int64),
        source_mask=mask,
        sources=sources,
        source_rank=src_rank,
        source_score=src_score,
    ).take(order)
    out.rank = rank_in_groups(out.query_idx)
    return out


def _cat(lists: Sequence[CandidateList], attr: str) -> np.ndarray:
    dtype = {
        "query_idx": np.int64,
        "cand_kind": np.int8,
        "cand_idx": np.int64,
        "score": np.float64,
        "rank": np.int64,
    }[attr]
    parts = [getattr(lst, attr) for lst in lists]
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
