"""Positive-aware false-negative filters.

Each filter is a small function returning a boolean *keep* mask over candidate rows. The
pipeline applies them in :data:`~embcore.mining.config.FILTER_ORDER` through a
:class:`FilterTally`, which records for every removed candidate the first filter that removed
it and counts removals per filter.

Scores for ``max_score`` / ``min_score`` / margins are bi-encoder cosines, or cross-encoder
scores when one rescored the candidates; the query's *positive score* is the lowest score of
its positives (the harder positive, as in sentence-transformers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embcore.mining.dense import rowwise_dot
from embcore.mining.fusion import KIND_PASSAGE, KIND_QUERY, rank_in_groups
from embcore.progress import ProgressFn, report
from embcore.text import match_key

log = logging.getLogger(__name__)

_WS_RE = re.compile(r"\s+")


def fast_match_key(text: str) -> str:
    """:func:`embcore.text.match_key`, with a shortcut for printable ASCII (where NFKC and the
    invisible/control stripping are no-ops)."""
    if text.isascii() and text.isprintable():
        return _WS_RE.sub(" ", text).strip().casefold()
    return match_key(text)


# --------------------------------------------------------------------------- positives
@dataclass
class PositiveIndex:
    """Every query's positives, in forms the filters can test in bulk.

    Attributes:
        matrix: (nq, np) CSR, 1 where the passage is a positive of the query. Queries with the
            same normalised text share (the union of) their positives.
        passage_codes: (np,) int64 code of each passage's normalised text.
        query_codes: (nq,) int64 code of each query's normalised text (same code space).
        text_keys: sorted int64 keys ``query * n_codes + code`` of texts that count as the
            query's positives (its positives' texts and its own text).
        n_codes: Size of the text code space.
    """

    matrix: sp.csr_matrix
    passage_codes: np.ndarray
    query_codes: np.ndarray
    text_keys: np.ndarray
    n_codes: int

    @property
    def counts(self) -> np.ndarray:
        """(nq,) number of positives per query."""
        return np.diff(self.matrix.indptr)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(query, passage) int64 arrays of every positive pair, grouped by query."""
        q = np.repeat(np.arange(self.matrix.shape[0], dtype=np.int64), self.counts)
        return q, self.matrix.indices.astype(np.int64)


def build_positive_index(
    positives: Sequence[Sequence[int]], query_texts: Sequence[str], passage_texts: Sequence[str]
) -> PositiveIndex:
    """Index the positives by passage id and by normalised text.

    Args:
        positives: Per query, indices of its positive passages.
        query_texts: Query texts.
        passage_texts: Passage texts.

    Returns:
        The :class:`PositiveIndex`.
    """
    nq, n_p = len(query_texts), len(passage_texts)
    # 1. normalised-text codes shared by passages and queries
    codes, uniques = pd.factorize(
        pd.Series([fast_match_key(t) for t in (*passage_texts, *query_texts)], dtype=object)
    )
    codes = np.asarray(codes, np.int64)
    p_codes, q_codes = codes[:n_p], codes[n_p:]
    # 2. positive matrix, expanded over queries with the same text: G @ (G.T @ P)
    q_rows = np.repeat(np.arange(nq), [len(p) for p in positives])
    p_cols = np.fromiter((i for p in positives for i in p), dtype=np.int64, count=len(q_rows))
    pos = sp.csr_matrix((np.ones(len(q_rows)), (q_rows, p_cols)), shape=(nq, n_p))
    _, q_group = np.unique(q_codes, return_inverse=True)
    groups = sp.csr_matrix(
        (np.ones(nq), (np.arange(nq), q_group.reshape(-1))), shape=(nq, int(q_group.max(initial=-1)) + 1)
    )
    expanded = (groups @ (groups.T @ pos)).tocsr()
    expanded.data[:] = 1.0
    expanded.sort_indices()
    # 3. (query, text code) keys of the positives' texts and of the query's own text
    eq, ep = np.repeat(np.arange(nq), np.diff(expanded.indptr)), expanded.indices
    n_codes = len(uniques)
    keys = np.concatenate([eq * n_codes + p_codes[ep], np.arange(nq) * n_codes + q_codes])
    return PositiveIndex(expanded, p_codes, q_codes, np.unique(keys), n_codes)


def _row_lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether ``matrix[rows[i], cols[i]]`` is stored, for every i (vectorised)."""
    keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * matrix.shape[1]
    keys = keys + matrix.indices
    wanted = rows.astype(np.int64) * matrix.shape[1] + cols
    return np.isin(wanted, keys)


# --------------------------------------------------------------------------- the filters
def positive_id_mask(
    pidx: PositiveIndex, query_idx: np.ndarray, kind: np.ndarray, cand_idx: np.ndarray
) -> np.ndarray:
    """Keep mask: drop passages that are positives of the query; for query candidates, drop the
    query itself and any query sharing a positive with it."""
    keep = np.ones(query_idx.shape[0], bool)
    is_p = kind == KIND_PASSAGE
    keep[is_p] = ~_row_lookup(pidx.matrix, query_idx[is_p], cand_idx[is_p])
    is_q = np.flatnonzero(kind == KIND_QUERY)
    if is_q.size:
        a, b = query_idx[is_q], cand_idx[is_q]
        shared = np.asarray(pidx.matrix[a].multiply(pidx.matrix[b]).sum(axis=1)).reshape(-1) > 0
        keep[is_q] = (a != b) & ~shared
    return keep


def positive_text_mask(
    pidx: PositiveIndex, query_idx: np.ndarray, kind: np.ndarray, cand_idx: np.ndarray
) -> np.ndarray:
    """Keep mask: drop candidates whose normalised text equals one of the query's positives or the query."""
    codes = np.empty(query_idx.shape[0], np.int64)
    is_p = kind == KIND_PASSAGE
    codes[is_p] = pidx.passage_codes[cand_idx[is_p]]
    codes[~is_p] = pidx.query_codes[cand_idx[~is_p]]
    return ~np.isin(query_idx.astype(np.int64) * pidx.n_codes + codes, pidx.text_keys)


def near_duplicate_mask(pos_sim: np.ndarray, threshold: float | None) -> np.ndarray:
    """Keep mask: drop candidates whose cosine to a positive is >= ``threshold`` (NaN = keep)."""
    if threshold is None:
        return np.ones(pos_sim.shape[0], bool)
    return ~(pos_sim >= threshold)


def max_score_mask(score: np.ndarray, max_score: float | None) -> np.ndarray:
    """Keep mask: drop candidates scoring above ``max_score``."""
    return np.ones(score.shape[0], bool) if max_score is None else ~(score > max_score)


def min_score_mask(score: np.ndarray, min_score: float | None) -> np.ndarray:
    """Keep mask: drop candidates scoring below ``min_score``."""
    return np.ones(score.shape[0], bool) if min_score is None else ~(score < min_score)


def absolute_margin_mask(score: np.ndarray, pos_score: np.ndarray, margin: float | None) -> np.ndarray:
    """Keep mask: drop candidates with ``score + margin > positive score`` (no positive score = keep).

    Args:
        score: (m,) candidate scores.
        pos_score: (m,) the query's positive score, per candidate row.
        margin: The absolute margin, or None (filter off).
    """
    if margin is None:
        return np.ones(score.shape[0], bool)
    return ~(score + margin > pos_score)


def relative_margin_mask(score: np.ndarray, pos_score: np.ndarray, margin: float | None) -> np.ndarray:
    """Keep mask: drop candidates with ``score > pos - |pos| * margin`` (0.05 = TopK-PercPos 95%).

    Args:
        score: (m,) candidate scores.
        pos_score: (m,) the query's positive score, per candidate row.
        margin: The relative margin, or None (filter off).
    """
    if margin is None:
        return np.ones(score.shape[0], bool)
    return ~(score > pos_score - np.abs(pos_score) * margin)


def rank_window_mask(
    query_idx: np.ndarray, alive: np.ndarray, range_min: int, range_max: int | None
) -> np.ndarray:
    """Keep mask: among each query's surviving rows (in the current order), skip the first
    ``range_min`` and drop those past ``range_max``.

    Args:
        query_idx: (m,) query of each row, grouped by query, rows in rank order.
        alive: (m,) rows not removed by earlier filters.
        range_min: Survivors to skip.
        range_max: Last survivor rank to consider (None = no limit).
    """
    survivor_rank = _cumcount(query_idx, alive)
    upper = np.inf if range_max is None else range_max
    return ~alive | ((survivor_rank > range_min) & (survivor_rank <= upper))


def _cumcount(query_idx: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Running count of ``flags`` within each query group (1-based at flagged rows)."""
    if flags.size == 0:
        return np.zeros(0, np.int64)
    csum = np.cumsum(flags, dtype=np.int64)
    pos = rank_in_groups(query_idx)  # 1-based position in group
    start = np.arange(flags.size) - pos + 1
    return csum - csum[start] + flags[start]


# --------------------------------------------------------------------------- dense features
def positive_scores(pidx: PositiveIndex, query_emb: np.ndarray, passage_emb: np.ndarray) -> np.ndarray:
    """(nq,) lowest cosine between each query and its positives (NaN without positives)."""
    q, p = pidx.pairs()
    return reduce_groups(np.minimum, rowwise_dot(query_emb, q, passage_emb, p), pidx.counts)


def max_positive_similarity(
    pidx: PositiveIndex,
    query_idx: np.ndarray,
    cand_emb: np.ndarray,
    cand_rows: np.ndarray,
    passage_emb: np.ndarray,
) -> np.ndarray:
    """(m,) highest cosine between each candidate and the positives of its query (NaN without positives).

    Args:
        pidx: The positives.
        query_idx: (m,) query of each candidate.
        cand_emb: Embeddings the candidates index into.
        cand_rows: (m,) row of each candidate in ``cand_emb``.
        passage_emb: (np, dim) passage embeddings.
    """
    # 1. expand each candidate row into (row, positive) pairs
    counts = pidx.counts[query_idx]
    row = np.repeat(np.arange(query_idx.shape[0]), counts)
    offs = np.arange(row.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = pidx.matrix.indices[np.repeat(pidx.matrix.indptr[query_idx], counts) + offs]
    # 2. cosines and per-row maximum
    return reduce_groups(np.maximum, rowwise_dot(cand_emb, cand_rows[row], passage_emb, pos), counts)


def reduce_groups(ufunc: np.ufunc, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Reduce consecutive runs of ``values`` (run i has ``counts[i]`` items) with ``ufunc``; NaN for empty runs."""
    out = np.full(counts.shape[0], np.nan)
    nonempty = counts > 0
    if values.size:
        starts = (np.cumsum(counts) - counts)[nonempty]
        out[nonempty] = ufunc.reduceat(values, starts)
    return out


# --------------------------------------------------------------------------- bookkeeping
@dataclass
class FilterTally:
    """Applies keep masks in order; remembers the first filter that removed each row.

    Attributes:
        status: (m,) int code per row: 0 = alive, i + 1 = removed by ``names[i]``.
        names: Filter names in the order applied.
        removed: Filter name -> rows it removed (rows already removed are not counted again).
    """

    status: np.ndarray
    names: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_rows(cls, n: int) -> FilterTally:
        """A tally over ``n`` rows, all alive."""
        return cls(status=np.zeros(n, np.int16))

    @property
    def alive(self) -> np.ndarray:
        """(m,) rows not removed so far."""
        return self.status == 0

    def apply(self, name: str, keep: np.ndarray) -> int:
        """Remove alive rows where ``keep`` is False; return how many were removed."""
        self.names.append(name)
        hit = self.alive & ~keep
        self.status[hit] = len(self.names)
        self.removed[name] = int(hit.sum())
        return self.removed[name]

    def counts(self, selected: np.ndarray) -> dict[str, int]:
        """Rows per outcome: 'selected', 'kept', then each filter that removed any."""
        per_code = np.bincount(self.status, minlength=len(self.names) + 1)
        n_selected = int((selected & self.alive).sum())
        out = {"selected": n_selected, "kept": int(per_code[0]) - n_selected}
        out.update({name: int(per_code[i + 1]) for i, name in enumerate(self.names) if per_code[i + 1]})
        return out

    def labels(self, selected: np.ndarray) -> np.ndarray:
        """(m,) object array: 'selected', 'kept', or the removing filter's name."""
        table = np.array(["kept", *self.names], dtype=object)
        out = table[self.status]
        out[selected & self.alive] = "selected"
        return out


# --------------------------------------------------------------------------- cross-encoder


def cross_encoder_scores(
    model: Any,
    left: Sequence[str],
    right: Sequence[str],
    *,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    chunk: int = 4096,
) -> np.ndarray:
    """Score (left[i], right[i]) pairs with a cross-encoder (anything with ``predict(pairs, batch_size=...)``).

    Returns:
        (n,) float64 scores.
    """
    out = np.empty(len(left), dtype=np.float64)
    for start in range(0, len(left), chunk):
        pairs = list(zip(left[start : start + chunk], right[start : start + chunk], strict=True))
        out[start : start + len(pairs)] = np.asarray(
            model.predict(pairs, batch_size=batch_size, show_progress_bar=False), dtype=np.float64
        ).reshape(-1)
        report(progress, "cross-encoder", start + len(pairs), len(left))
    return out
