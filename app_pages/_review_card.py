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
import pandas as pd
import streamlit as st

from app_pages._common import K
from app_pages._ui import esc
from embcore.errors import EmbcoreError
from embcore.review import model as review
from embcore.review import queues
from embcore.review import view as review_view
from embcore.store import Store
from embcore.store.reviewers import GRADE_WORDS

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


def on_event(
    store: Store, pid: int, run_id: int, statuses: tuple[str, ...], order: np.ndarray, reviewer: str = ""
) -> None:
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
        handle(store, pid, run_id, statuses, order, ev, reviewer)
    except EmbcoreError as exc:
        notice("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - a key press must not kill the page; the log keeps the traceback
        log.exception("review event %r failed", ev)
        notice("error", f"Unexpected error: {type(exc).__name__}: {exc}")
    st.session_state[K.CARD_TIMING] = round((time.perf_counter() - t0) * 1000, 1)


def handle(
    store: Store,
    pid: int,
    run_id: int,
    statuses: tuple[str, ...],
    order: np.ndarray,
    ev: dict[str, Any],
    reviewer: str = "",
) -> None:
    """Apply one event of the candidate view (see ``review_card.js`` for what it sends)."""
    from app_pages._review_ui import done_queries, nav_target

    op, qid, version = str(ev.get("op")), int(ev["qid"]), ev.get("v")
    version = None if version is None else int(version)
    who = {"reviewer": reviewer}
    if op == "nav":
        to = str(ev.get("to"))
        done = done_queries(store, pid, reviewer) if to == "todo" else None
        _go(*nav_target(order, qid, to, done))
        return
    if op == "decide":
        passage = int(ev["pid"])
        decision = ev.get("d")
        if ev.get("search"):  # a corpus-search hit: added to the query as a negative or a positive
            if decision not in ("accept", "positive"):
                notice("info", "A search hit is not a candidate: A adds it as a negative, P as a positive.")
                return
            res = review.add_search_hit(store, pid, qid, passage, decision, version=version, run_id=run_id,
                                        statuses=statuses, **who)  # fmt: skip
            if _report(res, "add the search hit"):
                notice(
                    "success",
                    f"Added search hit {passage} as {'a negative' if decision == 'accept' else 'a positive'}.",
                )
                st.session_state[K.SELECT_AFTER] = (qid, passage)
            return
        res = review.decide(
            store, pid, qid, passage, decision, version=version, run_id=run_id, statuses=statuses, **who
        )
        if _report(res, "decision"):
            st.session_state[K.SELECT_AFTER] = (qid, passage)
        return
    if op == "grade":
        g = ev.get("g")
        _report(review.grade(store, pid, qid, int(ev["pid"]), None if g is None else int(g), version=version,
                             **who), "grade")  # fmt: skip
        return
    if op == "rest":
        _report(
            review.accept_remaining(store, pid, run_id, qid, statuses, version=version, **who),
            "accept the rest",
        )
        return
    if op == "done":
        res = review.mark_done(store, pid, qid, version=version, run_id=run_id, statuses=statuses, **who)
        if res.applied or res.status == "unchanged":
            target, at_end = nav_target(order, qid, "next")
            _go(target, "Marked done. " + at_end)
        else:
            _report(res, "done")
        return
    if op == "undo":
        _report(
            review.undo_last(store, pid, qid, version=version, run_id=run_id, statuses=statuses, **who),
            "undo",
        )
        return
    if op == "panel":  # F opens the flag form, S the session summary
        key = {"flag": K.W_EDIT, "summary": K.W_SUMMARY}.get(str(ev.get("what")))
        if key is not None:
            st.session_state[key] = not bool(st.session_state.get(key)) if key == K.W_SUMMARY else True
        if key == K.W_EDIT:
            st.session_state[K.FOCUS_REASON] = time.time()
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
    *,
    queue: queues.Queue | None = None,
    search: tuple[str, pd.DataFrame] | None = None,
) -> None:
    """Draw the candidate view of ``q`` and wire its events.

    ``started`` (``time.perf_counter()`` when the rerun began) and the event handler's time go
    to the page as ``server_ms`` / ``handler_ms``: the benchmark splits a key press's latency
    with them. ``queue``: the queue walked (its reasons mark the candidates that put the query
    in it); ``search``: (text, hits) of a corpus search shown as rows.
    """
    reasons = queue.item_reasons(q.query_id) if queue is not None else {}
    card = review_view.card(q, reasons=reasons, search=None if search is None else search[1])
    select, forced = _select(card, q.query_id)
    if not forced and queue is not None and queue.focus.get(q.query_id) in {r["pid"] for r in card["rows"]}:
        first_undecided = [
            r for r in card["rows"] if r["pid"] == queue.focus[q.query_id] and r["decision"] is None
        ]
        if first_undecided:
            select = queue.focus[q.query_id]
    i = queues.position(order, q.query_id)
    pos = review.Position(i, len(order))
    focus_reason = st.session_state.pop(K.FOCUS_REASON, None)
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
            f"{q.reviewer or 'unnamed'}: reviewed {prog.reviewed:,} of {prog.queries:,} · accepted {prog.accepted:,} · "
            f"rejected {prog.rejected:,} · marked positive {prog.positives:,} · flagged {prog.flagged:,}"
        ),
        "reviewer": q.reviewer,
        "queue": None
        if queue is None
        else {"name": queue.name, "label": queue.label, "why": queue.why.get(q.query_id), "pos": pos.label},
        "search": None if search is None else {"text": search[0], "n": int(len(search[1]))},
        "note": q.note,
        "grade_words": {str(k): v for k, v in GRADE_WORDS.items()},
        "focus": "reason" if focus_reason is not None else None,
    }
    data["handler_ms"] = st.session_state.pop(K.CARD_TIMING, None)
    data["server_ms"] = round((time.perf_counter() - started) * 1000, 1)
    callback = functools.partial(on_event, store, pid, run_id, tuple(q.shown_statuses), order, q.reviewer)
    _component(key=K.W_CARD, data=data, on_act_change=callback)
