"""Exports: what was written where, from which run, with which splits.

Writes the tables ``exports`` and ``export_splits``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from embcore.store.connection import Connection, to_json
from embcore.store.sql import exports as sql


class ExportsMixin(Connection):
    """Recorded exports, their splits, and the fingerprint of what an export reads."""

    def record_export(
        self,
        pid: int,
        out_dir: str,
        *,
        run_id: int | None,
        config: dict[str, Any],
        counts: dict[str, Any],
        files: dict[str, Any],
        splits: dict[int, str],
        root_dir: str | None = None,
    ) -> int:
        """Record an export: ``out_dir`` is the folder holding its files, ``root_dir`` the folder
        it was published under (``root_dir/current`` points to the newest version).

        Returns:
            The export's id.
        """
        with self.transaction():
            eid = int(
                self._scalar(
                    sql.INSERT_EXPORT,
                    [pid, run_id, out_dir, to_json(config), to_json(counts), to_json(files), root_dir],
                )
            )
            frame = pd.DataFrame({"query_id": list(splits.keys()), "split": list(splits.values())})
            with self._frame("new_splits", frame):
                self._execute(sql.INSERT_SPLITS, [eid])
        return eid

    def exports(self, pid: int | None = None) -> pd.DataFrame:
        """Recorded exports (of one project), oldest first."""
        if pid is None:
            return self._df(sql.EXPORTS + sql.ORDER_BY_ID)
        return self._df(sql.EXPORTS + sql.OF_PROJECT + sql.ORDER_BY_ID, [pid])

    def split_sizes(self, export_id: int) -> dict[str, int]:
        """``{split: queries}`` of one recorded export."""
        return {str(s): int(n) for s, n in self._fetchall(sql.SPLIT_SIZES, [export_id])}

    def export_fingerprint(self, pid: int, run_id: int | None) -> tuple[Any, ...]:
        """Cheap summary that changes whenever anything an export reads changes (for caching previews):
        the corpus, the resolved decisions, and every review action (flags, grades, adjudications)."""
        row = self._fetchone(sql.FINGERPRINT, [pid] * 10 + [run_id if run_id is not None else -1])
        return tuple(str(v) for v in row or ())
