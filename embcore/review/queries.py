"""The Queries review: generated queries of a project made from documents, with provenance, counts,
and accept / reject / edit (what the Queries page needs).

A query's status decides whether it is mined and exported: 'kept' (passed the quality gate) and
'accepted' are, 'filtered' (by the gate) and 'rejected' are not. Accepting a filtered query brings
it back; editing a query accepts it and keeps the first original text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from embcore.store import Store

STATUS_FILTERS: tuple[str, ...] = ("all", "kept", "filtered", "accepted", "rejected")


@dataclass
class QuerySummary:
    """Counts of a project's generated queries: per status, per method and status, per gate reason."""

    total: int
    by_status: dict[str, int]
    by_method: dict[str, dict[str, int]]
    reasons: dict[str, int]


def summary(store: Store, pid: int) -> QuerySummary:
    """Counts for the Queries page's sidebar."""
    counts = store.generated_query_counts(pid)
    overall = counts.pop("*")
    return QuerySummary(sum(overall.values()), overall, counts, store.gate_filter_reasons(pid))


def query_list(store: Store, pid: int, status: str = "all", method: str | None = None) -> pd.DataFrame:
    """Generated queries (with provenance) matching a status and a method (``ict``, ``title``, ``llm``)."""
    return store.generated_queries(pid, statuses=None if status == "all" else [status], method=method or None)


def methods(store: Store, pid: int) -> list[str]:
    """Method families present in a project (``ict``, ``title``, ``llm``)."""
    return sorted({m.split(":")[0] for m in store.generated_query_counts(pid) if m != "*"})


def set_status(store: Store, pid: int, query_ids: Sequence[int], status: str) -> int:
    """Accept, reject or reset ('kept') queries."""
    return store.set_generated_query_status(pid, query_ids, status)


def edit(store: Store, pid: int, query_id: int, text: str) -> str:
    """Replace a query's text (accepts it)."""
    return store.edit_generated_query(pid, query_id, text)


def step(ids: Sequence[int], current: int | None, delta: int) -> int | None:
    """The id ``delta`` places from ``current`` in ``ids`` (None past either end; the first when ``current`` is gone)."""
    ids = list(ids)
    if not ids:
        return None
    if current not in ids:
        return ids[0]
    j = ids.index(current) + delta
    return ids[j] if 0 <= j < len(ids) else None


def describe(row: Any) -> str:
    """One plain line of provenance: document, heading path, characters, method."""
    heading = (
        " > ".join(list(row["heading_path"]))
        if row["heading_path"] is not None and len(row["heading_path"])
        else ""
    )
    parts = [
        f"document {row['doc_id']}" if row["doc_id"] else "",
        f"“{row['title']}”" if row["title"] else "",
        heading,
    ]
    if row["char_start"] is not None and not pd.isna(row["char_start"]):
        parts.append(f"characters {int(row['char_start'])}-{int(row['char_end'])}")
    parts.append(f"made by {row['method']}")
    return " · ".join(p for p in parts if p)


def from_documents(store: Store, pid: int) -> bool:
    """Whether a project was made from documents (its export groups the splits by ``doc_id``)."""
    return store.has_sources(pid)
