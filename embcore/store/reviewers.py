"""SQL of several reviewers: per-reviewer decisions and grades, the resolved decision, adjudication,
overlap settings, assignments, the reviewer registry, and the reads behind agreement figures.

The decision model (migration 010):

- ``reviewer_decisions`` holds every reviewer's own decision and grade per (query, passage);
- ``decisions`` holds the *resolved* decision that exports, mining and the other pages read: the
  lead's adjudication when there is one, else the most frequent decision among the reviewers
  (``single`` with one reviewer, ``unanimous``, ``majority``); a tie resolves to ``reject``
  (``resolved_by = 'tie'``): the pair is neither a negative nor a positive until a lead decides;
- a review-made positive (``positives.origin = 'review'``) exists exactly while the resolved
  decision is ``positive``.

With one reviewer this is exactly the model before 010: the resolved decision is that reviewer's.
Every function takes a :class:`~embcore.store.Store`; writes run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import Store

POLICY = (
    "adjudicated decision, else the most frequent decision among the reviewers; "
    "a tie is excluded (neither negative nor positive) until a lead adjudicates"
)
"""How the resolved decision (the one exported) is reached, in words (recorded in the manifest)."""
GRADES: tuple[int, ...] = (0, 1, 2, 3)
GRADE_WORDS: dict[int, str] = {
    0: "not relevant",
    1: "related, does not answer",
    2: "partly answers",
    3: "answers fully",
}
"""Graded relevance of a passage to a query (TREC-style 0-3)."""
RELEVANT_GRADE = 2
"""Grades from this one up make a passage relevant: a qrels row, and never a negative."""
SMALL = 16


def check_grade(grade: int | None) -> int | None:
    """``grade`` as an int in 0..3 (None stays None).

    Raises:
        EmbcoreError: anything else.
    """
    if grade is None:
        return None
    try:
        g = int(grade)
    except (TypeError, ValueError):
        raise EmbcoreError(f"a grade is 0, 1, 2 or 3, got {grade!r}") from None
    if g not in GRADES or (isinstance(grade, float) and grade != g):
        raise EmbcoreError(f"a grade is 0, 1, 2 or 3, got {grade!r}")
    return g


# --------------------------------------------------------------------------- versions


def reviewer_versions(store: Store, query_ids: Sequence[int], reviewer: str) -> dict[int, int]:
    """Per-reviewer version of each query (0 when the reviewer never wrote on it)."""
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return {}
    found = dict(
        store.fetchall(
            "SELECT query_id, version FROM reviewer_state WHERE reviewer = ? AND list_contains(?, query_id)",
            [reviewer, ids],
        )
    )
    return {q: int(found.get(q, 0)) for q in ids}


def bump_reviewer(store: Store, pid: int, query_ids: Sequence[int], reviewer: str) -> None:
    """Increment the reviewer's version of every query."""
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return
    store.con.execute(
        "INSERT INTO reviewer_state (query_id, reviewer, project_id, version) "
        "SELECT unnest(?::BIGINT[]), ?, ?, 1 "
        "ON CONFLICT (query_id, reviewer) DO UPDATE SET version = reviewer_state.version + 1",
        [ids, reviewer, pid],
    )


# --------------------------------------------------------------------------- per-reviewer rows


def write_reviewer_decisions(store: Store, pid: int, rows: pd.DataFrame, reviewer: str) -> None:
    """Set the reviewer's decision ``new`` on rows (query_id, passage_id, new); grades stay.

    A row whose decision and grade are both empty afterwards is removed.
    """
    if len(rows) <= SMALL:
        for q, p, new in rows[["query_id", "passage_id", "new"]].itertuples(index=False):
            store.con.execute(
                "INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, decision) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (query_id, passage_id, reviewer) "
                "DO UPDATE SET decision = excluded.decision, updated_at = now()",
                [pid, int(q), int(p), reviewer, new],
            )
            if new is None:
                store.con.execute(
                    "DELETE FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ? "
                    "AND decision IS NULL AND grade IS NULL",
                    [int(q), int(p), reviewer],
                )
        return
    frame = rows[["query_id", "passage_id", "new"]]
    with store._frame("reviewer_rows", frame):
        store.con.execute(
            "INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, decision) "
            "SELECT ?, query_id, passage_id, ?, new FROM reviewer_rows "
            "ON CONFLICT (query_id, passage_id, reviewer) DO UPDATE SET decision = excluded.decision, "
            "updated_at = now()",
            [pid, reviewer],
        )
        store.con.execute(
            "DELETE FROM reviewer_decisions r USING reviewer_rows n WHERE r.query_id = n.query_id "
            "AND r.passage_id = n.passage_id AND r.reviewer = ? AND r.decision IS NULL AND r.grade IS NULL",
            [reviewer],
        )


def reviewer_decision_of(store: Store, pairs: pd.DataFrame, reviewer: str) -> pd.Series:
    """The reviewer's current decision of each (query_id, passage_id) row (None when none), aligned."""
    if pairs.empty:
        return pd.Series([], dtype=object)
    if len(pairs) <= SMALL:  # a click: point lookups on the primary key
        out = []
        for q, p in pairs[["query_id", "passage_id"]].itertuples(index=False):
            row = store.fetchone(
                "SELECT decision FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ?",
                [int(q), int(p), reviewer],
            )
            out.append(None if row is None else row[0])
        return pd.Series(out, dtype=object)
    with store._frame("wanted_pairs", pairs[["query_id", "passage_id"]]):
        old = store.df(
            "SELECT w.query_id, w.passage_id, r.decision FROM wanted_pairs w LEFT JOIN reviewer_decisions r "
            "ON r.query_id = w.query_id AND r.passage_id = w.passage_id AND r.reviewer = ?",
            [reviewer],
        )
    merged = pairs[["query_id", "passage_id"]].merge(old, on=["query_id", "passage_id"], how="left")
    return merged["decision"].astype(object).where(merged["decision"].notna(), None)


def grade_of(store: Store, query_id: int, passage_id: int, reviewer: str) -> int | None:
    """The reviewer's grade of one pair (None when ungraded)."""
    row = store.fetchone(
        "SELECT grade FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ?",
        [int(query_id), int(passage_id), reviewer],
    )
    return None if row is None or row[0] is None else int(row[0])


def write_grade(
    store: Store, pid: int, query_id: int, passage_id: int, grade: int | None, reviewer: str
) -> None:
    """Set (None: clear) the reviewer's grade of one pair; the decision stays."""
    q, p = int(query_id), int(passage_id)
    store.con.execute(
        "INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, grade) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (query_id, passage_id, reviewer) DO UPDATE SET grade = excluded.grade, updated_at = now()",
        [pid, q, p, reviewer, grade],
    )
    if grade is None:
        store.con.execute(
            "DELETE FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ? "
            "AND decision IS NULL AND grade IS NULL",
            [q, p, reviewer],
        )


# --------------------------------------------------------------------------- resolution


_RESOLVE_SQL = """
WITH v AS (
    SELECT r.query_id, r.passage_id, r.decision, count(*) AS n
    FROM reviewer_decisions r JOIN resolve_pairs w ON w.query_id = r.query_id AND w.passage_id = r.passage_id
    WHERE r.decision IS NOT NULL GROUP BY ALL
),
t AS (SELECT query_id, passage_id, max(n) AS top, sum(n) AS total, count(*) AS kinds FROM v GROUP BY ALL),
m AS (
    SELECT v.query_id, v.passage_id, min(v.decision) AS decision, count(*) AS at_top,
           any_value(t.total) AS total, any_value(t.kinds) AS kinds
    FROM v JOIN t ON t.query_id = v.query_id AND t.passage_id = v.passage_id AND v.n = t.top GROUP BY ALL
)
SELECT w.query_id, w.passage_id,
       CASE WHEN a.decision IS NOT NULL THEN a.decision
            WHEN m.query_id IS NULL THEN NULL
            WHEN m.at_top > 1 THEN 'reject'
            ELSE m.decision END AS decision,
       CASE WHEN a.decision IS NOT NULL THEN 'adjudicated'
            WHEN m.query_id IS NULL THEN NULL
            WHEN m.at_top > 1 THEN 'tie'
            WHEN m.total = 1 THEN 'single'
            WHEN m.kinds = 1 THEN 'unanimous'
            ELSE 'majority' END AS resolved_by
FROM resolve_pairs w
LEFT JOIN adjudications a ON a.query_id = w.query_id AND a.passage_id = w.passage_id
LEFT JOIN m ON m.query_id = w.query_id AND m.passage_id = w.passage_id
"""


def _resolve_one(store: Store, q: int, p: int) -> tuple[str | None, str | None]:
    """(decision, resolved_by) of one pair (see :data:`_RESOLVE_SQL`)."""
    adj = store.fetchone("SELECT decision FROM adjudications WHERE query_id = ? AND passage_id = ?", [q, p])
    if adj is not None and adj[0] is not None:
        return str(adj[0]), "adjudicated"
    votes = store.fetchall(
        "SELECT decision, count(*) FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? "
        "AND decision IS NOT NULL GROUP BY decision",
        [q, p],
    )
    if not votes:
        return None, None
    top = max(n for _, n in votes)
    leaders = [d for d, n in votes if n == top]
    if len(leaders) > 1:
        return "reject", "tie"
    total = sum(n for _, n in votes)
    return str(leaders[0]), ("single" if total == 1 else "unanimous" if len(votes) == 1 else "majority")


def resolve_pairs(store: Store, pid: int, pairs: pd.DataFrame) -> None:
    """Recompute the resolved decision (``decisions``) and the review-made positive of each pair.

    Args:
        pairs: columns query_id, passage_id (int64), distinct.
    """
    if pairs.empty:
        return
    frame = pairs[["query_id", "passage_id"]].astype("int64").drop_duplicates(ignore_index=True)
    if len(frame) <= SMALL:  # a click: point lookups, the same rule as the SQL below
        resolved = pd.DataFrame(
            [
                (int(q), int(p), *_resolve_one(store, int(q), int(p)))
                for q, p in frame.itertuples(index=False)
            ],
            columns=["query_id", "passage_id", "decision", "resolved_by"],
        )
    else:
        with store._frame("resolve_pairs", frame):
            resolved = store.df(_RESOLVE_SQL)
    resolved["decision"] = resolved["decision"].astype(object).where(resolved["decision"].notna(), None)
    con = store.con
    if len(resolved) <= SMALL:
        for q, p, d, how in resolved[["query_id", "passage_id", "decision", "resolved_by"]].itertuples(
            index=False
        ):
            q, p = int(q), int(p)
            if d != "positive":
                con.execute(
                    "DELETE FROM positives WHERE query_id = ? AND passage_id = ? AND origin = 'review'",
                    [q, p],
                )
            con.execute("DELETE FROM decisions WHERE query_id = ? AND passage_id = ?", [q, p])
            if d is not None:
                con.execute(
                    "INSERT INTO decisions (project_id, query_id, passage_id, decision, resolved_by) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [pid, q, p, d, how],
                )
            if d == "positive":
                con.execute(
                    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
                    "VALUES (?, ?, ?, 'review', 1000) ON CONFLICT DO NOTHING",
                    [pid, q, p],
                )
        return
    resolved = resolved.astype({"query_id": "int64", "passage_id": "int64"})
    with store._frame("resolved_rows", resolved):
        con.execute(
            "DELETE FROM positives x USING resolved_rows n WHERE x.query_id = n.query_id "
            "AND x.passage_id = n.passage_id AND x.origin = 'review' AND n.decision IS DISTINCT FROM 'positive'"
        )
        con.execute(
            "DELETE FROM decisions d USING resolved_rows n WHERE d.query_id = n.query_id AND d.passage_id = n.passage_id"
        )
        con.execute(
            "INSERT INTO decisions (project_id, query_id, passage_id, decision, resolved_by) "
            "SELECT ?, query_id, passage_id, decision, resolved_by FROM resolved_rows WHERE decision IS NOT NULL",
            [pid],
        )
        con.execute(
            "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
            "SELECT ?, n.query_id, n.passage_id, 'review', 1000 FROM resolved_rows n "
            "ANTI JOIN positives x ON x.query_id = n.query_id AND x.passage_id = n.passage_id "
            "WHERE n.decision = 'positive'",
            [pid],
        )


# --------------------------------------------------------------------------- adjudication


def adjudication(store: Store, query_id: int, passage_id: int) -> dict[str, Any] | None:
    """``{"decision", "grade", "lead"}`` of a pair's adjudication, or None."""
    row = store.fetchone(
        "SELECT decision, grade, lead FROM adjudications WHERE query_id = ? AND passage_id = ?",
        [int(query_id), int(passage_id)],
    )
    return None if row is None else {"decision": row[0], "grade": row[1], "lead": row[2]}


def write_adjudication(
    store: Store, pid: int, query_id: int, passage_id: int, value: dict[str, Any] | None
) -> None:
    """Set (None: remove) a pair's adjudication ``{"decision", "grade", "lead"}`` and resolve the pair."""
    q, p = int(query_id), int(passage_id)
    store.con.execute("DELETE FROM adjudications WHERE query_id = ? AND passage_id = ?", [q, p])
    if value is not None:
        store.con.execute(
            "INSERT INTO adjudications (project_id, query_id, passage_id, decision, grade, lead) VALUES (?, ?, ?, ?, ?, ?)",
            [pid, q, p, value.get("decision"), value.get("grade"), value["lead"]],
        )
    resolve_pairs(store, pid, pd.DataFrame({"query_id": [q], "passage_id": [p]}, dtype="int64"))


# --------------------------------------------------------------------------- settings, registry, assignment


def settings(store: Store, pid: int) -> dict[str, Any]:
    """``{"overlap": k, "leads": [...]}`` of a project (k = 1 and no lead when never set)."""
    row = store.fetchone("SELECT overlap, leads FROM review_settings WHERE project_id = ?", [pid])
    if row is None:
        return {"overlap": 1, "leads": []}
    return {"overlap": int(row[0]), "leads": [str(x) for x in (row[1] or [])]}


def save_settings(store: Store, pid: int, overlap: int, leads: Sequence[str]) -> None:
    """Store the overlap and the leads of a project.

    Raises:
        EmbcoreError: overlap below 1.
    """
    if int(overlap) < 1:
        raise EmbcoreError(f"the overlap (reviewers per query) must be at least 1, got {overlap}")
    store.execute(
        "INSERT INTO review_settings (project_id, overlap, leads) VALUES (?, ?, ?) ON CONFLICT (project_id) "
        "DO UPDATE SET overlap = excluded.overlap, leads = excluded.leads, updated_at = now()",
        [pid, int(overlap), sorted({str(x) for x in leads if str(x).strip()})],
    )


def register_reviewer(store: Store, pid: int, name: str) -> None:
    """Record that ``name`` reviews this project (once)."""
    store.execute(
        "INSERT INTO reviewers (project_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING", [pid, name]
    )


def reviewer_names(store: Store, pid: int) -> list[str]:
    """Every reviewer of a project: registered ones and anyone who decided, by first appearance."""
    rows = store.fetchall(
        """
        SELECT name FROM (
            SELECT name, first_seen AS t FROM reviewers WHERE project_id = ?
            UNION ALL
            SELECT reviewer, min(updated_at) FROM reviewer_decisions WHERE project_id = ? GROUP BY reviewer
        ) GROUP BY name ORDER BY min(t), name
        """,
        [pid, pid],
    )
    return [str(r[0]) for r in rows]


def unnamed_decisions(store: Store, pid: int) -> int:
    """How many decisions belong to the unnamed reviewer '' (made before reviewer names existed)."""
    row = store.fetchone(
        "SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND reviewer = '' AND decision IS NOT NULL",
        [pid],
    )
    return int(row[0]) if row else 0


def adopt_unnamed(store: Store, pid: int, reviewer: str) -> int:
    """Give the unnamed reviewer's decisions, grades, reviewed states and versions to ``reviewer``
    (the person who made them before names were asked). Refused when ``reviewer`` already has some.

    Returns:
        Pairs adopted.

    Raises:
        EmbcoreError: an empty name, or a reviewer who already decided on this project.
    """
    if not reviewer:
        raise EmbcoreError("choose a name first")
    with store.transaction():
        mine = store.fetchone(
            "SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND reviewer = ?", [pid, reviewer]
        )
        if mine and mine[0]:
            raise EmbcoreError(f"{reviewer!r} already has decisions on this project; nothing was changed")
        n = unnamed_decisions(store, pid)
        for table in ("reviewer_decisions", "query_review", "reviewer_state"):
            store.con.execute(
                f"UPDATE {table} SET reviewer = ? WHERE project_id = ? AND reviewer = ''", [reviewer, pid]
            )
        store.con.execute(
            "UPDATE review_actions SET reviewer = ? WHERE project_id = ? AND reviewer = ''", [reviewer, pid]
        )
        store.con.execute(
            "UPDATE decision_log SET reviewer = ? WHERE project_id = ? AND reviewer = ''", [reviewer, pid]
        )
    return n


def has_assignments(store: Store, pid: int) -> bool:
    """Whether a lead assigned the project's queries to reviewers."""
    return store.fetchone("SELECT 1 FROM assignments WHERE project_id = ? LIMIT 1", [pid]) is not None


def assigned_ids(store: Store, pid: int, reviewer: str) -> set[int] | None:
    """Queries assigned to ``reviewer`` (None when the project has no assignment: everything is)."""
    if not has_assignments(store, pid):
        return None
    rows = store.fetchall(
        "SELECT query_id FROM assignments WHERE project_id = ? AND reviewer = ?", [pid, reviewer]
    )
    return {int(r[0]) for r in rows}


def active_reviewers(store: Store, pid: int) -> pd.DataFrame:
    """(query_id, reviewer) pairs: who decided on or reviewed each query."""
    return store.df(
        "SELECT DISTINCT query_id, reviewer FROM (SELECT query_id, reviewer FROM reviewer_decisions WHERE project_id = ? "
        "AND decision IS NOT NULL UNION ALL SELECT query_id, reviewer FROM query_review WHERE project_id = ?)",
        [pid, pid],
    )


def replace_assignments(store: Store, pid: int, rows: Sequence[tuple[int, str]]) -> None:
    """Replace a project's assignments by ``(query_id, reviewer)`` rows (empty: remove them all)."""
    frame = pd.DataFrame(list(rows), columns=["query_id", "reviewer"]).astype({"query_id": "int64"})
    with store.transaction():
        store.con.execute("DELETE FROM assignments WHERE project_id = ?", [pid])
        if len(frame):
            with store._frame("new_assignments", frame):
                store.con.execute(
                    "INSERT INTO assignments (project_id, query_id, reviewer) SELECT ?, query_id, reviewer "
                    "FROM new_assignments",
                    [pid],
                )


def assignment_counts(store: Store, pid: int) -> pd.DataFrame:
    """Per reviewer: queries assigned and queries that reviewer marked reviewed among them."""
    return store.df(
        "SELECT a.reviewer, count(*) AS assigned, count(r.query_id) AS reviewed FROM assignments a "
        "LEFT JOIN query_review r ON r.query_id = a.query_id AND r.reviewer = a.reviewer "
        "WHERE a.project_id = ? GROUP BY a.reviewer ORDER BY a.reviewer",
        [pid],
    )


# --------------------------------------------------------------------------- reads for agreement and export


def votes(store: Store, pid: int) -> pd.DataFrame:
    """Every reviewer decision of a project: query_id, passage_id, reviewer, decision, grade."""
    return store.df(
        "SELECT query_id, passage_id, reviewer, decision, grade FROM reviewer_decisions WHERE project_id = ? "
        "ORDER BY query_id, passage_id, reviewer",
        [pid],
    )


def disagreements(store: Store, pid: int, limit: int = 200) -> pd.DataFrame:
    """Pairs on which the reviewers' decisions differ, with each vote, the resolution and the texts.

    Columns: query_id, passage_id, query, passage, votes (list of 'reviewer: decision'),
    decision (resolved), resolved_by, adjudicated (bool), lead.
    """
    return store.df(
        """
        WITH split AS (
            SELECT query_id, passage_id FROM reviewer_decisions WHERE project_id = ? AND decision IS NOT NULL
            GROUP BY ALL HAVING count(DISTINCT decision) > 1
        )
        SELECT s.query_id, s.passage_id, q.text AS query, p.text AS passage,
               (SELECT list(CASE WHEN r.reviewer = '' THEN '(unnamed)' ELSE r.reviewer END || ': ' || r.decision
                            ORDER BY r.reviewer)
                FROM reviewer_decisions r WHERE r.query_id = s.query_id AND r.passage_id = s.passage_id
                AND r.decision IS NOT NULL) AS votes,
               d.decision, d.resolved_by, a.lead IS NOT NULL AS adjudicated, a.lead
        FROM split s JOIN queries q ON q.id = s.query_id JOIN passages p ON p.id = s.passage_id
        LEFT JOIN decisions d ON d.query_id = s.query_id AND d.passage_id = s.passage_id
        LEFT JOIN adjudications a ON a.query_id = s.query_id AND a.passage_id = s.passage_id
        ORDER BY a.lead IS NOT NULL, s.query_id, s.passage_id LIMIT ?
        """,
        [pid, int(limit)],
    )


def resolution_counts(store: Store, pid: int) -> dict[str, int]:
    """Resolved decisions per ``resolved_by`` (single, unanimous, majority, tie, adjudicated)."""
    rows = store.fetchall(
        "SELECT coalesce(resolved_by, 'single'), count(*) FROM decisions WHERE project_id = ? GROUP BY ALL",
        [pid],
    )
    return {str(k): int(v) for k, v in rows}


def resolved_grades(store: Store, pid: int) -> pd.DataFrame:
    """One grade per graded (query, passage): the adjudicated grade, else the reviewers' lower median.

    Columns: query_id, passage_id, grade.
    """
    return store.df(
        """
        SELECT g.query_id, g.passage_id, coalesce(a.grade, g.grade) AS grade FROM (
            SELECT query_id, passage_id, quantile_disc(grade, 0.5) AS grade FROM reviewer_decisions
            WHERE project_id = ? AND grade IS NOT NULL GROUP BY ALL
        ) g LEFT JOIN adjudications a ON a.query_id = g.query_id AND a.passage_id = g.passage_id
        UNION ALL
        SELECT a.query_id, a.passage_id, a.grade FROM adjudications a WHERE a.project_id = ? AND a.grade IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM reviewer_decisions r WHERE r.query_id = a.query_id
                        AND r.passage_id = a.passage_id AND r.grade IS NOT NULL)
        ORDER BY 1, 2
        """,
        [pid, pid],
    )


def session_rows(store: Store, pid: int, reviewer: str, since: Any, run_id: int | None) -> pd.DataFrame:
    """The reviewer's logged decisions since ``since`` with the candidate's sources and scores.

    Columns: logged_at, query_id, passage_id, decision, sources, pos_sim, dense_score, status.
    Undone ones are left out (an undo's own rows too).
    """
    return store.df(
        """
        SELECT l.logged_at, l.query_id, l.passage_id, l.decision, coalesce(c.sources, g.origin, 'search') AS sources,
               c.pos_sim, c.dense_score, coalesce(c.status, 'given') AS status
        FROM decision_log l JOIN review_actions a ON a.id = l.action_id
        LEFT JOIN candidates c ON c.run_id = ? AND c.query_id = l.query_id AND c.passage_id = l.passage_id
        LEFT JOIN given_negatives g ON g.query_id = l.query_id AND g.passage_id = l.passage_id
        WHERE l.project_id = ? AND l.reviewer = ? AND l.logged_at >= ? AND a.kind <> 'undo' AND a.undone_by IS NULL
              AND l.decision IN ('accept', 'reject', 'positive')
        ORDER BY l.id
        """,
        [-1 if run_id is None else int(run_id), pid, reviewer, since],
    )


def reviewed_by_others(store: Store, pid: int, reviewer: str, k: int) -> set[int]:
    """Queries at least ``k`` reviewers other than ``reviewer`` have reviewed (done or complete)."""
    rows = store.fetchall(
        "SELECT query_id FROM query_review WHERE project_id = ? AND reviewer <> ? GROUP BY query_id "
        "HAVING count(*) >= ?",
        [pid, reviewer, int(k)],
    )
    return {int(r[0]) for r in rows}
