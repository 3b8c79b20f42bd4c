"""The Review page's candidate view: a Streamlit v2 component (``assets/review_card.js``) and the
handler of its events.

The component draws the query, its positives and every candidate as one compact table (data
from :func:`embcore.review.view.card`, rendered as text nodes) and owns the keyboard. Every
event it sends names the query, the candidate and the query's version as drawn, plus a
sequence number; :func:`on_event` applies it through :mod:`embcore.review.model` (compare-and-set in
the store), records the sequence number as acknowledged, and queues a notice when the store
refused a write. The next drawing carries ``ack``, which releases the component's next queued
key: see the comment at the top of the JavaScript file.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app_pages._common import K
from app_pages._ui import esc
from embcore.errors import EmbcoreError
from embcore.review import model as review
from embcore.review import view as review_view
from embcore.store import Store

log = logging.getLogger("embcore.app")
_ASSETS = Path(__file__).resolve().parent / "assets"
_component = st.components.v2.component(
    "embcore_review_card",
    html="",
    css=(_ASSETS / "review_card.css").read_text(encoding="utf-8"),
    js=(_ASSETS / "review_card.js").read_text(encoding="utf-8"),
)


def notice(kind: str, text: str) -> None:
    """Queue a message shown above the candidate view on its next drawing."""
    st.session_state.setdefault(K.REVIEW_NOTICES, []).append((kind, text))


def refused(text: str) -> None:
    """Say that a write was refused; the warning stays while the reviewer is on this query."""
    st.session_state[K.REVIEW_REFUSED] = (st.session_state.get(K.QUERY), text)


def show_notices(query_id: int) -> None:
    """The queued messages (once) and the last refusal on this query (until the query changes)."""
    for kind, text in st.session_state.pop(K.REVIEW_NOTICES, []):
        getattr(st, kind, st.info)(esc(text))
    sticky = st.session_state.get(K.REVIEW_REFUSED)
    if sticky is not None:
        if sticky[0] == query_id:
            st.warning(esc(sticky[1]), icon=":material/block:")
        else:
            st.session_state.pop(K.REVIEW_REFUSED, None)


def _report(result: review.WriteResult | None, what: str) -> bool:
    """Queue a notice for a refused write (and drop the keys queued behind it); True when applied."""
    if result is None:
        return False
    if result.status == "stale":
        refused(result.message or f"{what}: not applied, the page was out of date.")
        st.session_state[K.CARD_REFUSED] = int(st.session_state.get(K.CARD_ACK, 0))
        return False
    if result.status == "unchanged" and result.message:
        notice("info", result.message)
    return result.applied


def on_event(store: Store, pid: int, run_id: int, statuses: tuple[str, ...], order: np.ndarray) -> None:
    """Callback of the component's ``act`` trigger: apply one event once (by sequence number)."""
    ev = (st.session_state.get(K.W_CARD) or {}).get("act")
    if not isinstance(ev, dict):
        return
    seq = int(ev.get("seq") or 0)
    if seq <= int(st.session_state.get(K.CARD_ACK, 0)):
        return  # a resend or a second delivery of an event already handled
    st.session_state[K.CARD_ACK] = seq
    t0 = time.perf_counter()
    try:
        handle(store, pid, run_id, statuses, order, ev)
    except EmbcoreError as exc:
        notice("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - a key press must not kill the page; the log keeps the traceback
        log.exception("review event %r failed", ev)
        notice("error", f"Unexpected error: {type(exc).__name__}: {exc}")
    st.session_state[K.CARD_TIMING] = round((time.perf_counter() - t0) * 1000, 1)


def handle(
    store: Store, pid: int, run_id: int, statuses: tuple[str, ...], order: np.ndarray, ev: dict[str, Any]
) -> None:
    """Apply one event of the candidate view (see ``review_card.js`` for what it sends)."""
    op, qid, version = str(ev.get("op")), int(ev["qid"]), ev.get("v")
    version = None if version is None else int(version)
    if op == "nav":
        to = str(ev.get("to"))
        if to == "todo":
            target = review.next_unreviewed(order, review.reviewed_ids(store, pid), qid)
            at_end = "Every query matching the filters has been reviewed."
        else:
            target = review.step(order, qid, +1 if to == "next" else -1)
            at_end = "This is the last query." if to == "next" else "This is the first query."
        _go(target, at_end)
        return
    if op == "decide":
        passage = int(ev["pid"])
        decision = ev.get("d")
        res = review.decide(
            store, pid, qid, passage, decision, version=version, run_id=run_id, statuses=statuses
        )
        if _report(res, "decision"):
            st.session_state[K.SELECT_AFTER] = (qid, passage)
        return
    if op == "rest":
        _report(
            review.accept_remaining(store, pid, run_id, qid, statuses, version=version), "accept the rest"
        )
        return
    if op == "done":
        res = review.mark_done(store, pid, qid, version=version, run_id=run_id, statuses=statuses)
        if res.applied or res.status == "unchanged":
            _go(review.step(order, qid, +1), "Marked done. This is the last query.")
        else:
            _report(res, "done")
        return
    if op == "undo":
        _report(review.undo_last(store, pid, qid, version=version, run_id=run_id, statuses=statuses), "undo")
        return
    notice("error", f"unknown review event {op!r}")


def _go(query_id: int | None, at_end: str) -> None:
    if query_id is None:
        notice("info", at_end)
    else:
        st.session_state[K.QUERY] = int(query_id)


def _select(card: dict[str, Any], qid: int) -> tuple[int | None, bool]:
    """The candidate to select on this drawing, and whether the component must move to it.

    After a decision of this session on this query: the next undecided candidate after the one
    decided (else the first undecided). Otherwise the first undecided one (the component keeps
    its own selection while the query stays the same).
    """
    rows = [r for r in card["rows"] if r["section"] != "filtered"]
    undecided = [r["pid"] for r in rows if r["decision"] is None]
    after = st.session_state.pop(K.SELECT_AFTER, None)
    if after is not None and after[0] == qid:
        ids = [r["pid"] for r in card["rows"]]
        if after[1] in ids:
            i = ids.index(after[1])
            later = [
                r["pid"]
                for r in card["rows"][i + 1 :]
                if r["section"] != "filtered" and r["decision"] is None
            ]
            return (later or undecided or [after[1]])[0], True
    first = undecided[0] if undecided else (rows[0]["pid"] if rows else None)
    return first, False


def render(
    store: Store,
    pid: int,
    run_id: int,
    q: review.QueryReview,
    order: np.ndarray,
    prog: review.ReviewProgress,
    started: float,
) -> None:
    """Draw the candidate view of ``q`` and wire its events.

    ``started`` (``time.perf_counter()`` when the rerun began) and the event handler's time go
    to the page as ``server_ms`` / ``handler_ms``: the benchmark splits a key press's latency
    with them.
    """
    card = review_view.card(q)
    select, forced = _select(card, q.query_id)
    pos = review.locate(order, q.query_id)
    data = card | {
        "qid": q.query_id,
        "v": q.version,
        "ack": int(st.session_state.get(K.CARD_ACK, 0)),
        "refused": int(st.session_state.get(K.CARD_REFUSED, 0)),
        "select": select,
        "select_forced": forced,
        "nav": {"label": f"{pos.label}"},
        "reviewed": q.reviewed_how,
        "flag": q.flag,
        "flag_label": review.FLAG_LABELS.get(q.flag or "", q.flag),
        "flag_reason": q.flag_reason,
        "progress": (
            f"Reviewed {prog.reviewed:,} of {prog.queries:,} · accepted {prog.accepted:,} · rejected "
            f"{prog.rejected:,} · marked positive {prog.positives:,} · flagged {prog.flagged:,}"
        ),
    }
    data["handler_ms"] = st.session_state.pop(K.CARD_TIMING, None)
    data["server_ms"] = round((time.perf_counter() - started) * 1000, 1)
    callback = functools.partial(on_event, store, pid, run_id, tuple(q.shown_statuses), order)
    _component(key=K.W_CARD, data=data, on_act_change=callback)
