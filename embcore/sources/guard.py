"""Mining guard for projects built from documents: never a negative cut from the query's own chunk.

An ICT query is a sentence of its source chunk, so the full chunk (which BM25 ranks first) holds
the query word for word; any passage derived from the source chunk of a generated query is a
twin of its positive; and an ICT positive (a chunk without one sentence) is never a negative of
any query (the full chunk can be). After mining, such candidates get the status ``same_chunk`` (counted in the
run's filter statistics like the other false-negative filters) and each query's selection is made
again among the survivors, with the run's sampling and seed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from embcore.mining.pipeline import _rng
from embcore.mining.sampling import select
from embcore.mining.types import MiningInput, MiningResult
from embcore.store import Store
from embcore.store import sources_sql as sql

log = logging.getLogger(__name__)

SAME_CHUNK = "same_chunk"
"""Status of a candidate removed because it derives from the query's own source chunk."""
DERIVED = "ict_passage"
"""Status of a candidate removed because it is an ICT positive (a chunk minus a sentence; the chunk itself may be a negative)."""


def exclude_same_chunk(
    store: Store, pid: int, inp: MiningInput, result: MiningResult, cfg: Any
) -> MiningResult:
    """Re-label candidates cut from the query's source chunk and re-select (a no-op for other projects)."""
    if not sql.has_sources(store, pid):
        return result
    pairs = sql.same_chunk_pairs(store, pid)
    derived = np.asarray(sql.derived_passage_ids(store, pid), dtype=np.int64)
    frame = result.candidates
    if (pairs.empty and not len(derived)) or frame.empty:
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
    twin = alive & ~same & np.isin(p_ids, derived)
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
