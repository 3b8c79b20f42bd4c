"""Mining guard for projects built from documents: never a negative cut from the query's own chunk.

An ICT query is a sentence of its source chunk, so the full chunk (which BM25 ranks first) holds
the query word for word; any passage derived from the source chunk of a generated query is a
twin of its positive; and an ICT positive (a chunk without one sentence) is never a negative of
any query (the full chunk can be). After mining, such candidates get the status ``same_chunk`` (counted in the
run's filter statistics like the other false-negative filters) and each query's selection is made
again among the survivors, with the run's sampling and seed.

A pure step like the other filters: the caller (:func:`embcore.workflow.run_mining`) reads the
banned pairs and the derived passages from the store (``Store.same_chunk_pairs``,
``Store.derived_passage_ids``) for projects that have sources (``Store.has_sources``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from embcore.mining.config import MiningConfig
from embcore.mining.pipeline import _rng
from embcore.mining.sampling import select
from embcore.mining.types import MiningInput, MiningResult

log = logging.getLogger(__name__)

SAME_CHUNK = "same_chunk"
"""Status of a candidate removed because it derives from the query's own source chunk."""
DERIVED = "ict_passage"
"""Status of a candidate removed because it is an ICT positive (a chunk minus a sentence; the chunk itself may be a negative)."""


def exclude_same_chunk(
    inp: MiningInput,
    result: MiningResult,
    cfg: MiningConfig,
    *,
    pairs: pd.DataFrame,
    derived: Sequence[int],
) -> MiningResult:
    """Re-label candidates cut from the query's source chunk and re-select.

    Args:
        inp: the mining input (query and passage ids).
        result: the mining result whose candidates are checked.
        cfg: the run's settings (``num_negatives``, ``sampling``, ``seed``).
        pairs: (query_id, passage_id) pairs that derive from the query's source chunk.
        derived: passage ids cut from a chunk that are not a chunk themselves (ICT positives).

    Returns:
        The result with those candidates' status ``same_chunk`` / ``ict_passage`` and each query's
        selection made again (``result`` itself when nothing is hit).
    """
    derived_ids = np.asarray(list(derived), dtype=np.int64)
    frame = result.candidates
    if (pairs.empty and not len(derived_ids)) or frame.empty:
        return result
    banned = set(zip(pairs["query_id"].astype(np.int64), pairs["passage_id"].astype(np.int64), strict=True))
    q_ids = inp.query_ids[frame["query_idx"].to_numpy(dtype=np.int64)]
    is_passage = (frame["cand_kind"] == "passage").to_numpy()
    p_ids = np.full(len(frame), -1, dtype=np.int64)
    p_ids[is_passage] = inp.passage_ids[frame.loc[is_passage, "cand_idx"].to_numpy(dtype=np.int64)]
    status = frame["status"].to_numpy(dtype=object).copy()
    alive = np.isin(status, ["selected", "kept"])
    same = alive & np.fromiter(
        ((int(q), int(p)) in banned for q, p in zip(q_ids, p_ids, strict=True)), bool, len(frame)
    )
    # an ICT positive (a chunk without one sentence) is a near-twin of its chunk, which stays a candidate
    twin = alive & ~same & np.isin(p_ids, derived_ids)
    hit = same | twin
    if not hit.any():
        return result
    alive &= ~hit
    chosen = select(
        frame["query_idx"].to_numpy(dtype=np.int64),
        alive,
        cfg.num_negatives,
        sampling=cfg.sampling,
        rng=_rng(cfg.seed, "sampling"),
    )
    status[same] = SAME_CHUNK
    status[twin] = DERIVED
    status[alive & chosen] = "selected"
    status[alive & ~chosen] = "kept"
    frame = frame.copy()
    frame["status"] = status
    stats = dict(result.stats)
    stats["filters"] = dict(stats.get("filters") or {}) | {
        SAME_CHUNK: int(same.sum()),
        DERIVED: int(twin.sum()),
    }
    counts = {"selected": int((status == "selected").sum()), "kept": int((status == "kept").sum())}
    for name, n in zip(
        *np.unique(status[~np.isin(status, ["selected", "kept"])].astype(str), return_counts=True),
        strict=True,
    ):
        counts[str(name)] = int(n)
    stats["status"] = counts
    n_sel = np.bincount(
        frame["query_idx"].to_numpy(dtype=np.int64)[status == "selected"], minlength=len(inp.query_ids)
    )
    stats["queries_without_negatives"] = int((n_sel == 0).sum())
    stats["queries_short_of_negatives"] = int(((n_sel > 0) & (n_sel < cfg.num_negatives)).sum())
    log.info("same-chunk guard: %d candidates cut from the query's own chunk removed", int(hit.sum()))
    return MiningResult(candidates=frame, stats=stats)
