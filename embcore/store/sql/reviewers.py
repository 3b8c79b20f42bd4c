"""Statements of :mod:`embcore.store.reviewers`: per-reviewer decisions and grades, the resolved
decision, adjudications, overlap settings, assignments, the reviewer registry, and the reads
behind agreement figures and a reviewer's session."""

# --------------------------------------------------------------------------- per-reviewer versions

REVIEWER_VERSIONS = (
    "SELECT query_id, version FROM reviewer_state WHERE reviewer = ? AND list_contains(?, query_id)"
)
BUMP_REVIEWER = (
    "INSERT INTO reviewer_state (query_id, reviewer, project_id, version) SELECT unnest(?::BIGINT[]), ?, ?, 1 "
    "ON CONFLICT (query_id, reviewer) DO UPDATE SET version = reviewer_state.version + 1"
)

# --------------------------------------------------------------------------- per-reviewer rows

# point statements (a click)
UPSERT_REVIEWER_DECISION = (
    "INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, decision) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (query_id, passage_id, reviewer) "
    "DO UPDATE SET decision = excluded.decision, updated_at = now()"
)
DELETE_EMPTY_REVIEWER_ROW = (
    "DELETE FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ? "
    "AND decision IS NULL AND grade IS NULL"
)
REVIEWER_DECISION = (
    "SELECT decision FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ?"
)
GRADE = "SELECT grade FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? AND reviewer = ?"
UPSERT_GRADE = (
    "INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, grade) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (query_id, passage_id, reviewer) DO UPDATE SET grade = excluded.grade, updated_at = now()"
)
# set-based statements over the frame reviewer_rows (query_id, passage_id, new): a bulk action
BULK_UPSERT_REVIEWER_DECISIONS = (
    "INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, decision) "
    "SELECT ?, query_id, passage_id, ?, new FROM reviewer_rows "
    "ON CONFLICT (query_id, passage_id, reviewer) DO UPDATE SET decision = excluded.decision, updated_at = now()"
)
BULK_DELETE_EMPTY_REVIEWER_ROWS = (
    "DELETE FROM reviewer_decisions r USING reviewer_rows n WHERE r.query_id = n.query_id "
    "AND r.passage_id = n.passage_id AND r.reviewer = ? AND r.decision IS NULL AND r.grade IS NULL"
)
# over the frame wanted_pairs (query_id, passage_id)
REVIEWER_DECISIONS_OF_PAIRS = (
    "SELECT w.query_id, w.passage_id, r.decision FROM wanted_pairs w LEFT JOIN reviewer_decisions r "
    "ON r.query_id = w.query_id AND r.passage_id = w.passage_id AND r.reviewer = ?"
)

# --------------------------------------------------------------------------- resolution

# the resolved decision of every pair of the frame resolve_pairs (query_id, passage_id): the lead's
# adjudication, else the most frequent decision among the reviewers; a tie resolves to 'reject'
RESOLVE = """
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
# the same rule for one pair (a click): point lookups
ADJUDICATED_DECISION = "SELECT decision FROM adjudications WHERE query_id = ? AND passage_id = ?"
PAIR_VOTES = (
    "SELECT decision, count(*) FROM reviewer_decisions WHERE query_id = ? AND passage_id = ? "
    "AND decision IS NOT NULL GROUP BY decision"
)
# writing the resolved decision and the review-made positive: point statements
DELETE_REVIEW_POSITIVE = "DELETE FROM positives WHERE query_id = ? AND passage_id = ? AND origin = 'review'"
DELETE_RESOLVED = "DELETE FROM decisions WHERE query_id = ? AND passage_id = ?"
INSERT_RESOLVED = (
    "INSERT INTO decisions (project_id, query_id, passage_id, decision, resolved_by) VALUES (?, ?, ?, ?, ?)"
)
INSERT_REVIEW_POSITIVE = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
    "VALUES (?, ?, ?, 'review', 1000) ON CONFLICT DO NOTHING"
)
# ... and set-based over the frame resolved_rows (query_id, passage_id, decision, resolved_by)
BULK_DELETE_REVIEW_POSITIVES = (
    "DELETE FROM positives x USING resolved_rows n WHERE x.query_id = n.query_id "
    "AND x.passage_id = n.passage_id AND x.origin = 'review' AND n.decision IS DISTINCT FROM 'positive'"
)
BULK_DELETE_RESOLVED = "DELETE FROM decisions d USING resolved_rows n WHERE d.query_id = n.query_id AND d.passage_id = n.passage_id"
BULK_INSERT_RESOLVED = (
    "INSERT INTO decisions (project_id, query_id, passage_id, decision, resolved_by) "
    "SELECT ?, query_id, passage_id, decision, resolved_by FROM resolved_rows WHERE decision IS NOT NULL"
)
BULK_INSERT_REVIEW_POSITIVES = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
    "SELECT ?, n.query_id, n.passage_id, 'review', 1000 FROM resolved_rows n "
    "ANTI JOIN positives x ON x.query_id = n.query_id AND x.passage_id = n.passage_id "
    "WHERE n.decision = 'positive'"
)

# --------------------------------------------------------------------------- adjudication

ADJUDICATION = "SELECT decision, grade, lead FROM adjudications WHERE query_id = ? AND passage_id = ?"
DELETE_ADJUDICATION = "DELETE FROM adjudications WHERE query_id = ? AND passage_id = ?"
INSERT_ADJUDICATION = "INSERT INTO adjudications (project_id, query_id, passage_id, decision, grade, lead) VALUES (?, ?, ?, ?, ?, ?)"

# --------------------------------------------------------------------------- settings, registry, assignment

SETTINGS = "SELECT overlap, leads FROM review_settings WHERE project_id = ?"
SAVE_SETTINGS = (
    "INSERT INTO review_settings (project_id, overlap, leads) VALUES (?, ?, ?) ON CONFLICT (project_id) "
    "DO UPDATE SET overlap = excluded.overlap, leads = excluded.leads, updated_at = now()"
)
REGISTER_REVIEWER = "INSERT INTO reviewers (project_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING"
REVIEWER_NAMES = """
    SELECT name FROM (
        SELECT name, first_seen AS t FROM reviewers WHERE project_id = ?
        UNION ALL
        SELECT reviewer, min(updated_at) FROM reviewer_decisions WHERE project_id = ? GROUP BY reviewer
    ) GROUP BY name ORDER BY min(t), name
"""
UNNAMED_DECISIONS = (
    "SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND reviewer = '' AND decision IS NOT NULL"
)
REVIEWER_ROWS = "SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND reviewer = ?"
ADOPT_UNNAMED = tuple(
    f"UPDATE {table} SET reviewer = ? WHERE project_id = ? AND reviewer = ''"
    for table in ("reviewer_decisions", "query_review", "reviewer_state", "review_actions", "decision_log")
)
"""Give the unnamed reviewer's rows to a named one (parameters: name, project)."""
HAS_ASSIGNMENTS = "SELECT 1 FROM assignments WHERE project_id = ? LIMIT 1"
ASSIGNED_IDS = "SELECT query_id FROM assignments WHERE project_id = ? AND reviewer = ?"
ACTIVE_REVIEWERS = (
    "SELECT DISTINCT query_id, reviewer FROM (SELECT query_id, reviewer FROM reviewer_decisions WHERE project_id = ? "
    "AND decision IS NOT NULL UNION ALL SELECT query_id, reviewer FROM query_review WHERE project_id = ?)"
)
DELETE_ASSIGNMENTS = "DELETE FROM assignments WHERE project_id = ?"
INSERT_ASSIGNMENTS = "INSERT INTO assignments (project_id, query_id, reviewer) SELECT ?, query_id, reviewer FROM new_assignments"
ASSIGNMENT_COUNTS = (
    "SELECT a.reviewer, count(*) AS assigned, count(r.query_id) AS reviewed FROM assignments a "
    "LEFT JOIN query_review r ON r.query_id = a.query_id AND r.reviewer = a.reviewer "
    "WHERE a.project_id = ? GROUP BY a.reviewer ORDER BY a.reviewer"
)
REVIEWED_BY_OTHERS = (
    "SELECT query_id FROM query_review WHERE project_id = ? AND reviewer <> ? GROUP BY query_id "
    "HAVING count(*) >= ?"
)

# --------------------------------------------------------------------------- reads for agreement and export

VOTES = (
    "SELECT query_id, passage_id, reviewer, decision, grade FROM reviewer_decisions WHERE project_id = ? "
    "ORDER BY query_id, passage_id, reviewer"
)
DISAGREEMENTS = """
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
"""
RESOLUTION_COUNTS = (
    "SELECT coalesce(resolved_by, 'single'), count(*) FROM decisions WHERE project_id = ? GROUP BY ALL"
)
# one grade per graded pair: the adjudicated grade, else the reviewers' lower median
RESOLVED_GRADES = """
    SELECT g.query_id, g.passage_id, coalesce(a.grade, g.grade) AS grade FROM (
        SELECT query_id, passage_id, quantile_disc(grade, 0.5) AS grade FROM reviewer_decisions
        WHERE project_id = ? AND grade IS NOT NULL GROUP BY ALL
    ) g LEFT JOIN adjudications a ON a.query_id = g.query_id AND a.passage_id = g.passage_id
    UNION ALL
    SELECT a.query_id, a.passage_id, a.grade FROM adjudications a WHERE a.project_id = ? AND a.grade IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM reviewer_decisions r WHERE r.query_id = a.query_id
                    AND r.passage_id = a.passage_id AND r.grade IS NOT NULL)
    ORDER BY 1, 2
"""
SESSION_DECISIONS = """
    SELECT l.logged_at, l.query_id, l.passage_id, l.decision, coalesce(c.sources, g.origin, 'search') AS sources,
           c.pos_sim, c.dense_score, coalesce(c.status, 'given') AS status
    FROM decision_log l JOIN review_actions a ON a.id = l.action_id
    LEFT JOIN candidates c ON c.run_id = ? AND c.query_id = l.query_id AND c.passage_id = l.passage_id
    LEFT JOIN given_negatives g ON g.query_id = l.query_id AND g.passage_id = l.passage_id
    WHERE l.project_id = ? AND l.reviewer = ? AND l.logged_at >= ? AND a.kind <> 'undo' AND a.undone_by IS NULL
          AND l.decision IN ('accept', 'reject', 'positive')
    ORDER BY l.id
"""
