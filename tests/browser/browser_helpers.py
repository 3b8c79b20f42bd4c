"""Helpers shared by the real-browser tests (imported by name: ``from browser_helpers import ...``).

The server: ``streamlit run app.py`` on a free 127.0.0.1 port with a temporary ``EMBCORE_DB``;
the browser: Debian's ``/usr/bin/chromium`` through Playwright (never a downloaded browser).
"""

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
CHROMIUM = os.environ.get("EMBCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
ALL_SHOTS = os.environ.get("EMBCORE_SCREENSHOTS", "") == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_chromium() -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")


@contextmanager
def app_server(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """``streamlit run app.py`` on a free port; yields (url, DuckDB path) and stops it afterwards.

    ``env`` is merged over the server's environment (``EMBCORE_DB`` and ``PYTHONPATH`` included).
    """
    require_chromium()
    port = free_port()
    db = tmp_path / "e2e.duckdb"
    full_env = dict(os.environ, EMBCORE_DB=str(db), PYTHONPATH=str(ROOT)) | dict(env or {})
    log_path = tmp_path / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
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
        yield url, db
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def idle(page) -> None:  # noqa: ANN001
    """Wait until the script run triggered by the last interaction has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)


def shot(page, name: str, always: bool = False) -> None:  # noqa: ANN001
    """Screenshot of the page from its top (Streamlit scrolls its main block, not the window)."""
    if always or ALL_SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
