-- 008: documents and search logs as inputs (issue 13): where every chunk comes from, which
-- passages derive from a chunk, and how each generated query was made, gated and reviewed.

-- One source document of a project: its extracted text (chunk offsets point into it).
CREATE TABLE documents (
    project_id INTEGER NOT NULL,
    doc_id VARCHAR NOT NULL,
    title VARCHAR,
    source VARCHAR,
    format VARCHAR,
    sha256 VARCHAR,
    n_chars INTEGER,
    text VARCHAR,
    meta JSON,
    PRIMARY KEY (project_id, doc_id)
);

-- One chunk: [char_start, char_end) of its document's extracted text, its heading path, and the
-- passage holding its (cleaned) text.
CREATE TABLE chunks (
    project_id INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    doc_id VARCHAR NOT NULL,
    ordinal INTEGER NOT NULL,
    heading_path VARCHAR[],
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    passage_id BIGINT,
    PRIMARY KEY (project_id, chunk_id)
);

-- Passages derived from a chunk. role: 'chunk' (its text) | 'ict' (the chunk without one sentence).
CREATE TABLE chunk_passages (
    project_id INTEGER NOT NULL,
    passage_id BIGINT NOT NULL,
    chunk_id INTEGER NOT NULL,
    role VARCHAR NOT NULL,
    PRIMARY KEY (passage_id, chunk_id)
);

-- How a generated query was made and where it stands.
-- method: 'ict' | 'title' | 'llm:keyword' | 'llm:question' | 'llm:long' | 'log'
-- status: 'kept' (passed the quality gate) | 'filtered' (by the gate: reason) | 'accepted' | 'rejected'
-- (a reviewer). Filtered and rejected queries are never mined nor exported.
CREATE TABLE query_sources (
    query_id BIGINT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    chunk_id INTEGER,
    method VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'kept',
    reason VARCHAR,
    scores JSON,
    original_text VARCHAR,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
