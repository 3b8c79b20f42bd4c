"""Fixtures for the AppTest page tests: a temporary DuckDB file per test, a project from the
bundled sample (or a tiny CSV), a fast BM25 mining run, and an AppTest on ``app.py``."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package may not be pip-installed in a fresh checkout
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from embcore.mining.config import MiningConfig  # noqa: E402
from embcore.store import Store  # noqa: E402
from embcore.workflow import create_project, run_mining  # noqa: E402
from pages._common import K, _open_store  # noqa: E402

SAMPLE = ROOT / "embcore" / "data" / "sample_qa.csv"

TINY_CSV = (
    "question,context,ticker\n"
    "What was Acme revenue in 2024?,Acme revenue was $4.8 billion in 2024.,ACME\n"
    "What was Acme revenue in 2023?,Acme revenue was $4.5 billion in 2023.,ACME\n"
    "Who leads Acme?,Jane Roe is the chief executive officer of Acme.,ACME\n"
    "What does Beta sell?,Beta sells industrial pumps and valves.,BETA\n"
    "How many employees does Beta have?,Beta had 12000 employees at year end.,BETA\n"
    "What is Beta's dividend?,Beta pays a quarterly dividend of $0.40 per share.,BETA\n"
    "Is <script>alert(1)</script> **bold** here?,A passage with <b>html</b> and # markdown [link](http://x).,GAMMA\n"
    "What risks does Gamma face?,Gamma faces currency risk and supplier concentration risk.,GAMMA\n"
)

BM25_FAST = {"strategies": ["bm25"], "relative_margin": None, "near_duplicate_threshold": None, "num_negatives": 3}


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


def make_project(store: Store, source: Path, name: str = "sample", **mining: object) -> tuple[int, int]:
    """A project from ``source`` and one fast BM25 run; returns (project id, run id)."""
    info = create_project(store, source, name=name)
    cfg = MiningConfig(**(BM25_FAST | mining))  # type: ignore[arg-type]
    return info.project_id, run_mining(store, info.project_id, cfg)


@pytest.fixture
def sample_project(store: Store) -> tuple[int, int]:
    return make_project(store, SAMPLE)


@pytest.fixture
def new_app(db_path: Path) -> Callable[..., AppTest]:
    """``new_app(page=None, project=None)``: an AppTest on app.py, optionally on a page and a project."""

    def _make(page: str | None = None, project: int | None = None, encoder: object | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        if project is not None:
            at.session_state[K.PROJECT] = project
        if encoder is not None:
            at.session_state[K.ENCODER] = encoder
        at.run()
        if page is not None:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _make


def wait_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 60.0) -> AppTest:
    """Rerun the app until ``done(at)`` (a background job finished) or fail after ``timeout`` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if done(at):  # the last run may already show the outcome (shown once, then forgotten)
            return at
        time.sleep(0.2)
        at.run()
    raise AssertionError("the app did not reach the expected state in time")


def unescape(text: str) -> str:
    """Undo :func:`pages._ui.esc` (Markdown backslash escapes) for assertions."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(elements: object) -> list[str]:
    """The (unescaped) texts of a list of elements (st.error, st.info, st.caption ...)."""
    return [unescape(str(e.value)) for e in elements]  # type: ignore[attr-defined]
