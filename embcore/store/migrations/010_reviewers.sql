-- 010: several reviewers. Every decision is stored per reviewer, and `decisions` becomes the resolved
-- decision (adjudicated, else the most frequent one among the reviewers, a tie excludes the pair)
-- that exports, mining and the other pages read. Graded relevance (0-3) per candidate and
-- reviewer, a free-text note per query, adjudications, overlap settings and assignments.

-- One row per (query, passage, reviewer): that reviewer's decision and / or grade. Decisions
-- made before 010 belong to the unnamed reviewer ''.
CREATE TABLE reviewer_decisions (
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    reviewer VARCHAR NOT NULL,
    decision VARCHAR CHECK (decision IS NULL OR decision IN ('accept', 'reject', 'positive')),
    grade INTEGER CHECK (grade IS NULL OR grade BETWEEN 0 AND 3),
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (query_id, passage_id, reviewer)
);
INSERT INTO reviewer_decisions (project_id, query_id, passage_id, reviewer, decision, updated_at)
SELECT project_id, query_id, passage_id, '', decision, updated_at FROM decisions;

-- How the resolved decision was reached: 'single' | 'unanimous' | 'majority' | 'tie' | 'adjudicated'.
ALTER TABLE decisions ADD COLUMN resolved_by VARCHAR DEFAULT 'single';

-- A lead's final decision (and grade) on a pair: it overrides the reviewers' votes.
CREATE TABLE adjudications (
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    passage_id BIGINT NOT NULL,
    decision VARCHAR CHECK (decision IS NULL OR decision IN ('accept', 'reject', 'positive')),
    grade INTEGER CHECK (grade IS NULL OR grade BETWEEN 0 AND 3),
    lead VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (query_id, passage_id)
);

-- Per-reviewer version of a query (decisions, grades, done / reopen of that reviewer). The version a
-- page shows is query_state.version (shared writes: flag, note, edits) + this one. Both only grow,
-- so the sum changes exactly when either does (compare-and-set per reviewer).
CREATE TABLE reviewer_state (
    query_id BIGINT NOT NULL,
    reviewer VARCHAR NOT NULL,
    project_id INTEGER NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (query_id, reviewer)
);

-- "Reviewed" becomes per reviewer: the table is rebuilt with the reviewer in its key.
CREATE TABLE query_review_010 AS SELECT * FROM query_review;
DROP TABLE query_review;
CREATE TABLE query_review (
    query_id BIGINT NOT NULL,
    reviewer VARCHAR NOT NULL DEFAULT '',
    project_id INTEGER NOT NULL,
    reviewed_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    how VARCHAR DEFAULT 'done',
    PRIMARY KEY (query_id, reviewer)
);
INSERT INTO query_review (query_id, reviewer, project_id, reviewed_at, how)
SELECT query_id, '', project_id, reviewed_at, how FROM query_review_010;
DROP TABLE query_review_010;

-- Who made an action / a logged decision ('' = unnamed, before 010 or from scripts).
ALTER TABLE review_actions ADD COLUMN reviewer VARCHAR DEFAULT '';
ALTER TABLE decision_log ADD COLUMN reviewer VARCHAR DEFAULT '';

-- A free-text note per query (shared by the reviewers, last writer wins under compare-and-set).
ALTER TABLE query_state ADD COLUMN note VARCHAR;
ALTER TABLE query_state ADD COLUMN note_by VARCHAR;

-- Reviewers who opened the project (a name chosen at first visit, or the logged-in user).
CREATE TABLE reviewers (
    project_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    first_seen TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (project_id, name)
);

-- Overlap k (each query reviewed by k reviewers) and the leads allowed to adjudicate.
CREATE TABLE review_settings (
    project_id INTEGER PRIMARY KEY,
    overlap INTEGER NOT NULL DEFAULT 1 CHECK (overlap >= 1),
    leads VARCHAR[],
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Which reviewers each query is assigned to (no row for a project = everyone reviews everything).
CREATE TABLE assignments (
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    reviewer VARCHAR NOT NULL,
    assigned_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (query_id, reviewer)
);
