"""Dense retrieval: cached encoding and exact, chunked top-k by cosine similarity.

Embeddings go through an :class:`~embcore.mining.types.EmbeddingCache` keyed by
``(encoder.model_id, prompt, text_hash)``, so re-mining with other parameters never re-encodes.
Top-k is exact: each chunk of queries is scored against the whole corpus with one matrix
product (its size bounded by a memory budget), then reduced with ``argpartition``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from embcore.errors import EmbcoreError
from embcore.mining.types import EmbeddingCache
from embcore.models.encoders import Encoder
from embcore.models.estimate import announce_encoding, record_encoding
from embcore.progress import ProgressFn, report
from embcore.text import text_hash

log = logging.getLogger(__name__)


class TopK(NamedTuple):
    """Per-row top-k of a score matrix, best first.

    Attributes:
        indices: (n_rows, k) int64 column indices; -1 pads rows with fewer than k candidates.
        scores: (n_rows, k) float scores; -inf where ``indices`` is -1.
    """

    indices: np.ndarray
    scores: np.ndarray


def chunk_rows(n_cols: int, chunk_mb: int, itemsize: int = 4) -> int:
    """How many query rows fit in ``chunk_mb`` MiB when each row holds ``n_cols`` scores
    (plus the argpartition index array of the same shape)."""
    per_row = max(1, n_cols) * (itemsize + 8)
    return max(1, (chunk_mb * 1024 * 1024) // per_row)


def topk_rows(scores: np.ndarray, k: int) -> TopK:
    """Exact top-k of every row of a dense score matrix, sorted by score (ties: lower index first).

    Args:
        scores: (n_rows, n_cols) scores; ``-inf`` marks forbidden cells (never returned).
        k: How many to keep per row.

    Returns:
        A :class:`TopK` of shape (n_rows, k).
    """
    n_rows, n_cols = scores.shape
    kk = min(k, n_cols)
    if kk == 0:
        return TopK(np.full((n_rows, k), -1, np.int64), np.full((n_rows, k), -np.inf))
    # 1. unordered top-kk per row
    if kk < n_cols:
        part = np.argpartition(scores, n_cols - kk, axis=1)[:, n_cols - kk :]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    # 2. order by index, then stable by descending score -> ties broken by lower index
    part.sort(axis=1)
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64, copy=False)
    vals = np.take_along_axis(vals, order, axis=1).astype(np.float64, copy=False)
    # 3. forbidden cells become padding; pad to k columns
    idx[~np.isfinite(vals)] = -1
    vals = np.where(idx < 0, -np.inf, vals)
    if kk < k:
        idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return TopK(idx, vals)


def concat_topk(parts: list[TopK], k: int) -> TopK:
    """Stack per-chunk :class:`TopK` results (empty list -> an empty (0, k) result)."""
    if not parts:
        return TopK(np.zeros((0, k), np.int64), np.zeros((0, k)))
    return TopK(np.concatenate([p.indices for p in parts]), np.concatenate([p.scores for p in parts]))


def encode_cached(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    prompt: str = "",
    cache: EmbeddingCache | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    what: str = "texts",
) -> np.ndarray:
    """Encode ``texts`` with ``prompt``, reading and filling ``cache``; each distinct text is encoded once.

    Before a long encoding, the time it will take on this machine is logged (``embcore.models.estimate``).

    Args:
        encoder: The bi-encoder (its ``model_id`` is part of the cache key).
        texts: Texts to encode (duplicates allowed).
        prompt: Prompt/instruction prepended by the encoder ("" = none).
        cache: Embedding cache; None encodes everything.
        batch_size: Encoding batch size.
        progress: Progress callback (stage ``encode``).
        what: What the texts are, for the estimate's sentence ("passages", "queries").

    Returns:
        (len(texts), dim) float32 L2-normalised embeddings, in the order of ``texts``.
    """
    # 1. distinct texts by hash
    hashes = [text_hash(t) for t in texts]
    uniq: dict[str, int] = {}
    for i, h in enumerate(hashes):
        uniq.setdefault(h, i)
    # 2. cache hits
    found = cache.get_embeddings(encoder.model_id, prompt, list(uniq)) if cache is not None else {}
    missing = [h for h in uniq if h not in found]
    # 3. encode the misses and store them
    if missing:
        log.info("encoding %d texts (%d cached) with %s", len(missing), len(found), encoder.model_id)
        todo = [texts[uniq[h]] for h in missing]
        announce_encoding(encoder, todo, what=what, prompt=prompt or None)
        t0 = time.perf_counter()
        vecs = encoder.encode(todo, prompt=prompt or None, batch_size=batch_size, progress=progress)
        record_encoding(encoder, todo, time.perf_counter() - t0, prompt=prompt or None)
        vecs = np.asarray(vecs, dtype=np.float32)
        if cache is not None:
            cache.put_embeddings(encoder.model_id, prompt, missing, vecs)
        found.update(zip(missing, vecs, strict=True))
    else:
        report(progress, "encode", len(texts), len(texts))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    # 4. assemble in input order
    return np.stack([np.asarray(found[h], dtype=np.float32) for h in hashes])


def dense_topk(
    query_emb: np.ndarray,
    passage_emb: np.ndarray,
    k: int,
    *,
    chunk_mb: int = 64,
    use_faiss: bool = False,
    progress: ProgressFn | None = None,
) -> TopK:
    """Exact top-k passages per query by dot product (cosine for normalised vectors).

    Args:
        query_emb: (nq, dim) float32 query embeddings.
        passage_emb: (np, dim) float32 passage embeddings.
        k: Candidates per query.
        chunk_mb: Memory budget of one chunk's (rows, np) score matrix, in MiB.
        use_faiss: Search with a faiss ``IndexFlatIP`` (exact) instead of numpy.
        progress: Progress callback (stage ``dense``).

    Returns:
        A :class:`TopK` of shape (nq, k).
    """
    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    p = np.ascontiguousarray(passage_emb, dtype=np.float32)
    if use_faiss:
        return _faiss_topk(q, p, k, chunk_mb, progress)
    rows = chunk_rows(p.shape[0], chunk_mb)
    parts = []
    for start in range(0, q.shape[0], rows):
        # 1. one chunk of scores, 2. exact top-k of the chunk
        parts.append(topk_rows(q[start : start + rows] @ p.T, k))
        report(progress, "dense", min(start + rows, q.shape[0]), q.shape[0])
    return concat_topk(parts, k)


def _faiss_topk(q: np.ndarray, p: np.ndarray, k: int, chunk_mb: int, progress: ProgressFn | None) -> TopK:
    try:
        import faiss
    except ImportError as exc:
        raise EmbcoreError("use_faiss needs faiss: pip install faiss-cpu (or run without use_faiss)") from exc
    index = faiss.IndexFlatIP(p.shape[1])
    index.add(p)
    kk = min(k, p.shape[0])
    rows = chunk_rows(kk, chunk_mb) if kk else q.shape[0]
    parts = []
    for start in range(0, q.shape[0], max(rows, 1)):
        vals, idx = index.search(q[start : start + rows], kk)
        vals = np.where(idx < 0, -np.inf, vals.astype(np.float64))
        if kk < k:
            idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
            vals = np.pad(vals, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        parts.append(TopK(idx.astype(np.int64), vals))
        report(progress, "dense", min(start + rows, q.shape[0]), q.shape[0])
    return concat_topk(parts, k)


def _einsum_vecdot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, y)


_vecdot = getattr(np, "vecdot", _einsum_vecdot)  # numpy >= 2.0 has a SIMD ufunc


def rowwise_dot(
    a: np.ndarray, a_idx: np.ndarray, b: np.ndarray, b_idx: np.ndarray, *, chunk: int = 65536
) -> np.ndarray:
    """``dot(a[a_idx[i]], b[b_idx[i]])`` for every i, in bounded-memory chunks.

    Args:
        a: (na, dim) embeddings.
        a_idx: (n,) row indices into ``a``.
        b: (nb, dim) embeddings.
        b_idx: (n,) row indices into ``b``.
        chunk: Pairs per chunk.

    Returns:
        (n,) float64 dot products.
    """
    out = np.empty(len(a_idx), dtype=np.float64)
    for start in range(0, len(a_idx), chunk):
        sl = slice(start, start + chunk)
        out[sl] = _vecdot(a[a_idx[sl]], b[b_idx[sl]])
    return out
