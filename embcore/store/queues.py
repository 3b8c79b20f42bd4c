"""SQL behind the review queues (:mod:`embcore.review.queues` decides what they mean).

Each function reads one mining run's candidates (and, for the score signals, the embedding
cache the run filled) and returns one row per queue item with the signal that put it there.
Everything is set-based over the whole run: a queue over 7,000 queries and 660,000 candidates
is a few table scans and window functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.store import Store

FN_FILTERS: tuple[str, ...] = ("near_duplicate", "relative_margin", "absolute_margin", "max_score")
"""Filter statuses that may hide a false negative (the positive itself, by id or text, is not one)."""
SHOWN: tuple[str, ...] = ("selected", "kept")


def _assigned(reviewer: str | None) -> tuple[str, list[Any]]:
    """A condition on ``q.id``: assigned to ``reviewer`` when the project has assignments."""
    if reviewer is None:
        return "TRUE", []
    return (
        "(NOT EXISTS (SELECT 1 FROM assignments WHERE project_id = q.project_id) OR q.id IN "
        "(SELECT query_id FROM assignments WHERE project_id = q.project_id AND reviewer = ?))",
        [reviewer],
    )


def run_embedding_keys(store: Store, run_id: int) -> tuple[str, str, str] | None:
    """(model id, query prompt, passage prompt) under which the run cached its embeddings, or None."""
    row = store.fetchone(
        "SELECT coalesce(json_extract_string(stats, '$.model_id'), model_id), "
        "coalesce(json_extract_string(config, '$.query_prompt'), ''), "
        "coalesce(json_extract_string(config, '$.passage_prompt'), '') FROM runs WHERE id = ?",
        [run_id],
    )
    if row is None or not row[0]:
        return None
    return str(row[0]), str(row[1]), str(row[2])


_POS_SCORE = """
qv AS (
    SELECT q.id AS query_id, e.vec FROM queries q JOIN embeddings e ON e.model_id = ?
        AND e.prompt = coalesce(nullif(q.prompt, ''), ?) AND e.text_hash = q.text_hash
    WHERE q.project_id = ?
),
pos AS (
    SELECT x.query_id, max(list_cosine_similarity(qv.vec, e.vec)) AS pos_score
    FROM positives x JOIN passages p ON p.id = x.passage_id JOIN qv ON qv.query_id = x.query_id
    JOIN embeddings e ON e.model_id = ? AND e.prompt = ? AND e.text_hash = p.text_hash
    WHERE x.project_id = ? GROUP BY x.query_id
)"""


def positive_scores(store: Store, pid: int, run_id: int) -> pd.DataFrame:
    """(query_id, pos_score): cosine of each query to its closest positive, from the run's embedding cache."""
    keys = run_embedding_keys(store, run_id)
    if keys is None:
        return pd.DataFrame({"query_id": [], "pos_score": []})
    model, qp, pp = keys
    return store.df(f"WITH {_POS_SCORE} SELECT query_id, pos_score FROM pos ORDER BY query_id",
                    [model, qp, pid, model, pp, pid])  # fmt: skip


def false_negative_items(
    store: Store, pid: int, run_id: int, *, threshold: float, reviewer: str | None = None
) -> pd.DataFrame:
    """Candidates that may be false negatives: removed by a margin / near-duplicate / max-score
    filter, or with a similarity to the positive of at least ``threshold``.

    Columns: query_id, passage_id, status, pos_sim, dense_score, value (pos_sim, else the
    cosine to the query), rank.
    """
    cond, params = _assigned(reviewer)
    return store.df(
        f"""
        SELECT c.query_id, c.passage_id, c.status, c.pos_sim, c.dense_score, c.rank,
               coalesce(c.pos_sim, c.dense_score, 0.0) AS value
        FROM candidates c JOIN queries q ON q.id = c.query_id
        WHERE c.run_id = ? AND {cond}
          AND (list_contains(?, c.status) OR (c.pos_sim >= ? AND c.status NOT IN ('positive_id', 'positive_text')))
        ORDER BY value DESC, c.query_id, c.passage_id
        """,
        [run_id, *params, list(FN_FILTERS), float(threshold)],
    )


def informative_items(
    store: Store,
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
    keys = run_embedding_keys(store, run_id)
    pos_cte, pos_params = (_POS_SCORE, [keys[0], keys[1], pid, keys[0], keys[2], pid]) if keys else (
        "pos AS (SELECT NULL::BIGINT AS query_id, NULL::DOUBLE AS pos_score WHERE FALSE)", [])  # fmt: skip
    teacher_join, teacher_params = "", []
    if teacher:
        teacher_join = (
            "LEFT JOIN passages tp ON tp.id = c.passage_id LEFT JOIN teacher_scores t ON t.model_id = ? "
            "AND t.query_hash = q.text_hash AND t.passage_hash = tp.text_hash"
        )
        teacher_params = [teacher]
    teacher_col = "t.score" if teacher else "NULL::DOUBLE"
    both = store.fetchone(
        "SELECT count(bm25_rank) > 0 AND count(dense_rank) > 0 FROM candidates WHERE run_id = ?", [run_id]
    )
    rank_gap = (
        f"abs(ln(coalesce(c.bm25_rank, {int(depth) + 1})) - ln(coalesce(c.dense_rank, {int(depth) + 1})))"
        if both and both[0]
        else "NULL::DOUBLE"
    )
    return store.df(
        f"""
        WITH {pos_cte},
        base AS (
            SELECT c.query_id, c.passage_id, c.bm25_rank, c.dense_rank, c.dense_score, pos.pos_score,
                   {teacher_col} AS teacher, {rank_gap} AS rank_gap,
                   pos.pos_score - c.dense_score AS margin
            FROM candidates c JOIN queries q ON q.id = c.query_id
            LEFT JOIN pos ON pos.query_id = c.query_id {teacher_join}
            WHERE c.run_id = ? AND list_contains(?, c.status) AND {cond}
        ),
        pr AS (
            SELECT *,
                CASE WHEN teacher IS NULL OR dense_score IS NULL THEN NULL
                     ELSE abs(percent_rank() OVER (PARTITION BY teacher IS NULL OR dense_score IS NULL ORDER BY teacher)
                            - percent_rank() OVER (PARTITION BY teacher IS NULL OR dense_score IS NULL ORDER BY dense_score))
                END AS teacher_gap,
                CASE WHEN rank_gap IS NULL THEN NULL
                     ELSE percent_rank() OVER (PARTITION BY rank_gap IS NULL ORDER BY rank_gap) END AS p_rank,
                CASE WHEN margin IS NULL THEN NULL
                     ELSE percent_rank() OVER (PARTITION BY margin IS NULL ORDER BY abs(margin) DESC) END AS p_near
            FROM base
        ),
        pt AS (
            SELECT *, CASE WHEN teacher_gap IS NULL THEN NULL
                           ELSE percent_rank() OVER (PARTITION BY teacher_gap IS NULL ORDER BY teacher_gap) END AS p_teacher
            FROM pr
        )
        SELECT query_id, passage_id, bm25_rank, dense_rank, dense_score, pos_score, teacher, rank_gap, teacher_gap,
               margin, p_rank, p_teacher, p_near,
               greatest(coalesce(p_rank, -1), coalesce(p_teacher, -1), coalesce(p_near, -1)) AS value,
               CASE greatest(coalesce(p_rank, -1), coalesce(p_teacher, -1), coalesce(p_near, -1))
                   WHEN p_teacher THEN 'teacher_gap' WHEN p_rank THEN 'rank_gap' ELSE 'near_positive' END AS signal
        FROM pt WHERE coalesce(p_rank, p_teacher, p_near) IS NOT NULL
        ORDER BY value DESC, query_id, passage_id
        """,
        [*pos_params, *teacher_params, run_id, list(SHOWN), *params],
    )


def margin_queries(store: Store, pid: int, run_id: int, *, reviewer: str | None = None) -> pd.DataFrame:
    """Per query: the positive's cosine to the query, the best shown candidate's, their margin.

    Columns: query_id, passage_id (the best candidate), pos_score, best, margin; smallest margin first.
    """
    keys = run_embedding_keys(store, run_id)
    if keys is None:
        return pd.DataFrame(columns=["query_id", "passage_id", "pos_score", "best", "margin"])
    cond, params = _assigned(reviewer)
    model, qp, pp = keys
    return store.df(
        f"""
        WITH {_POS_SCORE},
        best AS (
            SELECT c.query_id, arg_max(c.passage_id, c.dense_score) AS passage_id, max(c.dense_score) AS best
            FROM candidates c JOIN queries q ON q.id = c.query_id
            WHERE c.run_id = ? AND list_contains(?, c.status) AND c.dense_score IS NOT NULL AND {cond}
            GROUP BY c.query_id
        )
        SELECT b.query_id, b.passage_id, pos.pos_score, b.best, pos.pos_score - b.best AS margin
        FROM best b JOIN pos ON pos.query_id = b.query_id
        ORDER BY margin, b.query_id
        """,
        [model, qp, pid, model, pp, pid, run_id, list(SHOWN), *params],
    )


def query_list(
    store: Store, pid: int, run_id: int | None, order: str, *, seed: int = 0, reviewer: str | None = None
) -> pd.DataFrame:
    """Query-level queues: ``data`` (by id), ``random`` (seeded, stable), ``most_candidates``
    (queries the reviewer has not reviewed, by the number of candidates they would review).

    Columns: query_id, value (position key: id, hash, or candidates).
    """
    cond, params = _assigned(reviewer)
    if order == "data":
        return store.df(
            f"SELECT q.id AS query_id, q.id AS value FROM queries q WHERE q.project_id = ? AND {cond} ORDER BY q.id",
            [pid, *params],
        )
    if order == "random":
        return store.df(
            f"SELECT q.id AS query_id, md5(?::VARCHAR || ':' || q.id::VARCHAR) AS value FROM queries q "
            f"WHERE q.project_id = ? AND {cond} ORDER BY value, q.id",
            [int(seed), pid, *params],
        )
    if order == "most_candidates":
        who = "" if reviewer is None else " AND reviewer = ?"
        return store.df(
            f"""
            WITH n AS (
                SELECT query_id, count(*) AS n FROM (
                    SELECT query_id, passage_id FROM candidates WHERE run_id = ? AND list_contains(?, status)
                    UNION SELECT query_id, passage_id FROM given_negatives WHERE project_id = ?
                ) GROUP BY query_id
            )
            SELECT q.id AS query_id, n.n AS value FROM queries q JOIN n ON n.query_id = q.id
            WHERE q.project_id = ? AND {cond}
              AND q.id NOT IN (SELECT query_id FROM query_review WHERE project_id = ?{who})
            ORDER BY n.n DESC, q.id
            """,
            [-1 if run_id is None else run_id, list(SHOWN), pid, pid, *params, pid,
             *([] if reviewer is None else [reviewer])],
        )  # fmt: skip
    raise ValueError(f"unknown query order {order!r}")


def decided_pairs(
    store: Store, pid: int, reviewer: str, query_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """(query_id, passage_id) the reviewer decided (optionally among some queries)."""
    if query_ids is None:
        return store.df(
            "SELECT query_id, passage_id FROM reviewer_decisions WHERE project_id = ? AND reviewer = ? "
            "AND decision IS NOT NULL",
            [pid, reviewer],
        )
    return store.df(
        "SELECT query_id, passage_id FROM reviewer_decisions WHERE project_id = ? AND reviewer = ? "
        "AND decision IS NOT NULL AND list_contains(?, query_id)",
        [pid, reviewer, [int(q) for q in query_ids]],
    )


def texts(
    store: Store, query_ids: Sequence[int], passage_ids: Sequence[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """(query texts by id, passage texts by id) of some queries and passages."""
    q = dict(
        store.fetchall(
            "SELECT id, text FROM queries WHERE list_contains(?, id)", [sorted({int(x) for x in query_ids})]
        )
    )
    p = (
        dict(
            store.fetchall(
                "SELECT id, text FROM passages WHERE list_contains(?, id)",
                [sorted({int(x) for x in passage_ids})],
            )
        )
        if len(passage_ids)
        else {}
    )
    return {int(k): str(v) for k, v in q.items()}, {int(k): str(v) for k, v in p.items()}


def project_query_ids(store: Store, pid: int) -> list[int]:
    """Every query id of a project, ascending."""
    return [
        int(r[0]) for r in store.fetchall("SELECT id FROM queries WHERE project_id = ? ORDER BY id", [pid])
    ]


def run_info(store: Store, run_id: int) -> tuple[int, str, str] | None:
    """(project id, kind, status) of a run, or None."""
    row = store.fetchone("SELECT project_id, kind, status FROM runs WHERE id = ?", [int(run_id)])
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))
