"""Statements of :mod:`embcore.store.projects`: projects and their corpus (queries, passages,
positives, given negatives, derived samples)."""

# --------------------------------------------------------------------------- projects

PROJECT_BY_NAME = "SELECT id FROM projects WHERE name = ?"
PROJECT_BY_ID = "SELECT id FROM projects WHERE id = ?"
PROJECT_ROW = "SELECT * FROM projects WHERE id = ?"
PROJECT_NAMES = "SELECT id, name FROM projects ORDER BY id"
INSERT_PROJECT = (
    "INSERT INTO projects (name, source_name, source_sha256, source_format, mapping, cleaning) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
TOUCH_PROJECT = "UPDATE projects SET updated_at = current_timestamp WHERE id = ?"
PROJECT_LICENSE = "SELECT license FROM projects WHERE id = ?"
SET_PROJECT_LICENSE = "UPDATE projects SET license = ? WHERE id = ?"
LIST_PROJECTS = """
    SELECT p.id, p.name, p.source_name, p.created_at,
        (SELECT count(*) FROM queries q WHERE q.project_id = p.id) AS queries,
        (SELECT count(*) FROM passages x WHERE x.project_id = p.id AND x.kind = 'passage') AS passages,
        (SELECT count(*) FROM runs r WHERE r.project_id = p.id AND r.kind = 'mine' AND r.status = 'done')
            AS mining_runs,
        (SELECT count(*) FROM runs r WHERE r.project_id = p.id AND r.status = 'running') AS running_runs,
        (SELECT count(*) FROM runs r WHERE r.project_id = p.id AND r.status = 'interrupted')
            AS interrupted_runs,
        (SELECT count(DISTINCT v.query_id) FROM query_review v WHERE v.project_id = p.id) AS reviewed,
        (SELECT count(*) FROM decisions d WHERE d.project_id = p.id) AS decisions,
        (SELECT count(*) FROM exports e WHERE e.project_id = p.id) AS exports,
        (SELECT max(e.created_at) FROM exports e WHERE e.project_id = p.id) AS last_export
    FROM projects p ORDER BY p.id
"""

# Deleting a project: child tables first (the order matters only for readability; no foreign keys).
DELETE_PROJECT = (
    "DELETE FROM export_splits WHERE export_id IN (SELECT id FROM exports WHERE project_id = ?)",
    "DELETE FROM exports WHERE project_id = ?",
    "DELETE FROM query_review WHERE project_id = ?",
    "DELETE FROM query_state WHERE project_id = ?",
    "DELETE FROM review_action_queries WHERE project_id = ?",
    "DELETE FROM review_actions WHERE project_id = ?",
    "DELETE FROM decision_log WHERE project_id = ?",
    "DELETE FROM decisions WHERE project_id = ?",
    "DELETE FROM reviewer_decisions WHERE project_id = ?",
    "DELETE FROM reviewer_state WHERE project_id = ?",
    "DELETE FROM adjudications WHERE project_id = ?",
    "DELETE FROM reviewers WHERE project_id = ?",
    "DELETE FROM review_settings WHERE project_id = ?",
    "DELETE FROM assignments WHERE project_id = ?",
    "DELETE FROM candidates WHERE project_id = ?",
    "DELETE FROM runs WHERE project_id = ?",
    "DELETE FROM query_sources WHERE project_id = ?",
    "DELETE FROM chunk_passages WHERE project_id = ?",
    "DELETE FROM chunks WHERE project_id = ?",
    "DELETE FROM documents WHERE project_id = ?",
    "DELETE FROM given_negatives WHERE project_id = ?",
    "DELETE FROM positives WHERE project_id = ?",
    "DELETE FROM queries WHERE project_id = ?",
    "DELETE FROM passages WHERE project_id = ?",
    "DELETE FROM projects WHERE id = ?",
)

# --------------------------------------------------------------------------- inserting samples (frames)

INSERT_DATA_PASSAGES = (
    "INSERT INTO passages (project_id, text, text_hash, kind, origin, meta) "
    "SELECT ?, n.text, n.text_hash, 'passage', 'data', n.meta FROM new_passages n "
    "ANTI JOIN passages p ON p.project_id = ? AND p.text_hash = n.text_hash"
)
INSERT_DATA_QUERIES = (
    "INSERT INTO queries (project_id, text, text_hash, sample_key, meta, source_rows, type, origin) "
    "SELECT ?, text, text_hash, sample_key, meta, source_rows::INTEGER[], type, origin FROM new_queries"
)
_LINKS = (
    "SELECT DISTINCT ON (q.id, p.id) ?, q.id, p.id, 'data', l.label{extra} FROM new_links l "
    "JOIN queries q ON q.project_id = ? AND q.sample_key = l.qh "
    "JOIN passages p ON p.project_id = ? AND p.text_hash = l.ph WHERE l.kind = ?"
)
INSERT_DATA_POSITIVES = (
    "INSERT INTO positives (project_id, query_id, passage_id, origin, label_score, position) "
    + _LINKS.format(extra=", l.position")
)
INSERT_DATA_NEGATIVES = (
    "INSERT INTO given_negatives (project_id, query_id, passage_id, origin, label_score) "
    + _LINKS.format(extra="")
    + " AND NOT EXISTS (SELECT 1 FROM positives x WHERE x.query_id = q.id AND x.passage_id = p.id)"
)

# --------------------------------------------------------------------------- sample fields

SET_PROMPT = "UPDATE queries SET prompt = ? WHERE project_id = ?"
SET_TYPE = "UPDATE queries SET type = ? WHERE project_id = ?"
AND_QUERY_IN = " AND list_contains(?, id)"
SAMPLE_FIELD_COUNTS = (
    "SELECT prompt, type, count(*) AS queries FROM queries WHERE project_id = ? "
    "GROUP BY ALL ORDER BY queries DESC, prompt NULLS FIRST, type NULLS FIRST"
)

# --------------------------------------------------------------------------- reading the corpus

# generated queries the quality gate filtered or a reviewer rejected (query_sources, migration 008) are
# left out: what mining, augmentation, teacher scoring and export read (params: pid, pid)
QUERIES = (
    "SELECT id, text, text_hash, meta, source_rows, prompt, type, origin, parent_id, sample_key "
    "FROM queries WHERE project_id = ? AND id NOT IN (SELECT query_id FROM query_sources "
    "WHERE project_id = ? AND status IN ('filtered', 'rejected')) ORDER BY id"
)
QUERY_TEXTS = "SELECT text FROM queries WHERE project_id = ? ORDER BY id LIMIT ?"
QUERY_HASHES = "SELECT text_hash FROM queries WHERE project_id = ?"
QUERY_COUNT = "SELECT count(*) FROM queries WHERE project_id = ?"
PASSAGES = "SELECT id, text, text_hash, kind, origin, meta FROM passages WHERE project_id = ?"
AND_KIND = " AND kind = ?"
ORDER_BY_ID = " ORDER BY id"
PASSAGE_TEXTS = "SELECT id, text, kind FROM passages WHERE project_id = ? ORDER BY id"
PASSAGE_TEXT = "SELECT text FROM passages WHERE id = ?"
PASSAGE_COUNT = "SELECT count(*) FROM passages WHERE project_id = ?"
POSITIVES = (
    "SELECT x.query_id, x.passage_id, x.origin, x.label_score, x.position, p.text, p.text_hash "
    "FROM positives x JOIN passages p ON p.id = x.passage_id WHERE x.project_id = ? "
    "ORDER BY x.query_id, x.position, x.passage_id"
)
POSITIVE_COUNT = "SELECT count(*) FROM positives WHERE project_id = ?"
QUERY_POSITIVES = (
    "SELECT x.passage_id, x.origin, x.position, p.text, p.meta FROM positives x "
    "JOIN passages p ON p.id = x.passage_id WHERE x.query_id = ? ORDER BY x.position, x.passage_id"
)
POSITIVE_TEXTS = (
    "SELECT p.id, p.text FROM passages p WHERE p.id IN (SELECT passage_id FROM positives WHERE query_id = ?)"
)
POSITIVE_ORIGINS = "SELECT origin FROM positives WHERE query_id = ? AND passage_id = ?"
POSITIVE_PAIRS = (
    "SELECT x.query_id, x.passage_id, x.origin, q.text AS query_text, q.text_hash AS query_hash, p.text, "
    "p.text_hash FROM positives x JOIN queries q ON q.id = x.query_id JOIN passages p ON p.id = x.passage_id "
    "WHERE {where} ORDER BY x.query_id, x.position"
)
OF_PROJECT = "x.project_id = ?"
OF_QUERIES = "x.project_id = ? AND list_contains(?, x.query_id)"
GIVEN_NEGATIVES = (
    "SELECT g.query_id, g.passage_id, g.origin, g.label_score, p.text FROM given_negatives g "
    "JOIN passages p ON p.id = g.passage_id WHERE g.project_id = ? ORDER BY g.query_id, g.passage_id"
)

# --------------------------------------------------------------------------- mining input

MINING_PASSAGES = (
    "SELECT id, text, meta FROM passages WHERE project_id = ? AND (kind = 'passage' OR id IN "
    "(SELECT passage_id FROM positives WHERE project_id = ?)) ORDER BY id"
)
MINING_POSITIVES = (
    "SELECT query_id, passage_id FROM positives WHERE project_id = ? ORDER BY query_id, position"
)
MINING_NEGATIVES = "SELECT query_id, passage_id FROM given_negatives WHERE project_id = ?"

# --------------------------------------------------------------------------- passages and derived data (frames)

INSERT_NEW_PASSAGES = (
    "INSERT INTO passages (project_id, text, text_hash, kind, origin) "
    "SELECT ?, n.text, n.text_hash, ?, ? FROM ensure_texts n "
    "ANTI JOIN passages p ON p.project_id = ? AND p.text_hash = n.text_hash"
)
PASSAGE_IDS_OF_TEXTS = (
    "SELECT p.text_hash, p.id FROM passages p JOIN ensure_texts n ON n.text_hash = p.text_hash "
    "WHERE p.project_id = ?"
)
INSERT_DERIVED_QUERIES = (
    "INSERT INTO queries (project_id, text, text_hash, sample_key, meta, type, prompt, origin, parent_id) "
    "SELECT ?, n.text, n.text_hash, n.text_hash, p.meta, p.type, p.prompt, n.origin, n.parent_id "
    "FROM new_derived n JOIN queries p ON p.id = n.parent_id"
)
# {table}: positives | given_negatives; {query}: QUERY_BY_ID or QUERY_BY_KEY
QUERY_BY_ID = "n.q"
QUERY_BY_KEY = "(SELECT id FROM queries WHERE project_id = ? AND sample_key = n.q)"
LINK_COUNT = "SELECT count(*) FROM {table} WHERE project_id = ?"
INSERT_LINKS = (
    "INSERT INTO {table} (project_id, query_id, passage_id, origin) "
    "SELECT ?, {query} AS qid, n.passage_id, n.origin FROM new_links n "
    "WHERE NOT EXISTS (SELECT 1 FROM positives x WHERE x.query_id = {query} AND x.passage_id = n.passage_id) "
    "ON CONFLICT DO NOTHING"
)
GENERATED_ITEMS = """
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
"""
META_VALUES = """
    WITH k AS (SELECT meta, unnest(json_keys(meta)) AS key FROM queries WHERE project_id = ? AND meta IS NOT NULL)
    SELECT key, json_extract_string(meta, '$."' || replace(replace(key, '\\', '\\\\'), '"', '\\"') || '"') AS v
    FROM k GROUP BY ALL ORDER BY key, v
"""
