-- 005: a query is identified by its sample key, not by its text alone.
-- Rows sharing a query text but not its metadata (the same question about two companies) are two
-- samples, which UNIQUE (project_id, text_hash) made impossible. sample_key is the hash of the text
-- (as before) or of the text plus the grouping metadata values (embcore.ingest.sample_key).
-- DuckDB cannot drop a constraint, so the table is rebuilt with the same columns, defaults and ids.
-- NOTE for later migrations that add columns to `queries` before this one runs: list them here.
CREATE TABLE queries_005 AS SELECT * FROM queries;
DROP TABLE queries;
CREATE TABLE queries (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_queries'),
    project_id INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    text_hash VARCHAR NOT NULL,
    sample_key VARCHAR NOT NULL,
    meta JSON,
    source_rows INTEGER[],
    prompt VARCHAR,
    type VARCHAR,
    origin VARCHAR NOT NULL DEFAULT 'data',
    parent_id BIGINT,
    UNIQUE (project_id, sample_key)
);
INSERT INTO queries (id, project_id, text, text_hash, sample_key, meta, source_rows, prompt, type, origin, parent_id)
SELECT id, project_id, text, text_hash, text_hash, meta, source_rows, prompt, type, origin, parent_id FROM queries_005;
DROP TABLE queries_005;
