"""Statements of :mod:`embcore.store.search`: the Review page's corpus search."""

CORPUS_KEY = "SELECT count(*), max(id) FROM passages WHERE project_id = ?"
# the searchable corpus, as mining sees it: every data passage and every passage that is a positive
CORPUS = (
    "SELECT id, text, text_hash, meta FROM passages WHERE project_id = ? AND (kind = 'passage' OR id IN "
    "(SELECT passage_id FROM positives WHERE project_id = ?)) ORDER BY id"
)
HIT_STATE = """
    SELECT w.passage_id,
           EXISTS (SELECT 1 FROM positives x WHERE x.query_id = ? AND x.passage_id = w.passage_id) AS positive,
           (SELECT c.status FROM candidates c WHERE c.run_id = ? AND c.query_id = ? AND c.passage_id = w.passage_id)
               AS status,
           EXISTS (SELECT 1 FROM given_negatives g WHERE g.query_id = ? AND g.passage_id = w.passage_id) AS given,
           (SELECT r.decision FROM reviewer_decisions r WHERE r.query_id = ? AND r.passage_id = w.passage_id
            AND r.reviewer = ?) AS decision
    FROM (SELECT unnest(?::BIGINT[]) AS passage_id) w
"""
QUERY_TEXT_AND_PROMPT = "SELECT text, prompt FROM queries WHERE id = ?"
