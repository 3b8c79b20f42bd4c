"""Statements of :mod:`embcore.store.decisions`: versioned review writes, their log and undo,
flags, edits, the reviewed state and the review's query lists."""

# --------------------------------------------------------------------------- query state

VERSIONS = "SELECT query_id, version FROM query_state WHERE list_contains(?, query_id)"
QUERY_STATE = (
    "SELECT s.version, s.flag, s.flag_reason, r.how FROM (SELECT ?::BIGINT AS query_id) q "
    "LEFT JOIN query_state s ON s.query_id = q.query_id LEFT JOIN query_review r ON r.query_id = q.query_id"
)
BUMP_VERSIONS = (
    "INSERT INTO query_state (query_id, project_id, version) SELECT unnest(?::BIGINT[]), ?, 1 "
    "ON CONFLICT (query_id) DO UPDATE SET version = query_state.version + 1, updated_at = now()"
)
REVIEWED_HOW = "SELECT query_id, how FROM query_review WHERE list_contains(?, query_id)"
REVIEWED_QUERY_IDS = "SELECT query_id FROM query_review WHERE project_id = ? ORDER BY query_id"
REVIEWED_STATES = "SELECT query_id, how FROM query_review WHERE project_id = ? ORDER BY query_id"

# a query is complete when every shown candidate (run's statuses + given negatives) has a decision
COMPLETE_ONE = """
    WITH shown AS (
        SELECT passage_id FROM candidates WHERE run_id = ? AND query_id = ? AND list_contains(?, status)
        UNION SELECT passage_id FROM given_negatives WHERE query_id = ?
    )
    SELECT count(*), count(d.decision) FROM shown s
    LEFT JOIN (SELECT passage_id, decision FROM decisions WHERE query_id = ?) d ON d.passage_id = s.passage_id
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
    LEFT JOIN decisions d ON d.query_id = s.query_id AND d.passage_id = s.passage_id
    GROUP BY s.query_id HAVING count(*) > 0 AND count(d.decision) = count(*)
"""

# --------------------------------------------------------------------------- actions

INSERT_ACTION = (
    "INSERT INTO review_actions (project_id, kind, query_id, label, detail, undoes, pairs, queries) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
FINISH_ACTION = "UPDATE review_actions SET pairs = ?, queries = ? WHERE id = ?"
ACTION_ROW = (
    "SELECT kind, label, query_id, detail, undone_by FROM review_actions WHERE id = ? AND project_id = ?"
)
MARK_UNDONE = "UPDATE review_actions SET undone_by = ? WHERE id = ?"
ACTION_COUNT = "SELECT count(*) FROM review_actions WHERE project_id = ?"
ACTIONS = (
    "SELECT a.id, a.created_at, a.kind, a.label, a.query_id, q.text AS query_text, a.pairs, a.queries, "
    "a.undoes, a.undone_by FROM review_actions a LEFT JOIN queries q ON q.id = a.query_id WHERE {where} "
    "ORDER BY a.id DESC LIMIT ?"
)
ACTIONS_OF_PROJECT = "a.project_id = ?"
ACTIONS_OF_QUERY = (
    "a.project_id = ? AND (a.query_id = ? OR a.id IN (SELECT action_id FROM decision_log WHERE query_id = ? "
    "AND action_id IS NOT NULL) OR a.id IN (SELECT action_id FROM review_action_queries WHERE query_id = ?))"
)
LAST_UNDOABLE = (
    "SELECT max(id) FROM review_actions WHERE project_id = ? AND query_id = ? AND kind <> 'undo' "
    "AND undone_by IS NULL"
)

# --------------------------------------------------------------------------- writing decisions

OLD_DECISIONS = (
    "SELECT w.query_id, w.passage_id, d.decision FROM wanted_pairs w "
    "LEFT JOIN decisions d ON d.query_id = w.query_id AND d.passage_id = w.passage_id"
)
# point statements (a click)
DELETE_REVIEW_POSITIVE = "DELETE FROM positives WHERE query_id = ? AND passage_id = ? AND origin = 'review'"
DELETE_DECISION = "DELETE FROM decisions WHERE query_id = ? AND passage_id = ?"
INSERT_DECISION = "INSERT INTO decisions (project_id, query_id, passage_id, decision) VALUES (?, ?, ?, ?)"
INSERT_REVIEW_POSITIVE = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
    "VALUES (?, ?, ?, 'review', 1000) ON CONFLICT DO NOTHING"
)
LOG_DECISION = (
    "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# set-based statements over the frame review_rows (query_id, passage_id, new, old): a bulk action
BULK_DELETE_REVIEW_POSITIVES = (
    "DELETE FROM positives x USING review_rows n WHERE x.query_id = n.query_id "
    "AND x.passage_id = n.passage_id AND x.origin = 'review' AND n.new IS DISTINCT FROM 'positive'"
)
BULK_DELETE_DECISIONS = "DELETE FROM decisions d USING review_rows n WHERE d.query_id = n.query_id AND d.passage_id = n.passage_id"
BULK_INSERT_DECISIONS = (
    "INSERT INTO decisions (project_id, query_id, passage_id, decision) "
    "SELECT ?, query_id, passage_id, new FROM review_rows WHERE new IS NOT NULL"
)
BULK_INSERT_REVIEW_POSITIVES = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
    "SELECT ?, n.query_id, n.passage_id, 'review', 1000 FROM review_rows n "
    "ANTI JOIN positives x ON x.query_id = n.query_id AND x.passage_id = n.passage_id WHERE n.new = 'positive'"
)
BULK_LOG_DECISIONS = (
    "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision) "
    "SELECT ?, query_id, passage_id, new, ?, old FROM review_rows ORDER BY query_id, passage_id"
)
# reviewed-state changes over the frame reviewed_changes (query_id, before, after)
DELETE_REVIEWED = "DELETE FROM query_review r USING reviewed_changes c WHERE r.query_id = c.query_id"
INSERT_REVIEWED = (
    "INSERT INTO query_review (query_id, project_id, how) SELECT query_id, ?, after FROM reviewed_changes "
    "WHERE after IS NOT NULL"
)
LOG_REVIEWED = (
    "INSERT INTO review_action_queries (action_id, project_id, query_id, reviewed_before, reviewed_after) "
    "SELECT ?, ?, query_id, before, after FROM reviewed_changes"
)

# --------------------------------------------------------------------------- flags and edits

WRITE_FLAG = (
    "INSERT INTO query_state (query_id, project_id, version, flag, flag_reason) VALUES (?, ?, 0, ?, ?) "
    "ON CONFLICT (query_id) DO UPDATE SET flag = excluded.flag, flag_reason = excluded.flag_reason, "
    "updated_at = now()"
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
    "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id) VALUES (?, ?, ?, ?, ?)"
)
RESTORE_POSITIVE = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) VALUES (?, ?, ?, ?, ?)"
)
QUERY_POSITIVE_IDS = "SELECT passage_id FROM positives WHERE query_id = ?"

# --------------------------------------------------------------------------- undo

LOGGED_BY_ACTION = (
    "SELECT l.query_id, l.passage_id, l.decision AS logged, l.prev_decision, d.decision AS current "
    "FROM decision_log l LEFT JOIN decisions d ON d.query_id = l.query_id AND d.passage_id = l.passage_id "
    "WHERE l.action_id = ? AND (l.decision IS NULL OR l.decision IN ('accept', 'reject', 'positive')) "
    "ORDER BY l.id"
)
REVIEWED_BY_ACTION = (
    "SELECT a.query_id, a.reviewed_before, a.reviewed_after, r.how FROM review_action_queries a "
    "LEFT JOIN query_review r ON r.query_id = a.query_id WHERE a.action_id = ?"
)

# --------------------------------------------------------------------------- reading decisions

DECISIONS = "SELECT query_id, passage_id, decision, updated_at FROM decisions WHERE project_id = ?"
AND_QUERY = " AND query_id = ?"
ORDER_PAIRS = " ORDER BY query_id, passage_id"
EXCLUDED_NEGATIVES = (
    "SELECT query_id, passage_id, decision FROM decisions WHERE project_id = ? "
    "AND decision IN ('reject', 'positive') ORDER BY query_id, passage_id"
)
DECISION_LOG = (
    "SELECT id, query_id, passage_id, decision, prev_decision, action_id, logged_at FROM decision_log "
    "WHERE project_id = ?{only} ORDER BY id"
)
LOG_OF_PAIR = " AND query_id = ? AND passage_id = ?"

# --------------------------------------------------------------------------- the review's lists

FILTERED_QUERY_IDS = "SELECT q.id FROM queries q WHERE {where} ORDER BY q.id"
F_PROJECT = "q.project_id = ?"
F_REVIEWED = "q.id IN (SELECT query_id FROM query_review WHERE project_id = ?)"
F_UNREVIEWED = "q.id NOT IN (SELECT query_id FROM query_review WHERE project_id = ?)"
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
QUERY_ROW = (
    "SELECT q.id, q.text, q.meta, q.prompt, q.type, coalesce(s.version, 0), s.flag, s.flag_reason, r.how "
    "FROM queries q LEFT JOIN query_state s ON s.query_id = q.id LEFT JOIN query_review r ON r.query_id = q.id "
    "WHERE q.project_id = ? AND q.id = ?"
)
REVIEW_COUNTS = """
    SELECT (SELECT count(*) FROM queries WHERE project_id = ?),
           (SELECT count(*) FROM query_review WHERE project_id = ?),
           (SELECT count(*) FROM decisions WHERE project_id = ? AND decision = 'accept'),
           (SELECT count(*) FROM decisions WHERE project_id = ? AND decision = 'reject'),
           (SELECT count(*) FROM decisions WHERE project_id = ? AND decision = 'positive'),
           (SELECT count(*) FROM query_state WHERE project_id = ? AND flag IS NOT NULL)
"""

# --------------------------------------------------------------------------- starting the review over

RESET_REVIEW = (
    "DELETE FROM positives WHERE project_id = ? AND origin = 'review'",
    "DELETE FROM decisions WHERE project_id = ?",
    "DELETE FROM decision_log WHERE project_id = ?",
    "DELETE FROM query_review WHERE project_id = ?",
    "DELETE FROM query_state WHERE project_id = ?",
    "DELETE FROM review_action_queries WHERE project_id = ?",
    "DELETE FROM review_actions WHERE project_id = ?",
)
