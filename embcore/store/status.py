"""Where a project stands: one aggregate read over its tables (the app's stepper, ``embcore projects``)."""

from __future__ import annotations

from embcore.store.connection import Connection
from embcore.store.sql import status as sql

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
"""Keys of :meth:`StatusMixin.project_counts`, in the order of the pipeline."""


class StatusMixin(Connection):
    """Counts that say where a project stands (reads only)."""

    def project_counts(self, pid: int) -> dict[str, int]:
        """Counts of one project in a single statement (cheap: every sub-count uses an indexed filter).

        Returns:
            ``{"samples": data queries, "augmented": derived queries, "mining_runs": finished mining
            runs, "reviewed": queries marked reviewed, "queries": all queries, "exports": exports,
            "finetunes": finished fine-tuning runs, "evaluations": finished evaluation runs}``.
        """
        row = self._fetchone(sql.PROJECT_COUNTS, [int(pid)] * len(STATUS_COUNTS))
        return {k: int(v or 0) for k, v in zip(STATUS_COUNTS, row or (0,) * len(STATUS_COUNTS), strict=True)}
