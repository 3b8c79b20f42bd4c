"""Statements of :mod:`embcore.store.caches`: embeddings, teacher scores, LLM responses."""

GET_EMBEDDINGS = (
    "SELECT e.text_hash, e.vec FROM embeddings e JOIN want_hashes w ON w.h = e.text_hash "
    "WHERE e.model_id = ? AND e.prompt = ?"
)
PUT_EMBEDDINGS = (
    "INSERT INTO embeddings (model_id, prompt, text_hash, vec) "
    "SELECT ?, ?, h, vec::FLOAT[] FROM new_vecs ON CONFLICT DO NOTHING"
)
GET_TEACHER_SCORES = (
    "SELECT t.query_hash, t.passage_hash, t.score FROM teacher_scores t "
    "JOIN want_pairs w ON w.qh = t.query_hash AND w.ph = t.passage_hash WHERE t.model_id = ?"
)
QUERY_TEACHER_SCORES = "SELECT passage_hash, score FROM teacher_scores WHERE model_id = ? AND query_hash = ?"
PUT_TEACHER_SCORES = (
    "INSERT INTO teacher_scores (model_id, query_hash, passage_hash, score) "
    "SELECT ?, qh, ph, score FROM new_scores ON CONFLICT DO NOTHING"
)
LLM_GET = "SELECT response FROM llm_cache WHERE key = ?"
LLM_PUT = "INSERT INTO llm_cache (key, model, request, response) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
LLM_COUNT = "SELECT count(*) FROM llm_cache"
