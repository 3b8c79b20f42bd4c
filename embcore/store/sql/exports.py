"""Statements of :mod:`embcore.store.exports`: recorded exports and their splits."""

INSERT_EXPORT = (
    "INSERT INTO exports (project_id, run_id, out_dir, config, counts, files, root_dir) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
INSERT_SPLITS = (
    "INSERT INTO export_splits (export_id, query_id, split) SELECT ?, query_id, split FROM new_splits"
)
EXPORTS = "SELECT * FROM exports"
OF_PROJECT = " WHERE project_id = ?"
ORDER_BY_ID = " ORDER BY id"
SPLIT_SIZES = (
    "SELECT split, count(*) AS n FROM export_splits WHERE export_id = ? GROUP BY split ORDER BY split"
)
FINGERPRINT = """
    SELECT (SELECT count(*) FROM passages WHERE project_id = ?),
           (SELECT max(id) FROM passages WHERE project_id = ?),
           (SELECT count(*) FROM queries WHERE project_id = ?),
           (SELECT max(id) FROM queries WHERE project_id = ?),
           (SELECT count(*) FROM positives WHERE project_id = ?),
           (SELECT count(*) FROM given_negatives WHERE project_id = ?),
           (SELECT count(*) FROM decisions WHERE project_id = ?),
           (SELECT max(updated_at) FROM decisions WHERE project_id = ?),
           (SELECT max(id) FROM decision_log WHERE project_id = ?),
           (SELECT max(id) FROM review_actions WHERE project_id = ?),
           (SELECT count(*) FROM candidates WHERE run_id = ?)
"""
