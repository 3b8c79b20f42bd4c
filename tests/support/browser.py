"""Helpers of the real-browser tests:
a ``streamlit run app.py`` server on a free 127.0.0.1 port with its own DuckDB file, Debian's
Chromium driven by Playwright (no browser download), waits on the Review page, screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "embcore" / "data" / "sample_qa.csv"
SHOTS = ROOT / "docs" / "screenshots"
ALL_SHOTS = os.environ.get("EMBCORE_SCREENSHOTS", "") == "1"
CHROMIUM = os.environ.get("EMBCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_chromium() -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")


@contextmanager
def streamlit_server(db: Path, log_path: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``streamlit run app.py`` with ``EMBCORE_DB=db`` on a free port; yields its URL, stops it afterwards.

    ``env`` is merged over the server's environment (``EMBCORE_DB`` and ``PYTHONPATH`` included).
    """
    port = free_port()
    env = dict(os.environ, EMBCORE_DB=str(db), PYTHONPATH=str(ROOT)) | dict(env or {})
    log = open(log_path, "w")  # noqa: SIM115 - closed below
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
                    raise RuntimeError(log_path.read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def build_review_db(
    db: Path, name: str = "sample", strategies: str = "bm25", num_negatives: int = 4
) -> tuple[int, int]:
    """A DuckDB file holding the bundled sample as a project with one mining run (closed afterwards).

    ``strategies="hybrid"`` runs BM25 and dense retrieval with the fake ``HashingEncoder`` (real
    ranks and similarities, no model download), so both retrievers' columns are filled.
    """
    from embcore.mining.config import MiningConfig
    from embcore.store import Store
    from embcore.workflow import create_project, run_mining
    from support.encoders import HashingEncoder

    with Store(db) as store:
        pid = create_project(store, SAMPLE, name=name).project_id
        cfg = MiningConfig(strategies=strategies.split(","), relative_margin=None, near_duplicate_threshold=None,
                           num_negatives=num_negatives)  # fmt: skip
        return pid, run_mining(store, pid, cfg, encoder=HashingEncoder())


def review_state(db: Path) -> tuple[dict[tuple[int, int], str], dict[int, str]]:
    """(decisions ``{(query, passage): decision}``, reviewed ``{query: how}``) read from a stopped server's file."""
    from embcore.store import Store

    with Store(db, read_only=True) as store:
        decisions, reviewed = {}, {}
        for pid, _ in store.project_names():
            d = store.decisions(pid)
            decisions |= {
                (int(q), int(p)): str(x)
                for q, p, x in zip(d["query_id"], d["passage_id"], d["decision"], strict=True)
            }
            reviewed |= store.reviewed_states(pid)
    return decisions, reviewed


def idle(page) -> None:  # noqa: ANN001
    """Wait until the script run triggered by the last interaction has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)


def card_settled(page, timeout: float = 60_000) -> dict:  # noqa: ANN001
    """Wait until the Review page's candidate view has no key waiting and no event in flight;
    returns ``{qid, v, ack, sel}`` as drawn."""
    page.wait_for_function(
        "() => { const S = window.__embcoreReview; return S && S.data && !S.pending && S.queue.length === 0; }",
        timeout=timeout,
    )
    return page.evaluate(
        "() => { const S = window.__embcoreReview; return {qid: S.data.qid, v: S.data.v, ack: S.data.ack, sel: S.sel}; }"
    )


def open_review(page, url: str, reviewer: str = "tester") -> dict:  # noqa: ANN001
    """Open the Review page as ``reviewer`` (the name kept in the page address) and wait for the candidate view."""
    page.goto(f"{url}/review?reviewer={reviewer}")
    page.locator('[data-testid="review-card"]').wait_for(timeout=120_000)
    idle(page)
    return card_settled(page)


def press(page, keys: list[str], gap_ms: int) -> None:  # noqa: ANN001
    """Press keys with ``gap_ms`` between them; ``gap_ms=0``: wait until each is drawn (a slow typist)."""
    for key in keys:
        page.keyboard.press(key)
        if gap_ms:
            page.wait_for_timeout(gap_ms)
        else:
            card_settled(page)
    card_settled(page)


def card_rows(page) -> list[dict]:  # noqa: ANN001
    """The candidate rows as drawn (pid, section, decision, selected), read from the table's DOM."""
    return page.evaluate(
        """() => Array.from(window.__embcoreReview.root.querySelectorAll('tr.row')).map((tr) => ({
              pid: Number(tr.dataset.pid), section: tr.dataset.section, decision: tr.dataset.decision || null,
              selected: tr.classList.contains('sel')}))"""
    )


def shot(page, name: str, keep_in: Path | None = None) -> Path | None:  # noqa: ANN001
    """Screenshot of the page from its top (Streamlit scrolls its main block, not the window).

    Written to ``docs/screenshots/`` with ``EMBCORE_SCREENSHOTS=1`` (the documentation's pictures),
    else to ``keep_in`` when given (a test's own folder: a test run never rewrites the docs), else
    not at all. Returns the file written, if any.
    """
    folder = SHOTS if ALL_SHOTS else keep_in
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path
