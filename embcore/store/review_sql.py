"""SQL behind the review step (the app's Review, Mine and Similarity pages).

Every function takes a :class:`~embcore.store.Store` and runs parameterised statements through
it (so they share its lock and transactions). Nothing here decides *what* to show; that is
:mod:`embcore.review.model`'s job. Identifiers that cannot be parameters (a score column) are checked
against a whitelist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import Store

SCORE_COLUMNS: tuple[str, ...] = ("score", "bm25_score", "dense_score", "pos_sim", "teacher_score")
"""Candidate columns a bulk rule may compare against a threshold (``teacher_score``: the cached
raw score of a teacher, joined by text hashes)."""

_TEACHER_JOIN = (
    " JOIN queries tq ON tq.id = c.query_id JOIN passages tp ON tp.id = c.passage_id "
    "JOIN teacher_scores t ON t.model_id = ? AND t.query_hash = tq.text_hash AND t.passage_hash = tp.text_hash"
)


def _check_score_col(col: str) -> str:
    if col not in SCORE_COLUMNS:
        raise EmbcoreError(f"unknown score column {col!r}; allowed: {', '.join(SCORE_COLUMNS)}")
    return col


def _score_expr(col: str, teacher: str | None) -> tuple[str, str, list[Any]]:
    """(SQL expression, extra join, its parameters) of a score column of candidates ``c``."""
    _check_score_col(col)
    if col != "teacher_score":
        return "c." + col, "", []
    if not teacher:
        raise EmbcoreError(
            "the teacher score needs a teacher: score the candidates on Augment & scores first"
        )
    return "t.score", _TEACHER_JOIN, [teacher]


def is_reviewed(store: Store, query_id: int, reviewer: str | None = None) -> bool:
    """Whether a query is marked reviewed (by ``reviewer``; None: by anyone)."""
    if reviewer is None:
        return store.fetchone("SELECT 1 FROM query_review WHERE query_id = ?", [int(query_id)]) is not None
    row = store.fetchone(
        "SELECT 1 FROM query_review WHERE query_id = ? AND reviewer = ?", [int(query_id), reviewer]
    )
    return row is not None


def json_path(key: str) -> str:
    """A JSONPath selecting one top-level key, quoted so that any column name works."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def like_pattern(text: str) -> str:
    """An ``ILIKE ... ESCAPE '\\'`` pattern matching ``text`` literally anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --------------------------------------------------------------------------- query lists


def filtered_query_ids(
    store: Store,
    pid: int,
    run_id: int | None,
    *,
    status: str = "all",
    meta: dict[str, Sequence[str]] | None = None,
    sources: Sequence[str] | None = None,
    text: str = "",
    reviewer: str | None = None,
) -> np.ndarray:
    """Ids of the project's queries passing every filter, ascending (the review order).

    Args:
        store: the store.
        pid: project id.
        run_id: mining run (needed by ``sources``; ignored when None).
        status: "all", "reviewed", "unreviewed" or "flagged".
        meta: metadata key -> allowed values (a query passes when its value is one of them).
        sources: keep queries with at least one candidate proposed by one of these sources.
        text: case-insensitive substring of the query or of one of its positives.
        reviewer: "reviewed" / "unreviewed" by this reviewer (None: by anyone).

    Returns:
        int64 array of query ids.
    """
    where = ["q.project_id = ?"]
    params: list[Any] = [pid]
    who, who_params = ("", []) if reviewer is None else (" AND reviewer = ?", [reviewer])
    if status == "reviewed":
        where.append(f"q.id IN (SELECT query_id FROM query_review WHERE project_id = ?{who})")
        params += [pid, *who_params]
    elif status == "unreviewed":
        where.append(f"q.id NOT IN (SELECT query_id FROM query_review WHERE project_id = ?{who})")
        params += [pid, *who_params]
    elif status == "flagged":
        where.append("q.id IN (SELECT query_id FROM query_state WHERE project_id = ? AND flag IS NOT NULL)")
        params.append(pid)
    elif status != "all":
        raise EmbcoreError(
            f"unknown review status filter {status!r}; allowed: all, reviewed, unreviewed, flagged"
        )
    for key, values in (meta or {}).items():
        if values:
            where.append("list_contains(?, json_extract_string(q.meta, ?))")
            params += [[str(v) for v in values], json_path(key)]
    if sources and run_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM candidates c WHERE c.run_id = ? AND c.query_id = q.id "
            "AND list_has_any(string_split(c.sources, '+'), ?))"
        )
        params += [run_id, list(sources)]
    text = text.strip()
    if text:
        pattern = like_pattern(text)
        where.append(
            "(q.text ILIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM positives x JOIN passages p ON p.id = x.passage_id "
            "WHERE x.query_id = q.id AND p.text ILIKE ? ESCAPE '\\'))"
        )
        params += [pattern, pattern]
    rows = store.fetchall(f"SELECT q.id FROM queries q WHERE {' AND '.join(where)} ORDER BY q.id", params)
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def meta_values(store: Store, pid: int, max_values: int = 500) -> dict[str, list[str]]:
    """Distinct metadata values per key over a project's queries (keys with too many values left out)."""
    rows = store.fetchall(
        """
        WITH k AS (SELECT meta, unnest(json_keys(meta)) AS key FROM queries WHERE project_id = ? AND meta IS NOT NULL)
        SELECT key, json_extract_string(meta, '$."' || replace(replace(key, '\\', '\\\\'), '"', '\\"') || '"') AS v
        FROM k GROUP BY ALL ORDER BY key, v
        """,
        [pid],
    )
    out: dict[str, list[str]] = {}
    for key, value in rows:
        if value is not None:
            out.setdefault(str(key), []).append(str(value))
    return {k: v for k, v in out.items() if len(v) <= max_values}


def run_sources(store: Store, run_id: int) -> list[str]:
    """Every source name (bm25, dense, inbatch, rule:...) that proposed a candidate in a run."""
    rows = store.fetchall(
        "SELECT DISTINCT unnest(string_split(sources, '+')) AS s FROM candidates WHERE run_id = ? ORDER BY s",
        [run_id],
    )
    return [str(r[0]) for r in rows]


# --------------------------------------------------------------------------- one query


def query_row(store: Store, pid: int, query_id: int, reviewer: str = "") -> dict[str, Any]:
    """One query: id, text, meta (JSON text), prompt, type, and its review state as ``reviewer`` sees it:
    version (shared + the reviewer's own), flag, flag_reason, reviewed ('done' / 'complete' / None, the
    reviewer's), note, note_by."""
    row = store.fetchone(
        "SELECT q.id, q.text, q.meta, q.prompt, q.type, coalesce(s.version, 0) + coalesce(v.version, 0), s.flag, "
        "s.flag_reason, r.how, s.note, s.note_by FROM queries q LEFT JOIN query_state s ON s.query_id = q.id "
        "LEFT JOIN reviewer_state v ON v.query_id = q.id AND v.reviewer = ? "
        "LEFT JOIN query_review r ON r.query_id = q.id AND r.reviewer = ? WHERE q.project_id = ? AND q.id = ?",
        [reviewer, reviewer, pid, int(query_id)],
    )
    if row is None:
        raise EmbcoreError(f"query {query_id} is not part of project {pid}")
    keys = (
        "id",
        "text",
        "meta",
        "prompt",
        "type",
        "version",
        "flag",
        "flag_reason",
        "reviewed",
        "note",
        "note_by",
    )
    return dict(zip(keys, row, strict=True))


def _frame(rows: list[tuple], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=list(columns))


POSITIVE_COLUMNS = ("passage_id", "origin", "position", "text")
CANDIDATE_COLUMNS = (
    "passage_id", "sources", "score", "rank", "bm25_rank", "bm25_score", "dense_rank", "dense_score",
    "pos_sim", "status",
)  # fmt: skip


def query_positives(store: Store, query_id: int) -> pd.DataFrame:
    """The positives of one query: passage_id, origin, position, text, meta (dict)."""
    rows = store.fetchall(
        "SELECT x.passage_id, x.origin, x.position, p.text, p.meta FROM positives x "
        "JOIN passages p ON p.id = x.passage_id WHERE x.query_id = ? ORDER BY x.position, x.passage_id",
        [int(query_id)],
    )
    frame = _frame([r[:4] for r in rows], POSITIVE_COLUMNS)
    frame["meta"] = [_meta_dict(r[4]) for r in rows]
    return frame


def _meta_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def positive_texts(store: Store, query_id: int) -> dict[int, str]:
    """``{passage_id: text}`` of one query's positives."""
    rows = store.fetchall(
        "SELECT p.id, p.text FROM passages p WHERE p.id IN (SELECT passage_id FROM positives WHERE query_id = ?)",
        [int(query_id)],
    )
    return {int(i): str(t) for i, t in rows}


def passage_text(store: Store, passage_id: int) -> str | None:
    """The text of one passage (None when there is no such passage)."""
    row = store.fetchone("SELECT text FROM passages WHERE id = ?", [int(passage_id)])
    return None if row is None else str(row[0])


def query_candidates(store: Store, run_id: int, query_id: int, reviewer: str = "") -> pd.DataFrame:
    """Every candidate of one query in one run, with its text, ``reviewer``'s decision and grade, by rank.

    Negatives given by the data or generated by an LLM (``given_negatives``) that the run did
    not propose come last, with ``status = 'given'`` and their origin as ``sources``, so they
    are reviewed like mined ones.

    Three small reads (candidates, given negatives, their texts with the query's decisions)
    instead of one join: the join makes DuckDB build hash tables over the whole corpus on every
    click.
    """
    rows = store.fetchall(
        f"SELECT {', '.join(CANDIDATE_COLUMNS)} FROM candidates WHERE run_id = ? AND query_id = ? "
        "ORDER BY rank, passage_id",
        [run_id, int(query_id)],
    )
    mined = {int(r[0]) for r in rows}
    blank = (None,) * (len(CANDIDATE_COLUMNS) - 3)
    rows += [
        (int(p), str(origin), *blank, "given")
        for p, origin in store.fetchall(
            "SELECT passage_id, origin FROM given_negatives WHERE query_id = ? ORDER BY passage_id",
            [int(query_id)],
        )
        if int(p) not in mined
    ]
    ids = [int(r[0]) for r in rows]
    frame = _frame(rows, CANDIDATE_COLUMNS)
    texts, decisions, grades = {}, {}, {}
    if ids:  # texts, metadata and the reviewer's decisions on this query in one read
        for i, t, k, m, d, g in store.fetchall(
            "SELECT p.id, p.text, p.kind, p.meta, d.decision, d.grade FROM passages p LEFT JOIN "
            "(SELECT passage_id, decision, grade FROM reviewer_decisions WHERE query_id = ? AND reviewer = ?) d "
            "ON d.passage_id = p.id WHERE list_contains(?, p.id)",
            [int(query_id), reviewer, ids],
        ):
            texts[int(i)] = (t, k, m)
            if d is not None:
                decisions[int(i)] = d
            if g is not None:
                grades[int(i)] = int(g)
    frame["text"] = [texts[i][0] for i in ids]
    frame["passage_kind"] = [texts[i][1] for i in ids]
    frame["meta"] = [_meta_dict(texts[i][2]) for i in ids]
    frame["decision"] = pd.Series([decisions.get(i) for i in ids], index=frame.index, dtype=object)
    frame["grade"] = pd.Series([grades.get(i) for i in ids], index=frame.index, dtype=object)
    for j, col in enumerate(CANDIDATE_COLUMNS[2:9], start=2):  # numbers; NaN where a source did not rank it
        frame[col] = np.array([np.nan if r[j] is None else r[j] for r in rows], dtype=np.float64)
    return frame


def query_teacher_scores(
    store: Store, teacher: str, query_hash: str, passage_hashes: Sequence[str]
) -> dict[str, float]:
    """Cached raw teacher scores of one query against some passages: ``{passage_hash: score}``.

    One equality lookup on the primary key's leading columns: about twice as fast as
    :meth:`Store.get_teacher_scores`, which registers and joins a frame of pairs.
    """
    if not passage_hashes:
        return {}
    rows = store.fetchall(
        "SELECT passage_hash, score FROM teacher_scores WHERE model_id = ? AND query_hash = ?",
        [teacher, query_hash],
    )  # every scored pair of the query (a few dozen); filtering here beats list_contains in SQL
    wanted = set(passage_hashes)
    return {str(h): float(v) for h, v in rows if h in wanted}


def project_names(store: Store) -> list[tuple[int, str]]:
    """(id, name) of every project, oldest first (the sidebar picker; cheaper than ``list_projects``)."""
    return [(int(i), str(n)) for i, n in store.fetchall("SELECT id, name FROM projects ORDER BY id")]


def finished_runs(store: Store, pid: int, kind: str = "mine") -> list[tuple[int, Any, Any]]:
    """(id, config JSON, finished_at) of a project's finished runs of one kind, newest first."""
    return store.fetchall(
        "SELECT id, config, finished_at FROM runs WHERE project_id = ? AND kind = ? AND status = 'done' ORDER BY id DESC",
        [pid, kind],
    )


# --------------------------------------------------------------------------- progress


def review_counts(store: Store, pid: int, reviewer: str | None = None) -> dict[str, int]:
    """queries, reviewed, decision counts (accept / reject / positive) and flagged queries of a project:
    the resolved decisions and queries reviewed by anyone (``reviewer`` None), or one reviewer's."""
    if reviewer is None:
        reviewed = "SELECT count(DISTINCT query_id) FROM query_review WHERE project_id = ?"
        table, who, extra = "decisions", "", []
    else:
        reviewed = "SELECT count(*) FROM query_review WHERE project_id = ? AND reviewer = ?"
        table, who, extra = "reviewer_decisions", " AND reviewer = ?", [reviewer]
    row = store.fetchone(
        f"""
        SELECT (SELECT count(*) FROM queries WHERE project_id = ?),
               ({reviewed}),
               (SELECT count(*) FROM {table} WHERE project_id = ? AND decision = 'accept'{who}),
               (SELECT count(*) FROM {table} WHERE project_id = ? AND decision = 'reject'{who}),
               (SELECT count(*) FROM {table} WHERE project_id = ? AND decision = 'positive'{who}),
               (SELECT count(*) FROM query_state WHERE project_id = ? AND flag IS NOT NULL)
        """,
        [pid, pid, *extra, pid, *extra, pid, *extra, pid, *extra, pid],
    )
    keys = ("queries", "reviewed", "accepted", "rejected", "positives", "flagged")
    return {k: int(v or 0) for k, v in zip(keys, row or (0,) * 6, strict=True)}


def reviewed_ids(store: Store, pid: int, reviewer: str | None = None) -> np.ndarray:
    """Ids of the queries reviewed (by ``reviewer``; None: by anyone), ascending."""
    if reviewer is None:
        rows = store.fetchall(
            "SELECT DISTINCT query_id FROM query_review WHERE project_id = ? ORDER BY query_id", [pid]
        )
    else:
        rows = store.fetchall(
            "SELECT query_id FROM query_review WHERE project_id = ? AND reviewer = ? ORDER BY query_id",
            [pid, reviewer],
        )
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


# --------------------------------------------------------------------------- bulk selections


def undecided_pairs(
    store: Store,
    run_id: int,
    *,
    query_ids: Sequence[int] | None = None,
    statuses: Sequence[str] = ("selected",),
    score_col: str | None = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    include_decided: bool = False,
    teacher: str | None = None,
    reviewer: str = "",
) -> list[tuple[int, int]]:
    """(query_id, passage_id) of candidates matching a bulk rule.

    Args:
        store: the store.
        run_id: mining run.
        query_ids: restrict to these queries (None = all queries of the run).
        statuses: candidate statuses considered ("selected", "kept", or a filter's name).
        score_col: column compared with ``low`` / ``high`` / ``above`` (see :data:`SCORE_COLUMNS`).
        low: keep candidates with ``score_col >= low``.
        high: keep candidates with ``score_col <= high``.
        above: keep candidates with ``score_col > above``.
        include_decided: also return candidates that already carry a decision.
        teacher: teacher id whose cached raw scores ``score_col = "teacher_score"`` compares.
        reviewer: "decided" means decided by this reviewer.
    """
    join, join_params = "", []
    where = ["c.run_id = ?", "list_contains(?, c.status)"]
    params: list[Any] = [run_id, list(statuses)]
    if query_ids is not None:
        where.append("list_contains(?, c.query_id)")
        params.append([int(q) for q in query_ids])
    if score_col is not None:
        col, join, join_params = _score_expr(score_col, teacher)
        where.append(f"{col} IS NOT NULL AND NOT isnan({col})")
        if low is not None:
            where.append(f"{col} >= ?")
            params.append(float(low))
        if high is not None:
            where.append(f"{col} <= ?")
            params.append(float(high))
        if above is not None:
            where.append(f"{col} > ?")
            params.append(float(above))
    if not include_decided:
        where.append(
            "NOT EXISTS (SELECT 1 FROM reviewer_decisions d WHERE d.query_id = c.query_id "
            "AND d.passage_id = c.passage_id AND d.reviewer = ? AND d.decision IS NOT NULL)"
        )
        params.append(reviewer)
    rows = store.fetchall(
        f"SELECT c.query_id, c.passage_id FROM candidates c{join} WHERE {' AND '.join(where)} "
        "ORDER BY c.query_id, c.rank",
        join_params + params,
    )
    return [(int(q), int(p)) for q, p in rows]


def undecided_given_pairs(
    store: Store, query_ids: Sequence[int], reviewer: str = ""
) -> list[tuple[int, int]]:
    """(query_id, passage_id) of given / generated negatives of these queries without a decision of ``reviewer``."""
    rows = store.fetchall(
        "SELECT g.query_id, g.passage_id FROM given_negatives g WHERE list_contains(?, g.query_id) "
        "AND NOT EXISTS (SELECT 1 FROM reviewer_decisions d WHERE d.query_id = g.query_id "
        "AND d.passage_id = g.passage_id AND d.reviewer = ? AND d.decision IS NOT NULL) "
        "ORDER BY g.query_id, g.passage_id",
        [[int(q) for q in query_ids], reviewer],
    )
    return [(int(q), int(p)) for q, p in rows]


def score_range(
    store: Store,
    run_id: int,
    score_col: str,
    statuses: Sequence[str] = ("selected", "kept"),
    *,
    teacher: str | None = None,
) -> tuple[float, float] | None:
    """(min, max) of a score column over a run's candidates (None when the column is empty)."""
    if score_col == "teacher_score" and not teacher:
        return None
    col, join, join_params = _score_expr(score_col, teacher)
    row = store.fetchone(
        f"SELECT min({col}), max({col}) FROM candidates c{join} WHERE c.run_id = ? AND list_contains(?, c.status) "
        f"AND {col} IS NOT NULL AND NOT isnan({col})",
        [*join_params, run_id, list(statuses)],
    )
    if row is None or row[0] is None:
        return None
    return float(row[0]), float(row[1])


# --------------------------------------------------------------------------- run summaries


def status_counts(store: Store, run_id: int) -> pd.DataFrame:
    """Candidates per status (selected, kept, or the filter that removed them) in a run."""
    return store.df(
        "SELECT status, count(*) AS candidates, count(DISTINCT query_id) AS queries FROM candidates "
        "WHERE run_id = ? GROUP BY status ORDER BY candidates DESC",
        [run_id],
    )


def per_query_counts(store: Store, pid: int, run_id: int) -> pd.DataFrame:
    """Per query of the project: candidates proposed, surviving the filters, and selected (0 when none)."""
    return store.df(
        """
        SELECT q.id AS query_id,
               count(c.passage_id) AS candidates,
               count(c.passage_id) FILTER (WHERE c.status IN ('selected', 'kept')) AS survivors,
               count(c.passage_id) FILTER (WHERE c.status = 'selected') AS selected
        FROM queries q LEFT JOIN candidates c ON c.query_id = q.id AND c.run_id = ?
        WHERE q.project_id = ? GROUP BY q.id ORDER BY q.id
        """,
        [run_id, pid],
    )


def candidate_score_table(
    store: Store, pid: int, run_id: int, query_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Candidates of a run with their scores, status, decision and the texts needed to re-score them.

    Columns: query_id, passage_id, status, decision, score, dense_score, pos_sim, query_text,
    query_hash, text, text_hash.
    """
    where = "c.run_id = ? AND c.project_id = ?"
    params: list[Any] = [run_id, pid]
    if query_ids is not None:
        where += " AND list_contains(?, c.query_id)"
        params.append([int(q) for q in query_ids])
    return store.df(
        "SELECT c.query_id, c.passage_id, c.status, d.decision, c.score, c.dense_score, c.pos_sim, "
        "q.text AS query_text, q.text_hash AS query_hash, p.text, p.text_hash FROM candidates c "
        "JOIN queries q ON q.id = c.query_id JOIN passages p ON p.id = c.passage_id "
        "LEFT JOIN decisions d ON d.query_id = c.query_id AND d.passage_id = c.passage_id "
        f"WHERE {where} ORDER BY c.query_id, c.rank",
        params,
    )


def positive_pairs(store: Store, pid: int, query_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """(query_id, passage_id, origin, query_text, query_hash, text, text_hash) of a project's positives."""
    where = "x.project_id = ?"
    params: list[Any] = [pid]
    if query_ids is not None:
        where += " AND list_contains(?, x.query_id)"
        params.append([int(q) for q in query_ids])
    return store.df(
        "SELECT x.query_id, x.passage_id, x.origin, q.text AS query_text, q.text_hash AS query_hash, p.text, "
        "p.text_hash FROM positives x JOIN queries q ON q.id = x.query_id JOIN passages p ON p.id = x.passage_id "
        f"WHERE {where} ORDER BY x.query_id, x.position",
        params,
    )


def query_texts(store: Store, pid: int, limit: int = 20) -> list[str]:
    """The first ``limit`` query texts of a project (default sentences for the similarity views)."""
    return [
        str(r[0])
        for r in store.fetchall(
            "SELECT text FROM queries WHERE project_id = ? ORDER BY id LIMIT ?", [pid, limit]
        )
    ]


# --------------------------------------------------------------------------- augmentation, prompts, teacher scores


def latest_run_config(store: Store, pid: int, kind: str) -> tuple[int, Any] | None:
    """(id, config JSON) of a project's latest finished run of one kind, or None."""
    return store.fetchone(
        "SELECT id, config FROM runs WHERE project_id = ? AND kind = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
        [pid, kind],
    )


def sample_field_counts(store: Store, pid: int) -> pd.DataFrame:
    """How many queries of a project carry each (prompt, type) pair (NULL = not set), most frequent first."""
    return store.df(
        "SELECT prompt, type, count(*) AS queries FROM queries WHERE project_id = ? "
        "GROUP BY ALL ORDER BY queries DESC, prompt NULLS FIRST, type NULLS FIRST",
        [pid],
    )


def generated_items(store: Store, pid: int, limit: int = 5000) -> pd.DataFrame:
    """Augmented / generated queries, positives and negatives of a project, newest first.

    Columns: kind (query / positive / negative), origin, query_id (the new query, or the query
    the item belongs to), parent (the source query's text), text, decision (negatives only).
    """
    return store.df(
        """
        SELECT * FROM (
            SELECT 'query' AS kind, q.origin, q.id AS query_id, p.text AS parent, q.text, NULL AS decision, q.id AS k1,
                   0 AS k2
            FROM queries q LEFT JOIN queries p ON p.id = q.parent_id
            WHERE q.project_id = ? AND q.origin <> 'data'
            UNION ALL
            SELECT 'positive', x.origin, x.query_id, q.text, s.text, NULL, x.query_id, x.passage_id
            FROM positives x JOIN queries q ON q.id = x.query_id JOIN passages s ON s.id = x.passage_id
            WHERE x.project_id = ? AND x.origin NOT IN ('data', 'review', 'edit')
            UNION ALL
            SELECT 'negative', g.origin, g.query_id, q.text, s.text, d.decision, g.query_id, g.passage_id
            FROM given_negatives g JOIN queries q ON q.id = g.query_id JOIN passages s ON s.id = g.passage_id
            LEFT JOIN decisions d ON d.query_id = g.query_id AND d.passage_id = g.passage_id
            WHERE g.project_id = ? AND g.origin <> 'data'
        ) ORDER BY k1 DESC, kind, k2 LIMIT ?
        """,
        [pid, pid, pid, int(limit)],
    ).drop(columns=["k1", "k2"])
