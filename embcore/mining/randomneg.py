"""Random negatives: ``k`` distinct passages per query, drawn uniformly (seeded), in random order."""

from __future__ import annotations

import numpy as np

from embcore.mining.dense import chunk_rows


def _small_corpus_draw(rows: int, n_passages: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct passages per row via random keys over the whole corpus (corpus not much larger than k)."""
    keys = rng.random((rows, n_passages))
    part = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n_passages else np.argsort(keys, axis=1)
    order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _large_corpus_draw(rows: int, n_passages: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct passages per row by oversampling with replacement and dropping repeats (-1 if short)."""
    draws = rng.integers(0, n_passages, size=(rows, 2 * k + 8))
    # 1. mark repeats: sort each row, a value equal to its left neighbour is a repeat
    srt = np.argsort(draws, axis=1, kind="stable")
    vals = np.take_along_axis(draws, srt, axis=1)
    dup_sorted = np.zeros_like(vals, dtype=bool)
    dup_sorted[:, 1:] = vals[:, 1:] == vals[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, srt, dup_sorted, axis=1)
    # 2. keep the first k non-repeats in draw order
    pos = np.where(dup, np.inf, np.arange(draws.shape[1], dtype=np.float64)[None, :])
    pick = np.argsort(pos, axis=1, kind="stable")[:, :k]
    out = np.take_along_axis(draws, pick, axis=1)
    out[~np.isfinite(np.take_along_axis(pos, pick, axis=1))] = -1
    return out


def random_candidates(
    n_queries: int, n_passages: int, k: int, rng: np.random.Generator, *, chunk_mb: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``min(k, n_passages)`` distinct random passages for every query.

    Args:
        n_queries: Number of queries.
        n_passages: Corpus size.
        k: Passages per query.
        rng: Seeded generator.
        chunk_mb: Memory budget of one chunk of draws.

    Returns:
        (query_idx, cand_idx, draw_order): flat int64 arrays; ``draw_order`` (0-based) is the
        random rank of the candidate within its query.
    """
    k = min(k, n_passages)
    if n_queries == 0 or k == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    small = n_passages <= 4 * k
    rows = chunk_rows(n_passages if small else 3 * k, chunk_mb)
    parts = []
    for start in range(0, n_queries, rows):
        n = min(rows, n_queries - start)
        parts.append(
            _small_corpus_draw(n, n_passages, k, rng) if small else _large_corpus_draw(n, n_passages, k, rng)
        )
    grid = np.concatenate(parts)
    valid = grid >= 0
    q = np.repeat(np.arange(n_queries, dtype=np.int64), k).reshape(n_queries, k)[valid]
    order = np.broadcast_to(np.arange(k, dtype=np.int64), grid.shape)[valid]
    return q, grid[valid].astype(np.int64), order
