"""End to end in a real headless Chromium: upload the sample CSV, mine, accept one candidate,
reject one, score the candidates with the teacher, add EDA copies, export, check the JSONL;
saves a screenshot of the review page.

Starts ``streamlit run app.py`` on a free 127.0.0.1 port with a temporary ``EMBCORE_DB`` and
drives Debian's ``/usr/bin/chromium`` through Playwright (no browser download). With
``EMBCORE_SCREENSHOTS=1`` it also refreshes the screenshot of every page in docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "embcore" / "data" / "sample_qa.csv"
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("EMBCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
ALL_SHOTS = os.environ.get("EMBCORE_SCREENSHOTS", "") == "1"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``streamlit run app.py`` on a free port; yields (url, DuckDB path) and stops it afterwards."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    port = _free_port()
    db = tmp_path / "e2e.duckdb"
    env = dict(os.environ, EMBCORE_DB=str(db), PYTHONPATH=str(ROOT))
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp_path / "server.log").read_text()) from None
                time.sleep(0.2)
        yield url, db
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _idle(page) -> None:  # noqa: ANN001
    """Wait until the script run triggered by the last interaction has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)


def _shot(page, name: str, always: bool = False) -> None:  # noqa: ANN001
    """Screenshot of the page from its top (Streamlit scrolls its main block, not the window)."""
    if always or ALL_SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def _cards(page):  # noqa: ANN001, ANN202
    """The candidate cards of the Review page (keyed containers ``card-<query>-<passage>-<list>``)."""
    return page.locator('[class*="st-key-card-"]')


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
        page.get_by_text("BM25 candidates").wait_for()
        _idle(page)
        page.get_by_text("Query 1 /").wait_for()
        page.locator("body").press("j")
        page.get_by_text("Query 2 /").wait_for()
        page.locator("body").press("k")
        page.get_by_text("Query 1 /").wait_for()
        _idle(page)
        query = page.locator('[data-testid="stText"]').first.inner_text()
        cards = _cards(page)
        accepted = cards.nth(0).locator('[data-testid="stText"]').inner_text()
        cards.nth(0).get_by_role("button", name="Accept", exact=True).click()
        page.get_by_text("1 accepted").wait_for()
        _idle(page)
        rejected = None
        for i in range(_cards(page).count()):
            card = _cards(page).nth(i)
            text = card.locator('[data-testid="stText"]').inner_text()
            if text != accepted:
                rejected = text
                card.get_by_role("button", name="Reject", exact=True).click()
                break
        assert rejected is not None
        page.get_by_text("1 rejected").wait_for()
        _idle(page)
        _shot(page, "review", always=True)
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
        page.get_by_role("button", name="Run EDA").click()
        page.get_by_text("source samples.").wait_for(timeout=300_000)
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
    assert (SHOTS / "review.png").is_file()
