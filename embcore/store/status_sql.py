"""SQL behind "where does this project stand": one aggregate query over a project's tables."""

from __future__ import annotations

from embcore.store import Store

STATUS_COUNTS: tuple[str, ...] = (
    "samples",
    "augmented",
    "mining_runs",
    "reviewed",
    "queries",
    "exports",
    "finetunes",
    "evaluations",
)
"""Keys of :func:`project_counts`, in the order of the pipeline."""


def project_counts(store: Store, pid: int) -> dict[str, int]:
    """Counts of one project in a single statement (cheap: every sub-count uses an indexed filter).

    Returns:
        ``{"samples": data queries, "augmented": derived queries, "mining_runs": finished mining
        runs, "reviewed": queries marked reviewed, "queries": all queries, "exports": exports,
        "finetunes": finished fine-tuning runs, "evaluations": finished evaluation runs}``.
    """
    row = store.fetchone(
        """
        SELECT
            (SELECT count(*) FILTER (WHERE origin = 'data') FROM queries WHERE project_id = ?),
            (SELECT count(*) FILTER (WHERE origin <> 'data') FROM queries WHERE project_id = ?),
            (SELECT count(*) FROM runs WHERE project_id = ? AND kind = 'mine' AND status = 'done'),
            (SELECT count(DISTINCT query_id) FROM query_review WHERE project_id = ?),
            (SELECT count(*) FROM queries WHERE project_id = ?),
            (SELECT count(*) FROM exports WHERE project_id = ?),
            (SELECT count(*) FROM runs WHERE project_id = ? AND kind = 'finetune' AND status = 'done'),
            (SELECT count(*) FROM runs WHERE project_id = ? AND kind = 'eval' AND status = 'done')
        """,
        [int(pid)] * len(STATUS_COUNTS),
    )
    return {k: int(v or 0) for k, v in zip(STATUS_COUNTS, row or (0,) * len(STATUS_COUNTS), strict=True)}
