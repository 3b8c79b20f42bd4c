"""Projects and their corpus: queries, passages, positives, given negatives, derived samples.

Writes the tables ``projects``, ``queries``, ``passages``, ``positives`` and ``given_negatives``
(deleting a project deletes its rows in every table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store.connection import Connection, from_json, meta_dict, to_json
from embcore.store.sql import projects as sql
from embcore.text import text_hash

if TYPE_CHECKING:
    from embcore.mining.types import MiningInput


class ProjectsMixin(Connection):
    """Projects (create, find, list, delete) and the corpus of each (read, extend)."""

    # ------------------------------------------------------------------ projects

    def create_project(
        self,
        name: str,
        samples: Sequence[Any],
        *,
        source_name: str | None = None,
        source_sha256: str | None = None,
        source_format: str | None = None,
        mapping: dict[str, Any] | None = None,
        cleaning: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> int:
        """Create a project from ingested samples (``embcore.ingest.samples.Sample``) in one transaction.

        Passages shared by several samples are stored once (by text hash).

        Raises:
            EmbcoreError: a project of that name exists and ``replace`` is False.
        """
        name = name.strip()
        if not name:
            raise EmbcoreError("a project needs a non-empty name")
        with self.transaction():
            existing = self._scalar(sql.PROJECT_BY_NAME, [name])
            if existing is not None and not replace:
                raise EmbcoreError(
                    f"a project named {name!r} already exists in {self.path}; choose another name"
                )
            if existing is not None:
                self._delete_project_rows(int(existing))
            pid = int(
                self._scalar(
                    sql.INSERT_PROJECT,
                    [name, source_name, source_sha256, source_format, to_json(mapping), to_json(cleaning)],
                )
            )
            self._insert_samples(pid, samples)
        return pid

    def _insert_samples(self, pid: int, samples: Sequence[Any]) -> None:
        # 1. passages (dedup by hash) 2. queries 3. positives / given negatives, all set-based.
        passage_rows: dict[str, tuple[str, str | None]] = {}
        for s in samples:
            meta = to_json(s.meta) if s.meta else None
            for t in list(s.positives) + list(s.negatives):
                passage_rows.setdefault(text_hash(t), (t, meta))
        pframe = pd.DataFrame(
            {
                "text": [v[0] for v in passage_rows.values()],
                "text_hash": list(passage_rows.keys()),
                "meta": [v[1] for v in passage_rows.values()],
            }
        )
        with self._frame("new_passages", pframe):
            self._execute(sql.INSERT_DATA_PASSAGES, [pid, pid])
        keys = [getattr(s, "key", "") or text_hash(s.query) for s in samples]
        qframe = pd.DataFrame(
            {
                "text": [s.query for s in samples],
                "text_hash": [text_hash(s.query) for s in samples],
                "sample_key": keys,
                "meta": [to_json(s.meta) if s.meta else None for s in samples],
                "source_rows": [list(s.source_rows) for s in samples],
                "type": [s.type for s in samples],
                "origin": [getattr(s, "origin", None) or "data" for s in samples],
            }
        )
        with self._frame("new_queries", qframe):
            self._execute(sql.INSERT_DATA_QUERIES, [pid])
        links = []
        for s, qh in zip(samples, keys, strict=True):
            for pos, (t, lab) in enumerate(
                zip(s.positives, _labels(s.pos_labels, len(s.positives)), strict=True)
            ):
                links.append((qh, text_hash(t), "pos", lab, pos))
            for t, lab in zip(s.negatives, _labels(s.neg_labels, len(s.negatives)), strict=True):
                links.append((qh, text_hash(t), "neg", lab, 0))
        lframe = pd.DataFrame(links, columns=["qh", "ph", "kind", "label", "position"])
        lframe["label"] = lframe["label"].astype("float64")
        with self._frame("new_links", lframe):
            self._execute(sql.INSERT_DATA_POSITIVES, [pid, pid, pid, "pos"])
            self._execute(sql.INSERT_DATA_NEGATIVES, [pid, pid, pid, "neg"])

    def delete_project(self, pid: int) -> None:
        """Delete a project and every row that belongs to it, in one transaction."""
        with self.transaction():
            self._delete_project_rows(pid)

    def _delete_project_rows(self, pid: int) -> None:
        for statement in sql.DELETE_PROJECT:
            self._execute(statement, [pid])

    def find_project(self, name: str) -> int | None:
        """The id of the project called ``name``, or None."""
        found = self._scalar(sql.PROJECT_BY_NAME, [name])
        return None if found is None else int(found)

    def project_id(self, name_or_id: str | int) -> int:
        """Resolve a project name or id.

        Raises:
            EmbcoreError: no such project (the message lists the existing ones).
        """
        if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()):
            found = self._scalar(sql.PROJECT_BY_ID, [int(name_or_id)])
        else:
            found = self._scalar(sql.PROJECT_BY_NAME, [name_or_id])
        if found is None:
            names = [n for _, n in self.project_names()]
            raise EmbcoreError(
                f"no project {name_or_id!r}; existing projects: {', '.join(names) or '(none)'}"
            )
        return int(found)

    def get_project(self, pid: int) -> dict[str, Any]:
        """One project's row (``mapping`` and ``cleaning`` decoded).

        Raises:
            EmbcoreError: no such project.
        """
        df = self._df(sql.PROJECT_ROW, [pid])
        if df.empty:
            raise EmbcoreError(f"no project with id {pid}")
        rec = df.iloc[0].to_dict()
        rec["mapping"] = from_json(rec["mapping"])
        rec["cleaning"] = from_json(rec["cleaning"])
        return rec

    def list_projects(self) -> pd.DataFrame:
        """Every project with where it stands: sizes, mining, review progress, exports."""
        return self._df(sql.LIST_PROJECTS)

    def project_names(self) -> list[tuple[int, str]]:
        """(id, name) of every project, oldest first (cheaper than :meth:`list_projects`)."""
        return [(int(i), str(n)) for i, n in self._fetchall(sql.PROJECT_NAMES)]

    def touch_project(self, pid: int) -> None:
        """Set a project's ``updated_at`` to now."""
        self._execute(sql.TOUCH_PROJECT, [pid])

    def project_license(self, pid: int) -> str | None:
        """The licence recorded for a project (its exports' dataset card), or None when none was given."""
        value = self._scalar(sql.PROJECT_LICENSE, [pid])
        return str(value) if value else None

    def set_project_license(self, pid: int, license: str | None) -> None:
        """Record (or clear, with None) a project's licence."""
        self._execute(sql.SET_PROJECT_LICENSE, [license or None, pid])

    # ------------------------------------------------------------------ sample fields

    def set_sample_fields(
        self,
        pid: int,
        *,
        prompt: str | None = None,
        type_: str | None = None,
        query_ids: Sequence[int] | None = None,
    ) -> None:
        """Set the instruction ``prompt`` and/or ``type`` of a project's queries (all or some)."""
        only = sql.AND_QUERY_IN if query_ids is not None else ""
        extra: list[Any] = [] if query_ids is None else [[int(q) for q in query_ids]]
        with self.transaction():
            if prompt is not None:
                self._execute(sql.SET_PROMPT + only, [prompt or None, pid, *extra])
            if type_ is not None:
                self._execute(sql.SET_TYPE + only, [type_ or None, pid, *extra])

    def sample_field_counts(self, pid: int) -> pd.DataFrame:
        """How many queries carry each (prompt, type) pair (NULL = not set), most frequent first."""
        return self._df(sql.SAMPLE_FIELD_COUNTS, [pid])

    # ------------------------------------------------------------------ reading the corpus

    def queries(self, pid: int) -> pd.DataFrame:
        """Queries of a project: id, text, text_hash, meta (dict), prompt, type, origin, parent_id, sample_key.

        Two queries may share a text (and text_hash) when their metadata differ; ``sample_key`` is unique.
        Generated queries whose status is 'filtered' (quality gate) or 'rejected' (Queries page) are left
        out: this is what mining, augmentation, teacher scoring and export read (the Queries page lists
        them through :meth:`embcore.store.sources.SourcesMixin.generated_queries`).
        """
        df = self._df(sql.QUERIES, [pid, pid])
        df["meta"] = [(from_json(m) or {}) for m in df["meta"]]
        return df

    def query_texts(self, pid: int, limit: int = 20) -> list[str]:
        """The first ``limit`` query texts of a project."""
        return [str(r[0]) for r in self._fetchall(sql.QUERY_TEXTS, [pid, limit])]

    def passages(self, pid: int, kind: str | None = "passage") -> pd.DataFrame:
        """Passages of a project (of one ``kind``; None = all): id, text, text_hash, kind, origin, meta (dict)."""
        statement, params = sql.PASSAGES, [pid]
        if kind is not None:
            statement += sql.AND_KIND
            params.append(kind)
        df = self._df(statement + sql.ORDER_BY_ID, params)
        df["meta"] = [(from_json(m) or {}) for m in df["meta"]]
        return df

    def passage_texts(self, pid: int) -> pd.DataFrame:
        """(id, text, kind) of every passage of a project (no metadata: cheap)."""
        return self._df(sql.PASSAGE_TEXTS, [pid])

    def passage_text(self, passage_id: int) -> str | None:
        """The text of one passage (None when there is no such passage)."""
        text = self._scalar(sql.PASSAGE_TEXT, [int(passage_id)])
        return None if text is None else str(text)

    def corpus_counts(self, pid: int) -> dict[str, int]:
        """``{"queries", "passages", "positives"}``: row counts of a project's corpus (every kind of passage)."""
        return {
            "queries": int(self._scalar(sql.QUERY_COUNT, [pid])),
            "passages": int(self._scalar(sql.PASSAGE_COUNT, [pid])),
            "positives": int(self._scalar(sql.POSITIVE_COUNT, [pid])),
        }

    def positives(self, pid: int) -> pd.DataFrame:
        """(query_id, passage_id, origin, label_score, position, text, text_hash) for every positive."""
        return self._df(sql.POSITIVES, [pid])

    def query_positives(self, query_id: int) -> pd.DataFrame:
        """The positives of one query: passage_id, origin, position, text, meta (dict)."""
        rows = self._fetchall(sql.QUERY_POSITIVES, [int(query_id)])
        frame = pd.DataFrame.from_records(
            [r[:4] for r in rows], columns=["passage_id", "origin", "position", "text"]
        )
        frame["meta"] = [meta_dict(r[4]) for r in rows]
        return frame

    def positive_texts(self, query_id: int) -> dict[int, str]:
        """``{passage_id: text}`` of one query's positives."""
        return {int(i): str(t) for i, t in self._fetchall(sql.POSITIVE_TEXTS, [int(query_id)])}

    def positive_origins(self, query_id: int, passage_id: int) -> list[str]:
        """The origin of one (query, passage) positive (an empty list when it is not a positive)."""
        return [str(r[0]) for r in self._fetchall(sql.POSITIVE_ORIGINS, [int(query_id), int(passage_id)])]

    def positive_pairs(self, pid: int, query_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """(query_id, passage_id, origin, query_text, query_hash, text, text_hash) of a project's positives."""
        if query_ids is None:
            return self._df(sql.POSITIVE_PAIRS.format(where=sql.OF_PROJECT), [pid])
        return self._df(sql.POSITIVE_PAIRS.format(where=sql.OF_QUERIES), [pid, [int(q) for q in query_ids]])

    def given_negatives(self, pid: int) -> pd.DataFrame:
        """(query_id, passage_id, origin, label_score, text) of the negatives given by the data or generated."""
        return self._df(sql.GIVEN_NEGATIVES, [pid])

    def meta_values(self, pid: int, max_values: int = 500) -> dict[str, list[str]]:
        """Distinct metadata values per key over a project's queries (keys with too many values left out)."""
        out: dict[str, list[str]] = {}
        for key, value in self._fetchall(sql.META_VALUES, [pid]):
            if value is not None:
                out.setdefault(str(key), []).append(str(value))
        return {k: v for k, v in out.items() if len(v) <= max_values}

    def generated_items(self, pid: int, limit: int = 5000) -> pd.DataFrame:
        """Augmented / generated queries, positives and negatives of a project, newest first.

        Columns: kind (query / positive / negative), origin, query_id (the new query, or the query
        the item belongs to), parent (the source query's text), text, decision (negatives only).
        """
        return self._df(sql.GENERATED_ITEMS, [pid, pid, pid, int(limit)]).drop(columns=["k1", "k2"])

    def mining_input(self, pid: int) -> MiningInput:
        """Load a project as a :class:`embcore.mining.types.MiningInput`.

        The corpus is every data passage plus every passage that is some query's positive
        (edited positives included), so positives are always addressable by index.
        """
        from embcore.mining.types import MiningInput

        q = self.queries(pid)
        p = self._df(sql.MINING_PASSAGES, [pid, pid])
        pos = self._df(sql.MINING_POSITIVES, [pid])
        neg = self._df(sql.MINING_NEGATIVES, [pid])
        q_index = {int(v): i for i, v in enumerate(q["id"])}
        p_index = {int(v): i for i, v in enumerate(p["id"])}
        positives: list[list[int]] = [[] for _ in range(len(q))]
        for qid, ppid in zip(pos["query_id"], pos["passage_id"], strict=True):
            if int(qid) in q_index:  # not a filtered / rejected generated query
                positives[q_index[int(qid)]].append(p_index[int(ppid)])
        negatives: list[list[int]] = [[] for _ in range(len(q))]
        for qid, ppid in zip(neg["query_id"], neg["passage_id"], strict=True):
            if int(ppid) in p_index and int(qid) in q_index:
                negatives[q_index[int(qid)]].append(p_index[int(ppid)])
        return MiningInput(
            query_ids=q["id"].to_numpy(dtype=np.int64),
            query_texts=[str(t) for t in q["text"]],
            passage_ids=p["id"].to_numpy(dtype=np.int64),
            passage_texts=[str(t) for t in p["text"]],
            positives=positives,
            query_meta=[{k: str(v) for k, v in m.items()} for m in q["meta"]],
            passage_meta=[{k: str(v) for k, v in (from_json(m) or {}).items()} for m in p["meta"]],
            known_negatives=negatives,
            query_prompts=[p if isinstance(p, str) else "" for p in q["prompt"]],
        )

    # ------------------------------------------------------------------ extending the corpus

    def ensure_passages(self, pid: int, texts: Sequence[str], *, kind: str, origin: str) -> list[int]:
        """Insert texts missing from the project's passages (by hash) and return the ids of all."""
        hashes = [text_hash(t) for t in texts]
        frame = pd.DataFrame({"text": list(texts), "text_hash": hashes}).drop_duplicates("text_hash")
        with self.transaction(), self._frame("ensure_texts", frame):
            self._execute(sql.INSERT_NEW_PASSAGES, [pid, kind, origin, pid])
            ids = dict(self._fetchall(sql.PASSAGE_IDS_OF_TEXTS, [pid]))
        return [int(ids[h]) for h in hashes]

    def add_derived(
        self,
        pid: int,
        *,
        queries: Sequence[dict[str, Any]] = (),
        positives: Sequence[tuple[int, str, str]] = (),
        negatives: Sequence[tuple[int, str, str]] = (),
    ) -> dict[str, int]:
        """Add augmented / generated data linked to existing queries, in one set-based transaction.

        Args:
            pid: the project.
            queries: new queries: ``{"parent_id", "text", "origin", "positives": [(text, origin)]}``;
                they inherit the parent's metadata, type and prompt. A text equal to a query the
                project already has (or to an earlier one of the batch) is skipped.
            positives: extra positives ``(query_id, text, origin)`` (stored as 'generated' passages
                unless the text is already a passage).
            negatives: generated negatives ``(query_id, text, origin)``; they join the review
                list like mined candidates and are exported unless rejected.

        Returns:
            Counts of rows actually added.
        """
        added = {"queries": 0, "positives": 0, "negatives": 0}
        with self.transaction():
            # 1. new queries (new texts only), inheriting meta / type / prompt from the parent
            existing = {r[0] for r in self._fetchall(sql.QUERY_HASHES, [pid])}
            fresh: dict[str, dict[str, Any]] = {}
            for q in queries:
                h = text_hash(q["text"])
                if h not in existing and h not in fresh:
                    fresh[h] = q
            if fresh:
                frame = pd.DataFrame(
                    {
                        "text": [q["text"] for q in fresh.values()],
                        "text_hash": list(fresh),
                        "origin": [q["origin"] for q in fresh.values()],
                        "parent_id": [int(q["parent_id"]) for q in fresh.values()],
                    }
                )
                with self._frame("new_derived", frame):
                    self._execute(sql.INSERT_DERIVED_QUERIES, [pid])
                added["queries"] = len(fresh)
            # 2. their positives, then extra positives and generated negatives, by text hash
            links = [(h, t, o) for h, q in fresh.items() for t, o in q["positives"]]
            added["positives"] = self._link_texts(pid, "positives", links, by_query_key=True)
            added["positives"] += self._link_texts(pid, "positives", positives)
            added["negatives"] = self._link_texts(pid, "given_negatives", negatives)
        return added

    def _link_texts(
        self, pid: int, table: str, rows: Sequence[tuple[Any, str, str]], *, by_query_key: bool = False
    ) -> int:
        """Link (query id or sample key, passage text, origin) rows into ``positives`` / ``given_negatives``.

        Texts with origin 'data' must already be passages; others become 'generated' passages.
        A pair that is already a positive is never added (as a negative or twice).
        """
        if table not in ("positives", "given_negatives"):
            raise ValueError(f"cannot link texts into {table!r}")
        if not rows:
            return 0
        by_origin: dict[str, list[str]] = {}
        for _, text, origin in rows:
            by_origin.setdefault(origin, []).append(text)
        ids: dict[str, int] = {}
        for origin, texts in by_origin.items():
            kind = "passage" if origin == "data" else "generated"
            ids.update(zip(texts, self.ensure_passages(pid, texts, kind=kind, origin=origin), strict=True))
        frame = pd.DataFrame(
            {
                "q": [str(q) if by_query_key else int(q) for q, _, _ in rows],
                "passage_id": [ids[t] for _, t, _ in rows],
                "origin": [o for _, _, o in rows],
            }
        ).drop_duplicates(["q", "passage_id"])
        # derived queries are stored under sample_key = text_hash (their texts are new to the project)
        query = sql.QUERY_BY_KEY if by_query_key else sql.QUERY_BY_ID
        count = sql.LINK_COUNT.format(table=table)
        before = int(self._scalar(count, [pid]))
        with self._frame("new_links", frame):
            self._execute(
                sql.INSERT_LINKS.format(table=table, query=query), [pid, pid, pid] if by_query_key else [pid]
            )
        return int(self._scalar(count, [pid])) - before


def _labels(labels: Sequence[float | None], n: int) -> list[float | None]:
    labels = list(labels)
    return labels + [None] * (n - len(labels)) if len(labels) < n else labels[:n]
