"""Fixtures for the AppTest page tests: a temporary DuckDB file per test, a project from the
bundled sample (or a tiny CSV), a fast BM25 mining run, and an AppTest on ``app.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.app import ROOT, SAMPLE, TINY_CSV, AppTest, make_project

from app_pages._common import K, _open_store
from embcore.store import Store


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh DuckDB file, made the app's database through ``$EMBCORE_DB``."""
    path = (tmp_path / "embcore.duckdb").resolve()
    monkeypatch.setenv("EMBCORE_DB", str(path))
    yield path
    try:
        _open_store(str(path)).close()
    except Exception:  # noqa: BLE001 - already closed / never opened
        pass
    _open_store.clear()


@pytest.fixture
def store(db_path: Path) -> Store:
    """The very Store object the app uses (same process, same cached resource)."""
    return _open_store(str(db_path))


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_CSV, encoding="utf-8")
    return path


@pytest.fixture
def sample_project(store: Store) -> tuple[int, int]:
    return make_project(store, SAMPLE)


@pytest.fixture
def new_app(db_path: Path) -> Callable[..., AppTest]:
    """``new_app(page=None, project=None, reviewer="tester")``: an AppTest on app.py, optionally on a page and
    a project, as a reviewer who already gave a name (``reviewer=None``: none yet)."""

    def _make(
        page: str | None = None,
        project: int | None = None,
        encoder: object | None = None,
        reviewer: str | None = "tester",
    ) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        if project is not None:
            at.session_state[K.PROJECT] = project
        if reviewer is not None:  # the name a reviewer types at first visit (Review, Agreement)
            at.session_state[K.REVIEWER] = reviewer
        if encoder is not None:
            at.session_state[K.ENCODER] = encoder
        at.run()
        if page is not None:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _make
