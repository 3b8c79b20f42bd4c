"""SQL behind documents and search logs as inputs: documents, chunk provenance, generated queries.

Tables (migration 008): ``documents`` (extracted text per document), ``chunks`` (document id,
heading path, character offsets, passage), ``chunk_passages`` (which passages derive from which
chunk: the chunk itself, or an ICT positive = the chunk without one sentence) and
``query_sources`` (how each generated query was made, the quality gate's verdict and the review
status). ``Store.queries`` leaves out queries whose status is 'filtered' or 'rejected', so mining
and export never see them; :func:`query_table` lists them all for the Queries page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import Store, _json, _loads
from embcore.text import clean_text, text_hash

QUERY_STATUSES: tuple[str, ...] = ("kept", "filtered", "accepted", "rejected")
"""kept / filtered: the quality gate's verdict; accepted / rejected: a reviewer's."""
INACTIVE_STATUSES: tuple[str, ...] = ("filtered", "rejected")
"""Statuses whose queries are never mined nor exported."""


def add_corpus_passages(
    store: Store, pid: int, texts: Sequence[str], metas: Sequence[dict[str, Any] | None]
) -> list[int]:
    """Insert passages (kind 'passage', origin 'data') that are not in the project yet, with their
    metadata, and return the id of every text (existing passages keep their metadata)."""
    frame = pd.DataFrame(
        {
            "text": list(texts),
            "text_hash": [text_hash(t) for t in texts],
            "meta": [_json(m) if m else None for m in metas],
        }
    ).drop_duplicates("text_hash")
    with store.transaction(), store._frame("corpus_texts", frame):
        store.con.execute(
            "INSERT INTO passages (project_id, text, text_hash, kind, origin, meta) "
            "SELECT ?, n.text, n.text_hash, 'passage', 'data', n.meta FROM corpus_texts n "
            "ANTI JOIN passages p ON p.project_id = ? AND p.text_hash = n.text_hash",
            [pid, pid],
        )
        ids = dict(
            store.con.execute(
                "SELECT p.text_hash, p.id FROM passages p JOIN corpus_texts n ON n.text_hash = p.text_hash "
                "WHERE p.project_id = ?",
                [pid],
            ).fetchall()
        )
    return [int(ids[text_hash(t)]) for t in texts]


def set_passage_meta(
    store: Store, pid: int, passage_ids: Sequence[int], metas: Sequence[dict[str, Any]]
) -> None:
    """Set the metadata (provenance) of passages, e.g. the chunk a passage was cut from."""
    frame = pd.DataFrame(
        {"id": [int(p) for p in passage_ids], "meta": [_json(m) for m in metas]}
    ).drop_duplicates("id")
    with store.transaction(), store._frame("passage_meta", frame):
        store.con.execute(
            "UPDATE passages SET meta = n.meta FROM passage_meta n WHERE passages.id = n.id AND passages.project_id = ?",
            [pid],
        )


def save_documents(store: Store, pid: int, docs: pd.DataFrame) -> None:
    """Store documents: columns doc_id, title, source, format, sha256, text, meta (dict)."""
    frame = docs.assign(n_chars=docs["text"].str.len(), meta=[_json(m) if m else None for m in docs["meta"]])[
        ["doc_id", "title", "source", "format", "sha256", "n_chars", "text", "meta"]
    ]
    with store.transaction(), store._frame("new_documents", frame):
        store.con.execute("DELETE FROM documents WHERE project_id = ?", [pid])
        store.con.execute(
            "INSERT INTO documents (project_id, doc_id, title, source, format, sha256, n_chars, text, meta) "
            "SELECT ?, doc_id, title, source, format, sha256, n_chars, text, meta FROM new_documents",
            [pid],
        )


def save_chunks(store: Store, pid: int, chunks: pd.DataFrame, links: pd.DataFrame) -> None:
    """Store chunks (chunk_id, doc_id, ordinal, heading_path (list), char_start, char_end, passage_id)
    and chunk -> passage links (passage_id, chunk_id, role)."""
    cframe = chunks[["chunk_id", "doc_id", "ordinal", "heading_path", "char_start", "char_end", "passage_id"]]
    lframe = links[["passage_id", "chunk_id", "role"]].drop_duplicates(["passage_id", "chunk_id"])
    with store.transaction(), store._frame("new_chunks", cframe), store._frame("new_links", lframe):
        store.con.execute("DELETE FROM chunks WHERE project_id = ?", [pid])
        store.con.execute("DELETE FROM chunk_passages WHERE project_id = ?", [pid])
        store.con.execute(
            "INSERT INTO chunks (project_id, chunk_id, doc_id, ordinal, heading_path, char_start, char_end, passage_id) "
            "SELECT ?, chunk_id, doc_id, ordinal, heading_path::VARCHAR[], char_start, char_end, passage_id FROM new_chunks",
            [pid],
        )
        store.con.execute(
            "INSERT INTO chunk_passages (project_id, passage_id, chunk_id, role) SELECT ?, passage_id, chunk_id, role "
            "FROM new_links",
            [pid],
        )


def save_query_sources(store: Store, pid: int, rows: pd.DataFrame) -> None:
    """Record generated queries: columns query_id, chunk_id, method, status, reason, scores (dict)."""
    frame = rows.assign(scores=[_json(s) if s else None for s in rows["scores"]])[
        ["query_id", "chunk_id", "method", "status", "reason", "scores"]
    ]
    with store.transaction(), store._frame("new_sources", frame):
        store.con.execute(
            "DELETE FROM query_sources WHERE query_id IN (SELECT query_id FROM new_sources)",
        )
        store.con.execute(
            "INSERT INTO query_sources (query_id, project_id, chunk_id, method, status, reason, scores) "
            "SELECT query_id, ?, chunk_id, method, status, reason, scores FROM new_sources",
            [pid],
        )


def set_given_negative_origin(store: Store, pid: int, origin: str) -> int:
    """Set the origin of every given negative of a project (e.g. ``log:skip-above``); returns how many."""
    with store.transaction():
        store.con.execute("UPDATE given_negatives SET origin = ? WHERE project_id = ?", [origin, pid])
        row = store.con.execute("SELECT count(*) FROM given_negatives WHERE project_id = ?", [pid]).fetchone()
    return int(row[0]) if row else 0


def mark_ict_passages(store: Store, pid: int, passage_ids: Sequence[int], query_ids: Sequence[int]) -> None:
    """ICT positives (a chunk without one sentence) become 'generated' passages of origin 'ict' (out of the
    evaluation corpus, where they would be near-twins of their chunk) and their positive links get origin
    'ict' (so ICT queries, whose sentence sits verbatim in the full chunk, never enter the evaluation set)."""
    chunk_texts = "SELECT passage_id FROM chunk_passages WHERE project_id = ? AND role = 'chunk'"
    with store.transaction():
        store.con.execute(
            f"UPDATE passages SET kind = 'generated', origin = 'ict' WHERE project_id = ? AND list_contains(?, id) "
            f"AND id NOT IN ({chunk_texts})",
            [pid, [int(p) for p in passage_ids], pid],
        )
        store.con.execute(
            "UPDATE positives SET origin = 'ict' WHERE project_id = ? AND list_contains(?, query_id)",
            [pid, [int(q) for q in query_ids]],
        )


def derived_passage_ids(store: Store, pid: int) -> list[int]:
    """Passages cut from a chunk that are not a chunk themselves (ICT positives): never a negative."""
    rows = store.fetchall(
        "SELECT DISTINCT passage_id FROM chunk_passages WHERE project_id = ? AND role <> 'chunk' "
        "AND passage_id NOT IN (SELECT passage_id FROM chunk_passages WHERE project_id = ? AND role = 'chunk')",
        [pid, pid],
    )
    return [int(r[0]) for r in rows]


def has_sources(store: Store, pid: int) -> bool:
    """Whether a project was built from documents (has chunks) or has generated queries."""
    row = store.fetchone(
        "SELECT (SELECT count(*) FROM chunks WHERE project_id = ?) + (SELECT count(*) FROM query_sources WHERE project_id = ?)",
        [pid, pid],
    )
    return bool(row and row[0])


def same_chunk_pairs(store: Store, pid: int) -> pd.DataFrame:
    """(query_id, passage_id) pairs where the passage derives from a chunk the query was made from.

    Mining must never propose them as negatives: for an ICT query the full source chunk contains the
    query sentence, and every passage cut from the source chunk of any generated query is a twin
    of its positive.
    """
    return store.df(
        """
        WITH src AS (
            SELECT x.query_id, cp.chunk_id FROM positives x
            JOIN chunk_passages cp ON cp.passage_id = x.passage_id
            WHERE x.project_id = ? AND x.query_id IN (SELECT query_id FROM query_sources WHERE project_id = ?)
        )
        SELECT DISTINCT src.query_id, cp.passage_id FROM src JOIN chunk_passages cp ON cp.chunk_id = src.chunk_id
        WHERE cp.project_id = ?
        """,
        [pid, pid, pid],
    )


def query_table(
    store: Store, pid: int, *, statuses: Sequence[str] | None = None, method: str | None = None
) -> pd.DataFrame:
    """Every generated query of a project with its provenance, status and reason (the Queries page).

    Columns: query_id, text, method, status, reason, scores (dict), original_text, chunk_id, doc_id,
    title, heading_path (list), char_start, char_end, positive (the first positive's text).
    """
    sql = """
        SELECT s.query_id, q.text, s.method, s.status, s.reason, s.scores, s.original_text, s.chunk_id,
               c.doc_id, d.title, c.heading_path, c.char_start, c.char_end,
               (SELECT p.text FROM positives x JOIN passages p ON p.id = x.passage_id
                WHERE x.query_id = s.query_id ORDER BY x.position, x.passage_id LIMIT 1) AS positive
        FROM query_sources s JOIN queries q ON q.id = s.query_id
        LEFT JOIN chunks c ON c.project_id = s.project_id AND c.chunk_id = s.chunk_id
        LEFT JOIN documents d ON d.project_id = s.project_id AND d.doc_id = c.doc_id
        WHERE s.project_id = ?
    """
    params: list[Any] = [pid]
    if statuses:
        sql += " AND list_contains(?, s.status)"
        params.append(list(statuses))
    if method:
        sql += " AND (s.method = ? OR s.method LIKE ?)"
        params += [method, f"{method}:%"]
    df = store.df(sql + " ORDER BY s.query_id", params)
    df["scores"] = [(_loads(v) or {}) for v in df["scores"]]
    return df


def query_counts(store: Store, pid: int) -> dict[str, dict[str, int]]:
    """method -> status -> count, plus '*' -> status -> count."""
    rows = store.fetchall(
        "SELECT method, status, count(*) FROM query_sources WHERE project_id = ? GROUP BY ALL ORDER BY ALL",
        [pid],
    )
    out: dict[str, dict[str, int]] = {"*": {s: 0 for s in QUERY_STATUSES}}
    for method, status, n in rows:
        out.setdefault(str(method), {s: 0 for s in QUERY_STATUSES})[str(status)] = int(n)
        out["*"][str(status)] = out["*"].get(str(status), 0) + int(n)
    return out


def filter_reasons(store: Store, pid: int) -> dict[str, int]:
    """Quality-gate reason -> number of filtered queries."""
    rows = store.fetchall(
        "SELECT reason, count(*) FROM query_sources WHERE project_id = ? AND status = 'filtered' GROUP BY ALL ORDER BY 2 DESC",
        [pid],
    )
    return {str(r): int(n) for r, n in rows}


def set_query_status(store: Store, pid: int, query_ids: Sequence[int], status: str) -> int:
    """Accept or reject generated queries (or put them back to 'kept'); returns how many changed.

    Raises:
        EmbcoreError: unknown status, or a query that is not a generated query of the project.
    """
    if status not in ("kept", "accepted", "rejected"):
        raise EmbcoreError(f"unknown query status {status!r}; allowed: kept, accepted, rejected")
    ids = [int(q) for q in query_ids]
    if not ids:
        return 0
    with store.transaction():
        found = store.con.execute(
            "SELECT count(*) FROM query_sources WHERE project_id = ? AND list_contains(?, query_id)",
            [pid, ids],
        ).fetchone()[0]
        if found != len(set(ids)):
            raise EmbcoreError(
                f"{len(set(ids)) - found} of the queries are not generated queries of project {pid}"
            )
        store.con.execute(
            "UPDATE query_sources SET status = ?, updated_at = current_timestamp "
            "WHERE project_id = ? AND list_contains(?, query_id)",
            [status, pid, ids],
        )
    return len(set(ids))


def edit_query(store: Store, pid: int, query_id: int, new_text: str) -> str:
    """Replace a generated query's text (the first original is kept) and accept it.

    Returns:
        The cleaned new text.

    Raises:
        EmbcoreError: empty text, a text another query of the project already has, or not a generated query.
    """
    text = clean_text(new_text)
    if not text:
        raise EmbcoreError("an edited query cannot be empty")
    h = text_hash(text)
    with store.transaction():
        row = store.con.execute(
            "SELECT q.text FROM query_sources s JOIN queries q ON q.id = s.query_id WHERE s.project_id = ? AND s.query_id = ?",
            [pid, int(query_id)],
        ).fetchone()
        if row is None:
            raise EmbcoreError(f"query {query_id} is not a generated query of project {pid}")
        if row[0] == text:
            store.con.execute(
                "UPDATE query_sources SET status = 'accepted', updated_at = current_timestamp WHERE query_id = ?",
                [int(query_id)],
            )
            return text
        clash = store.con.execute(
            "SELECT id FROM queries WHERE project_id = ? AND text_hash = ? AND id <> ?",
            [pid, h, int(query_id)],
        ).fetchone()
        if clash is not None:
            raise EmbcoreError(f"another query of this project (id {clash[0]}) already reads {text[:60]!r}")
        store.con.execute("UPDATE queries SET text = ?, text_hash = ? WHERE id = ?", [text, h, int(query_id)])
        store.con.execute(
            "UPDATE query_sources SET original_text = coalesce(original_text, ?), status = 'accepted', "
            "updated_at = current_timestamp WHERE query_id = ?",
            [row[0], int(query_id)],
        )
    return text


def chunk_table(store: Store, pid: int) -> pd.DataFrame:
    """Chunks with provenance: chunk_id, doc_id, title, heading_path, char_start, char_end, passage_id, text."""
    return store.df(
        "SELECT c.chunk_id, c.doc_id, d.title, c.heading_path, c.char_start, c.char_end, c.passage_id, p.text "
        "FROM chunks c LEFT JOIN documents d ON d.project_id = c.project_id AND d.doc_id = c.doc_id "
        "LEFT JOIN passages p ON p.id = c.passage_id WHERE c.project_id = ? ORDER BY c.chunk_id",
        [pid],
    )


def document_text(store: Store, pid: int, doc_id: str) -> str | None:
    """The extracted text of one document (chunk offsets point into it)."""
    row = store.fetchone("SELECT text FROM documents WHERE project_id = ? AND doc_id = ?", [pid, doc_id])
    return None if row is None else str(row[0])


def documents_frame(store: Store, pid: int) -> pd.DataFrame:
    """Documents of a project (without their text): doc_id, title, source, format, n_chars, meta."""
    df = store.df(
        "SELECT doc_id, title, source, format, n_chars, meta FROM documents WHERE project_id = ? ORDER BY doc_id",
        [pid],
    )
    df["meta"] = [json.loads(m) if isinstance(m, str) else (m or {}) for m in df["meta"]]
    return df
