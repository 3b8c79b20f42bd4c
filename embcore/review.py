"""The review model: which query to show, what to show of it, decisions and bulk rules.

Pure logic over a :class:`~embcore.store.Store` (the SQL lives in
:mod:`embcore.store.review_sql`); the app's Review page only renders what this module returns.

Navigation is by query id, not by position: "next" is the first query of the filtered order
whose id is greater than the current one. A list that changes under the reviewer (another tab
reviews a query, the "unreviewed" filter drops the one just finished) therefore never makes
the reviewer skip or repeat a query.

Every decision is written at once, for one exact (query, passage) pair, in one transaction;
bulk rules select their pairs and write them inside one transaction too, and never override a
decision someone already made (unless asked). Two browser tabs on the same project therefore
cannot corrupt each other's work: the last click on a pair wins and the decision log keeps
every click.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import DECISIONS, Store
from embcore.store import review_sql as sql

log = logging.getLogger(__name__)

StatusFilter = Literal["all", "unreviewed", "reviewed"]
STATUS_FILTERS: tuple[str, ...] = get_args(StatusFilter)
Decision = Literal["accept", "reject", "positive"]

SHOWN_DEFAULT: tuple[str, ...] = ("selected",)
"""Candidate statuses shown (and accepted by "accept remaining") by default."""
SHOWN_WITH_KEPT: tuple[str, ...] = ("selected", "kept")
"""Statuses shown when the reviewer also wants the survivors that were not selected."""


# --------------------------------------------------------------------------- filters and order


@dataclass(frozen=True)
class ReviewFilter:
    """Which queries the reviewer walks through.

    Attributes:
        status: "all", "unreviewed" or "reviewed".
        meta: ``((key, (value, ...)), ...)``: a query passes when, for every key, its value is listed.
        sources: keep queries with a candidate from one of these sources (bm25, dense, rule:...).
        text: case-insensitive text searched in the query and its positives.
    """

    status: StatusFilter = "all"
    meta: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sources: tuple[str, ...] = ()
    text: str = ""

    @classmethod
    def make(
        cls,
        status: str = "all",
        meta: Mapping[str, Sequence[str]] | None = None,
        sources: Sequence[str] = (),
        text: str = "",
    ) -> ReviewFilter:
        """Build a filter from plain values (empty selections are dropped)."""
        if status not in STATUS_FILTERS:
            raise EmbcoreError(f"unknown review filter {status!r}; allowed: {', '.join(STATUS_FILTERS)}")
        meta_items = tuple(
            sorted((str(k), tuple(str(v) for v in vs)) for k, vs in (meta or {}).items() if vs)
        )
        return cls(status, meta_items, tuple(sources), text.strip())  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        """Whether anything is filtered out."""
        return self.status != "all" or bool(self.meta or self.sources or self.text)


def query_order(store: Store, pid: int, run_id: int | None, flt: ReviewFilter | None = None) -> np.ndarray:
    """The ids of the queries to review, ascending, after the filters (int64 array)."""
    flt = flt or ReviewFilter()
    return sql.filtered_query_ids(
        store, pid, run_id, status=flt.status, meta=dict(flt.meta), sources=flt.sources, text=flt.text
    )


@dataclass(frozen=True)
class Position:
    """Where the current query sits in the filtered order.

    Attributes:
        index: 0-based index of the current query in the order (-1 when it is not in it).
        total: number of queries in the order.
    """

    index: int
    total: int

    @property
    def label(self) -> str:
        """ "12 / 340", or "– / 340" when the current query is filtered out."""
        return f"{self.index + 1} / {self.total}" if self.index >= 0 else f"– / {self.total}"


def locate(order: np.ndarray, current: int | None) -> Position:
    """Position of ``current`` in ``order`` (binary search; the order is ascending)."""
    if current is None or not len(order):
        return Position(-1, len(order))
    i = int(np.searchsorted(order, current))
    return Position(i if i < len(order) and int(order[i]) == current else -1, len(order))


def step(order: np.ndarray, current: int | None, delta: int) -> int | None:
    """The query ``delta`` places after (``delta > 0``) or before the current one; None at an end.

    Works when ``current`` is not in ``order`` (it was filtered out): the next query is the
    first one with a larger id, the previous one the last with a smaller id.
    """
    if not len(order):
        return None
    if current is None:
        return int(order[0] if delta >= 0 else order[-1])
    if delta > 0:
        i = int(np.searchsorted(order, current, side="right")) + delta - 1
    else:
        i = int(np.searchsorted(order, current, side="left")) + delta
    if 0 <= i < len(order):
        return int(order[i])
    return None


def next_unreviewed(
    order: np.ndarray, reviewed: np.ndarray, current: int | None, *, wrap: bool = True
) -> int | None:
    """The first query after ``current`` in ``order`` that nobody reviewed yet (wrapping round)."""
    todo = order[~np.isin(order, reviewed, assume_unique=False)] if len(reviewed) else order
    if not len(todo):
        return None
    if current is None:
        return int(todo[0])
    i = int(np.searchsorted(todo, current, side="right"))
    if i < len(todo):
        return int(todo[i])
    return int(todo[0]) if wrap else None


def start_query(order: np.ndarray, reviewed: np.ndarray) -> int | None:
    """Where a reviewer starts: the first unreviewed query, else the first query."""
    first = next_unreviewed(order, reviewed, None)
    if first is not None:
        return first
    return int(order[0]) if len(order) else None


# --------------------------------------------------------------------------- one query


@dataclass
class QueryReview:
    """Everything the Review page shows for one query.

    Attributes:
        query_id: the query's id.
        text: the query text.
        meta: metadata values (e.g. ``{"ticker": "NVDA"}``).
        positives: passage_id, origin, position, text (one row per positive).
        candidates: every candidate of the run for this query (all statuses) with scores,
            text and decision, by rank.
        shown_statuses: statuses shown in the main lists.
        reviewed: whether the query is marked reviewed.
    """

    query_id: int
    text: str
    meta: dict[str, Any]
    positives: pd.DataFrame
    candidates: pd.DataFrame
    shown_statuses: tuple[str, ...] = SHOWN_DEFAULT
    reviewed: bool = False
    _shown: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def shown(self) -> pd.DataFrame:
        """Candidates in the main lists (shown statuses), by rank."""
        if self._shown is None:
            c = self.candidates
            self._shown = c[c["status"].isin(self.shown_statuses)] if len(c) else c
        return self._shown

    @property
    def filtered(self) -> pd.DataFrame:
        """Candidates that a false-negative filter removed (status = the filter's name)."""
        c = self.candidates
        return c[~c["status"].isin(SHOWN_WITH_KEPT)] if len(c) else c

    @property
    def bm25(self) -> pd.DataFrame:
        """Shown candidates BM25 retrieved, by BM25 rank."""
        c = self.shown
        return c[c["bm25_rank"].notna()].sort_values("bm25_rank", kind="stable") if len(c) else c

    @property
    def dense(self) -> pd.DataFrame:
        """Shown candidates dense retrieval found, by dense rank."""
        c = self.shown
        return c[c["dense_rank"].notna()].sort_values("dense_rank", kind="stable") if len(c) else c

    @property
    def other(self) -> pd.DataFrame:
        """Shown candidates from other sources only (in-batch, random, rules), by rank."""
        c = self.shown
        return c[c["bm25_rank"].isna() & c["dense_rank"].isna()] if len(c) else c

    @property
    def overlap(self) -> set[int]:
        """Passage ids both BM25 and dense retrieval proposed."""
        c = self.shown
        if not len(c):
            return set()
        both = c["bm25_rank"].notna() & c["dense_rank"].notna()
        return {int(p) for p in c.loc[both, "passage_id"]}

    @property
    def next_up(self) -> int | None:
        """The best-ranked shown candidate without a decision (what the keyboard shortcuts act on)."""
        c = self.shown
        if not len(c):
            return None
        undecided = c[c["decision"].isna()]
        return int(undecided["passage_id"].iloc[0]) if len(undecided) else None

    def counts(self) -> dict[str, int]:
        """accept / reject / positive / undecided counts among the shown candidates."""
        c = self.shown
        d = c["decision"] if len(c) else pd.Series([], dtype=object)
        return {
            "shown": len(c),
            "accept": int((d == "accept").sum()),
            "reject": int((d == "reject").sum()),
            "positive": int((d == "positive").sum()),
            "undecided": int(d.isna().sum()),
        }


def load_query(
    store: Store, pid: int, run_id: int | None, query_id: int, *, show_kept: bool = False
) -> QueryReview:
    """Load one query with its positives and the run's candidates (three small indexed reads)."""
    row = sql.query_row(store, pid, query_id)
    meta = row["meta"]
    if isinstance(meta, str):
        meta = json.loads(meta)
    positives = sql.query_positives(store, query_id)
    if run_id is not None:
        candidates = sql.query_candidates(store, run_id, query_id)
    else:
        candidates = pd.DataFrame(
            columns=["passage_id", "sources", "score", "rank", "bm25_rank", "bm25_score", "dense_rank",
                     "dense_score", "pos_sim", "status", "text", "passage_kind", "decision"]
        )  # fmt: skip
    reviewed = sql.is_reviewed(store, query_id)
    return QueryReview(
        query_id=int(query_id),
        text=str(row["text"]),
        meta=meta or {},
        positives=positives,
        candidates=candidates,
        shown_statuses=SHOWN_WITH_KEPT if show_kept else SHOWN_DEFAULT,
        reviewed=reviewed,
    )


def describe_candidate(row: Mapping[str, Any], overlap: set[int] | None = None) -> str:
    """One plain-text line of provenance: rank, score, per-retriever ranks, similarity to the positive."""
    parts = [f"#{_int(row.get('rank'))}", f"score {_num(row.get('score'))}"]
    if _present(row.get("bm25_rank")):
        parts.append(f"BM25 #{_int(row['bm25_rank'])} ({_num(row.get('bm25_score'), 2)})")
    if _present(row.get("dense_rank")):
        parts.append(f"dense #{_int(row['dense_rank'])} ({_num(row.get('dense_score'))})")
    if _present(row.get("pos_sim")):
        parts.append(f"sim to positive {_num(row['pos_sim'])}")
    parts.append(f"source {row.get('sources')}")
    if overlap is not None and int(row["passage_id"]) in overlap:
        parts.append("found by both")
    if row.get("status") not in ("selected", None):
        parts.append(f"status {row.get('status')}")
    return " · ".join(parts)


def _present(v: Any) -> bool:
    return v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))


def _int(v: Any) -> str:
    return str(int(v)) if _present(v) else "–"


def _num(v: Any, digits: int = 3) -> str:
    return f"{float(v):.{digits}f}" if _present(v) else "–"


# --------------------------------------------------------------------------- decisions


def decide(store: Store, pid: int, query_id: int, passage_id: int, decision: str | None) -> None:
    """Record one decision at once (``None`` clears it): accept, reject or mark as positive.

    Raises:
        EmbcoreError: unknown decision.
    """
    if decision is not None and decision not in DECISIONS:
        raise EmbcoreError(f"unknown decision {decision!r}; allowed: {', '.join(DECISIONS)} or None")
    store.set_decision(pid, int(query_id), int(passage_id), decision)


def edit_positive(store: Store, pid: int, query_id: int, passage_id: int, text: str) -> int:
    """Replace a positive's text (stored as a new passage); returns the new passage id."""
    return store.edit_positive(pid, int(query_id), int(passage_id), text)


def accept_remaining(
    store: Store, pid: int, run_id: int, query_id: int, statuses: Sequence[str] = SHOWN_DEFAULT
) -> int:
    """Accept every shown candidate of one query that has no decision yet; returns how many."""
    with store.transaction():
        pairs = sql.undecided_pairs(store, run_id, query_ids=[query_id], statuses=statuses)
        n = store.set_decisions(pid, pairs, "accept")
        store.mark_reviewed(pid, query_id)
    return n


@dataclass(frozen=True)
class BulkPreview:
    """What a bulk rule would change: ``pairs`` undecided candidates over ``queries`` queries."""

    pairs: int
    queries: int


def band_pairs(
    store: Store,
    run_id: int,
    score_col: str,
    low: float,
    high: float,
    *,
    statuses: Sequence[str] = SHOWN_DEFAULT,
    query_ids: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """Undecided candidates whose ``score_col`` lies in ``[low, high]`` (all queries unless given)."""
    if low > high:
        raise EmbcoreError(f"the score band is empty: low {low} > high {high}")
    return sql.undecided_pairs(
        store, run_id, query_ids=query_ids, statuses=statuses, score_col=score_col, low=low, high=high
    )


def above_similarity_pairs(
    store: Store,
    run_id: int,
    threshold: float,
    *,
    statuses: Sequence[str] = SHOWN_WITH_KEPT,
    query_ids: Sequence[int] | None = None,
    include_decided: bool = False,
) -> list[tuple[int, int]]:
    """Candidates more similar to the query's positive than ``threshold`` (``pos_sim > threshold``)."""
    return sql.undecided_pairs(
        store, run_id, query_ids=query_ids, statuses=statuses, score_col="pos_sim", above=threshold,
        include_decided=include_decided,
    )  # fmt: skip


def preview(pairs: Sequence[tuple[int, int]]) -> BulkPreview:
    """Counts of a bulk selection."""
    return BulkPreview(len(pairs), len({q for q, _ in pairs}))


def accept_band(
    store: Store,
    pid: int,
    run_id: int,
    score_col: str,
    low: float,
    high: float,
    *,
    statuses: Sequence[str] = SHOWN_DEFAULT,
    query_ids: Sequence[int] | None = None,
) -> BulkPreview:
    """Accept every undecided candidate whose score lies in ``[low, high]``, for all queries (or the given ones)."""
    with store.transaction():
        pairs = band_pairs(store, run_id, score_col, low, high, statuses=statuses, query_ids=query_ids)
        store.set_decisions(pid, pairs, "accept")
    log.info("accepted %d candidates with %s in [%s, %s]", len(pairs), score_col, low, high)
    return preview(pairs)


def reject_above_similarity(
    store: Store,
    pid: int,
    run_id: int,
    threshold: float,
    *,
    statuses: Sequence[str] = SHOWN_WITH_KEPT,
    query_ids: Sequence[int] | None = None,
    include_decided: bool = False,
) -> BulkPreview:
    """Reject every candidate whose similarity to the query's positive exceeds ``threshold``."""
    with store.transaction():
        pairs = above_similarity_pairs(
            store, run_id, threshold, statuses=statuses, query_ids=query_ids, include_decided=include_decided
        )
        store.set_decisions(pid, pairs, "reject")
    log.info("rejected %d candidates with similarity to the positive > %s", len(pairs), threshold)
    return preview(pairs)


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class ReviewProgress:
    """Review progress of a project."""

    queries: int
    reviewed: int
    accepted: int
    rejected: int
    positives: int

    @property
    def fraction(self) -> float:
        """Reviewed share of the queries, in [0, 1]."""
        return self.reviewed / self.queries if self.queries else 0.0


def progress(store: Store, pid: int) -> ReviewProgress:
    """Reviewed n of N and the decision counts (one aggregate query)."""
    return ReviewProgress(**sql.review_counts(store, pid))


def project_names(store: Store) -> list[tuple[int, str]]:
    """(id, name) of every project, oldest first."""
    return sql.project_names(store)


def finished_runs(store: Store, pid: int, kind: str = "mine") -> list[tuple[int, dict[str, Any], Any]]:
    """(id, config, finished_at) of a project's finished runs, newest first."""
    return [(int(i), _json_meta(cfg), when) for i, cfg, when in sql.finished_runs(store, pid, kind)]


def meta_options(store: Store, pid: int) -> dict[str, list[str]]:
    """Metadata keys of a project's queries with their distinct values (for filters and rules)."""
    return sql.meta_values(store, pid)


def run_sources(store: Store, run_id: int | None) -> list[str]:
    """Sources (bm25, dense, rule:...) that proposed candidates in a run."""
    return sql.run_sources(store, run_id) if run_id is not None else []


def score_range(store: Store, run_id: int, score_col: str) -> tuple[float, float] | None:
    """(min, max) of a candidate score column in a run (None when the run has none)."""
    return sql.score_range(store, run_id, score_col)


SCORE_COLUMNS = sql.SCORE_COLUMNS


def reviewed_ids(store: Store, pid: int) -> np.ndarray:
    """Ids of reviewed queries, ascending."""
    return sql.reviewed_ids(store, pid)


def project_overview(store: Store) -> pd.DataFrame:
    """Every project with a plain-words ``stage`` (what to do next) for the start page."""
    df = store.list_projects()
    if df.empty:
        return df.assign(stage=pd.Series(dtype=str))
    stages = []
    for r in df.itertuples(index=False):
        if r.exports:
            stages.append(f"exported ({int(r.exports)}x)")
        elif r.reviewed:
            stages.append(f"reviewing: {int(r.reviewed)} of {int(r.queries)} queries")
        elif r.mining_runs:
            stages.append("mined: ready to review")
        else:
            stages.append("created: mine negatives next")
    return df.assign(stage=stages)


def _json_meta(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return json.loads(value) if value else {}


def run_summary(store: Store, pid: int, run_id: int) -> dict[str, Any]:
    """What a mining run did: the run record, candidates per status, and per-query counts.

    Returns:
        ``{"run": dict, "status": DataFrame(status, candidates, queries),
        "per_query": DataFrame(query_id, candidates, survivors, selected),
        "filters": DataFrame(filter, removed), "sources": DataFrame(source, proposed, survived, selected)}``.
    """
    run = store.get_run(run_id)
    stats = run.get("stats") or {}
    filters = pd.DataFrame(
        [{"filter": k, "removed": int(v)} for k, v in (stats.get("filters") or {}).items()],
        columns=["filter", "removed"],
    )
    sources = pd.DataFrame(
        [{"source": k, **v} for k, v in (stats.get("sources") or {}).items()],
        columns=["source", "proposed", "survived", "selected"],
    )
    return {
        "run": run,
        "status": sql.status_counts(store, run_id),
        "per_query": sql.per_query_counts(store, pid, run_id),
        "filters": filters,
        "sources": sources,
    }
