"""End to end in a real headless Chromium: upload the sample CSV, mine, accept one candidate,
reject one, score the candidates with the teacher, preview and add EDA copies, export, check the
JSONL; saves a screenshot of the review page.

The server (``streamlit run app.py`` on a free 127.0.0.1 port with a temporary ``EMBCORE_DB``)
is the ``server`` fixture of ``conftest.py``; Debian's ``/usr/bin/chromium`` is driven through
Playwright (no browser download). With ``EMBCORE_SCREENSHOTS=1`` it also refreshes the screenshot
of every page in docs/screenshots/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.browser import ALL_SHOTS, CHROMIUM, CHROMIUM_ARGS, SAMPLE
from support.browser import idle as _idle
from support.browser import shot as _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _rows(page):  # noqa: ANN001, ANN202
    """The candidate rows of the Review page's candidate view (main list, not the filtered ones)."""
    return page.locator('[data-testid="review-card"] tr.row:not([data-section="filtered"])')


def test_upload_mine_review_export(server: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, db = server
    out = tmp_path / "export"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1350})
        page.set_default_timeout(120_000)
        # 1. Data: upload the sample, keep the suggested mapping, create the project
        page.goto(url)
        page.get_by_text("New project").wait_for()
        # a fresh database opens on the bundled sample; the test uploads the file like a user would
        _idle(page)
        page.get_by_test_id("stRadioGroup").get_by_text("Upload a file", exact=True).click()
        _idle(page)
        page.locator('input[type="file"]').set_input_files(str(SAMPLE))
        page.get_by_text("Field mapping").wait_for()
        _idle(page)
        page.get_by_role("button", name="Create project").click()
        page.get_by_text("created with").wait_for()
        _idle(page)
        _shot(page, "data")
        # 2. Mine with the default settings (hybrid BM25 + bundled model), in the background
        page.get_by_role("link", name="Mine").click()
        page.get_by_role("button", name="Start mining").click()
        page.get_by_text("finished. Review its candidates").wait_for(timeout=600_000)
        _idle(page)
        _shot(page, "mine")
        # 3. Review: keyboard navigation, then accept one candidate and reject another
        page.get_by_role("link", name="Review").click()
        page.get_by_label("Your name").fill("Analyst")  # first visit: the reviewer's name
        page.get_by_role("button", name="Start reviewing").click()
        page.locator('[data-testid="review-card"]').wait_for()
        _idle(page)
        page.get_by_text("Query 1 /").wait_for()
        page.locator("body").press("j")
        page.get_by_text("Query 2 /").wait_for()
        page.locator("body").press("k")
        page.get_by_text("Query 1 /").wait_for()
        _idle(page)
        query = page.locator('[data-testid="review-card"] .rv-query').inner_text()
        rows = _rows(page)
        accepted = rows.nth(0).locator(".clamp").inner_text()
        rows.nth(0).get_by_role("button", name="✓ Accept").click()
        page.get_by_text("1 accepted").wait_for()
        _idle(page)
        rejected = _rows(page).nth(1).locator(".clamp").inner_text()
        _rows(page).nth(1).get_by_role("button", name="✗ Reject").click()
        page.get_by_text("1 rejected").wait_for()
        _idle(page)
        review_png = _shot(page, "review", keep_in=tmp_path)
        if ALL_SHOTS:
            page.get_by_role("link", name="Similarity").click()
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=300_000)
            _idle(page)
            page.wait_for_timeout(1500)
            _shot(page, "similarity")
        # 4. Augment & scores: teacher scores of the run, then EDA copies, both in the background
        page.get_by_role("link", name="Augment & scores").click()
        page.get_by_role("tab", name="Teacher scores").click()
        page.get_by_role("button", name="Score candidates").click()
        page.get_by_text("pairs. Review shows the teacher").wait_for(timeout=600_000)
        _idle(page)
        page.get_by_role("tab", name="Augmentation").click()
        page.get_by_role("button", name="Preview EDA samples").click()
        add = page.get_by_role("button", name=re.compile(r"^Add \d+ samples$"))
        add.wait_for(timeout=300_000)
        _idle(page)
        add.click()
        page.get_by_text("generated items.").wait_for(timeout=300_000)
        page.get_by_text("Augmented and generated items").wait_for()
        _idle(page)
        page.wait_for_timeout(1000)
        _shot(page, "augment")
        # 5. Export into a known folder
        page.get_by_role("link", name="Export").click()
        field = page.get_by_label("Output folder")
        field.fill(str(out))
        field.press("Enter")
        _idle(page)
        page.get_by_role("button", name="Export", exact=True).click()
        page.get_by_text("written to").wait_for()
        _idle(page)
        _shot(page, "export")
        if ALL_SHOTS:
            page.get_by_role("link", name="Train & evaluate").click()
            page.get_by_label("Test queries evaluated (0 = all)").fill("20")
            page.get_by_label("Test queries evaluated (0 = all)").press("Enter")
            _idle(page)
            page.get_by_role("button", name="Evaluate").click()
            page.get_by_text("finished and recorded").wait_for(timeout=300_000)
            _idle(page)
            page.wait_for_timeout(1500)
            _shot(page, "train")
        browser.close()

    # 6. the files hold the reviewer's decisions
    records = {}
    for split in ("train", "val", "test"):
        for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            records[rec["query"]] = rec
    assert query in records
    # the accepted one first; undecided candidates keep the run's automatic selection (issue 10.1)
    assert records[query]["neg"][0] == accepted
    assert rejected not in records[query]["neg"]
    assert (out / "eval" / "corpus.jsonl").is_file() and (out / "manifest.json").is_file()
    assert review_png is not None and review_png.is_file()
