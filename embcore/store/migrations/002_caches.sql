-- 002: caches keyed by content, shared by all projects: embeddings, teacher scores, LLM responses.
CREATE TABLE embeddings (
    model_id VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    vec FLOAT[] NOT NULL,
    PRIMARY KEY (model_id, prompt, text_hash)
);

CREATE TABLE teacher_scores (
    model_id VARCHAR NOT NULL,
    query_hash VARCHAR NOT NULL,
    passage_hash VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    PRIMARY KEY (model_id, query_hash, passage_hash)
);

-- The API key is never part of the key nor of the stored request.
CREATE TABLE llm_cache (
    key VARCHAR PRIMARY KEY,
    model VARCHAR,
    request JSON,
    response VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
