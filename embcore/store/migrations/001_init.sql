-- 001: projects, corpus, queries, positives, runs, candidates, decisions, exports.
CREATE SEQUENCE seq_projects START 1;
CREATE SEQUENCE seq_passages START 1;
CREATE SEQUENCE seq_queries START 1;
CREATE SEQUENCE seq_runs START 1;
CREATE SEQUENCE seq_exports START 1;
CREATE SEQUENCE seq_decision_log START 1;

CREATE TABLE projects (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_projects'),
    name VARCHAR NOT NULL UNIQUE,
    source_name VARCHAR,
    source_sha256 VARCHAR,
    source_format VARCHAR,
    mapping JSON,
    cleaning JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The deduplicated corpus of one project. kind: 'passage' (data corpus), 'query' (another
-- sample's query used as a symmetric in-batch negative), 'generated' (LLM / edited text).
CREATE TABLE passages (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_passages'),
    project_id INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    kind VARCHAR NOT NULL DEFAULT 'passage',
    origin VARCHAR NOT NULL DEFAULT 'data',
    meta JSON,
    UNIQUE (project_id, text_hash)
);

CREATE TABLE queries (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_queries'),
    project_id INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    meta JSON,
    source_rows INTEGER[],
    prompt VARCHAR,
    type VARCHAR,
    origin VARCHAR NOT NULL DEFAULT 'data',
    parent_id BIGINT,
    UNIQUE (project_id, text_hash)
);

-- origin: 'data' | 'review' (a human marked a candidate as positive) | 'edit' | 'llm:...' | 'augment:...'
CREATE TABLE positives (
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    origin VARCHAR NOT NULL DEFAULT 'data',
    label_score DOUBLE,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (query_id, passage_id)
);

-- Negatives given by the data itself (a neg column, or low-scoring pairs).
CREATE TABLE given_negatives (
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    origin VARCHAR NOT NULL DEFAULT 'data',
    label_score DOUBLE,
    PRIMARY KEY (query_id, passage_id)
);

-- kind: 'mine' | 'build' | 'export' | 'eval' | 'finetune' | 'augment' | 'score'
CREATE TABLE runs (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_runs'),
    project_id INTEGER,
    kind VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'running',
    config JSON,
    seed INTEGER,
    model_id VARCHAR,
    data_hash VARCHAR,
    started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    timings JSON,
    counts JSON,
    stats JSON,
    error VARCHAR
);

-- Every candidate negative a mining run proposed, with provenance and filter outcome.
-- status: 'selected' | 'kept' | <name of the filter that removed it>
CREATE TABLE candidates (
    run_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    sources VARCHAR NOT NULL,
    score DOUBLE,
    rank INTEGER,
    bm25_rank INTEGER,
    bm25_score DOUBLE,
    dense_rank INTEGER,
    dense_score DOUBLE,
    pos_sim DOUBLE,
    status VARCHAR NOT NULL,
    PRIMARY KEY (run_id, query_id, passage_id)
);

-- The current human decision per (query, passage): 'accept' | 'reject' | 'positive'.
CREATE TABLE decisions (
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    decision VARCHAR NOT NULL CHECK (decision IN ('accept', 'reject', 'positive')),
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (query_id, passage_id)
);

-- Append-only audit trail of every decision (undo, history, "nothing is ever lost").
CREATE TABLE decision_log (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_decision_log'),
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    decision VARCHAR,
    logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- A query is 'reviewed' once the expert has looked at it (set on first decision or explicitly).
CREATE TABLE query_review (
    query_id BIGINT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    reviewed_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE exports (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_exports'),
    project_id INTEGER NOT NULL,
    run_id INTEGER,
    out_dir VARCHAR NOT NULL,
    config JSON,
    counts JSON,
    files JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Which split each query went to in an export.
CREATE TABLE export_splits (
    export_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    split VARCHAR NOT NULL,
    PRIMARY KEY (export_id, query_id)
);
