"""Search: the reads behind the Review page's corpus search (:mod:`embcore.review.search` runs the
retrievers). Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.store.connection import Connection
from embcore.store.sql import search as sql


class SearchMixin(Connection):
    """The searchable corpus of a project and the state of search hits for one query."""

    def search_corpus_key(self, pid: int) -> tuple[Any, ...]:
        """What identifies the searchable corpus of a project (changes when a passage is added)."""
        row = self._fetchone(sql.CORPUS_KEY, [pid])
        return (self.path, pid, *(row or (0, None)))

    def search_corpus(self, pid: int) -> pd.DataFrame:
        """The searchable corpus, as mining sees it: every data passage and every passage that is a
        positive (edited ones included). Columns: id, text, text_hash, meta (JSON text)."""
        return self._df(sql.CORPUS, [pid, pid])

    def search_hit_state(
        self, query_id: int, passage_ids: Sequence[int], run_id: int | None, reviewer: str
    ) -> pd.DataFrame:
        """For search hits of one query: whether each is a positive, its status in the run, given, and
        the reviewer's decision. Columns: passage_id, positive, status, given, decision."""
        q = int(query_id)
        return self._df(
            sql.HIT_STATE,
            [q, -1 if run_id is None else int(run_id), q, q, q, reviewer, [int(p) for p in passage_ids]],
        )

    def query_text_and_prompt(self, query_id: int) -> tuple[str, str | None]:
        """(text, prompt) of one query (("", None) when there is no such query)."""
        row = self._fetchone(sql.QUERY_TEXT_AND_PROMPT, [int(query_id)])
        return (str(row[0]), row[1]) if row else ("", None)
