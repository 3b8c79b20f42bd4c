"""Helpers of the AppTest page tests: the sample project, a fast BM25 run, reading the review card."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from embcore.mining.config import MiningConfig
from embcore.store import Store
from embcore.workflow import create_project, run_mining

ROOT = Path(__file__).resolve().parents[2]

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

BM25_FAST = {
    "strategies": ["bm25"],
    "relative_margin": None,
    "near_duplicate_threshold": None,
    "num_negatives": 3,
}


def make_project(store: Store, source: Path, name: str = "sample", **mining: object) -> tuple[int, int]:
    """A project from ``source`` and one fast BM25 run; returns (project id, run id)."""
    info = create_project(store, source, name=name)
    cfg = MiningConfig(**(BM25_FAST | mining))  # type: ignore[arg-type]
    return info.project_id, run_mining(store, info.project_id, cfg)


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
    """Undo :func:`app_pages._ui.esc` (Markdown backslash escapes) for assertions."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(elements: object) -> list[str]:
    """The (unescaped) texts of a list of elements (st.error, st.info, st.caption ...)."""
    return [unescape(str(e.value)) for e in elements]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the Review page's candidate view


def card_data(at: AppTest) -> dict:
    """What the Review page's candidate view (a v2 component) was drawn with: qid, v, rows, tops..."""
    import json

    [comp] = at.get("bidi_component")
    return json.loads(comp.proto.json)


def card_event(at: AppTest, op: str, **event: object) -> AppTest:
    """Send one event of the candidate view exactly as its JavaScript does after a key press or a
    row button (``op`` = decide / rest / done / undo / nav, plus ``pid``, ``d``, ``to``), naming the
    query and version it was drawn with unless given; then rerun like the browser would."""
    import json

    from streamlit.components.v2.bidi_component.main import _make_trigger_id

    data = card_data(at)
    [comp] = at.get("bidi_component")
    seq = (
        int(at.session_state["embcore.review.card_ack"]) + 1
        if "embcore.review.card_ack" in at.session_state
        else 1
    )
    payload = {"seq": seq, "op": op, "qid": data["qid"], "v": data["v"]} | dict(event)
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = _make_trigger_id(comp.proto.id, "events")
    w.json_trigger_value = json.dumps([{"event": "act", "value": payload}])
    return at._run(states)
