"""Vectorised BM25 (Okapi, as in rank-bm25's ``BM25Okapi``) on sparse matrices.

The corpus becomes a (n_docs, n_terms) sparse matrix of per-term BM25 weights

    w[d, t] = idf[t] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))

with rank-bm25's idf ``log(N - df + 0.5) - log(df + 0.5)`` and its floor: a negative idf
becomes ``epsilon * mean(idf)``. A query is a sparse row of term counts (a repeated query
term counts twice, as in rank-bm25), so scores for a chunk of queries are one sparse
product ``Q @ W.T``; top-k then uses ``argpartition``. Scores equal ``BM25Okapi.get_scores``
up to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from embcore.mining.dense import TopK, chunk_rows, concat_topk, topk_rows
from embcore.progress import ProgressFn, report


@dataclass
class BM25Index:
    """A BM25 index over a tokenised corpus.

    Attributes:
        terms: (n_terms,) vocabulary, as a pandas Index for vectorised lookup.
        weights_t: (n_terms, n_docs) CSR matrix of BM25 term weights (transposed for fast products).
        idf: (n_terms,) float64 idf after the epsilon floor.
        doc_len: (n_docs,) int64 document lengths in tokens.
        avgdl: Mean document length.
    """

    terms: pd.Index
    weights_t: sp.csr_matrix
    idf: np.ndarray
    doc_len: np.ndarray
    avgdl: float

    @property
    def n_docs(self) -> int:
        """Number of documents indexed."""
        return int(self.doc_len.shape[0])


def _flatten(token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(length of each list, row of each token, tokens as an object array) for token lists."""
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    rows = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
    flat = np.empty(int(lengths.sum()), dtype=object)
    flat[:] = [tok for toks in token_lists for tok in toks]
    return lengths, rows, flat


def okapi_idf(df: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    """rank-bm25 Okapi idf: ``log(N - df + .5) - log(df + .5)``, negatives floored to ``epsilon * mean``."""
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    if idf.size:
        idf[idf < 0] = epsilon * idf.mean()
    return idf


def build_bm25(
    corpus_tokens: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25
) -> BM25Index:
    """Index a tokenised corpus.

    Args:
        corpus_tokens: One token list per document.
        k1: Term-frequency saturation.
        b: Length normalisation.
        epsilon: Floor for negative idf as a fraction of the mean idf.

    Returns:
        The :class:`BM25Index`.
    """
    n_docs = len(corpus_tokens)
    # 1. term ids for every token (pandas factorize runs in C)
    doc_len, rows, flat = _flatten(corpus_tokens)
    codes, uniques = pd.factorize(flat)
    terms = pd.Index(uniques, dtype=object)
    # 2. term frequencies as a (docs, terms) CSR matrix (duplicates summed)
    tf = sp.csr_matrix((np.ones(len(codes), dtype=np.float64), (rows, codes)), shape=(n_docs, len(terms)))
    tf.sum_duplicates()
    # 3. document frequencies, idf with the epsilon floor, lengths
    df = np.bincount(tf.indices, minlength=len(terms)).astype(np.float64)
    idf = okapi_idf(df, n_docs, epsilon)
    avgdl = float(doc_len.sum() / n_docs) if n_docs else 0.0
    # 4. per-cell BM25 weights
    doc_of_cell = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
    norm = k1 * (1.0 - b + b * doc_len[doc_of_cell] / (avgdl or 1.0))
    data = idf[tf.indices] * tf.data * (k1 + 1.0) / (tf.data + norm)
    weights = sp.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape)
    return BM25Index(terms=terms, weights_t=weights.T.tocsr(), idf=idf, doc_len=doc_len, avgdl=avgdl)


def query_matrix(index: BM25Index, queries_tokens: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """(n_queries, n_terms) CSR matrix of query term counts; out-of-vocabulary tokens are dropped."""
    _, rows, flat = _flatten(queries_tokens)
    cols = index.terms.get_indexer(flat) if len(flat) else np.zeros(0, np.int64)
    keep = cols >= 0
    q = sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(len(queries_tokens), len(index.terms))
    )
    q.sum_duplicates()
    return q


def bm25_scores(index: BM25Index, queries_tokens: Sequence[Sequence[str]]) -> np.ndarray:
    """Dense (n_queries, n_docs) BM25 scores (for small inputs and tests; use :func:`bm25_topk` to mine)."""
    return (query_matrix(index, queries_tokens) @ index.weights_t).toarray()


def bm25_topk(
    index: BM25Index,
    queries_tokens: Sequence[Sequence[str]],
    k: int,
    *,
    chunk_mb: int = 64,
    progress: ProgressFn | None = None,
) -> TopK:
    """Top-k documents per query by BM25, computed in query chunks of bounded memory.

    Documents sharing no term with the query (score exactly 0) are never returned.

    Args:
        index: The corpus index.
        queries_tokens: One token list per query.
        k: Candidates per query.
        chunk_mb: Memory budget (MiB) of one chunk's dense score block.
        progress: Progress callback (stage ``bm25``).

    Returns:
        A :class:`TopK` of shape (n_queries, k); -1 pads queries with fewer matches.
    """
    q = query_matrix(index, queries_tokens)
    n = q.shape[0]
    rows = chunk_rows(index.n_docs, chunk_mb, itemsize=20)  # dense float64 block + sparse product
    parts = []
    for start in range(0, n, rows):
        # 1. sparse scores of the chunk, 2. exact top-k of the dense block, 3. drop non-matches (score 0)
        top = topk_rows((q[start : start + rows] @ index.weights_t).toarray(), k)
        zero = top.scores == 0.0
        top.indices[zero] = -1
        top.scores[zero] = -np.inf
        parts.append(_compact(top))
        report(progress, "bm25", min(start + rows, n), n)
    return concat_topk(parts, k)


def _compact(top: TopK) -> TopK:
    """Move -1 padding to the end of each row (keeping the order of the real entries)."""
    order = np.argsort(top.indices < 0, axis=1, kind="stable")
    return TopK(np.take_along_axis(top.indices, order, axis=1), np.take_along_axis(top.scores, order, axis=1))
