"""The Data page in a real headless Chromium: user strings in the mapping notes never render as
Markdown, links or KaTeX (issue 9.14), a guessed mapping waits for a confirmation (issue 9.8), and
the data profile draws its charts (issue 10.13). Uses the server fixture of ``conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.browser import idle as _idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EVIL_LINK = "[x](http://evil)"
EVIL_TEX = r"$\href{http://evil}{click}$"


def _evil_csv(path: Path) -> Path:
    rows = [
        f'"What was the revenue of unit {i}?","Unit {i} had a revenue of {i} million dollars in 2023.",AA{i % 3}'
        for i in range(30)
    ]
    path.write_text("\n".join([f'"{EVIL_LINK}","{EVIL_TEX}",code', *rows]) + "\n", encoding="utf-8")
    return path


def test_evil_column_names_render_as_plain_text(server: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1350})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.get_by_text("New project").wait_for()
        _idle(page)
        page.get_by_test_id("stRadioGroup").get_by_text("Upload a file", exact=True).click()
        _idle(page)
        page.locator('input[type="file"]').set_input_files(str(_evil_csv(tmp_path / "evil.csv")))
        page.get_by_text("Field mapping").wait_for()
        _idle(page)
        main = page.get_by_test_id("stMain")
        main.get_by_text("Query column").first.wait_for()
        # nothing became a link to the evil host or a KaTeX formula
        assert page.locator('a[href*="evil"]').count() == 0
        assert page.locator(".katex, .katex-html").count() == 0
        # the notes hold the names literally, as text
        note = main.get_by_test_id("stText").filter(has_text="guessed '[x](http://evil)'")
        assert note.count() == 1
        assert main.get_by_test_id("stText").filter(has_text=r"\href{http://evil}{click}").count() == 1
        # the guess needs a confirmation before a project can be created
        assert page.get_by_role("button", name="Create project").count() == 0
        page.get_by_text("The query and positive columns are right").click()
        _idle(page)
        assert page.get_by_role("button", name="Create project").count() == 1
        # the profile draws the waterfall and the length histograms
        page.get_by_text("Data profile: columns, lengths, duplicates").click()
        _idle(page)
        page.get_by_text("Why N rows became M samples").wait_for()
        assert page.locator(".js-plotly-plot").count() == 2
        assert page.locator('a[href*="evil"]').count() == 0 and page.locator(".katex").count() == 0
        browser.close()
