-- 003: versioned review writes, undoable actions, query flags, "reviewed" by done or completeness.

-- Per-query review state. version counts every write that touched the query (decisions, done,
-- flag, text edit, undo). A write names the version its author saw and is refused when the
-- query moved on (compare-and-set). No row = version 0, no flag.
-- flag: NULL | 'bad_query' | 'wrong_positive' (a flagged query is left out of exports).
CREATE TABLE query_state (
    query_id BIGINT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    flag VARCHAR CHECK (flag IS NULL OR flag IN ('bad_query', 'wrong_positive')),
    flag_reason VARCHAR,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One undoable step of a reviewer: a decision, "accept remaining", a bulk rule, done / reopen,
-- a flag, a query or positive edit, or the undo of one of them (kind 'undo', undoes = its id).
CREATE SEQUENCE seq_review_actions START 1;
CREATE TABLE review_actions (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_review_actions'),
    project_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    query_id BIGINT,
    label VARCHAR NOT NULL,
    pairs INTEGER NOT NULL DEFAULT 0,
    queries INTEGER NOT NULL DEFAULT 0,
    detail JSON,
    undoes BIGINT,
    undone_by BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The queries whose reviewed state an action changed: before / after ('done', 'complete' or NULL).
CREATE TABLE review_action_queries (
    action_id BIGINT NOT NULL,
    project_id INTEGER NOT NULL,
    query_id BIGINT NOT NULL,
    reviewed_before VARCHAR,
    reviewed_after VARCHAR,
    PRIMARY KEY (action_id, query_id)
);

-- decision_log rows name their action (one id for a whole bulk action) and the decision before.
ALTER TABLE decision_log ADD COLUMN action_id BIGINT;
ALTER TABLE decision_log ADD COLUMN prev_decision VARCHAR;

-- Why a query counts as reviewed: 'done' (the expert said so) or 'complete' (every shown
-- candidate has a decision). Rows written before 003 were marked on the first decision: 'done'.
ALTER TABLE query_review ADD COLUMN how VARCHAR DEFAULT 'done';
