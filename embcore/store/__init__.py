"""DuckDB project store: the single source of truth and the only module with SQL.

One DuckDB file holds many projects. The schema lives in numbered migration files
(``embcore/store/migrations/NNN_name.sql``), each applied in one transaction and recorded in
``schema_migrations``; opening an older file applies the missing ones.

Thread safety: one :class:`Store` may be shared by the threads of one process (the Streamlit
server serves every browser tab from one process); every statement runs under a re-entrant
lock, and every multi-statement write runs in a transaction, so two tabs cannot interleave
half-written changes. A second *process* opening the same file for writing gets a
:class:`~embcore.errors.StoreBusyError` with a clear message.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError, StoreBusyError
from embcore.text import text_hash

log = logging.getLogger(__name__)

DECISIONS = ("accept", "reject", "positive")

_HOST = socket.gethostname()
STALE_AFTER_S = 600.0
"""A running run whose heartbeat is older than this (seconds) counts as interrupted on open."""


def heartbeat_seconds() -> float:
    """Seconds between heartbeats of a running run (``EMBCORE_HEARTBEAT_S``, default 30)."""
    try:
        return max(0.05, float(os.environ.get("EMBCORE_HEARTBEAT_S", "30")))
    except ValueError:
        return 30.0


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as gone)."""
    if os.name == "nt":  # os.kill would terminate it there; rely on the heartbeat instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def default_db_path() -> Path:
    """The app's default DuckDB file: ``$EMBCORE_DB`` or ``./data/embcore.duckdb``."""
    return Path(os.environ.get("EMBCORE_DB", "data/embcore.duckdb"))


# A DuckDB database file: an 8-byte checksum, then the magic bytes "DUCK".
_DUCKDB_MAGIC = b"DUCK"


def check_db_path(path: str | Path) -> None:
    """Refuse a database path that exists but is not a DuckDB file (before DuckDB touches it).

    Why: DuckDB opens an existing ``data.csv`` (or ``.json``, ``.parquet``) given as the database
    as an *in-memory* database with a view over that file, so every write would be lost at exit;
    other files get a cryptic IO error. A missing path is fine (a new database is created).

    Raises:
        EmbcoreError: the path is a folder, an empty file or a file without DuckDB's header.
    """
    p = Path(path)
    if not p.exists():
        return
    if p.is_dir():
        raise EmbcoreError(f"{p}: is a folder; the database must be a file (e.g. {p / 'embcore.duckdb'})")
    try:
        with p.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise EmbcoreError(f"{p}: cannot read the database file ({exc.strerror or exc})") from exc
    if not head:
        raise EmbcoreError(f"{p}: is an empty file, not a DuckDB database; remove it or choose another path")
    if head[8:12] != _DUCKDB_MAGIC:
        kind = _describe_file(head, p)
        raise EmbcoreError(f"{p}: exists and is not a DuckDB database ({kind}); choose another path for the database")


def _describe_file(head: bytes, path: Path) -> str:
    if head.startswith(b"PAR1"):
        return "it is a Parquet file"
    if head.startswith(b"SQLite format"[:12]):
        return "it is an SQLite file"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet"):
        return f"it looks like a {suffix[1:].upper()} data file"
    try:
        head.decode("utf-8")
        return "it looks like a text file"
    except UnicodeDecodeError:
        return "no DuckDB header"


def _migrations() -> list[tuple[int, str, str]]:
    out = []
    folder = resources.files("embcore.store") / "migrations"
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), name[:-4], entry.read_text(encoding="utf-8")))
    return sorted(out)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _loads(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    if isinstance(value, float):  # a NULL that pandas turned into NaN
        return None
    return json.loads(value)


class Store:
    """A DuckDB file (or ``":memory:"``) holding projects, candidates, decisions, runs and caches."""

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            check_db_path(self.path)
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbcoreError(f"{self.path}: cannot create its folder ({exc.strerror or exc})") from exc
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" in msg.lower():
                raise StoreBusyError(
                    f"{self.path}: the database is open in another process (is the app or another embcore running?)"
                ) from exc
            raise EmbcoreError(f"{self.path}: cannot open the database ({msg.splitlines()[0]})") from exc
        except duckdb.Error as exc:
            raise EmbcoreError(f"{self.path}: not a usable DuckDB file ({str(exc).splitlines()[0]})") from exc
        if self.path != ":memory:" and not self._file_backed():
            self.con.close()
            raise EmbcoreError(f"{self.path}: DuckDB opened this as a data file, not as a database file; use a .duckdb path")
        self._lock = threading.RLock()
        self._in_tx = 0
        self._live_runs: set[int] = set()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self.interrupted_on_open: list[int] = []
        if not read_only:
            self.migrate()
            self.interrupted_on_open = self.mark_interrupted_runs()

    def _file_backed(self) -> bool:
        """True when the connection's database really is the file (not an in-memory database).

        DuckDB opens an existing ``.csv`` / ``.json`` / ``.parquet`` path as an in-memory
        database with a view over the file: nothing written would ever reach a file.
        """
        row = self.con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
        return bool(row and row[0])

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._beat_stop.set()
        if self._beat_thread is not None and self._beat_thread is not threading.current_thread():
            self._beat_thread.join(timeout=5)
        with self._lock:
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement and consume its result (an open result blocks DuckDB's ``register``)."""
        with self._lock:
            self.con.execute(sql, params or []).fetchall()

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self._lock:
            return self.con.execute(sql, params or []).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        with self._lock:
            rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        with self._lock:
            return self.con.execute(sql, params or []).df()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically (nested calls join the outer transaction)."""
        with self._lock:
            if self._in_tx:
                self._in_tx += 1
                try:
                    yield
                finally:
                    self._in_tx -= 1
                return
            self.con.execute("BEGIN TRANSACTION")
            self._in_tx = 1
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")
            finally:
                self._in_tx = 0

    @contextmanager
    def _frame(self, name: str, frame: pd.DataFrame) -> Iterator[None]:
        self.con.register(name, frame)
        try:
            yield
        finally:
            self.con.unregister(name)

    # ------------------------------------------------------------------ migrations

    def schema_version(self) -> int:
        row = self.fetchone(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )
        if not row or not row[0]:
            return 0
        row = self.fetchone("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    def migrate(self) -> list[str]:
        """Apply every migration the file has not recorded yet, in order, each in its own transaction."""
        applied = []
        with self._lock:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP DEFAULT current_timestamp)"
            )
            done = {int(r[0]) for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, sql in _migrations():
                if version in done:  # any missing one is applied, even below the newest (merged branches)
                    continue
                with self.transaction():
                    for statement in _split_sql(sql):
                        self.con.execute(statement)
                    self.con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
                applied.append(name)
                log.info("applied migration %s to %s", name, self.path)
        return applied

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
        """Create a project from ingested samples (``embcore.ingest.tables.Sample``) in one transaction.

        Passages shared by several samples are stored once (by text hash).

        Raises:
            EmbcoreError: a project of that name exists and ``replace`` is False.
        """
        name = name.strip()
        if not name:
            raise EmbcoreError("a project needs a non-empty name")
        with self.transaction():
            existing = self.fetchone("SELECT id FROM projects WHERE name = ?", [name])
            if existing and not replace:
                raise EmbcoreError(f"a project named {name!r} already exists in {self.path}; choose another name")
            if existing:
                self._delete_project_rows(int(existing[0]))
            pid = int(
                self.fetchone(
                    "INSERT INTO projects (name, source_name, source_sha256, source_format, mapping, cleaning) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    [name, source_name, source_sha256, source_format, _json(mapping), _json(cleaning)],
                )[0]
            )
            self._insert_samples(pid, samples)
        return pid

    def _insert_samples(self, pid: int, samples: Sequence[Any]) -> None:
        # 1. passages (dedup by hash) 2. queries 3. positives / given negatives, all set-based.
        passage_rows: dict[str, tuple[str, str]] = {}
        for s in samples:
            meta = _json(s.meta) if s.meta else None
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
            self.con.execute(
                "INSERT INTO passages (project_id, text, text_hash, kind, origin, meta) "
                "SELECT ?, n.text, n.text_hash, 'passage', 'data', n.meta FROM new_passages n "
                "ANTI JOIN passages p ON p.project_id = ? AND p.text_hash = n.text_hash",
                [pid, pid],
            )
        keys = [getattr(s, "key", "") or text_hash(s.query) for s in samples]
        qframe = pd.DataFrame(
            {
                "text": [s.query for s in samples],
                "text_hash": [text_hash(s.query) for s in samples],
                "sample_key": keys,
                "meta": [_json(s.meta) if s.meta else None for s in samples],
                "source_rows": [list(s.source_rows) for s in samples],
                "type": [s.type for s in samples],
                "origin": [getattr(s, "origin", None) or "data" for s in samples],
            }
        )
        with self._frame("new_queries", qframe):
            self.con.execute(
                "INSERT INTO queries (project_id, text, text_hash, sample_key, meta, source_rows, type, origin) "
                "SELECT ?, text, text_hash, sample_key, meta, source_rows::INTEGER[], type, origin FROM new_queries",
                [pid],
            )
        links = []
        for s, qh in zip(samples, keys, strict=True):
            for pos, (t, lab) in enumerate(zip(s.positives, _labels(s.pos_labels, len(s.positives)), strict=True)):
                links.append((qh, text_hash(t), "pos", lab, pos))
            for t, lab in zip(s.negatives, _labels(s.neg_labels, len(s.negatives)), strict=True):
                links.append((qh, text_hash(t), "neg", lab, 0))
        lframe = pd.DataFrame(links, columns=["qh", "ph", "kind", "label", "position"])
        lframe["label"] = lframe["label"].astype("float64")
        with self._frame("new_links", lframe):
            base = (
                "SELECT DISTINCT ON (q.id, p.id) ?, q.id, p.id, 'data', l.label{extra} FROM new_links l "
                "JOIN queries q ON q.project_id = ? AND q.sample_key = l.qh "
                "JOIN passages p ON p.project_id = ? AND p.text_hash = l.ph WHERE l.kind = ?"
            )
            self.con.execute(
                "INSERT INTO positives (project_id, query_id, passage_id, origin, label_score, position) "
                + base.format(extra=", l.position"),
                [pid, pid, pid, "pos"],
            )
            self.con.execute(
                "INSERT INTO given_negatives (project_id, query_id, passage_id, origin, label_score) "
                + base.format(extra="")
                + " AND NOT EXISTS (SELECT 1 FROM positives x WHERE x.query_id = q.id AND x.passage_id = p.id)",
                [pid, pid, pid, "neg"],
            )

    def delete_project(self, pid: int) -> None:
        with self.transaction():
            self._delete_project_rows(pid)

    def _delete_project_rows(self, pid: int) -> None:
        for table in ("export_splits",):
            self.con.execute(
                f"DELETE FROM {table} WHERE export_id IN (SELECT id FROM exports WHERE project_id = ?)", [pid]
            )
        for table in (
            "exports", "query_review", "query_state", "review_action_queries", "review_actions", "decision_log",
            "decisions", "reviewer_decisions", "reviewer_state", "adjudications", "reviewers", "review_settings",
            "assignments", "candidates", "runs",
            "given_negatives", "positives", "queries", "passages", "projects",
        ):  # fmt: skip
            col = "id" if table == "projects" else "project_id"
            self.con.execute(f"DELETE FROM {table} WHERE {col} = ?", [pid])

    def find_project(self, name: str) -> int | None:
        """The id of the project called ``name``, or None."""
        row = self.fetchone("SELECT id FROM projects WHERE name = ?", [name])
        return None if row is None else int(row[0])

    def project_id(self, name_or_id: str | int) -> int:
        """Resolve a project name or id.

        Raises:
            EmbcoreError: no such project (the message lists the existing ones).
        """
        if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()):
            row = self.fetchone("SELECT id FROM projects WHERE id = ?", [int(name_or_id)])
        else:
            row = self.fetchone("SELECT id FROM projects WHERE name = ?", [name_or_id])
        if row is None:
            names = [r[0] for r in self.fetchall("SELECT name FROM projects ORDER BY id")]
            raise EmbcoreError(f"no project {name_or_id!r}; existing projects: {', '.join(names) or '(none)'}")
        return int(row[0])

    def get_project(self, pid: int) -> dict[str, Any]:
        df = self.df("SELECT * FROM projects WHERE id = ?", [pid])
        if df.empty:
            raise EmbcoreError(f"no project with id {pid}")
        rec = df.iloc[0].to_dict()
        rec["mapping"] = _loads(rec["mapping"])
        rec["cleaning"] = _loads(rec["cleaning"])
        return rec

    def list_projects(self) -> pd.DataFrame:
        """Every project with where it stands: sizes, mining, review progress, exports."""
        return self.df(
            """
            SELECT p.id, p.name, p.source_name, p.created_at,
                (SELECT count(*) FROM queries q WHERE q.project_id = p.id) AS queries,
                (SELECT count(*) FROM passages x WHERE x.project_id = p.id AND x.kind = 'passage') AS passages,
                (SELECT count(*) FROM runs r WHERE r.project_id = p.id AND r.kind = 'mine' AND r.status = 'done')
                    AS mining_runs,
                (SELECT count(*) FROM runs r WHERE r.project_id = p.id AND r.status = 'running') AS running_runs,
                (SELECT count(*) FROM runs r WHERE r.project_id = p.id AND r.status = 'interrupted')
                    AS interrupted_runs,
                (SELECT count(DISTINCT v.query_id) FROM query_review v WHERE v.project_id = p.id) AS reviewed,
                (SELECT count(*) FROM decisions d WHERE d.project_id = p.id) AS decisions,
                (SELECT count(*) FROM exports e WHERE e.project_id = p.id) AS exports,
                (SELECT max(e.created_at) FROM exports e WHERE e.project_id = p.id) AS last_export
            FROM projects p ORDER BY p.id
            """
        )

    def touch_project(self, pid: int) -> None:
        self.execute("UPDATE projects SET updated_at = current_timestamp WHERE id = ?", [pid])

    def set_sample_fields(
        self, pid: int, *, prompt: str | None = None, type_: str | None = None, query_ids: Sequence[int] | None = None
    ) -> None:
        """Set the instruction ``prompt`` and/or ``type`` of a project's queries (all or some)."""
        with self.transaction():
            where = "project_id = ?"
            params: list[Any] = [pid]
            if query_ids is not None:
                where += " AND list_contains(?, id)"
                params.append([int(q) for q in query_ids])
            if prompt is not None:
                self.con.execute(f"UPDATE queries SET prompt = ? WHERE {where}", [prompt or None, *params])
            if type_ is not None:
                self.con.execute(f"UPDATE queries SET type = ? WHERE {where}", [type_ or None, *params])

    # ------------------------------------------------------------------ reading data

    def queries(self, pid: int) -> pd.DataFrame:
        """Queries of a project: id, text, text_hash, meta (dict), prompt, type, origin, parent_id, sample_key.

        Two queries may share a text (and text_hash) when their metadata differ; ``sample_key`` is unique.
        """
        df = self.df(
            "SELECT id, text, text_hash, meta, source_rows, prompt, type, origin, parent_id, sample_key "
            "FROM queries WHERE project_id = ? ORDER BY id",
            [pid],
        )
        df["meta"] = [(_loads(m) or {}) for m in df["meta"]]
        return df

    def passages(self, pid: int, kind: str | None = "passage") -> pd.DataFrame:
        sql = "SELECT id, text, text_hash, kind, origin, meta FROM passages WHERE project_id = ?"
        params: list[Any] = [pid]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        df = self.df(sql + " ORDER BY id", params)
        df["meta"] = [(_loads(m) or {}) for m in df["meta"]]
        return df

    def passage_texts(self, pid: int) -> pd.DataFrame:
        """(id, text, kind) of every passage of a project (no metadata: cheap)."""
        return self.df("SELECT id, text, kind FROM passages WHERE project_id = ? ORDER BY id", [pid])

    def positives(self, pid: int) -> pd.DataFrame:
        """(query_id, passage_id, origin, label_score, position, text) for every positive."""
        return self.df(
            "SELECT x.query_id, x.passage_id, x.origin, x.label_score, x.position, p.text, p.text_hash "
            "FROM positives x JOIN passages p ON p.id = x.passage_id WHERE x.project_id = ? "
            "ORDER BY x.query_id, x.position, x.passage_id",
            [pid],
        )

    def given_negatives(self, pid: int) -> pd.DataFrame:
        return self.df(
            "SELECT g.query_id, g.passage_id, g.origin, g.label_score, p.text FROM given_negatives g "
            "JOIN passages p ON p.id = g.passage_id WHERE g.project_id = ? ORDER BY g.query_id, g.passage_id",
            [pid],
        )

    def ensure_passages(self, pid: int, texts: Sequence[str], *, kind: str, origin: str) -> list[int]:
        """Insert texts missing from the project's passages (by hash) and return the ids of all."""
        hashes = [text_hash(t) for t in texts]
        frame = pd.DataFrame({"text": list(texts), "text_hash": hashes}).drop_duplicates("text_hash")
        with self.transaction(), self._frame("ensure_texts", frame):
            self.con.execute(
                "INSERT INTO passages (project_id, text, text_hash, kind, origin) "
                "SELECT ?, n.text, n.text_hash, ?, ? FROM ensure_texts n "
                "ANTI JOIN passages p ON p.project_id = ? AND p.text_hash = n.text_hash",
                [pid, kind, origin, pid],
            )
            ids = dict(
                self.con.execute(
                    "SELECT p.text_hash, p.id FROM passages p JOIN ensure_texts n ON n.text_hash = p.text_hash "
                    "WHERE p.project_id = ?",
                    [pid],
                ).fetchall()
            )
        return [int(ids[h]) for h in hashes]

    def mining_input(self, pid: int) -> Any:
        """Load a project as a :class:`embcore.mining.types.MiningInput`.

        The corpus is every data passage plus every passage that is some query's positive
        (edited positives included), so positives are always addressable by index.
        """
        from embcore.mining.types import MiningInput

        q = self.queries(pid)
        p = self.df(
            "SELECT id, text, meta FROM passages WHERE project_id = ? AND (kind = 'passage' OR id IN "
            "(SELECT passage_id FROM positives WHERE project_id = ?)) ORDER BY id",
            [pid, pid],
        )
        pos = self.df("SELECT query_id, passage_id FROM positives WHERE project_id = ? ORDER BY query_id, position", [pid])
        neg = self.df("SELECT query_id, passage_id FROM given_negatives WHERE project_id = ?", [pid])
        q_index = {int(v): i for i, v in enumerate(q["id"])}
        p_index = {int(v): i for i, v in enumerate(p["id"])}
        positives: list[list[int]] = [[] for _ in range(len(q))]
        for qid, ppid in zip(pos["query_id"], pos["passage_id"], strict=True):
            positives[q_index[int(qid)]].append(p_index[int(ppid)])
        negatives: list[list[int]] = [[] for _ in range(len(q))]
        for qid, ppid in zip(neg["query_id"], neg["passage_id"], strict=True):
            if int(ppid) in p_index:
                negatives[q_index[int(qid)]].append(p_index[int(ppid)])
        return MiningInput(
            query_ids=q["id"].to_numpy(dtype=np.int64),
            query_texts=[str(t) for t in q["text"]],
            passage_ids=p["id"].to_numpy(dtype=np.int64),
            passage_texts=[str(t) for t in p["text"]],
            positives=positives,
            query_meta=[{k: str(v) for k, v in m.items()} for m in q["meta"]],
            passage_meta=[{k: str(v) for k, v in (_loads(m) or {}).items()} for m in p["meta"]],
            known_negatives=negatives,
            query_prompts=[p if isinstance(p, str) else "" for p in q["prompt"]],
        )

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
            existing = {r[0] for r in self.fetchall("SELECT text_hash FROM queries WHERE project_id = ?", [pid])}
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
                    self.con.execute(
                        "INSERT INTO queries (project_id, text, text_hash, sample_key, meta, type, prompt, origin, parent_id) "
                        "SELECT ?, n.text, n.text_hash, n.text_hash, p.meta, p.type, p.prompt, n.origin, n.parent_id "
                        "FROM new_derived n JOIN queries p ON p.id = n.parent_id",
                        [pid],
                    )
                added["queries"] = len(fresh)
            # 2. their positives, then extra positives and generated negatives, by text hash
            links = [(h, t, o) for h, q in fresh.items() for t, o in q["positives"]]
            added["positives"] = self._link_texts(pid, "positives", links, by_query_hash=True)
            added["positives"] += self._link_texts(pid, "positives", positives)
            added["negatives"] = self._link_texts(pid, "given_negatives", negatives)
        return added

    def _link_texts(
        self, pid: int, table: str, rows: Sequence[tuple[Any, str, str]], *, by_query_hash: bool = False
    ) -> int:
        """Link (query id or hash, passage text, origin) rows into ``positives`` / ``given_negatives``.

        Texts with origin 'data' must already be passages; others become 'generated' passages.
        A pair that is already a positive is never added (as a negative or twice).
        """
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
                "q": [str(q) if by_query_hash else int(q) for q, _, _ in rows],
                "passage_id": [ids[t] for _, t, _ in rows],
                "origin": [o for _, _, o in rows],
            }
        ).drop_duplicates(["q", "passage_id"])
        # derived queries are stored under sample_key = text_hash (their texts are new to the project)
        query = "(SELECT id FROM queries WHERE project_id = ? AND sample_key = n.q)" if by_query_hash else "n.q"
        before = self.fetchone(f"SELECT count(*) FROM {table} WHERE project_id = ?", [pid])[0]
        with self._frame("new_links", frame):
            self.con.execute(
                f"INSERT INTO {table} (project_id, query_id, passage_id, origin) "
                f"SELECT ?, {query} AS qid, n.passage_id, n.origin FROM new_links n "
                f"WHERE NOT EXISTS (SELECT 1 FROM positives x WHERE x.query_id = {query} AND x.passage_id = n.passage_id) "
                "ON CONFLICT DO NOTHING",
                [pid, pid, pid] if by_query_hash else [pid],
            )
        return int(self.fetchone(f"SELECT count(*) FROM {table} WHERE project_id = ?", [pid])[0] - before)

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        pid: int | None,
        kind: str,
        config: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
        model_id: str | None = None,
        data_hash: str | None = None,
    ) -> int:
        """Record a run as 'running' by this process (pid, host, heartbeat); a background thread
        keeps its heartbeat fresh until :meth:`finish_run`."""
        row = self.fetchone(
            "INSERT INTO runs (project_id, kind, config, seed, model_id, data_hash, pid, host, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp::TIMESTAMP) RETURNING id",
            [pid, kind, _json(config), seed, model_id, data_hash, os.getpid(), _HOST],
        )
        run_id = int(row[0])
        self._live_runs.add(run_id)
        self._ensure_heartbeat()
        return run_id

    def heartbeat(self, run_ids: Sequence[int] | None = None) -> None:
        """Refresh the heartbeat of this process's running runs (all live ones by default)."""
        ids = sorted(self._live_runs if run_ids is None else {int(r) for r in run_ids})
        if ids:
            self.execute(
                "UPDATE runs SET heartbeat_at = current_timestamp::TIMESTAMP "
                "WHERE list_contains(?, id) AND status = 'running'",
                [ids],
            )

    def _ensure_heartbeat(self) -> None:
        if self._beat_thread is not None or self.path == ":memory:":
            return

        def beat() -> None:
            while not self._beat_stop.wait(heartbeat_seconds()):
                try:
                    self.heartbeat()
                except Exception:  # noqa: BLE001 - a closed store ends the thread
                    log.debug("heartbeat stopped", exc_info=True)
                    return

        self._beat_thread = threading.Thread(target=beat, name="embcore-run-heartbeat", daemon=True)
        self._beat_thread.start()

    def mark_interrupted_runs(self, *, stale_after_s: float | None = None) -> list[int]:
        """Mark 'interrupted' every 'running' run whose process is gone.

        A run is gone when it was started on this host by another process that no longer
        exists, when its heartbeat is older than ``stale_after_s`` (default
        :data:`STALE_AFTER_S`; covers other hosts and reused pids), or when it predates the
        heartbeat (no pid recorded). Runs of this process are left alone.

        Returns:
            The ids marked.
        """
        stale = STALE_AFTER_S if stale_after_s is None else stale_after_s
        rows = self.fetchall(
            "SELECT id, pid, host, heartbeat_at IS NULL OR heartbeat_at < current_timestamp::TIMESTAMP - "
            "to_seconds(?::DOUBLE) AS stale, heartbeat_at FROM runs WHERE status = 'running'",
            [float(stale)],
        )
        gone: list[tuple[int, str]] = []
        for run_id, rpid, host, is_stale, beat in rows:
            if rpid is None:
                gone.append((int(run_id), "interrupted: started by an older embcore that recorded no process id"))
            elif host == _HOST and int(rpid) == os.getpid():
                continue
            elif host == _HOST and not _pid_alive(int(rpid)):
                gone.append((int(run_id), f"interrupted: process {rpid} on {host} ended before the run finished"))
            elif is_stale:
                gone.append((int(run_id), f"interrupted: no heartbeat from process {rpid} on {host} since {beat}"))
        if gone:
            with self.transaction():
                for run_id, why in gone:
                    self.con.execute(
                        "UPDATE runs SET status = 'interrupted', finished_at = current_timestamp, "
                        "error = coalesce(error, ?) WHERE id = ? AND status = 'running'",
                        [why, run_id],
                    )
            log.warning("marked %d run(s) interrupted in %s: %s", len(gone), self.path, [g[0] for g in gone])
        return [g[0] for g in gone]

    def finish_run(
        self,
        run_id: int,
        *,
        status: str = "done",
        timings: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        stats: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._live_runs.discard(int(run_id))
        self.execute(
            "UPDATE runs SET status = ?, finished_at = current_timestamp, heartbeat_at = current_timestamp::TIMESTAMP, "
            "timings = ?, counts = ?, stats = ?, error = ? WHERE id = ?",
            [status, _json(timings), _json(counts), _json(stats), error, run_id],
        )

    def get_run(self, run_id: int) -> dict[str, Any]:
        df = self.df("SELECT * FROM runs WHERE id = ?", [run_id])
        if df.empty:
            raise EmbcoreError(f"no run with id {run_id}")
        rec = df.iloc[0].to_dict()
        for k in ("config", "timings", "counts", "stats"):
            rec[k] = _loads(rec[k])
        return rec

    def runs(self, pid: int | None = None, kind: str | None = None, *, status: str | None = None) -> pd.DataFrame:
        """Runs (of a project, of a kind, with a status: 'running', 'done', 'failed', 'cancelled', 'interrupted')."""
        sql = "SELECT * FROM runs WHERE 1=1"
        params: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if pid is not None:
            sql += " AND project_id = ?"
            params.append(pid)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return self.df(sql + " ORDER BY id", params)

    def latest_run(self, pid: int, kind: str = "mine") -> int | None:
        row = self.fetchone(
            "SELECT max(id) FROM runs WHERE project_id = ? AND kind = ? AND status = 'done'", [pid, kind]
        )
        return int(row[0]) if row and row[0] is not None else None

    # ------------------------------------------------------------------ candidates

    def save_candidates(self, pid: int, run_id: int, frame: pd.DataFrame) -> int:
        """Store a mining run's candidates.

        Args:
            frame: columns query_id, passage_id, sources, score, rank, bm25_rank, bm25_score,
                dense_rank, dense_score, pos_sim, status.

        Returns:
            Number of rows stored.
        """
        cols = [
            "query_id", "passage_id", "sources", "score", "rank", "bm25_rank", "bm25_score",
            "dense_rank", "dense_score", "pos_sim", "status",
        ]  # fmt: skip
        frame = frame[cols].copy()
        with self.transaction(), self._frame("new_candidates", frame):
            self.con.execute("DELETE FROM candidates WHERE run_id = ?", [run_id])
            self.con.execute(
                f"INSERT INTO candidates (run_id, project_id, {', '.join(cols)}) "
                f"SELECT DISTINCT ON (query_id, passage_id) ?, ?, {', '.join(cols)} FROM new_candidates",
                [run_id, pid],
            )
        return len(frame)

    def candidates(
        self,
        run_id: int,
        query_id: int | None = None,
        *,
        statuses: Sequence[str] | None = None,
        include_given: bool = False,
    ) -> pd.DataFrame:
        """Candidates of a run (optionally one query) with text and the current decision.

        With ``include_given``, negatives given by the data or generated by an LLM
        (``given_negatives``) are listed too, with ``status = 'given'`` and their origin as
        ``sources``, so that review treats them like mined candidates.
        """
        c_cols = (
            "c.query_id, c.passage_id, c.sources, c.score, c.rank, c.bm25_rank, c.bm25_score, "
            "c.dense_rank, c.dense_score, c.pos_sim, c.status"
        )
        sql = f"SELECT {c_cols} FROM candidates c WHERE c.run_id = ?"
        params: list[Any] = [run_id if run_id is not None else -1]
        if include_given:
            sql += (
                " UNION ALL SELECT g.query_id, g.passage_id, g.origin, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                "'given' FROM given_negatives g WHERE g.project_id = (SELECT project_id FROM runs WHERE id = ?) "
                "AND NOT EXISTS (SELECT 1 FROM candidates x WHERE x.run_id = ? AND x.query_id = g.query_id "
                "AND x.passage_id = g.passage_id)"
            )
            params += [run_id if run_id is not None else -1] * 2
        sql = (
            f"SELECT c.*, p.text, p.kind AS passage_kind, d.decision FROM ({sql}) c "
            "JOIN passages p ON p.id = c.passage_id "
            "LEFT JOIN decisions d ON d.query_id = c.query_id AND d.passage_id = c.passage_id WHERE 1=1"
        )
        if query_id is not None:
            sql += " AND c.query_id = ?"
            params.append(int(query_id))
        if statuses is not None:
            sql += " AND list_contains(?, c.status)"
            params.append(list(statuses))
        return self.df(sql + " ORDER BY c.query_id, c.rank NULLS FIRST, c.passage_id", params)

    # ------------------------------------------------------------------ decisions

    def set_decision(self, pid: int, query_id: int, passage_id: int, decision: str | None) -> None:
        """Record (or clear, with ``None``) a reviewer's decision on one candidate, atomically.

        ``'positive'`` also adds the passage to the query's positives (origin 'review');
        changing it away removes that review-made positive again. No version check: the
        review UI uses :func:`embcore.store.review_actions.apply_decisions` with the versions
        the reviewer saw.
        """
        self.set_decisions(pid, [(query_id, passage_id)], decision)

    def set_decisions(self, pid: int, pairs: Sequence[tuple[int, int]], decision: str | None) -> int:
        """Apply one decision to many (query_id, passage_id) pairs as one undoable action.

        A decision never marks a query done; the query counts as reviewed once every candidate
        of the latest mining run's selection (and every given negative) has a decision.

        Returns:
            The number of distinct pairs written.
        """
        from embcore.store.review_actions import apply_decisions

        return apply_decisions(self, pid, pairs, decision).pairs

    def negative_pool(self, pid: int, run_id: int | None, *, standby: int = 50) -> pd.DataFrame:
        """Every passage an export may take as a negative, per query, by tier and rank.

        Independent of whether a query was marked reviewed; only decisions count:

        0. negatives given by the data, unless a reviewer rejected them or made them a positive;
        1. every candidate a reviewer accepted (any run), in the run's rank order;
        2. the run's auto-selected candidates that carry no decision;
        3. the run's other surviving ('kept') candidates without a decision: they replace
           auto-selected ones that were decided away or that the export must drop, so that the
           query reaches the run's ``num_negatives``;
        4. the run's candidates that a score / margin / rank filter removed, without a decision
           (never those removed as a positive or a near-duplicate of one): used only when a
           sample would otherwise have no negative at all.

        Tiers 3 and 4 keep the best ``standby`` by rank per query. Rejected candidates and
        'positive' decisions are never in the pool.

        Returns:
            Columns query_id, passage_id, tier, rnk (text is looked up by the caller).
        """
        run = run_id if run_id is not None else -1
        return self.df(
            """
            WITH pool AS (
                SELECT g.query_id, g.passage_id, 0 AS tier, 0 AS rnk FROM given_negatives g
                LEFT JOIN decisions d ON d.query_id = g.query_id AND d.passage_id = g.passage_id
                WHERE g.project_id = ? AND (d.decision IS NULL OR d.decision = 'accept')
                UNION ALL
                SELECT d.query_id, d.passage_id, 1 AS tier, coalesce(c.rank, 1000000) AS rnk FROM decisions d
                LEFT JOIN candidates c ON c.run_id = ? AND c.query_id = d.query_id AND c.passage_id = d.passage_id
                WHERE d.project_id = ? AND d.decision = 'accept'
                UNION ALL
                SELECT query_id, passage_id, tier, rnk FROM (
                    SELECT c.query_id, c.passage_id,
                           CASE c.status WHEN 'selected' THEN 2 WHEN 'kept' THEN 3 ELSE 4 END AS tier,
                           coalesce(c.rank, 1000000) AS rnk
                    FROM candidates c
                    LEFT JOIN decisions d ON d.query_id = c.query_id AND d.passage_id = c.passage_id
                    WHERE c.run_id = ? AND d.decision IS NULL
                      AND c.status NOT IN ('positive_id', 'positive_text', 'near_duplicate')
                ) x
                QUALIFY tier = 2 OR row_number() OVER (PARTITION BY query_id, tier ORDER BY rnk, passage_id) <= ?
            )
            SELECT DISTINCT ON (query_id, passage_id) query_id, passage_id, tier, rnk
            FROM pool ORDER BY query_id, passage_id, tier
            """,
            [pid, run, pid, run, int(standby)],
        ).sort_values(["query_id", "tier", "rnk", "passage_id"], kind="stable", ignore_index=True)

    def selected_counts(self, run_id: int) -> pd.DataFrame:
        """(query_id, n): how many candidates a run auto-selected per query."""
        return self.df(
            "SELECT query_id, count(*) AS n FROM candidates WHERE run_id = ? AND status = 'selected' GROUP BY query_id",
            [run_id],
        )

    def excluded_negatives(self, pid: int) -> pd.DataFrame:
        """(query_id, passage_id) pairs that must never be a negative: rejected or made a positive."""
        return self.df(
            "SELECT query_id, passage_id, decision FROM decisions WHERE project_id = ? "
            "AND decision IN ('reject', 'positive') ORDER BY query_id, passage_id",
            [pid],
        )

    def export_fingerprint(self, pid: int, run_id: int | None) -> tuple[Any, ...]:
        """Cheap summary that changes whenever anything an export reads changes (for caching previews)."""
        row = self.fetchone(
            """
            SELECT (SELECT count(*) FROM passages WHERE project_id = ?),
                   (SELECT max(id) FROM passages WHERE project_id = ?),
                   (SELECT count(*) FROM queries WHERE project_id = ?),
                   (SELECT max(id) FROM queries WHERE project_id = ?),
                   (SELECT count(*) FROM positives WHERE project_id = ?),
                   (SELECT count(*) FROM given_negatives WHERE project_id = ?),
                   (SELECT count(*) FROM decisions WHERE project_id = ?),
                   (SELECT max(updated_at) FROM decisions WHERE project_id = ?),
                   (SELECT max(id) FROM decision_log WHERE project_id = ?),
                   (SELECT count(*) FROM candidates WHERE run_id = ?)
            """,
            [pid] * 9 + [run_id if run_id is not None else -1],
        )
        return tuple(str(v) for v in row or ())

    def decisions(self, pid: int, query_id: int | None = None) -> pd.DataFrame:
        sql = "SELECT query_id, passage_id, decision, updated_at FROM decisions WHERE project_id = ?"
        params: list[Any] = [pid]
        if query_id is not None:
            sql += " AND query_id = ?"
            params.append(int(query_id))
        return self.df(sql + " ORDER BY query_id, passage_id", params)

    def mark_reviewed(self, pid: int, query_id: int, reviewed: bool = True) -> None:
        """Mark a query done (reviewed) or reopen it, as one undoable action (no version check)."""
        from embcore.store.review_actions import set_done

        set_done(self, pid, int(query_id), reviewed)

    def reviewed_query_ids(self, pid: int) -> set[int]:
        return {int(r[0]) for r in self.fetchall("SELECT query_id FROM query_review WHERE project_id = ?", [pid])}

    def edit_positive(self, pid: int, query_id: int, passage_id: int, new_text: str) -> int:
        """Replace one positive of a query by an edited text (stored as a new passage, origin 'edit').

        Returns:
            The id of the passage now holding the edited text.
        """
        from embcore.store.review_actions import edit_positive

        return edit_positive(self, pid, query_id, passage_id, new_text)[0]

    # ------------------------------------------------------------------ exports

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
        it was published under (``root_dir/current`` points to the newest version)."""
        with self.transaction():
            eid = int(
                self.fetchone(
                    "INSERT INTO exports (project_id, run_id, out_dir, config, counts, files, root_dir) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [pid, run_id, out_dir, _json(config), _json(counts), _json(files), root_dir],
                )[0]
            )
            frame = pd.DataFrame({"query_id": list(splits.keys()), "split": list(splits.values())})
            with self._frame("new_splits", frame):
                self.con.execute(
                    "INSERT INTO export_splits (export_id, query_id, split) SELECT ?, query_id, split FROM new_splits",
                    [eid],
                )
        return eid

    def exports(self, pid: int | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM exports"
        params: list[Any] = []
        if pid is not None:
            sql += " WHERE project_id = ?"
            params.append(pid)
        return self.df(sql + " ORDER BY id", params)

    # ------------------------------------------------------------------ caches

    def get_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached embeddings for (model, prompt, text hash); implements mining's EmbeddingCache."""
        if not len(hashes):
            return {}
        frame = pd.DataFrame({"h": list(dict.fromkeys(hashes))})
        with self._lock, self._frame("want_hashes", frame):
            rows = self.con.execute(
                "SELECT e.text_hash, e.vec FROM embeddings e JOIN want_hashes w ON w.h = e.text_hash "
                "WHERE e.model_id = ? AND e.prompt = ?",
                [model_id, prompt or ""],
            ).fetchnumpy()
        out: dict[str, np.ndarray] = {}
        for h, v in zip(rows["text_hash"], rows["vec"], strict=True):
            out[str(h)] = np.asarray(v, dtype=np.float32)
        return out

    def put_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        if not len(hashes):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        frame = pd.DataFrame({"h": list(hashes), "vec": list(vectors)}).drop_duplicates("h")
        with self.transaction(), self._frame("new_vecs", frame):
            self.con.execute(
                "INSERT INTO embeddings (model_id, prompt, text_hash, vec) "
                "SELECT ?, ?, h, vec::FLOAT[] FROM new_vecs ON CONFLICT DO NOTHING",
                [model_id, prompt or ""],
            )

    def get_teacher_scores(self, model_id: str, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], float]:
        if not pairs:
            return {}
        frame = pd.DataFrame(list(dict.fromkeys(pairs)), columns=["qh", "ph"])
        with self._lock, self._frame("want_pairs", frame):
            rows = self.con.execute(
                "SELECT t.query_hash, t.passage_hash, t.score FROM teacher_scores t "
                "JOIN want_pairs w ON w.qh = t.query_hash AND w.ph = t.passage_hash WHERE t.model_id = ?",
                [model_id],
            ).fetchall()
        return {(q, p): float(s) for q, p, s in rows}

    def put_teacher_scores(self, model_id: str, scores: dict[tuple[str, str], float]) -> None:
        if not scores:
            return
        frame = pd.DataFrame(
            [(q, p, float(s)) for (q, p), s in scores.items()], columns=["qh", "ph", "score"]
        )
        with self.transaction(), self._frame("new_scores", frame):
            self.con.execute(
                "INSERT INTO teacher_scores (model_id, query_hash, passage_hash, score) "
                "SELECT ?, qh, ph, score FROM new_scores ON CONFLICT DO NOTHING",
                [model_id],
            )

    def llm_cache_get(self, key: str) -> str | None:
        row = self.fetchone("SELECT response FROM llm_cache WHERE key = ?", [key])
        return None if row is None else str(row[0])

    def llm_cache_put(self, key: str, request: dict[str, Any] | str, response: str, model: str | None = None) -> None:
        req = request if isinstance(request, str) else _json(request)
        self.execute(
            "INSERT INTO llm_cache (key, model, request, response) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [key, model, req, response],
        )


def _labels(labels: Sequence[float | None], n: int) -> list[float | None]:
    labels = list(labels)
    return labels + [None] * (n - len(labels)) if len(labels) < n else labels[:n]


def _split_sql(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside our string literals)."""
    statements = []
    for chunk in sql.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        stmt = "\n".join(lines).strip()
        if stmt:
            statements.append(stmt)
    return statements
