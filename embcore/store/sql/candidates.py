"""Statements of :mod:`embcore.store.candidates`: a mining run's candidates, their summaries,
bulk selections and the negative pool of an export."""

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "query_id", "passage_id", "sources", "score", "rank", "bm25_rank", "bm25_score",
    "dense_rank", "dense_score", "pos_sim", "status",
)  # fmt: skip

DELETE_RUN_CANDIDATES = "DELETE FROM candidates WHERE run_id = ?"
INSERT_CANDIDATES = (
    f"INSERT INTO candidates (run_id, project_id, {', '.join(CANDIDATE_COLUMNS)}) "
    f"SELECT DISTINCT ON (query_id, passage_id) ?, ?, {', '.join(CANDIDATE_COLUMNS)} FROM new_candidates"
)
CANDIDATE_COUNT = "SELECT count(*) FROM candidates WHERE run_id = ?"
PROJECT_CANDIDATE_COUNT = "SELECT count(*) FROM candidates WHERE project_id = ?"

# candidates(): mined rows, optionally with the given negatives the run did not propose
RUN_CANDIDATES = (
    "SELECT c.query_id, c.passage_id, c.sources, c.score, c.rank, c.bm25_rank, c.bm25_score, "
    "c.dense_rank, c.dense_score, c.pos_sim, c.status FROM candidates c WHERE c.run_id = ?"
)
UNION_GIVEN = (
    " UNION ALL SELECT g.query_id, g.passage_id, g.origin, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "'given' FROM given_negatives g WHERE g.project_id = (SELECT project_id FROM runs WHERE id = ?) "
    "AND NOT EXISTS (SELECT 1 FROM candidates x WHERE x.run_id = ? AND x.query_id = g.query_id "
    "AND x.passage_id = g.passage_id)"
)
WITH_TEXT_AND_DECISION = (
    "SELECT c.*, p.text, p.kind AS passage_kind, d.decision FROM ({inner}) c "
    "JOIN passages p ON p.id = c.passage_id "
    "LEFT JOIN decisions d ON d.query_id = c.query_id AND d.passage_id = c.passage_id WHERE 1=1"
)
AND_QUERY = " AND c.query_id = ?"
AND_STATUS_IN = " AND list_contains(?, c.status)"
ORDER_CANDIDATES = " ORDER BY c.query_id, c.rank NULLS FIRST, c.passage_id"

# one query (the review card): three small reads instead of one join over the corpus
QUERY_CANDIDATES = (
    "SELECT passage_id, sources, score, rank, bm25_rank, bm25_score, dense_rank, dense_score, pos_sim, status "
    "FROM candidates WHERE run_id = ? AND query_id = ? ORDER BY rank, passage_id"
)
QUERY_GIVEN = "SELECT passage_id, origin FROM given_negatives WHERE query_id = ? ORDER BY passage_id"
# texts, metadata and one reviewer's decisions and grades on the query
TEXTS_AND_DECISIONS = (
    "SELECT p.id, p.text, p.kind, p.meta, d.decision, d.grade FROM passages p LEFT JOIN "
    "(SELECT passage_id, decision, grade FROM reviewer_decisions WHERE query_id = ? AND reviewer = ?) d "
    "ON d.passage_id = p.id WHERE list_contains(?, p.id)"
)

# summaries
RUN_SOURCES = (
    "SELECT DISTINCT unnest(string_split(sources, '+')) AS s FROM candidates WHERE run_id = ? ORDER BY s"
)
STATUS_COUNTS = (
    "SELECT status, count(*) AS candidates, count(DISTINCT query_id) AS queries FROM candidates "
    "WHERE run_id = ? GROUP BY status ORDER BY candidates DESC"
)
PER_QUERY_COUNTS = """
    SELECT q.id AS query_id,
           count(c.passage_id) AS candidates,
           count(c.passage_id) FILTER (WHERE c.status IN ('selected', 'kept')) AS survivors,
           count(c.passage_id) FILTER (WHERE c.status = 'selected') AS selected
    FROM queries q LEFT JOIN candidates c ON c.query_id = q.id AND c.run_id = ?
    WHERE q.project_id = ? GROUP BY q.id ORDER BY q.id
"""
SELECTED_COUNTS = "SELECT query_id, count(*) AS n FROM candidates WHERE run_id = ? AND status = 'selected' GROUP BY query_id"
SCORE_TABLE = (
    "SELECT c.query_id, c.passage_id, c.status, d.decision, c.score, c.dense_score, c.pos_sim, "
    "q.text AS query_text, q.text_hash AS query_hash, p.text, p.text_hash FROM candidates c "
    "JOIN queries q ON q.id = c.query_id JOIN passages p ON p.id = c.passage_id "
    "LEFT JOIN decisions d ON d.query_id = c.query_id AND d.passage_id = c.passage_id "
    "WHERE c.run_id = ? AND c.project_id = ?{only} ORDER BY c.query_id, c.rank"
)
ONLY_QUERIES = " AND list_contains(?, c.query_id)"

# bulk selections: {col} is a whitelisted score expression, {join} TEACHER_JOIN or ""
TEACHER_JOIN = (
    " JOIN queries tq ON tq.id = c.query_id JOIN passages tp ON tp.id = c.passage_id "
    "JOIN teacher_scores t ON t.model_id = ? AND t.query_hash = tq.text_hash AND t.passage_hash = tp.text_hash"
)
TEACHER_SCORE = "t.score"
SELECT_PAIRS = (
    "SELECT c.query_id, c.passage_id FROM candidates c{join} WHERE {where} ORDER BY c.query_id, c.rank"
)
PAIRS_OF_RUN = "c.run_id = ?"
PAIRS_STATUS_IN = "list_contains(?, c.status)"
PAIRS_QUERY_IN = "list_contains(?, c.query_id)"
SCORE_PRESENT = "{col} IS NOT NULL AND NOT isnan({col})"
SCORE_AT_LEAST = "{col} >= ?"
SCORE_AT_MOST = "{col} <= ?"
SCORE_ABOVE = "{col} > ?"
# without a decision of one reviewer
UNDECIDED = (
    "NOT EXISTS (SELECT 1 FROM reviewer_decisions d WHERE d.query_id = c.query_id "
    "AND d.passage_id = c.passage_id AND d.reviewer = ? AND d.decision IS NOT NULL)"
)
UNDECIDED_GIVEN = (
    "SELECT g.query_id, g.passage_id FROM given_negatives g WHERE list_contains(?, g.query_id) "
    "AND NOT EXISTS (SELECT 1 FROM reviewer_decisions d WHERE d.query_id = g.query_id "
    "AND d.passage_id = g.passage_id AND d.reviewer = ? AND d.decision IS NOT NULL) "
    "ORDER BY g.query_id, g.passage_id"
)
SCORE_RANGE = (
    "SELECT min({col}), max({col}) FROM candidates c{join} WHERE c.run_id = ? AND list_contains(?, c.status) "
    "AND {col} IS NOT NULL AND NOT isnan({col})"
)

# the negatives an export may take, by tier and rank (see CandidatesMixin.negative_pool)
NEGATIVE_POOL = """
    WITH pool AS (
        SELECT g.query_id, g.passage_id, 0 AS tier, 0 AS rnk FROM given_negatives g
        LEFT JOIN decisions d ON d.query_id = g.query_id AND d.passage_id = g.passage_id
        WHERE g.project_id = ? AND (d.decision IS NULL OR d.decision = 'accept')
        UNION ALL
        SELECT d.query_id, d.passage_id, 1 AS tier, coalesce(c.rank, 1000000) AS rnk FROM decisions d
        LEFT JOIN candidates c ON c.run_id = ? AND c.query_id = d.query_id AND c.passage_id = d.passage_id
        WHERE d.project_id = ? AND d.decision = 'accept'
        UNION ALL
        SELECT query_id, passage_id, tier, rnk FROM (
            SELECT c.query_id, c.passage_id,
                   CASE c.status WHEN 'selected' THEN 2 WHEN 'kept' THEN 3 ELSE 4 END AS tier,
                   coalesce(c.rank, 1000000) AS rnk
            FROM candidates c
            LEFT JOIN decisions d ON d.query_id = c.query_id AND d.passage_id = c.passage_id
            WHERE c.run_id = ? AND d.decision IS NULL
              AND c.status NOT IN ('positive_id', 'positive_text', 'near_duplicate')
        ) x
        QUALIFY tier = 2 OR row_number() OVER (PARTITION BY query_id, tier ORDER BY rnk, passage_id) <= ?
    )
    SELECT DISTINCT ON (query_id, passage_id) query_id, passage_id, tier, rnk
    FROM pool ORDER BY query_id, passage_id, tier
"""
