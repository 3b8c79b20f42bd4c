"""SQL behind the Review page's corpus search (:mod:`embcore.review.search`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.store import Store


def corpus_key(store: Store, pid: int) -> tuple[Any, ...]:
    """What identifies the searchable corpus of a project (changes when a passage is added)."""
    row = store.fetchone("SELECT count(*), max(id) FROM passages WHERE project_id = ?", [pid])
    return (store.path, pid, *(row or (0, None)))


def corpus(store: Store, pid: int) -> pd.DataFrame:
    """The searchable corpus, as mining sees it: every data passage and every passage that is a
    positive (edited ones included). Columns: id, text, text_hash, meta (JSON text)."""
    return store.df(
        "SELECT id, text, text_hash, meta FROM passages WHERE project_id = ? AND (kind = 'passage' OR id IN "
        "(SELECT passage_id FROM positives WHERE project_id = ?)) ORDER BY id",
        [pid, pid],
    )


def hit_state(
    store: Store, pid: int, query_id: int, passage_ids: Sequence[int], run_id: int | None, reviewer: str
) -> pd.DataFrame:
    """For search hits of one query: whether each is a positive, its status in the run, given, and the
    reviewer's decision. Columns: passage_id, positive, status, given, decision."""
    ids = [int(p) for p in passage_ids]
    return store.df(
        """
        SELECT w.passage_id,
               EXISTS (SELECT 1 FROM positives x WHERE x.query_id = ? AND x.passage_id = w.passage_id) AS positive,
               (SELECT c.status FROM candidates c WHERE c.run_id = ? AND c.query_id = ? AND c.passage_id = w.passage_id)
                   AS status,
               EXISTS (SELECT 1 FROM given_negatives g WHERE g.query_id = ? AND g.passage_id = w.passage_id) AS given,
               (SELECT r.decision FROM reviewer_decisions r WHERE r.query_id = ? AND r.passage_id = w.passage_id
                AND r.reviewer = ?) AS decision
        FROM (SELECT unnest(?::BIGINT[]) AS passage_id) w
        """,
        [int(query_id), -1 if run_id is None else int(run_id), int(query_id), int(query_id), int(query_id),
         reviewer, ids],
    )  # fmt: skip


def query_text_and_prompt(store: Store, query_id: int) -> tuple[str, str | None]:
    """(text, prompt) of one query."""
    row = store.fetchone("SELECT text, prompt FROM queries WHERE id = ?", [int(query_id)])
    return (str(row[0]), row[1]) if row else ("", None)
