"""Statements of :mod:`embcore.store.queues`: the review queues over one mining run's candidates
(and the embedding cache the run filled). ``{assigned}`` is :data:`ASSIGNED_TO` (the queries of
one reviewer when the project has assignments) or :data:`ANY_QUERY`."""

ASSIGNED_TO = (
    "(NOT EXISTS (SELECT 1 FROM assignments WHERE project_id = q.project_id) OR q.id IN "
    "(SELECT query_id FROM assignments WHERE project_id = q.project_id AND reviewer = ?))"
)
ANY_QUERY = "TRUE"

RUN_EMBEDDING_KEYS = (
    "SELECT coalesce(json_extract_string(stats, '$.model_id'), model_id), "
    "coalesce(json_extract_string(config, '$.query_prompt'), ''), "
    "coalesce(json_extract_string(config, '$.passage_prompt'), '') FROM runs WHERE id = ?"
)

# the cosine of each query to its closest positive, from the embedding cache
# (parameters: model, query prompt, project, model, passage prompt, project)
POS_SCORE = """
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
NO_POS_SCORE = "pos AS (SELECT NULL::BIGINT AS query_id, NULL::DOUBLE AS pos_score WHERE FALSE)"
POSITIVE_SCORES = "WITH " + POS_SCORE + " SELECT query_id, pos_score FROM pos ORDER BY query_id"

FALSE_NEGATIVE_ITEMS = """
    SELECT c.query_id, c.passage_id, c.status, c.pos_sim, c.dense_score, c.rank,
           coalesce(c.pos_sim, c.dense_score, 0.0) AS value
    FROM candidates c JOIN queries q ON q.id = c.query_id
    WHERE c.run_id = ? AND {assigned}
      AND (list_contains(?, c.status) OR (c.pos_sim >= ? AND c.status NOT IN ('positive_id', 'positive_text')))
    ORDER BY value DESC, c.query_id, c.passage_id
"""

# informative items: {pos} is POS_SCORE or NO_POS_SCORE, {teacher_col} / {teacher_join} the
# teacher's score or NULL, {rank_gap} the BM25-vs-dense rank gap or NULL
BOTH_RANKS = "SELECT count(bm25_rank) > 0 AND count(dense_rank) > 0 FROM candidates WHERE run_id = ?"
RANK_GAP = "abs(ln(coalesce(c.bm25_rank, {missing})) - ln(coalesce(c.dense_rank, {missing})))"
NO_SCORE = "NULL::DOUBLE"
TEACHER_COLUMN = "t.score"
TEACHER_JOIN = (
    "LEFT JOIN passages tp ON tp.id = c.passage_id LEFT JOIN teacher_scores t ON t.model_id = ? "
    "AND t.query_hash = q.text_hash AND t.passage_hash = tp.text_hash"
)
INFORMATIVE_ITEMS = """
    WITH {pos},
    base AS (
        SELECT c.query_id, c.passage_id, c.bm25_rank, c.dense_rank, c.dense_score, pos.pos_score,
               {teacher_col} AS teacher, {rank_gap} AS rank_gap,
               pos.pos_score - c.dense_score AS margin
        FROM candidates c JOIN queries q ON q.id = c.query_id
        LEFT JOIN pos ON pos.query_id = c.query_id {teacher_join}
        WHERE c.run_id = ? AND list_contains(?, c.status) AND {assigned}
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
"""

MARGIN_QUERIES = (
    "WITH "
    + POS_SCORE
    + """,
    best AS (
        SELECT c.query_id, arg_max(c.passage_id, c.dense_score) AS passage_id, max(c.dense_score) AS best
        FROM candidates c JOIN queries q ON q.id = c.query_id
        WHERE c.run_id = ? AND list_contains(?, c.status) AND c.dense_score IS NOT NULL AND {assigned}
        GROUP BY c.query_id
    )
    SELECT b.query_id, b.passage_id, pos.pos_score, b.best, pos.pos_score - b.best AS margin
    FROM best b JOIN pos ON pos.query_id = b.query_id
    ORDER BY margin, b.query_id
"""
)

# query-level queues
DATA_ORDER = "SELECT q.id AS query_id, q.id AS value FROM queries q WHERE q.project_id = ? AND {assigned} ORDER BY q.id"
RANDOM_ORDER = (
    "SELECT q.id AS query_id, md5(?::VARCHAR || ':' || q.id::VARCHAR) AS value FROM queries q "
    "WHERE q.project_id = ? AND {assigned} ORDER BY value, q.id"
)
# {who} is BY_REVIEWER or "" (reviewed by anyone)
MOST_CANDIDATES = """
    WITH n AS (
        SELECT query_id, count(*) AS n FROM (
            SELECT query_id, passage_id FROM candidates WHERE run_id = ? AND list_contains(?, status)
            UNION SELECT query_id, passage_id FROM given_negatives WHERE project_id = ?
        ) GROUP BY query_id
    )
    SELECT q.id AS query_id, n.n AS value FROM queries q JOIN n ON n.query_id = q.id
    WHERE q.project_id = ? AND {assigned}
      AND q.id NOT IN (SELECT query_id FROM query_review WHERE project_id = ?{who})
    ORDER BY n.n DESC, q.id
"""
BY_REVIEWER = " AND reviewer = ?"

# what a reviewer decided (optionally among some queries)
DECIDED_PAIRS = (
    "SELECT query_id, passage_id FROM reviewer_decisions WHERE project_id = ? AND reviewer = ? "
    "AND decision IS NOT NULL"
)
AMONG_QUERIES = " AND list_contains(?, query_id)"

QUERY_TEXTS_BY_ID = "SELECT id, text FROM queries WHERE list_contains(?, id)"
PASSAGE_TEXTS_BY_ID = "SELECT id, text FROM passages WHERE list_contains(?, id)"
PROJECT_QUERY_IDS = "SELECT id FROM queries WHERE project_id = ? ORDER BY id"
