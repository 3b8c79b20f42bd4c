"""Queues: the reads behind the review queues (:mod:`embcore.review.queues` decides what they mean).

Reads only. Each method reads one mining run's candidates (and, for the score signals, the
embedding cache the run filled) and returns one row per queue item with the signal that put it
there. Everything is set-based over the whole run: a queue over 7,000 queries and 660,000
candidates is a few table scans and window functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.store.connection import Connection
from embcore.store.sql import queues as sql

FN_FILTERS: tuple[str, ...] = ("near_duplicate", "relative_margin", "absolute_margin", "max_score")
"""Filter statuses that may hide a false negative (the positive itself, by id or text, is not one)."""
SHOWN: tuple[str, ...] = ("selected", "kept")


def _assigned(reviewer: str | None) -> tuple[str, list[Any]]:
    """A condition on ``q.id``: assigned to ``reviewer`` when the project has assignments."""
    if reviewer is None:
        return sql.ANY_QUERY, []
    return sql.ASSIGNED_TO, [reviewer]


class QueuesMixin(Connection):
    """Set-based reads of the review queues (suspected false negatives, informative, margin, orders)."""

    def run_embedding_keys(self, run_id: int) -> tuple[str, str, str] | None:
        """(model id, query prompt, passage prompt) under which the run cached its embeddings, or None."""
        row = self._fetchone(sql.RUN_EMBEDDING_KEYS, [run_id])
        if row is None or not row[0]:
            return None
        return str(row[0]), str(row[1]), str(row[2])

    def _pos_params(self, pid: int, keys: tuple[str, str, str]) -> list[Any]:
        model, query_prompt, passage_prompt = keys
        return [model, query_prompt, pid, model, passage_prompt, pid]

    def positive_scores(self, pid: int, run_id: int) -> pd.DataFrame:
        """(query_id, pos_score): cosine of each query to its closest positive, from the run's embedding cache."""
        keys = self.run_embedding_keys(run_id)
        if keys is None:
            return pd.DataFrame({"query_id": [], "pos_score": []})
        return self._df(sql.POSITIVE_SCORES, self._pos_params(pid, keys))

    def false_negative_items(
        self, pid: int, run_id: int, *, threshold: float, reviewer: str | None = None
    ) -> pd.DataFrame:
        """Candidates that may be false negatives: removed by a margin / near-duplicate / max-score
        filter, or with a similarity to the positive of at least ``threshold``.

        Columns: query_id, passage_id, status, pos_sim, dense_score, rank, value (pos_sim, else the
        cosine to the query).
        """
        cond, params = _assigned(reviewer)
        return self._df(
            sql.FALSE_NEGATIVE_ITEMS.format(assigned=cond),
            [run_id, *params, list(FN_FILTERS), float(threshold)],
        )

    def informative_items(
        self,
        pid: int,
        run_id: int,
        *,
        teacher: str | None = None,
        reviewer: str | None = None,
        depth: int = 50,
    ) -> pd.DataFrame:
        """Candidates whose signals disagree, each signal as a percentile over the run's candidates.

        Signals (each present only when the run has what it needs):
        ``rank_gap`` = |ln(BM25 rank) - ln(dense rank)| (a rank missing from one retriever counts
        as ``depth + 1``); ``teacher_gap`` = |percentile of the teacher score - percentile of the
        cosine to the query|; ``near_positive`` = how close the candidate's cosine to the query is to
        the positive's (closer = higher).

        Columns: query_id, passage_id, bm25_rank, dense_rank, dense_score, pos_score, teacher,
        rank_gap, teacher_gap, margin, p_rank, p_teacher, p_near, value (the highest percentile),
        signal (its name).
        """
        cond, params = _assigned(reviewer)
        keys = self.run_embedding_keys(run_id)
        pos, pos_params = (sql.POS_SCORE, self._pos_params(pid, keys)) if keys else (sql.NO_POS_SCORE, [])
        teacher_col, teacher_join, teacher_params = (
            (sql.TEACHER_COLUMN, sql.TEACHER_JOIN, [teacher]) if teacher else (sql.NO_SCORE, "", [])
        )
        rank_gap = (
            sql.RANK_GAP.format(missing=int(depth) + 1)
            if self._scalar(sql.BOTH_RANKS, [run_id])
            else sql.NO_SCORE
        )
        statement = sql.INFORMATIVE_ITEMS.format(
            pos=pos, teacher_col=teacher_col, teacher_join=teacher_join, rank_gap=rank_gap, assigned=cond
        )
        return self._df(statement, [*pos_params, *teacher_params, run_id, list(SHOWN), *params])

    def margin_queries(self, pid: int, run_id: int, *, reviewer: str | None = None) -> pd.DataFrame:
        """Per query: the positive's cosine to the query, the best shown candidate's, their margin.

        Columns: query_id, passage_id (the best candidate), pos_score, best, margin; smallest margin first.
        """
        keys = self.run_embedding_keys(run_id)
        if keys is None:
            return pd.DataFrame(columns=["query_id", "passage_id", "pos_score", "best", "margin"])
        cond, params = _assigned(reviewer)
        return self._df(
            sql.MARGIN_QUERIES.format(assigned=cond),
            [*self._pos_params(pid, keys), run_id, list(SHOWN), *params],
        )

    def queue_query_list(
        self, pid: int, run_id: int | None, order: str, *, seed: int = 0, reviewer: str | None = None
    ) -> pd.DataFrame:
        """Query-level queues: ``data`` (by id), ``random`` (seeded, stable), ``most_candidates``
        (queries the reviewer has not reviewed, by the number of candidates they would review).

        Columns: query_id, value (position key: id, hash, or candidates).

        Raises:
            ValueError: an unknown order.
        """
        cond, params = _assigned(reviewer)
        if order == "data":
            return self._df(sql.DATA_ORDER.format(assigned=cond), [pid, *params])
        if order == "random":
            return self._df(sql.RANDOM_ORDER.format(assigned=cond), [int(seed), pid, *params])
        if order == "most_candidates":
            who, who_params = ("", []) if reviewer is None else (sql.BY_REVIEWER, [reviewer])
            return self._df(
                sql.MOST_CANDIDATES.format(assigned=cond, who=who),
                [-1 if run_id is None else run_id, list(SHOWN), pid, pid, *params, pid, *who_params],
            )
        raise ValueError(f"unknown query order {order!r}")

    def decided_pairs(self, pid: int, reviewer: str, query_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """(query_id, passage_id) the reviewer decided (optionally among some queries)."""
        if query_ids is None:
            return self._df(sql.DECIDED_PAIRS, [pid, reviewer])
        return self._df(sql.DECIDED_PAIRS + sql.AMONG_QUERIES, [pid, reviewer, [int(q) for q in query_ids]])

    def texts_by_id(
        self, query_ids: Sequence[int], passage_ids: Sequence[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        """(query texts by id, passage texts by id) of some queries and passages."""
        q = dict(self._fetchall(sql.QUERY_TEXTS_BY_ID, [sorted({int(x) for x in query_ids})]))
        p = (
            dict(self._fetchall(sql.PASSAGE_TEXTS_BY_ID, [sorted({int(x) for x in passage_ids})]))
            if len(passage_ids)
            else {}
        )
        return {int(k): str(v) for k, v in q.items()}, {int(k): str(v) for k, v in p.items()}

    def project_query_ids(self, pid: int) -> list[int]:
        """Every query id of a project, ascending."""
        return [int(r[0]) for r in self._fetchall(sql.PROJECT_QUERY_IDS, [pid])]
