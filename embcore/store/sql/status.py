"""Statements of :mod:`embcore.store.status`: where a project stands, in one aggregate read."""

PROJECT_COUNTS = """
    SELECT
        (SELECT count(*) FILTER (WHERE origin = 'data') FROM queries WHERE project_id = ?),
        (SELECT count(*) FILTER (WHERE origin <> 'data') FROM queries WHERE project_id = ?),
        (SELECT count(*) FROM runs WHERE project_id = ? AND kind = 'mine' AND status = 'done'),
        (SELECT count(DISTINCT query_id) FROM query_review WHERE project_id = ?),
        (SELECT count(*) FROM queries WHERE project_id = ?),
        (SELECT count(*) FROM exports WHERE project_id = ?),
        (SELECT count(*) FROM runs WHERE project_id = ? AND kind = 'finetune' AND status = 'done'),
        (SELECT count(*) FROM runs WHERE project_id = ? AND kind = 'eval' AND status = 'done')
"""
