"""In-batch negatives: what a contrastive loss (MultipleNegativesRanking / InfoNCE) sees in a batch.

Queries are shuffled (seeded) into batches of ``batch_size``. *Asymmetric*: each query's
candidates are the positives of the other queries in its batch (the passages its training row
is contrasted with). *Symmetric*: the other queries themselves (anchor-anchor negatives of
symmetric losses). Shared positives and paraphrased queries then show up as false negatives
and are removed by the pipeline's positive-aware filters, which is what makes this useful.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def batch_pairs(n_queries: int, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All ordered (anchor, other) pairs of distinct queries sharing a shuffled batch.

    Args:
        n_queries: Number of queries.
        batch_size: Batch size (the last batch may be smaller).
        rng: Seeded generator for the shuffle.

    Returns:
        (anchor, other): two (n_pairs,) int64 arrays, grouped by batch.
    """
    if n_queries == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # 1. shuffled queries laid out as (n_batches, batch_size), -1 padding the last batch
    n_batches = -(-n_queries // batch_size)
    grid = np.full(n_batches * batch_size, -1, np.int64)
    grid[:n_queries] = rng.permutation(n_queries)
    grid = grid.reshape(n_batches, batch_size)
    # 2. every (i, j) cell pair of a batch, minus the diagonal and the padding
    a = np.broadcast_to(grid[:, :, None], (n_batches, batch_size, batch_size))
    b = np.broadcast_to(grid[:, None, :], (n_batches, batch_size, batch_size))
    ok = (a >= 0) & (b >= 0) & (a != b)
    return a[ok], b[ok]


def first_positives(positives: Sequence[Sequence[int]]) -> np.ndarray:
    """(nq,) int64 first positive of each query (-1 when it has none): the passage in its training row."""
    return np.fromiter((p[0] if len(p) else -1 for p in positives), dtype=np.int64, count=len(positives))


def inbatch_candidates(
    positives: Sequence[Sequence[int]],
    batch_size: int,
    rng: np.random.Generator,
    *,
    symmetric: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """In-batch candidates per query.

    Args:
        positives: Per query, indices of its positive passages.
        batch_size: Simulated batch size.
        rng: Seeded generator.
        symmetric: False -> other queries' first positives (passages); True -> the other queries.

    Returns:
        (query_idx, cand_idx) int64 arrays; ``cand_idx`` indexes passages (asymmetric) or queries (symmetric).
    """
    anchor, other = batch_pairs(len(positives), batch_size, rng)
    if symmetric:
        return anchor, other
    first = first_positives(positives)[other]
    keep = first >= 0
    return anchor[keep], first[keep]
