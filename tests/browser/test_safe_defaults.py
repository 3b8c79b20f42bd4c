"""Safe defaults in a real browser: with no LLM endpoint configured, the Augment page's LLM
section is disabled and says why, and the server makes no outgoing request (every DNS lookup or
connection the app server makes is recorded by a ``sitecustomize`` hook and refused)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, ROOT
from support.browser import idle as _idle
from support.browser import shot as _shot

from embcore.augment.llm import NO_ENDPOINT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# installed in the app server's interpreter: record and refuse any non-loopback lookup/connection
NETWORK_HOOK = """
import json, os, socket

_LOG = os.environ["EMBCORE_NETLOG"]
_LOCAL = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}
_getaddrinfo, _connect = socket.getaddrinfo, socket.socket.connect


def _record(what, host):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"call": what, "host": str(host)}) + "\\n")


def getaddrinfo(host, *args, **kwargs):
    h = host.decode() if isinstance(host, bytes) else host
    if h is not None and str(h) not in _LOCAL:
        _record("getaddrinfo", h)
        raise socket.gaierror(socket.EAI_NONAME, "blocked by the test")
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6) and str(host) not in _LOCAL:
        _record("connect", host)
        raise ConnectionRefusedError("blocked by the test")
    return _connect(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
_record("loaded", "")
"""


@pytest.fixture
def netlog(tmp_path: Path) -> Path:
    return tmp_path / "network.jsonl"


@pytest.fixture
def server_env(tmp_path: Path, netlog: Path) -> dict[str, str]:
    """No OPENAI_* variable, and the network hook on the server's path."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NETWORK_HOOK, encoding="utf-8")
    env = {k: "" for k in os.environ if k.startswith("OPENAI_")}
    return env | {"PYTHONPATH": f"{hook}{os.pathsep}{ROOT}", "EMBCORE_NETLOG": str(netlog)}


def test_llm_section_is_off_without_an_endpoint(server: tuple[str, Path], netlog: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, _db = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        page.set_default_timeout(120_000)
        # a project from the bundled sample (a fresh database opens on it)
        page.goto(url)
        page.get_by_text("New project").wait_for()
        _idle(page)
        page.get_by_role("button", name="Create project").click()
        page.get_by_text("created with").wait_for()
        _idle(page)
        # the Augment page: the LLM section is disabled and says why, in app language
        page.get_by_role("link", name="Augment & scores").click()
        page.get_by_role("tab", name="Augmentation").click()
        _idle(page)
        info = page.get_by_text(NO_ENDPOINT)
        expect(info).to_be_visible()
        assert "--" not in info.inner_text()
        endpoint = page.get_by_role("textbox", name="Endpoint base URL")
        expect(endpoint).to_have_value("")
        expect(endpoint).to_be_enabled()
        assert "api.openai.com" not in (endpoint.get_attribute("placeholder") or "")
        tasks = page.locator('[class*="st-key-w-aug-llm_tasks"] input')
        expect(tasks).to_be_disabled()
        expect(page.get_by_role("textbox", name="Model", exact=True)).to_be_disabled()
        start = page.get_by_role("button", name="Preview LLM generations")
        expect(start).to_be_disabled()
        start.click(force=True)  # a click on the disabled button does nothing
        _idle(page)
        # the sidebar shows where the project stands (Data done, Mine next)
        stepper = page.locator('[class*="st-key-progress_stepper"]')
        expect(stepper).to_contain_text("Where this project stands")
        expect(stepper).to_contain_text(re.compile(r"Data · \d+ samples"))
        expect(stepper).to_contain_text("Mine · no run yet")
        _shot(page, "augment_llm_off")
        # an endpoint typed on purpose turns the section on
        endpoint.fill("http://127.0.0.1:9/v1")
        endpoint.press("Enter")
        _idle(page)
        expect(page.get_by_text(NO_ENDPOINT)).to_have_count(0)
        expect(tasks).to_be_enabled()
        browser.close()
    calls = [json.loads(line) for line in netlog.read_text().splitlines()]
    assert calls[0] == {"call": "loaded", "host": ""}, "the server ran with the network hook"
    outgoing = [c for c in calls if c["call"] != "loaded"]
    assert outgoing == [], f"the app server tried to reach the network: {outgoing}"
