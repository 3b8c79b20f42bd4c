"""Documents, knowledge bases and search logs as inputs: documents, chunk provenance, generated queries.

Writes the tables of migration 008: ``documents`` (extracted text per document), ``chunks``
(document id, heading path, character offsets, passage), ``chunk_passages`` (which passages
derive from which chunk: the chunk itself, or an ICT positive = the chunk without one sentence)
and ``query_sources`` (how each generated query was made, the quality gate's verdict and the
review status); also the provenance metadata of corpus passages and the origin of a search log's
given negatives. :meth:`Store.queries <embcore.store.projects.ProjectsMixin.queries>` leaves out
queries whose status is 'filtered' or 'rejected', so mining and export never see them;
:meth:`SourcesMixin.generated_queries` lists them all for the Queries page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store.connection import Connection, from_json, meta_dict, to_json
from embcore.store.sql import sources as sql
from embcore.text import clean_text, text_hash

QUERY_STATUSES: tuple[str, ...] = ("kept", "filtered", "accepted", "rejected")
"""kept / filtered: the quality gate's verdict; accepted / rejected: a reviewer's."""
INACTIVE_STATUSES: tuple[str, ...] = ("filtered", "rejected")
"""Statuses whose queries are never mined nor exported."""


class SourcesMixin(Connection):
    """Provenance of projects made from documents or a search log, and their generated queries."""

    # ------------------------------------------------------------------ corpus passages

    def add_corpus_passages(
        self, pid: int, texts: Sequence[str], metas: Sequence[dict[str, Any] | None]
    ) -> list[int]:
        """Insert passages (kind 'passage', origin 'data') that are not in the project yet, with their
        metadata, and return the id of every text (existing passages keep their metadata)."""
        frame = pd.DataFrame(
            {
                "text": list(texts),
                "text_hash": [text_hash(t) for t in texts],
                "meta": [to_json(m) if m else None for m in metas],
            }
        ).drop_duplicates("text_hash")
        with self.transaction(), self._frame("corpus_texts", frame):
            self._execute(sql.INSERT_CORPUS_PASSAGES, [pid, pid])
            ids = dict(self._fetchall(sql.CORPUS_PASSAGE_IDS, [pid]))
        return [int(ids[text_hash(t)]) for t in texts]

    def set_passage_meta(self, pid: int, passage_ids: Sequence[int], metas: Sequence[dict[str, Any]]) -> None:
        """Set the metadata (provenance) of passages, e.g. the chunk a passage was cut from."""
        frame = pd.DataFrame(
            {"id": [int(p) for p in passage_ids], "meta": [to_json(m) for m in metas]}
        ).drop_duplicates("id")
        with self.transaction(), self._frame("passage_meta", frame):
            self._execute(sql.SET_PASSAGE_META, [pid])

    # ------------------------------------------------------------------ documents and chunks

    def save_documents(self, pid: int, docs: pd.DataFrame) -> None:
        """Store documents (replacing the project's): columns doc_id, title, source, format, sha256, text,
        meta (dict)."""
        frame = docs.assign(
            n_chars=docs["text"].str.len(), meta=[to_json(m) if m else None for m in docs["meta"]]
        )[["doc_id", "title", "source", "format", "sha256", "n_chars", "text", "meta"]]
        with self.transaction(), self._frame("new_documents", frame):
            self._execute(sql.DELETE_DOCUMENTS, [pid])
            self._execute(sql.INSERT_DOCUMENTS, [pid])

    def save_chunks(self, pid: int, chunks: pd.DataFrame, links: pd.DataFrame) -> None:
        """Store chunks (chunk_id, doc_id, ordinal, heading_path (list), char_start, char_end, passage_id)
        and chunk -> passage links (passage_id, chunk_id, role), replacing the project's."""
        cframe = chunks[
            ["chunk_id", "doc_id", "ordinal", "heading_path", "char_start", "char_end", "passage_id"]
        ]
        lframe = links[["passage_id", "chunk_id", "role"]].drop_duplicates(["passage_id", "chunk_id"])
        with self.transaction(), self._frame("new_chunks", cframe), self._frame("new_links", lframe):
            self._execute(sql.DELETE_CHUNKS, [pid])
            self._execute(sql.DELETE_CHUNK_PASSAGES, [pid])
            self._execute(sql.INSERT_CHUNKS, [pid])
            self._execute(sql.INSERT_CHUNK_PASSAGES, [pid])

    def chunk_table(self, pid: int) -> pd.DataFrame:
        """Chunks with provenance: chunk_id, doc_id, title, heading_path, char_start, char_end, passage_id, text."""
        return self._df(sql.CHUNK_TABLE, [pid])

    def document_text(self, pid: int, doc_id: str) -> str | None:
        """The extracted text of one document (chunk offsets point into it)."""
        text = self._scalar(sql.DOCUMENT_TEXT, [pid, doc_id])
        return None if text is None else str(text)

    def documents_frame(self, pid: int) -> pd.DataFrame:
        """Documents of a project (without their text): doc_id, title, source, format, n_chars, meta (dict)."""
        df = self._df(sql.DOCUMENTS, [pid])
        df["meta"] = [meta_dict(m) for m in df["meta"]]
        return df

    # ------------------------------------------------------------------ generated queries

    def save_query_sources(self, pid: int, rows: pd.DataFrame) -> None:
        """Record generated queries: columns query_id, chunk_id, method, status, reason, scores (dict)."""
        frame = rows.assign(scores=[to_json(s) if s else None for s in rows["scores"]])[
            ["query_id", "chunk_id", "method", "status", "reason", "scores"]
        ]
        with self.transaction(), self._frame("new_sources", frame):
            self._execute(sql.DELETE_QUERY_SOURCES_OF_FRAME)
            self._execute(sql.INSERT_QUERY_SOURCES, [pid])

    def mark_ict_passages(self, pid: int, passage_ids: Sequence[int], query_ids: Sequence[int]) -> None:
        """ICT positives (a chunk without one sentence) become 'generated' passages of origin 'ict' (out of
        the evaluation corpus, where they would be near-twins of their chunk) and their positive links get
        origin 'ict' (so ICT queries, whose sentence sits verbatim in the full chunk, never enter the
        evaluation set)."""
        with self.transaction():
            self._execute(sql.MARK_ICT_PASSAGES, [pid, [int(p) for p in passage_ids], pid])
            self._execute(sql.MARK_ICT_POSITIVES, [pid, [int(q) for q in query_ids]])

    def generated_queries(
        self, pid: int, *, statuses: Sequence[str] | None = None, method: str | None = None
    ) -> pd.DataFrame:
        """Every generated query of a project with its provenance, status and reason (the Queries page).

        Columns: query_id, text, method, status, reason, scores (dict), original_text, chunk_id, doc_id,
        title, heading_path (list), char_start, char_end, positive (the first positive's text).
        """
        statement, params = sql.GENERATED_QUERIES, [pid]
        if statuses:
            statement += sql.AND_STATUS_IN
            params.append(list(statuses))
        if method:
            statement += sql.AND_METHOD
            params += [method, f"{method}:%"]
        df = self._df(statement + sql.ORDER_BY_QUERY, params)
        df["scores"] = [(from_json(v) or {}) for v in df["scores"]]
        return df

    def generated_query_counts(self, pid: int) -> dict[str, dict[str, int]]:
        """method -> status -> count of the generated queries, plus '*' -> status -> count."""
        out: dict[str, dict[str, int]] = {"*": {s: 0 for s in QUERY_STATUSES}}
        for method, status, n in self._fetchall(sql.GENERATED_QUERY_COUNTS, [pid]):
            out.setdefault(str(method), {s: 0 for s in QUERY_STATUSES})[str(status)] = int(n)
            out["*"][str(status)] = out["*"].get(str(status), 0) + int(n)
        return out

    def gate_filter_reasons(self, pid: int) -> dict[str, int]:
        """Quality-gate reason -> number of filtered queries."""
        return {str(r): int(n) for r, n in self._fetchall(sql.GATE_FILTER_REASONS, [pid])}

    def set_generated_query_status(self, pid: int, query_ids: Sequence[int], status: str) -> int:
        """Accept or reject generated queries (or put them back to 'kept'); returns how many changed.

        Raises:
            EmbcoreError: unknown status, or a query that is not a generated query of the project.
        """
        if status not in ("kept", "accepted", "rejected"):
            raise EmbcoreError(f"unknown query status {status!r}; allowed: kept, accepted, rejected")
        ids = [int(q) for q in query_ids]
        if not ids:
            return 0
        with self.transaction():
            found = int(self._scalar(sql.COUNT_GENERATED_OF, [pid, ids]))
            if found != len(set(ids)):
                raise EmbcoreError(
                    f"{len(set(ids)) - found} of the queries are not generated queries of project {pid}"
                )
            self._execute(sql.SET_GENERATED_STATUS, [status, pid, ids])
        return len(set(ids))

    def edit_generated_query(self, pid: int, query_id: int, new_text: str) -> str:
        """Replace a generated query's text (the first original is kept) and accept it.

        Returns:
            The cleaned new text.

        Raises:
            EmbcoreError: empty text, a text another query of the project already has, or not a
                generated query.
        """
        text = clean_text(new_text)
        if not text:
            raise EmbcoreError("an edited query cannot be empty")
        h = text_hash(text)
        with self.transaction():
            row = self._fetchone(sql.GENERATED_QUERY_TEXT, [pid, int(query_id)])
            if row is None:
                raise EmbcoreError(f"query {query_id} is not a generated query of project {pid}")
            if row[0] == text:
                self._execute(sql.ACCEPT_GENERATED, [int(query_id)])
                return text
            clash = self._scalar(sql.OTHER_QUERY_WITH_HASH, [pid, h, int(query_id)])
            if clash is not None:
                raise EmbcoreError(f"another query of this project (id {clash}) already reads {text[:60]!r}")
            self._execute(sql.SET_QUERY_TEXT, [text, h, int(query_id)])
            self._execute(sql.ACCEPT_EDITED, [row[0], int(query_id)])
        return text

    # ------------------------------------------------------------------ search logs

    def set_given_negative_origin(self, pid: int, origin: str) -> int:
        """Set the origin of every given negative of a project (e.g. ``log:skip-above``); returns how many."""
        with self.transaction():
            self._execute(sql.SET_GIVEN_NEGATIVE_ORIGIN, [origin, pid])
            n = self._scalar(sql.GIVEN_NEGATIVE_COUNT, [pid])
        return int(n or 0)

    # ------------------------------------------------------------------ the mining guard

    def has_sources(self, pid: int) -> bool:
        """Whether a project was built from documents (has chunks) or has generated queries."""
        return bool(self._scalar(sql.HAS_SOURCES, [pid, pid]))

    def derived_passage_ids(self, pid: int) -> list[int]:
        """Passages cut from a chunk that are not a chunk themselves (ICT positives): never a negative."""
        return [int(r[0]) for r in self._fetchall(sql.DERIVED_PASSAGE_IDS, [pid, pid])]

    def same_chunk_pairs(self, pid: int) -> pd.DataFrame:
        """(query_id, passage_id) pairs where the passage derives from a chunk the query was made from.

        Mining must never propose them as negatives: for an ICT query the full source chunk contains
        the query sentence, and every passage cut from the source chunk of any generated query is a
        twin of its positive.
        """
        return self._df(sql.SAME_CHUNK_PAIRS, [pid, pid, pid])
