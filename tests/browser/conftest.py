"""Fixtures of the real-browser tests (helpers live in ``browser_helpers.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, build_review_db, need_chromium, streamlit_server


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra environment of the app server (a test module overrides this fixture to change it)."""
    return {}


@pytest.fixture
def server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """A server on a fresh database; yields (url, DuckDB path)."""
    need_chromium()
    db = tmp_path / "e2e.duckdb"
    with streamlit_server(db, tmp_path / "server.log", server_env) as url:
        yield url, db


@pytest.fixture
def review_server(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """``start(name, **build)``: a server on a new database holding the sample project, mined
    (see :func:`browser_helpers.build_review_db`; BM25 by default).

    Several servers may be started in one test (each its own database); all stop at the end.
    The test reads the database after stopping its server (``stop(name)``): DuckDB lets one
    process write a file at a time.
    """
    need_chromium()
    running: dict[str, object] = {}

    def start(name: str, **build: object) -> tuple[str, Path]:
        db = tmp_path / f"{name}.duckdb"
        build_review_db(db, **build)  # type: ignore[arg-type]
        cm = streamlit_server(db, tmp_path / f"{name}.log")
        url = cm.__enter__()
        running[name] = cm
        return url, db

    def stop(name: str) -> None:
        cm = running.pop(name, None)
        if cm is not None:
            cm.__exit__(None, None, None)

    start.stop = stop  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for name in list(running):
            stop(name)


@pytest.fixture
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    need_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
