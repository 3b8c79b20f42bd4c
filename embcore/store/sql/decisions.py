"""Statements of :mod:`embcore.store.decisions`: versioned review writes, their log and undo,
flags, notes, corpus-search hits, edits, the reviewed state (per reviewer) and the review's
query lists."""

# --------------------------------------------------------------------------- query state

VERSIONS = "SELECT query_id, version FROM query_state WHERE list_contains(?, query_id)"
# the version a reviewer's page names: the shared one (flag, note, edits) + the reviewer's own
QUERY_STATE = (
    "SELECT coalesce(s.version, 0) + coalesce(v.version, 0), s.flag, s.flag_reason, r.how, s.note, s.note_by "
    "FROM (SELECT ?::BIGINT AS query_id) q "
    "LEFT JOIN query_state s ON s.query_id = q.query_id "
    "LEFT JOIN reviewer_state v ON v.query_id = q.query_id AND v.reviewer = ? "
    "LEFT JOIN query_review r ON r.query_id = q.query_id AND r.reviewer = ?"
)
BUMP_VERSIONS = (
    "INSERT INTO query_state (query_id, project_id, version) SELECT unnest(?::BIGINT[]), ?, 1 "
    "ON CONFLICT (query_id) DO UPDATE SET version = query_state.version + 1, updated_at = now()"
)
REVIEWED_HOW = "SELECT query_id, how FROM query_review WHERE reviewer = ? AND list_contains(?, query_id)"
# reviewed by anyone / by one reviewer
REVIEWED_QUERY_IDS = "SELECT DISTINCT query_id FROM query_review WHERE project_id = ? ORDER BY query_id"
REVIEWED_QUERY_IDS_OF = (
    "SELECT query_id FROM query_review WHERE project_id = ? AND reviewer = ? ORDER BY query_id"
)
REVIEWED_STATES = "SELECT query_id, how FROM query_review WHERE project_id = ? ORDER BY query_id, reviewer"
REVIEWED_STATES_OF = (
    "SELECT query_id, how FROM query_review WHERE project_id = ? AND reviewer = ? ORDER BY query_id"
)

# a query is complete for a reviewer when every shown candidate (run's statuses + given
# negatives) has a decision of that reviewer
COMPLETE_ONE = """
    WITH shown AS (
        SELECT passage_id FROM candidates WHERE run_id = ? AND query_id = ? AND list_contains(?, status)
        UNION SELECT passage_id FROM given_negatives WHERE query_id = ?
    )
    SELECT count(*), count(d.decision) FROM shown s
    LEFT JOIN (SELECT passage_id, decision FROM reviewer_decisions WHERE query_id = ? AND reviewer = ?) d
        ON d.passage_id = s.passage_id
"""
COMPLETE_MANY = """
    WITH q AS (SELECT unnest(?::BIGINT[]) AS query_id),
    shown AS (
        SELECT c.query_id, c.passage_id FROM candidates c JOIN q ON q.query_id = c.query_id
        WHERE c.run_id = ? AND list_contains(?, c.status)
        UNION
        SELECT g.query_id, g.passage_id FROM given_negatives g JOIN q ON q.query_id = g.query_id
    )
    SELECT s.query_id FROM shown s
    LEFT JOIN reviewer_decisions d ON d.query_id = s.query_id AND d.passage_id = s.passage_id AND d.reviewer = ?
    GROUP BY s.query_id HAVING count(*) > 0 AND count(d.decision) = count(*)
"""

# --------------------------------------------------------------------------- actions

INSERT_ACTION = (
    "INSERT INTO review_actions (project_id, kind, query_id, label, detail, undoes, pairs, queries, reviewer) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
FINISH_ACTION = "UPDATE review_actions SET pairs = ?, queries = ? WHERE id = ?"
ACTION_ROW = (
    "SELECT kind, label, query_id, detail, undone_by, coalesce(reviewer, '') FROM review_actions "
    "WHERE id = ? AND project_id = ?"
)
MARK_UNDONE = "UPDATE review_actions SET undone_by = ? WHERE id = ?"
ACTION_COUNT = "SELECT count(*) FROM review_actions WHERE project_id = ?"
ACTIONS = (
    "SELECT a.id, a.created_at, a.kind, a.label, a.query_id, q.text AS query_text, a.pairs, a.queries, "
    "a.undoes, a.undone_by, coalesce(a.reviewer, '') AS reviewer FROM review_actions a "
    "LEFT JOIN queries q ON q.id = a.query_id WHERE {where} ORDER BY a.id DESC LIMIT ?"
)
ACTIONS_OF_PROJECT = "a.project_id = ?"
ACTIONS_OF_QUERY = (
    "a.project_id = ? AND (a.query_id = ? OR a.id IN (SELECT action_id FROM decision_log WHERE query_id = ? "
    "AND action_id IS NOT NULL) OR a.id IN (SELECT action_id FROM review_action_queries WHERE query_id = ?))"
)
# a reviewer's own latest action (an adjudication is undone on the Agreement page, not here)
LAST_UNDOABLE = (
    "SELECT max(id) FROM review_actions WHERE project_id = ? AND query_id = ? "
    "AND kind NOT IN ('undo', 'adjudicate') AND undone_by IS NULL AND coalesce(reviewer, '') = ?"
)

# --------------------------------------------------------------------------- writing decisions

# a reviewer's own decisions and the resolved ones are written by :mod:`embcore.store.reviewers`;
# the log keeps who made each change
LOG_DECISION = (
    "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision, reviewer) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# over the frame review_rows (query_id, passage_id, new, old): a bulk action
BULK_LOG_DECISIONS = (
    "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision, reviewer) "
    "SELECT ?, query_id, passage_id, new, ?, old, ? FROM review_rows ORDER BY query_id, passage_id"
)
# reviewed-state changes over the frame reviewed_changes (query_id, before, after)
DELETE_REVIEWED = (
    "DELETE FROM query_review r USING reviewed_changes c WHERE r.query_id = c.query_id AND r.reviewer = ?"
)
INSERT_REVIEWED = (
    "INSERT INTO query_review (query_id, reviewer, project_id, how) SELECT query_id, ?, ?, after "
    "FROM reviewed_changes WHERE after IS NOT NULL"
)
LOG_REVIEWED = (
    "INSERT INTO review_action_queries (action_id, project_id, query_id, reviewed_before, reviewed_after) "
    "SELECT ?, ?, query_id, before, after FROM reviewed_changes"
)

# --------------------------------------------------------------------------- flags, notes and edits

WRITE_FLAG = (
    "INSERT INTO query_state (query_id, project_id, version, flag, flag_reason) VALUES (?, ?, 0, ?, ?) "
    "ON CONFLICT (query_id) DO UPDATE SET flag = excluded.flag, flag_reason = excluded.flag_reason, "
    "updated_at = now()"
)
WRITE_NOTE = (
    "INSERT INTO query_state (query_id, project_id, version, note, note_by) VALUES (?, ?, 0, ?, ?) "
    "ON CONFLICT (query_id) DO UPDATE SET note = excluded.note, note_by = excluded.note_by, updated_at = now()"
)
FLAGGED = "SELECT query_id, flag, flag_reason FROM query_state WHERE project_id = ? AND flag IS NOT NULL"
QUERY_TEXT_OF_PROJECT = "SELECT text FROM queries WHERE project_id = ? AND id = ?"
QUERY_TEXT = "SELECT text FROM queries WHERE id = ?"
OTHER_QUERY_WITH_TEXT = "SELECT id FROM queries WHERE project_id = ? AND text_hash = ? AND id <> ?"
WRITE_QUERY_TEXT = "UPDATE queries SET text = ?, text_hash = ? WHERE id = ?"
POSITIVE_ROW = "SELECT position, origin FROM positives WHERE query_id = ? AND passage_id = ?"
DELETE_POSITIVE = "DELETE FROM positives WHERE query_id = ? AND passage_id = ?"
INSERT_EDITED_POSITIVE = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) VALUES (?, ?, ?, 'edit', ?) "
    "ON CONFLICT DO NOTHING"
)
LOG_EDIT = (
    "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, reviewer) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
RESTORE_POSITIVE = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) VALUES (?, ?, ?, ?, ?)"
)
QUERY_POSITIVE_IDS = "SELECT passage_id FROM positives WHERE query_id = ?"

# --------------------------------------------------------------------------- corpus-search hits

PASSAGE_OF_PROJECT = "SELECT 1 FROM passages WHERE id = ? AND project_id = ?"
KNOWN_CANDIDATE = (
    "SELECT (SELECT count(*) FROM candidates WHERE run_id = ? AND query_id = ? AND passage_id = ?) + "
    "(SELECT count(*) FROM given_negatives WHERE query_id = ? AND passage_id = ?)"
)
INSERT_SEARCH_HIT = (
    "INSERT INTO given_negatives (project_id, query_id, passage_id, origin) VALUES (?, ?, ?, 'search')"
)
# undo of an added search hit: the passage leaves the query unless a reviewer still decided on it
DELETE_SEARCH_HIT = (
    "DELETE FROM given_negatives WHERE query_id = ? AND passage_id = ? AND origin = 'search' "
    "AND NOT EXISTS (SELECT 1 FROM reviewer_decisions r WHERE r.query_id = ? AND r.passage_id = ? "
    "AND r.decision IS NOT NULL)"
)

# --------------------------------------------------------------------------- undo

# the decisions an action logged, with the current decision of the reviewer who made it
LOGGED_BY_ACTION = (
    "SELECT l.query_id, l.passage_id, l.decision AS logged, l.prev_decision, d.decision AS current "
    "FROM decision_log l LEFT JOIN reviewer_decisions d ON d.query_id = l.query_id "
    "AND d.passage_id = l.passage_id AND d.reviewer = ? WHERE l.action_id = ? AND (l.decision IS NULL OR l.decision IN ('accept', 'reject', 'positive')) "
    "ORDER BY l.id"
)
REVIEWED_BY_ACTION = (
    "SELECT a.query_id, a.reviewed_before, a.reviewed_after, r.how FROM review_action_queries a "
    "LEFT JOIN query_review r ON r.query_id = a.query_id AND r.reviewer = ? WHERE a.action_id = ?"
)

# --------------------------------------------------------------------------- reading decisions

DECISIONS = (
    "SELECT query_id, passage_id, decision, updated_at, coalesce(resolved_by, 'single') AS resolved_by "
    "FROM decisions WHERE project_id = ?"
)
AND_QUERY = " AND query_id = ?"
ORDER_PAIRS = " ORDER BY query_id, passage_id"
EXCLUDED_NEGATIVES = (
    "SELECT query_id, passage_id, decision FROM decisions WHERE project_id = ? "
    "AND decision IN ('reject', 'positive') ORDER BY query_id, passage_id"
)
DECISION_LOG = (
    "SELECT id, query_id, passage_id, decision, prev_decision, action_id, logged_at, coalesce(reviewer, '') "
    "AS reviewer FROM decision_log "
    "WHERE project_id = ?{only} ORDER BY id"
)
LOG_OF_PAIR = " AND query_id = ? AND passage_id = ?"

# --------------------------------------------------------------------------- the review's lists

FILTERED_QUERY_IDS = "SELECT q.id FROM queries q WHERE {where} ORDER BY q.id"
F_PROJECT = "q.project_id = ?"
# reviewed / unreviewed by anyone, or ({who} = F_BY_REVIEWER) by one reviewer
F_REVIEWED = "q.id IN (SELECT query_id FROM query_review WHERE project_id = ?{who})"
F_UNREVIEWED = "q.id NOT IN (SELECT query_id FROM query_review WHERE project_id = ?{who})"
F_BY_REVIEWER = " AND reviewer = ?"
F_FLAGGED = "q.id IN (SELECT query_id FROM query_state WHERE project_id = ? AND flag IS NOT NULL)"
F_META = "list_contains(?, json_extract_string(q.meta, ?))"
F_SOURCES = (
    "EXISTS (SELECT 1 FROM candidates c WHERE c.run_id = ? AND c.query_id = q.id "
    "AND list_has_any(string_split(c.sources, '+'), ?))"
)
F_TEXT = (
    "(q.text ILIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM positives x JOIN passages p ON p.id = x.passage_id "
    "WHERE x.query_id = q.id AND p.text ILIKE ? ESCAPE '\\'))"
)
# one query as a reviewer sees it (version: shared + theirs; reviewed: theirs)
QUERY_ROW = (
    "SELECT q.id, q.text, q.meta, q.prompt, q.type, coalesce(s.version, 0) + coalesce(v.version, 0), s.flag, "
    "s.flag_reason, r.how, s.note, s.note_by FROM queries q LEFT JOIN query_state s ON s.query_id = q.id "
    "LEFT JOIN reviewer_state v ON v.query_id = q.id AND v.reviewer = ? "
    "LEFT JOIN query_review r ON r.query_id = q.id AND r.reviewer = ? WHERE q.project_id = ? AND q.id = ?"
)
# the resolved decisions and the queries reviewed by anyone ...
REVIEW_COUNTS = """
    SELECT (SELECT count(*) FROM queries WHERE project_id = ?),
           (SELECT count(DISTINCT query_id) FROM query_review WHERE project_id = ?),
           (SELECT count(*) FROM decisions WHERE project_id = ? AND decision = 'accept'),
           (SELECT count(*) FROM decisions WHERE project_id = ? AND decision = 'reject'),
           (SELECT count(*) FROM decisions WHERE project_id = ? AND decision = 'positive'),
           (SELECT count(*) FROM query_state WHERE project_id = ? AND flag IS NOT NULL)
"""
# ... or one reviewer's decisions and reviewed queries
REVIEWER_COUNTS = """
    SELECT (SELECT count(*) FROM queries WHERE project_id = ?),
           (SELECT count(*) FROM query_review WHERE project_id = ? AND reviewer = ?),
           (SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND decision = 'accept' AND reviewer = ?),
           (SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND decision = 'reject' AND reviewer = ?),
           (SELECT count(*) FROM reviewer_decisions WHERE project_id = ? AND decision = 'positive' AND reviewer = ?),
           (SELECT count(*) FROM query_state WHERE project_id = ? AND flag IS NOT NULL)
"""

# --------------------------------------------------------------------------- starting the review over

RESET_REVIEW = (
    "DELETE FROM positives WHERE project_id = ? AND origin = 'review'",
    "DELETE FROM given_negatives WHERE project_id = ? AND origin = 'search'",
    "DELETE FROM decisions WHERE project_id = ?",
    "DELETE FROM reviewer_decisions WHERE project_id = ?",
    "DELETE FROM reviewer_state WHERE project_id = ?",
    "DELETE FROM adjudications WHERE project_id = ?",
    "DELETE FROM decision_log WHERE project_id = ?",
    "DELETE FROM query_review WHERE project_id = ?",
    "DELETE FROM query_state WHERE project_id = ?",
    "DELETE FROM review_action_queries WHERE project_id = ?",
    "DELETE FROM review_actions WHERE project_id = ?",
)
