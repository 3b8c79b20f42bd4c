"""Review queues: which queries (and which of their candidates) an expert should look at first.

A queue is an ordered list of queries; each says why it is there (the signal and its value).
Candidate-level queues (suspected false negatives, most informative) also name the candidates
that put the query there; the Review page marks them and selects the first.

- ``false_negatives``: candidates the margin / near-duplicate / max-score filters removed, and
  candidates whose similarity to the positive is at least ``threshold`` (default 0.8). The
  expert confirms each as "also a positive" (P: exported as an extra positive and a qrels row)
  or "a true negative" (A: kept as a hard negative).
- ``informative``: candidates whose signals disagree: BM25 rank vs dense rank, teacher vs student
  (the cosine to the query) score, a cosine to the query close to the positive's.
- ``margin``: queries with the smallest margin between the positive and the best candidate.
- ``data``: data order. ``random``: a seeded shuffle. ``most_candidates``: queries the reviewer
  has not reviewed yet, those with the most candidates first.

Membership is fixed when a queue is computed (decisions do not reorder it); "done" is computed
separately: a query-level item is done when the reviewer reviewed the query (done or every
candidate decided), a candidate-level query when the reviewer decided every candidate that put
it there. Overlap k (default 1): without an assignment, a query that k *other* reviewers have
reviewed is done for everyone else too (they skip it); with an assignment, a reviewer's queues
hold only the queries assigned to them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import Store

QueueName = Literal["data", "false_negatives", "informative", "margin", "random", "most_candidates"]
QUEUES: tuple[str, ...] = get_args(QueueName)
QUEUE_LABELS: dict[str, str] = {
    "data": "Data order",
    "false_negatives": "Suspected false negatives",
    "informative": "Most informative (signals disagree)",
    "margin": "Smallest margin to the positive",
    "random": "Random (seeded)",
    "most_candidates": "Unreviewed, most candidates first",
}
CANDIDATE_QUEUES = frozenset({"false_negatives", "informative"})
FN_THRESHOLD = 0.8
"""Default similarity to the positive from which a candidate is a suspected false negative."""
PER_QUERY = 3
"""Candidate-level queues name at most this many candidates per query (the strongest signals): an
expert's decisions go to the most suspicious pairs of many queries, not to every weak one of a few."""

STATUS_REASON = {
    "near_duplicate": "removed by the near-duplicate filter",
    "relative_margin": "removed by the relative margin filter",
    "absolute_margin": "removed by the absolute margin filter",
    "max_score": "removed by the maximum score filter",
}


@dataclass
class Queue:
    """One computed queue.

    Attributes:
        name: the queue (see :data:`QUEUES`).
        order: query ids in queue order (int64).
        why: per query, why it is in the queue (plain words with the signal's value).
        value: per query, the signal value it is ordered by.
        items: candidate-level queues: query_id, passage_id, why, value (empty for query-level ones).
        note: why the queue is empty or partial (e.g. the run has no embeddings), else "".
        seconds: time the SQL took.
        focus: per query, the candidate to select first (the best item; the best candidate for ``margin``).
    """

    name: str
    order: np.ndarray
    why: dict[int, str]
    value: dict[int, float]
    items: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["query_id", "passage_id", "why", "value"])
    )
    note: str = ""
    seconds: float = 0.0
    focus: dict[int, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The queue's name in plain words."""
        return QUEUE_LABELS[self.name]

    @property
    def candidate_level(self) -> bool:
        """Whether items are candidates (done = decided) rather than queries (done = reviewed)."""
        return self.name in CANDIDATE_QUEUES

    def item_reasons(self, query_id: int) -> dict[int, str]:
        """``{passage_id: why}`` of the candidates that put this query in the queue."""
        if self.items.empty:
            return {}
        sub = self.items[self.items["query_id"] == int(query_id)]
        return {int(p): str(w) for p, w in zip(sub["passage_id"], sub["why"], strict=True)}

    def done_queries(self, store: Store, pid: int, reviewer: str) -> set[int]:
        """Queries of the queue the reviewer has finished, or that k other reviewers reviewed (no assignment)."""
        members = set(self.order.tolist())
        others = (
            set()
            if store.has_assignments(pid)
            else store.reviewed_by_others(pid, reviewer, store.review_settings(pid)["overlap"])
        )
        if not self.candidate_level:
            return ({int(q) for q in store.reviewed_query_ids(pid, reviewer)} | others) & members
        done_pairs = store.decided_pairs(pid, reviewer)
        decided = set(
            zip(done_pairs["query_id"].astype(int), done_pairs["passage_id"].astype(int), strict=True)
        )
        left: set[int] = set()
        for q, p in zip(
            self.items["query_id"].astype(int), self.items["passage_id"].astype(int), strict=True
        ):
            if (q, p) not in decided:
                left.add(q)
        return (members - left) | (others & members)

    def progress(self, store: Store, pid: int, reviewer: str) -> tuple[int, int, int, int]:
        """(items done, items, queries done, queries) of the reviewer in this queue."""
        queries = len(self.order)
        done_q = self.done_queries(store, pid, reviewer)
        if not self.candidate_level:
            return len(done_q), queries, len(done_q), queries
        done_pairs = store.decided_pairs(pid, reviewer)
        decided = set(
            zip(done_pairs["query_id"].astype(int), done_pairs["passage_id"].astype(int), strict=True)
        )
        items = list(
            zip(self.items["query_id"].astype(int), self.items["passage_id"].astype(int), strict=True)
        )
        return sum(1 for x in items if x in decided), len(items), len(done_q), queries


def _f(v: Any, digits: int = 3) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else f"{f:.{digits}f}"


def _rank(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else f"#{int(f)}"


def _fn_why(status: str, pos_sim: Any, dense: Any) -> str:
    parts = [STATUS_REASON[status]] if status in STATUS_REASON else []
    if _f(pos_sim) != "–":
        parts.append(f"similarity to the positive {_f(pos_sim)}")
    elif _f(dense) != "–":
        parts.append(f"similarity to the query {_f(dense)}")
    return " · ".join(parts) or "suspected false negative"


def _informative_why(r: Any) -> str:
    if r.signal == "rank_gap":
        return f"retrievers disagree: BM25 {_rank(r.bm25_rank)} vs dense {_rank(r.dense_rank)}"
    if r.signal == "teacher_gap":
        return f"teacher and student disagree: teacher {_f(r.teacher)} vs similarity {_f(r.dense_score)}"
    return (
        f"scored near the positive: similarity {_f(r.dense_score)} vs positive {_f(r.pos_score)} "
        f"(margin {_f(r.margin)})"
    )


def _by_query(
    items: pd.DataFrame, ascending: bool = False
) -> tuple[np.ndarray, dict[int, str], dict[int, float]]:
    """Queries ordered by their best item (items are already sorted best first)."""
    if items.empty:
        return np.zeros(0, np.int64), {}, {}
    first = items.drop_duplicates("query_id", keep="first")
    order = first["query_id"].astype("int64").to_numpy()
    counts = items.groupby("query_id").size()
    why = {}
    for q, w in zip(first["query_id"].astype(int), first["why"], strict=True):
        n = int(counts.get(q, 1))
        why[q] = w if n == 1 else f"{w} (+{n - 1} more candidate{'s' * (n > 2)})"
    value = {int(q): float(v) for q, v in zip(first["query_id"], first["value"], strict=True)}
    return order, why, value


def _cap(df: pd.DataFrame, per_query: int | None) -> pd.DataFrame:
    """The ``per_query`` first rows of each query (rows are sorted strongest first)."""
    if per_query is None or df.empty:
        return df
    if per_query < 1:
        raise EmbcoreError(f"per_query must be at least 1 (None = every item), got {per_query}")
    return df.groupby("query_id", sort=False).head(int(per_query))


def compute(
    store: Store,
    pid: int,
    run_id: int | None,
    name: str,
    *,
    reviewer: str | None = None,
    seed: int = 0,
    threshold: float = FN_THRESHOLD,
    teacher: str | None = None,
    per_query: int | None = PER_QUERY,
) -> Queue:
    """Compute one queue for a project's mining run (``run_id`` None: the latest finished one).

    Args:
        reviewer: restrict to the queries assigned to this reviewer (when the project has
            assignments); ``most_candidates`` also leaves out what they reviewed already.
        seed: the ``random`` queue's seed.
        threshold: similarity to the positive from which a candidate is a suspected false negative.
        teacher: teacher id whose cached scores ``informative`` compares with the student's.
        per_query: candidate-level queues keep the ``per_query`` strongest items of each query (None: all).

    Raises:
        EmbcoreError: an unknown queue, or a candidate queue without a mining run.
    """
    import time

    if name not in QUEUES:
        raise EmbcoreError(f"unknown queue {name!r}; allowed: {', '.join(QUEUES)}")
    t0 = time.perf_counter()
    rid = run_id if run_id is not None else store.latest_run(pid, "mine")
    if rid is None and name not in ("data", "random"):
        raise EmbcoreError(f"the {QUEUE_LABELS[name].lower()} queue needs a finished mining run: mine first")
    items = pd.DataFrame(columns=["query_id", "passage_id", "why", "value"])
    note = ""
    if name in ("data", "random", "most_candidates"):
        df = store.queue_query_list(pid, rid, name, seed=seed, reviewer=reviewer)
        order = df["query_id"].astype("int64").to_numpy()
        if name == "data":
            why = {int(q): "data order" for q in order}
            value = {int(q): float(q) for q in order}
        elif name == "random":
            why = {int(q): f"random order (seed {seed})" for q in order}
            value = {int(q): float(i) for i, q in enumerate(order)}
        else:
            why = {
                int(q): f"{int(n)} candidates to review"
                for q, n in zip(df["query_id"], df["value"], strict=True)
            }
            value = {int(q): float(n) for q, n in zip(df["query_id"], df["value"], strict=True)}
    elif name == "margin":
        df = store.margin_queries(pid, rid, reviewer=reviewer)
        if df.empty:
            note = "needs the run's embeddings (mine with dense retrieval or the score filters on)"
        df = df.assign(why=[
            f"positive {_f(p)} vs best candidate {_f(b)}: margin {_f(m)}"
            for p, b, m in zip(df["pos_score"], df["best"], df["margin"], strict=True)
        ], value=df["margin"])  # fmt: skip
        items = df[["query_id", "passage_id", "why", "value"]].reset_index(drop=True)
        order, why, value = _by_query(items)
        items = items.iloc[0:0]  # query-level: the best candidate is only selected, not an item
        focus = dict(zip(df["query_id"].astype(int), df["passage_id"].astype(int), strict=True))
        return Queue(name, order, why, value, items, note, round(time.perf_counter() - t0, 4), focus)
    elif name == "false_negatives":
        df = _cap(store.false_negative_items(pid, rid, threshold=threshold, reviewer=reviewer), per_query)
        df = df.assign(
            why=[
                _fn_why(s, p, d)
                for s, p, d in zip(df["status"], df["pos_sim"], df["dense_score"], strict=True)
            ]
        )
        items = df[["query_id", "passage_id", "why", "value"]].reset_index(drop=True)
        order, why, value = _by_query(items)
        if df.empty:
            note = f"no candidate was removed by a score filter or is more similar than {threshold:.2f} to its positive"
    else:  # informative
        df = _cap(store.informative_items(pid, rid, teacher=teacher, reviewer=reviewer), per_query)
        df = df.assign(why=[_informative_why(r) for r in df.itertuples(index=False)])
        items = df[["query_id", "passage_id", "why", "value"]].reset_index(drop=True)
        order, why, value = _by_query(items)
        if df.empty:
            note = "needs BM25 and dense ranks, a teacher, or the run's embeddings"
    first = items.drop_duplicates("query_id", keep="first") if len(items) else items
    focus = dict(zip(first["query_id"].astype(int), first["passage_id"].astype(int), strict=True))
    return Queue(name, order, why, value, items, note, round(time.perf_counter() - t0, 4), focus)


# --------------------------------------------------------------------------- navigation in any order


def position(order: np.ndarray, current: int | None) -> int:
    """Index of ``current`` in ``order`` (-1 when absent)."""
    if current is None or not len(order):
        return -1
    hits = np.flatnonzero(order == int(current))
    return int(hits[0]) if len(hits) else -1


def step(order: np.ndarray, current: int | None, delta: int) -> int | None:
    """The query ``delta`` places away in queue order (None past an end; the first one when
    ``current`` is not in the queue)."""
    if not len(order):
        return None
    i = position(order, current)
    if i < 0:
        return int(order[0] if delta >= 0 else order[-1])
    j = i + delta
    return int(order[j]) if 0 <= j < len(order) else None


def next_todo(order: np.ndarray, done: set[int], current: int | None, *, wrap: bool = True) -> int | None:
    """The next query after ``current`` in queue order that is not done (wrapping round)."""
    if not len(order):
        return None
    i = position(order, current)
    n = len(order)
    for k in range(1, n + 1) if i >= 0 else range(n):
        j = (i + k) % n if i >= 0 else k
        if i >= 0 and not wrap and i + k >= n:
            return None
        q = int(order[j])
        if q not in done:
            return q
    return None


def restrict(queue: Queue, allowed: np.ndarray | Sequence[int] | None) -> np.ndarray:
    """The queue's order kept to the queries in ``allowed`` (the page's filters); None keeps all."""
    if allowed is None:
        return queue.order
    return queue.order[np.isin(queue.order, np.asarray(allowed, dtype=np.int64))]


def listing(store: Store, queue: Queue, pid: int, *, limit: int | None = None) -> pd.DataFrame:
    """The queue as a table for scripts (``embcore review-queue``): one row per item, in queue order.

    Columns: position, query_id, passage_id (empty for query-level queues), signal, value, why,
    query, passage.
    """
    rows: list[dict[str, Any]] = []
    item_groups = (
        {int(q): g for q, g in queue.items.groupby("query_id", sort=False)} if len(queue.items) else {}
    )
    focus = queue.focus
    for pos_, q in enumerate(queue.order.tolist(), start=1):
        if item_groups:
            for p, why, v in zip(
                item_groups[q]["passage_id"], item_groups[q]["why"], item_groups[q]["value"], strict=True
            ):
                rows.append({"position": pos_, "query_id": q, "passage_id": int(p), "signal": queue.name,
                             "value": float(v), "why": str(why)})  # fmt: skip
        else:
            rows.append({"position": pos_, "query_id": q, "passage_id": focus.get(q), "signal": queue.name,
                         "value": queue.value.get(q), "why": queue.why.get(q, "")})  # fmt: skip
        if limit is not None and len(rows) >= limit:
            rows = rows[:limit]
            break
    df = pd.DataFrame(rows, columns=["position", "query_id", "passage_id", "signal", "value", "why"])
    if df.empty:
        return df.assign(query=pd.Series(dtype=str), passage=pd.Series(dtype=str))
    texts, ptexts = store.texts_by_id(
        df["query_id"].tolist(), sorted({int(p) for p in df["passage_id"].dropna()})
    )
    df["query"] = [texts.get(int(q), "") for q in df["query_id"]]
    df["passage"] = [
        ptexts.get(int(p), "") if p is not None and not pd.isna(p) else "" for p in df["passage_id"]
    ]
    df["passage_id"] = df["passage_id"].astype("Int64")
    return df
