"""The one owner of the DuckDB connection: path checks, connect, migrations, the lock, transactions.

Every concern module of the store (projects, runs, candidates, decisions, exports, caches,
status) is a mixin over :class:`Connection` and reaches DuckDB only through its private
helpers (:meth:`Connection._fetchall` and friends), so that every statement runs under the
same re-entrant lock and joins the current transaction.

Thread safety: one store may be shared by the threads of one process (the Streamlit server
serves every browser tab from one process); every statement runs under the lock, and every
multi-statement write runs in a transaction, so two tabs cannot interleave half-written
changes. A second *process* opening the same file for writing gets a
:class:`~embcore.errors.StoreBusyError` with a clear message.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError, StoreBusyError
from embcore.store.sql import connection as sql

log = logging.getLogger(__name__)

# A DuckDB database file: an 8-byte checksum, then the magic bytes "DUCK".
_DUCKDB_MAGIC = b"DUCK"


def default_db_path() -> Path:
    """The app's default DuckDB file: ``$EMBCORE_DB`` or ``./data/embcore.duckdb``."""
    return Path(os.environ.get("EMBCORE_DB", "data/embcore.duckdb"))


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
        raise EmbcoreError(
            f"{p}: exists and is not a DuckDB database ({kind}); choose another path for the database"
        )


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


def migration_files() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every ``store/migrations/NNN_name.sql`` file, in order."""
    out = []
    folder = resources.files("embcore.store") / "migrations"
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), name[:-4], entry.read_text(encoding="utf-8")))
    return sorted(out)


def split_statements(script: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside our string literals)."""
    statements = []
    for chunk in script.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        stmt = "\n".join(lines).strip()
        if stmt:
            statements.append(stmt)
    return statements


# --------------------------------------------------------------------------- JSON columns


def to_json(value: Any) -> str | None:
    """A value for a JSON column (numpy numbers, arrays, datetimes and paths included)."""
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


def from_json(value: Any) -> Any:
    """The value of a JSON column as read (a NULL that pandas turned into NaN is None)."""
    if value is None or isinstance(value, dict | list):
        return value
    if isinstance(value, float):
        return None
    return json.loads(value)


def meta_dict(value: Any) -> dict[str, Any]:
    """A metadata column as a dict ({} when NULL or not an object)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


# --------------------------------------------------------------------------- the connection


class Connection:
    """One DuckDB file (or ``":memory:"``): opened, checked and migrated; the lock and transactions.

    Args:
        path: the database file (created with its folder when missing) or ``":memory:"``.
        read_only: open without writing (no migrations).

    Raises:
        EmbcoreError: the path is not a usable DuckDB file or its folder cannot be created.
        StoreBusyError: another process holds the file open for writing.
    """

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if self.path != ":memory:":
            check_db_path(self.path)
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbcoreError(f"{self.path}: cannot create its folder ({exc.strerror or exc})") from exc
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
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
            self._con.close()
            raise EmbcoreError(
                f"{self.path}: DuckDB opened this as a data file, not as a database file; use a .duckdb path"
            )
        self._lock = threading.RLock()
        self._in_tx = 0
        if not read_only:
            self.migrate()

    def _file_backed(self) -> bool:
        """True when the connection's database really is the file (not an in-memory database).

        DuckDB opens an existing ``.csv`` / ``.json`` / ``.parquet`` path as an in-memory
        database with a view over the file: nothing written would ever reach a file.
        """
        row = self._con.execute(sql.DATABASE_PATH).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ statements (store modules only)

    def _execute(self, statement: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement and consume its result (an open result blocks DuckDB's ``register``)."""
        with self._lock:
            self._con.execute(statement, params or []).fetchall()

    def _fetchall(self, statement: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self._lock:
            return self._con.execute(statement, params or []).fetchall()

    def _fetchone(self, statement: str, params: Sequence[Any] | None = None) -> tuple | None:
        with self._lock:
            rows = self._con.execute(statement, params or []).fetchall()
        return rows[0] if rows else None

    def _scalar(self, statement: str, params: Sequence[Any] | None = None) -> Any:
        """The first column of the first row (None when there is no row)."""
        row = self._fetchone(statement, params)
        return None if row is None else row[0]

    def _df(self, statement: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        with self._lock:
            return self._con.execute(statement, params or []).df()

    def _fetchnumpy(self, statement: str, params: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        with self._lock:
            return self._con.execute(statement, params or []).fetchnumpy()

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
            self._con.execute(sql.BEGIN)
            self._in_tx = 1
            try:
                yield
            except BaseException:
                self._con.execute(sql.ROLLBACK)
                raise
            else:
                self._con.execute(sql.COMMIT)
            finally:
                self._in_tx = 0

    @contextmanager
    def _frame(self, name: str, frame: pd.DataFrame) -> Iterator[None]:
        """Make a DataFrame readable as table ``name`` for the statements of the block."""
        with self._lock:
            self._con.register(name, frame)
            try:
                yield
            finally:
                self._con.unregister(name)

    # ------------------------------------------------------------------ migrations

    def schema_version(self) -> int:
        """The newest migration applied (0 for a database without any)."""
        if not self._scalar(sql.HAS_MIGRATIONS_TABLE):
            return 0
        return int(self._scalar(sql.SCHEMA_VERSION) or 0)

    def applied_migrations(self) -> list[tuple[int, str]]:
        """``(version, name)`` of every migration recorded in the file, in order."""
        if not self._scalar(sql.HAS_MIGRATIONS_TABLE):
            return []
        return [(int(v), str(n)) for v, n in self._fetchall(sql.APPLIED_MIGRATIONS)]

    def table_names(self) -> set[str]:
        """The names of the database's tables."""
        return {str(r[0]) for r in self._fetchall(sql.TABLE_NAMES)}

    def migrate(self) -> list[str]:
        """Apply every migration the file has not recorded yet, in order, each in its own transaction."""
        applied = []
        with self._lock:
            self._con.execute(sql.CREATE_MIGRATIONS_TABLE)
            done = {int(r[0]) for r in self._con.execute(sql.MIGRATION_VERSIONS).fetchall()}
            for version, name, script in migration_files():
                if version in done:  # any missing one is applied, even below the newest (merged branches)
                    continue
                with self.transaction():
                    for statement in split_statements(script):
                        self._con.execute(statement)
                    self._con.execute(sql.RECORD_MIGRATION, [version, name])
                applied.append(name)
                log.info("applied migration %s to %s", name, self.path)
        return applied

    def all_values(self) -> Iterator[str]:
        """Every value stored in every table, as text (for audits: no secret may ever be stored)."""
        for table in sorted(self.table_names()):
            for row in self._fetchall(sql.ALL_ROWS.format(table=table.replace('"', '""'))):
                for value in row:
                    yield str(value)
