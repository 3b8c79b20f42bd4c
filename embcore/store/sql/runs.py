"""Statements of :mod:`embcore.store.runs`: runs, their liveness (pid, host, heartbeat) and status."""

INSERT_RUN = (
    "INSERT INTO runs (project_id, kind, config, seed, model_id, data_hash, pid, host, heartbeat_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp::TIMESTAMP) RETURNING id"
)
FINISH_RUN = (
    "UPDATE runs SET status = ?, finished_at = current_timestamp, heartbeat_at = current_timestamp::TIMESTAMP, "
    "timings = ?, counts = ?, stats = ?, error = ? WHERE id = ?"
)
COMPLETE_PREVIEW = (
    "UPDATE runs SET status = 'done', finished_at = current_timestamp, timings = ?, counts = ?, stats = ? "
    "WHERE id = ? AND status = 'preview' RETURNING id"
)
HEARTBEAT = "UPDATE runs SET heartbeat_at = current_timestamp::TIMESTAMP WHERE list_contains(?, id) AND status = 'running'"
RUNNING_RUNS = (
    "SELECT id, pid, host, heartbeat_at IS NULL OR heartbeat_at < current_timestamp::TIMESTAMP - "
    "to_seconds(?::DOUBLE) AS stale, heartbeat_at FROM runs WHERE status = 'running'"
)
MARK_INTERRUPTED = (
    "UPDATE runs SET status = 'interrupted', finished_at = current_timestamp, "
    "error = coalesce(error, ?) WHERE id = ? AND status = 'running'"
)
RUN_ROW = "SELECT * FROM runs WHERE id = ?"
RUNS = "SELECT * FROM runs WHERE 1=1"
AND_STATUS = " AND status = ?"
AND_PROJECT = " AND project_id = ?"
AND_KIND = " AND kind = ?"
ORDER_BY_ID = " ORDER BY id"
LATEST_FINISHED = "SELECT max(id) FROM runs WHERE project_id = ? AND kind = ? AND status = 'done'"
FINISHED_RUNS = "SELECT id, config, finished_at FROM runs WHERE project_id = ? AND kind = ? AND status = 'done' ORDER BY id DESC"
