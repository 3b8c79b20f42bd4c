"""The Queries page in a real headless Chromium: the keyboard (J/K/A/X/E) reviews generated queries.

The project (documents from tests/fixtures/docs, fake encoder) is made before the app first opens the
database; the app shows each verdict after the key press, read back from DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, ROOT
from support.browser import idle as _idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _make_project(db: Path) -> list[str]:
    from support.encoders import HashingEncoder

    from embcore.ingest.documents import read_documents
    from embcore.ingest.prepare import DocsConfig, prepare_documents
    from embcore.ingest.quality import GateConfig
    from embcore.store import Store
    from embcore.workflow import create_source_project

    prepared = prepare_documents(
        read_documents(ROOT / "tests" / "fixtures" / "docs"),
        DocsConfig(gate=GateConfig(roundtrip="bm25", k=3)),
    )
    with Store(db) as store:
        pid = create_source_project(store, prepared, name="docs", encoder=HashingEncoder()).project_id
        return [str(t) for t in store.generated_queries(pid)["text"]]


def test_keyboard_review_of_generated_queries(server: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    url, db = server
    texts = _make_project(db)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/queries")
        main = page.get_by_test_id("stMain")
        main.get_by_text("Query 1 of").wait_for()
        _idle(page)
        assert main.get_by_test_id("stText").first.inner_text() == texts[0]

        def press(key: str) -> None:
            main.get_by_role("heading", name="Query", exact=True).click()  # focus out of any input
            page.keyboard.press(key)
            _idle(page)

        press("x")  # reject -> the next query is shown
        main.get_by_text("Query 2 of").wait_for()
        press("k")  # back to the first: rejected
        main.get_by_text("Query 1 of").wait_for()
        assert main.get_by_text("rejected").count() >= 1
        press("a")  # accept -> next
        main.get_by_text("Query 2 of").wait_for()
        press("k")
        main.get_by_text("accepted").first.wait_for()
        press("j")
        main.get_by_text("Query 2 of").wait_for()
        press("e")  # the edit box opens
        box = main.get_by_label("Edited query")
        box.wait_for()
        box.fill("What does Acme manufacture?")
        main.get_by_role("button", name="Save the edit").click()
        _idle(page)
        main.get_by_text("What does Acme manufacture?").first.wait_for()
        assert main.get_by_text("edited; originally:").count() == 1
        browser.close()
