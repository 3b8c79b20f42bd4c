"""DuckDB project store: the single source of truth and the only package with SQL.

One DuckDB file holds many projects. The schema lives in numbered migration files
(``embcore/store/migrations/NNN_name.sql``), each applied in one transaction and recorded in
``schema_migrations``; opening an older file applies the missing ones.

:class:`Store` is one object over one connection (:mod:`.connection` owns it: path checks,
migrations, the lock, transactions), composed of one mixin per concern, each with its
statements in :mod:`embcore.store.sql`:

- :mod:`.projects`: projects and their corpus (queries, passages, positives, given negatives);
- :mod:`.runs`: the run recorder (:meth:`Store.recorded_run`) and run liveness;
- :mod:`.candidates`: a mining run's candidates, summaries, bulk selections, the negative pool;
- :mod:`.decisions`: versioned review writes (per reviewer), undo, reviewed state, the review's
  query lists;
- :mod:`.reviewers`: several reviewers: their own decisions and grades, the resolved decision,
  adjudication, overlap settings, assignments, agreement reads (migration 010);
- :mod:`.queues`: the reads behind the review queues;
- :mod:`.search`: the reads behind the Review page's corpus search;
- :mod:`.exports`: recorded exports and their splits;
- :mod:`.caches`: embeddings, teacher scores, LLM responses;
- :mod:`.sources`: documents, chunk provenance and generated queries (documents / search logs as input);
- :mod:`.status`: where a project stands.

Why mixins and not ``store.runs.start(...)`` objects: the concerns share one connection and
one lock, and writes cross them inside one transaction (a review decision writes decisions,
positives and the reviewed state, and reads the latest mining run), so the methods read as
the domain verbs they are (``store.candidates(run)``, ``store.recorded_run(...)``) while each
concern still lives in its own short module. ``tests/store/test_store_layout.py`` checks that
no two concerns define the same public name.
"""

from __future__ import annotations

from pathlib import Path

from embcore.store.caches import CachesMixin
from embcore.store.candidates import SCORE_COLUMNS, CandidatesMixin
from embcore.store.connection import check_db_path, default_db_path
from embcore.store.decisions import DECISIONS, FLAGS, DecisionsMixin, WriteResult
from embcore.store.exports import ExportsMixin
from embcore.store.projects import ProjectsMixin
from embcore.store.queues import QueuesMixin
from embcore.store.reviewers import GRADE_WORDS, GRADES, RELEVANT_GRADE, ReviewersMixin
from embcore.store.runs import STALE_AFTER_S, RecordedRun, RunsMixin, heartbeat_seconds
from embcore.store.search import SearchMixin
from embcore.store.sources import INACTIVE_STATUSES, QUERY_STATUSES, SourcesMixin
from embcore.store.status import STATUS_COUNTS, StatusMixin

__all__ = [
    "DECISIONS",
    "FLAGS",
    "INACTIVE_STATUSES",
    "QUERY_STATUSES",
    "GRADES",
    "GRADE_WORDS",
    "RELEVANT_GRADE",
    "SCORE_COLUMNS",
    "STALE_AFTER_S",
    "STATUS_COUNTS",
    "RecordedRun",
    "Store",
    "WriteResult",
    "check_db_path",
    "default_db_path",
    "heartbeat_seconds",
]


class Store(
    DecisionsMixin,
    ReviewersMixin,
    QueuesMixin,
    SearchMixin,
    CandidatesMixin,
    ExportsMixin,
    CachesMixin,
    StatusMixin,
    SourcesMixin,
    ProjectsMixin,
    RunsMixin,
):
    """A DuckDB file (or ``":memory:"``) holding projects, candidates, decisions, runs and caches.

    Args:
        path: the database file (created with its folder when missing) or ``":memory:"``.
        read_only: open without writing (no migrations, no interrupted-run check).

    Attributes:
        interrupted_on_open: runs this open found left 'running' by a dead process and marked
            'interrupted'.

    Raises:
        EmbcoreError: the path is not a usable DuckDB file.
        StoreBusyError: another process holds the file open for writing.
    """

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool = False) -> None:
        super().__init__(path, read_only=read_only)
        self._init_runs()
        self.interrupted_on_open: list[int] = [] if read_only else self.mark_interrupted_runs()

    def close(self) -> None:
        """Stop the heartbeat thread and close the connection."""
        self._stop_heartbeat()
        super().close()
