"""Choose ``num_negatives`` per query among the candidates that survived every filter."""

from __future__ import annotations

import numpy as np

from embcore.errors import EmbcoreError
from embcore.mining.config import SAMPLINGS


def select(
    query_idx: np.ndarray,
    alive: np.ndarray,
    num_negatives: int,
    *,
    sampling: str = "top",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Select up to ``num_negatives`` surviving rows per query.

    Args:
        query_idx: (m,) query of each row, grouped by query, rows in rank order.
        alive: (m,) rows that survived the filters.
        num_negatives: Rows to select per query.
        sampling: ``top`` (the best-ranked survivors) or ``random`` (uniform among survivors, seeded).
        rng: Generator for ``random``.

    Returns:
        (m,) bool mask of selected rows.
    """
    if sampling not in SAMPLINGS:
        raise EmbcoreError(f"sampling={sampling!r} is not allowed; choose one of: {', '.join(SAMPLINGS)}")
    m = query_idx.shape[0]
    if m == 0:
        return np.zeros(0, bool)
    # 1. a priority per row: rank order (top) or a random key (random); dead rows last
    if sampling == "top":
        prio = np.arange(m, dtype=np.float64)
    else:
        if rng is None:
            raise EmbcoreError("sampling='random' needs a seeded random generator")
        prio = rng.random(m)
    prio = np.where(alive, prio, np.inf)
    # 2. order rows by (query, priority) and take the first num_negatives alive rows per query
    order = np.lexsort((prio, query_idx))
    q_sorted = query_idx[order]
    starts = np.flatnonzero(np.r_[True, q_sorted[1:] != q_sorted[:-1]])
    pos_in_group = np.arange(m) - np.repeat(starts, np.diff(np.r_[starts, m]))
    chosen = np.zeros(m, bool)
    chosen[order] = (pos_in_group < num_negatives) & alive[order]
    return chosen
