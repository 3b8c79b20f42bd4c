"""The store's shape (issue 11.1): one connection owner, one mixin per concern, SQL as named
statements in ``embcore/store/sql``, no two concerns answering to the same name."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from embcore.store import Store
from embcore.store.connection import Connection

STORE = Path(__file__).resolve().parents[2] / "embcore" / "store"
CONCERNS = (
    "projects", "runs", "candidates", "decisions", "reviewers", "queues", "search", "exports", "caches", "status",
    "sources",
)  # fmt: skip


def _mixin(name: str) -> type:
    module = importlib.import_module(f"embcore.store.{name}")
    [cls] = [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__
             and issubclass(c, Connection)]  # fmt: skip
    return cls


def test_every_concern_is_part_of_the_store_and_owns_its_names() -> None:
    owner: dict[str, str] = {}
    for name in CONCERNS:
        cls = _mixin(name)
        assert issubclass(Store, cls), name
        for attr in vars(cls):
            if not attr.startswith("_"):
                assert attr not in owner, f"{attr} is defined by both {owner[attr]} and {name}"
                owner[attr] = name
    assert not set(owner) & set(vars(Connection)), "a concern shadows the connection"


@pytest.mark.parametrize("name", CONCERNS)
def test_a_concern_reaches_duckdb_only_through_the_connection(name: str) -> None:
    tree = ast.parse((STORE / f"{name}.py").read_text(encoding="utf-8"))
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "duckdb" not in imports
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "_con"]


@pytest.mark.parametrize("name", CONCERNS)
def test_statements_are_named_constants(name: str) -> None:
    module = importlib.import_module(f"embcore.store.sql.{name}")
    names = [n for n in vars(module) if not n.startswith("_") and n.isupper()]
    assert names, f"embcore/store/sql/{name}.py holds no statement"
    tree = ast.parse((STORE / "sql" / f"{name}.py").read_text(encoding="utf-8"))
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)], "statements only"


def test_no_raw_sql_entry_points_on_the_store() -> None:
    # tests and callers use named methods; the statement helpers are the store's own
    for raw in ("execute", "fetchall", "fetchone", "df", "con"):
        assert not hasattr(Store, raw), raw
