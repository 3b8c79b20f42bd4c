"""Pieces of the Review page: the queue and filters, the review area (a fragment), the note and
the corpus search, query edits and flags, the decision history with undo, bulk actions with a
confirmed count, the session summary.

The review area is one ``st.fragment``: a key press or a click reruns only it (the sidebar with
its filters does not rerun), which keeps "key press to new content" short. Every write goes
through :mod:`embcore.review.model` with the query version the page was drawn with; a refused
(stale) write shows a notice above the candidate view, which is then drawn afresh.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as pgo
import streamlit as st
from plotly.subplots import make_subplots

from app_pages import _review_card as card
from app_pages._common import K, get_encoder, memo, run_safely
from app_pages._ui import esc
from embcore.errors import EmbcoreError
from embcore.review import model as review
from embcore.review import queues
from embcore.review import search as corpus_search
from embcore.review.summary import session_summary
from embcore.store import Store

STATUS_LABELS = {"all": "All", "unreviewed": "Unreviewed", "reviewed": "Reviewed", "flagged": "Flagged"}
FLAG_CHOICES = {"": "not flagged", "bad_query": "bad query", "wrong_positive": "wrong positive"}


# --------------------------------------------------------------------------- queue, filters and navigation


def queue_widgets(store: Store, pid: int, run_id: int, reviewer: str, teacher: str | None) -> queues.Queue:
    """Sidebar: which queue to walk (with its settings and progress); computed once per session and settings."""
    sb = st.sidebar
    name = sb.selectbox("Review queue", list(queues.QUEUES), format_func=queues.QUEUE_LABELS.get, key=K.W_QUEUE,
                        help="Q focuses this list. Each query of a queue says why it is there.")  # fmt: skip
    seed = sb.number_input("Seed", 0, 10**9, 0, key=K.W_QUEUE_SEED) if name == "random" else 0
    thr = (
        sb.slider("Similarity to the positive from", 0.0, 1.0, queues.FN_THRESHOLD, 0.01, key=K.W_QUEUE_THR)
        if name == "false_negatives"
        else queues.FN_THRESHOLD
    )
    key = (pid, run_id, name, reviewer, int(seed), float(thr), teacher)
    held = st.session_state.get(K.QUEUE)
    if (
        sb.button("Recompute the queue", key=K.W_QUEUE_REFRESH, icon=":material/refresh:")
        or not held
        or held[0] != key
    ):
        with st.spinner("Computing the queue…"):
            q = queues.compute(store, pid, run_id, name, reviewer=reviewer, seed=int(seed), threshold=float(thr),
                               teacher=teacher)  # fmt: skip
        st.session_state[K.QUEUE] = (key, q)
    q = st.session_state[K.QUEUE][1]
    done, items, done_q, n_q = q.progress(store, pid, reviewer)
    what = "candidates decided" if q.candidate_level else "queries reviewed"
    sb.caption(esc(f"{q.label}: {done:,} of {items:,} {what}" + (f" ({done_q:,} of {n_q:,} queries done)"
                                                                  if q.candidate_level else "")))  # fmt: skip
    sb.progress(done / items if items else 0.0)
    if q.note:
        sb.caption(esc(f"Empty: {q.note}."))
    return q


def empty_message(flt: review.ReviewFilter, q: queues.Queue) -> str:
    """Why there is nothing to show."""
    if q.note:
        return f"The queue “{q.label}” is empty: {q.note}."
    if flt.active:
        return "No query matches the filters in this queue."
    return "This queue has no query (assigned to you)."


def _current_queue() -> queues.Queue | None:
    held = st.session_state.get(K.QUEUE)
    return held[1] if held else None


def queue_order(store: Store, pid: int, run_id: int, flt: review.ReviewFilter, reviewer: str) -> np.ndarray:
    """The queries to walk: the queue's order, kept to those matching the filters."""
    q = _current_queue()
    if q is None:
        return review.query_order(store, pid, run_id, flt, reviewer=reviewer)
    if not flt.active:
        return q.order
    return queues.restrict(q, review.query_order(store, pid, run_id, flt, reviewer=reviewer))


def done_queries(store: Store, pid: int, reviewer: str) -> set[int]:
    """Queries of the current queue the reviewer has finished."""
    q = _current_queue()
    if q is None:
        return {int(x) for x in review.reviewed_ids(store, pid, reviewer)}
    return q.done_queries(store, pid, reviewer)


def nav_target(
    order: np.ndarray, current: int, to: str, done: set[int] | None = None
) -> tuple[int | None, str]:
    """Where a navigation goes (``next`` / ``prev`` / ``todo``) in queue order, and what to say at an end."""
    q = _current_queue()
    ascending = q is None or q.name == "data"
    if to == "todo":
        target = queues.next_todo(order, done or set(), current)
        return target, "Every query of this queue (matching the filters) is done."
    delta = +1 if to == "next" else -1
    target = review.step(order, current, delta) if ascending else queues.step(order, current, delta)
    return target, ("This is the last query." if delta > 0 else "This is the first query.")


def filter_widgets(store: Store, pid: int, run_id: int) -> tuple[review.ReviewFilter, bool]:
    """Sidebar filters: reviewed state, metadata values, source, text search; and 'show kept'."""
    sb = st.sidebar
    sb.markdown("**Filters**")
    status = sb.radio(
        "Queries", list(STATUS_LABELS), format_func=STATUS_LABELS.get, key=K.W_STATUS, horizontal=True
    )
    meta = {}
    for key, values in memo("meta", (pid,), lambda: review.meta_options(store, pid)).items():
        meta[key] = sb.multiselect(esc(key), values, key=K.meta(key), placeholder="any")
    sources = sb.multiselect(
        "Candidate source",
        memo("sources", (run_id,), lambda: review.run_sources(store, run_id)),
        key=K.W_SOURCES,
        placeholder="any",
    )
    text = sb.text_input("Search query and positive text", key=K.W_SEARCH)
    show_kept = sb.toggle("Also show survivors that were not selected", key=K.W_SHOW_KEPT)
    return review.ReviewFilter.make(status, meta, sources, text), show_kept


def go(query_id: int | None, at_end: str) -> None:
    """Move to ``query_id`` (None: stay and say why)."""
    if query_id is None:
        card.notice("info", at_end)
    else:
        st.session_state[K.QUERY] = int(query_id)


def go_unreviewed(store: Store, pid: int, order: np.ndarray, current: int, reviewer: str) -> None:
    """Move to the next query of the queue this reviewer has not finished (read at click time)."""
    go(*nav_target(order, current, "todo", done_queries(store, pid, reviewer)))


def write(what: str, fn: Any, *args: Any, then: tuple[int | None, str] | None = None, **kwargs: Any) -> None:
    """Run one review write; a refused (stale) one becomes a notice, an applied one may move on (``then``)."""
    res = run_safely(fn, *args, **kwargs)
    if isinstance(res, review.WriteResult):
        if res.status == "stale":
            card.refused(res.message or f"{what}: not applied, the page was out of date.")
        elif res.status == "unchanged" and res.message:
            card.notice("info", res.message)
        elif res.applied:
            card.notice("success", f"{what}: {res.message}" if res.message else what)
        if then is not None and res.status != "stale":
            go(*then)
    for kind, text in st.session_state.pop(K.FLASH, []):
        card.notice(kind, text)


# --------------------------------------------------------------------------- the review area


def start(
    store: Store, pid: int, run_id: int, flt: review.ReviewFilter, queue: queues.Queue, reviewer: str
) -> int | None:
    """The query on screen: kept while the filters and the queue stay the same, else the first one of
    the queue (matching the filters) the reviewer has not finished."""
    where = (flt, queue.name, reviewer, len(queue.order))
    if st.session_state.get(K.FILTER) != where or K.QUERY not in st.session_state:
        order = queue_order(store, pid, run_id, flt, reviewer)
        st.session_state[K.FILTER] = where
        first = queues.next_todo(order, done_queries(store, pid, reviewer), None)
        st.session_state[K.QUERY] = first if first is not None else (int(order[0]) if len(order) else None)
        st.session_state.pop(K.SEARCH, None)
    return st.session_state[K.QUERY]


@st.fragment
def area(
    store: Store,
    pid: int,
    run_id: int,
    flt: review.ReviewFilter,
    show_kept: bool,
    teacher: dict[str, Any] | None,
    reviewer: str = "",
) -> None:
    """Navigation, the candidate view, edits, history and bulk actions of the query on screen.

    A fragment: its own widgets rerun only it, so everything that can change after a click is
    read here (the filtered order shrinks as queries get reviewed under "unreviewed"). Its
    arguments come from the last full run (``teacher``: the latest scoring run, which only
    another page can change).
    """
    started = time.perf_counter()
    order = queue_order(store, pid, run_id, flt, reviewer)
    qid = st.session_state.get(K.QUERY)
    if qid is None:
        st.info("No query matches the filters." if flt.active else "This project has no queries.")
        return
    try:
        q = review.load_query(
            store, pid, run_id, qid, show_kept=show_kept, teacher=teacher and teacher["teacher_id"],
            reviewer=reviewer,
        )  # fmt: skip
    except EmbcoreError as exc:  # e.g. the query belongs to another project: start over
        st.session_state.pop(K.QUERY, None)
        st.error(esc(str(exc)))
        return
    st.session_state.setdefault(K.SESSION_START, datetime.now())
    card.show_notices(q.query_id)
    statuses = tuple(q.shown_statuses)
    toolbar(store, pid, run_id, q, order, statuses)
    queue = _current_queue()
    search = st.session_state.get(K.SEARCH)
    hits = search[3] if search and search[0] == q.query_id else None
    if hits is not None:  # the hits' state (added, decided) as of now
        hits = corpus_search.refresh(store, pid, hits, q.query_id, run_id, reviewer)
    card.render(store, pid, run_id, q, order, review.progress(store, pid, reviewer), started, queue=queue,
                search=None if hits is None else (search[1], hits))  # fmt: skip
    note_and_search(store, pid, run_id, q)
    if teacher:
        st.caption(
            esc(
                f"Teacher: raw score of the {review.teacher_label(teacher)} (scoring run {teacher['run_id']})"
            )
        )
    if st.toggle("Edit or flag this query (F)", key=K.W_EDIT):
        edit_tools(store, pid, q)
    if st.toggle("History (undo)", key=K.W_HISTORY):
        history(store, pid, run_id, q, statuses)
    if st.toggle("Bulk actions", key=K.W_BULK):
        bulk_actions(store, pid, run_id, q, order, flt, show_kept, teacher and teacher["teacher_id"])
    if st.toggle("Session summary (S)", key=K.W_SUMMARY):
        summary(store, pid, run_id, reviewer)


def toolbar(
    store: Store, pid: int, run_id: int, q: review.QueryReview, order: np.ndarray, statuses: tuple[str, ...]
) -> None:
    """Mouse buttons for the query-level actions (the keyboard goes through the candidate view)."""
    c = st.columns([1, 1, 1.3, 1.5, 1.3, 1], vertical_alignment="center")
    c[0].button("Previous", key=K.W_PREV, icon=":material/arrow_back:", width="stretch", help="K",
                on_click=go, args=nav_target(order, q.query_id, "prev"))  # fmt: skip
    c[1].button("Next", key=K.W_NEXT, icon=":material/arrow_forward:", width="stretch", help="J",
                on_click=go, args=nav_target(order, q.query_id, "next"))  # fmt: skip
    c[2].button("Next in queue", key=K.W_NEXT_TODO, icon=":material/fast_forward:", width="stretch", help="N",
                on_click=go_unreviewed, args=(store, pid, order, q.query_id, q.reviewer))  # fmt: skip
    undecided = q.counts()["undecided"]
    c[3].button(
        "Accept the rest", key=K.W_ACCEPT_REST, icon=":material/done_all:", width="stretch", help="Shift+A",
        disabled=undecided == 0, on_click=write,
        args=("Accepted the rest", review.accept_remaining, store, pid, run_id, q.query_id, statuses),
        kwargs={"version": q.version, "reviewer": q.reviewer},
    )  # fmt: skip
    if q.reviewed_how == "done":
        c[4].button(
            "Reopen", key=K.W_REOPEN, icon=":material/undo:", width="stretch", on_click=write,
            args=("Reopened", review.mark_done, store, pid, q.query_id, False),
            kwargs={"version": q.version, "run_id": run_id, "statuses": statuses, "reviewer": q.reviewer},
        )  # fmt: skip
    else:
        c[4].button(
            "Done → next", key=K.W_DONE, icon=":material/task_alt:", width="stretch", type="primary", help="D",
            on_click=write, args=("Marked done", review.mark_done, store, pid, q.query_id),
            kwargs={"version": q.version, "run_id": run_id, "statuses": statuses, "reviewer": q.reviewer,
                    "then": nav_target(order, q.query_id, "next")},
        )  # fmt: skip
    c[5].button(
        "Undo", key=K.W_UNDO_LAST, icon=":material/history:", width="stretch", help="U: undo the last action on this query",
        on_click=write, args=("Undone", review.undo_last, store, pid, q.query_id),
        kwargs={"version": q.version, "run_id": run_id, "statuses": statuses, "reviewer": q.reviewer},
    )  # fmt: skip


# --------------------------------------------------------------------------- edits and flags


def edit_tools(store: Store, pid: int, q: review.QueryReview) -> None:
    """Edit the query text or a positive, flag the query (left out of exports) with a reason."""
    qid = q.query_id
    left, right = st.columns(2)
    with left:
        new = st.text_area("Query text", value=q.text, key=K.query_edit("text", qid), height=80)
        st.button(
            "Save the query text", key=K.query_edit("save", qid), disabled=new.strip() == q.text,
            on_click=write, args=("Query text saved", review.edit_query, store, pid, qid, new),
            kwargs={"version": q.version, "reviewer": q.reviewer},
        )  # fmt: skip
    with right:
        flags = list(FLAG_CHOICES)
        kind = st.radio("Flag", flags, index=flags.index(q.flag or ""), format_func=FLAG_CHOICES.get,
                        key=K.query_edit("flag", qid), horizontal=True)  # fmt: skip
        reason = st.text_input(
            "Reason (shown in the export manifest counts)", value=q.flag_reason or "",
            key=K.query_edit("reason", qid), disabled=not kind,
        )  # fmt: skip
        st.button(
            "Save the flag", key=K.query_edit("flag_save", qid), on_click=write,
            args=("Flag saved", review.flag_query, store, pid, qid, kind or None, reason),
            kwargs={"version": q.version, "reviewer": q.reviewer},
        )  # fmt: skip
    for row in q.positives.itertuples(index=False):
        pid_ = int(row.passage_id)
        new = st.text_area(f"Positive {pid_}", value=row.text, key=K.positive("text", qid, pid_), height=100)
        st.button(
            "Save the positive", key=K.positive("save", qid, pid_), disabled=new.strip() == str(row.text),
            on_click=write, args=("Positive saved", review.edit_positive, store, pid, qid, pid_, new),
            kwargs={"version": q.version, "reviewer": q.reviewer},
        )  # fmt: skip


# --------------------------------------------------------------------------- history


def history(store: Store, pid: int, run_id: int, q: review.QueryReview, statuses: tuple[str, ...]) -> None:
    """The latest actions (this query or the whole project) with an Undo button on each."""
    scope = st.radio("Show", ["This query", "Whole project"], key=K.W_HISTORY_SCOPE, horizontal=True)
    df = review.history(
        store, pid, query_id=q.query_id if scope == "This query" else None, limit=15, reviewer=q.reviewer
    )
    if df.empty:
        st.caption("No review action yet.")
        return
    for r in df.itertuples(index=False):
        left, right = st.columns([6, 1], vertical_alignment="center")
        when = pd.Timestamp(r.created_at).strftime("%H:%M:%S")
        where = "" if pd.isna(r.query_id) else f" · query {int(r.query_id)}: {_short(r.query_text)}"
        size = f" · {int(r.pairs):,} candidates in {int(r.queries):,} queries" if r.kind == "bulk" else ""
        state = " · undone" if not pd.isna(r.undone_by) else ""
        by = f" · by {r.reviewer or '(unnamed)'}"
        left.text(f"{when} · #{int(r.id)} {r.label}{size}{where}{by}{state}")
        right.button(
            "Undo", key=K.undo(int(r.id)), disabled=not bool(r.undoable), width="stretch",
            on_click=write, args=(f"Undid #{int(r.id)}", review.undo, store, pid, int(r.id)),
            kwargs={"run_id": run_id, "statuses": statuses, "reviewer": q.reviewer},
        )  # fmt: skip


def _short(text: Any, n: int = 70) -> str:
    t = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    return t if len(t) <= n else t[: n - 1] + "…"


# --------------------------------------------------------------------------- bulk


def _confirm_box(params: dict[str, Any], apply: Any) -> None:
    """The second step of a bulk action: the counted change, Confirm / Cancel."""
    pending = st.session_state.get(K.BULK_CONFIRM)
    if pending is None:
        return
    if pending["params"] != params:  # a widget moved since the count: count again
        st.session_state.pop(K.BULK_CONFIRM, None)
        return
    with st.container(border=True):
        st.warning(
            esc(
                f"{pending['what']} {pending['pairs']:,} candidates in {pending['queries']:,} queries? "
                "It is one step in History: undo it there."
            )  # fmt: skip
        )
        a, b = st.columns(2)
        a.button(f"Confirm: {pending['what'].lower()} {pending['pairs']:,}", key=K.W_BULK_CONFIRM, type="primary",
                 width="stretch", on_click=_bulk_apply, args=(apply,))  # fmt: skip
        b.button("Cancel", key=K.W_BULK_CANCEL, width="stretch", on_click=st.session_state.pop,
                 args=(K.BULK_CONFIRM, None))  # fmt: skip


def _bulk_ask(what: str, rule: str, n: review.BulkPreview, params: dict[str, Any]) -> None:
    st.session_state[K.BULK_CONFIRM] = {
        "what": what, "rule": rule, "pairs": n.pairs, "queries": n.queries, "digest": n.digest, "params": params,
    }  # fmt: skip


def _bulk_apply(apply: Any) -> None:
    pending = st.session_state.pop(K.BULK_CONFIRM, None)
    if pending is None:
        return
    res = run_safely(apply, expect_digest=pending["digest"])
    if isinstance(res, review.WriteResult):
        if res.applied:
            card.notice("success", f"{res.message} (action #{res.action_id}: undo it in History).")
        else:
            card.notice("warning", res.message)
    for kind, text in st.session_state.pop(K.FLASH, []):
        card.notice(kind, text)


def _scope_ids(scope: str, order: np.ndarray, q: review.QueryReview) -> list[int] | None:
    if scope == "this":
        return [q.query_id]
    if scope == "filters":
        return [int(i) for i in order]
    return None


def bulk_actions(
    store: Store,
    pid: int,
    run_id: int,
    q: review.QueryReview,
    order: np.ndarray,
    flt: review.ReviewFilter,
    show_kept: bool,
    teacher: str | None,
) -> None:
    """Accept a band of a readable score, or reject what is too similar to the positive: scope
    defaults to the filters, the count is confirmed, the action is one undoable step."""
    statuses = review.SHOWN_WITH_KEPT if show_kept else review.SHOWN_DEFAULT
    scopes = {"filters": f"Queries matching the filters ({len(order):,})", "all": "All queries",
              "this": "This query"}  # fmt: skip
    scope = st.radio("Apply to", list(scopes), format_func=scopes.get, key=K.W_BAND_SCOPE, horizontal=True)
    ids = _scope_ids(scope, order, q)
    if not flt.active and scope == "filters":
        st.caption("No filter is active: the filters match every query.")
    ranges = memo(
        "ranges",
        (run_id, teacher),
        lambda: {c: review.score_range(store, run_id, c, teacher=teacher) for c in review.BAND_SCORES},
    )
    choices = [c for c, r in ranges.items() if r is not None and r[0] < r[1]]
    with st.container(border=True):
        st.markdown("**Accept every undecided candidate whose score lies in a band**")
        if not choices:
            st.info(
                "This run has no readable score to band on (mine with dense retrieval, or score with a teacher)."
            )
        else:
            col = st.selectbox("Score", choices, format_func=review.BAND_SCORES.get, key=K.W_BAND_COL)
            lo, hi = ranges[col]
            band = st.slider("Band", lo, hi, (lo + (hi - lo) / 2, hi), key=K.band(col))
            n = review.preview(review.band_pairs(store, run_id, col, band[0], band[1], statuses=statuses,
                                                 query_ids=ids, teacher=teacher, reviewer=q.reviewer))  # fmt: skip
            params = {"rule": "band", "col": col, "band": tuple(band), "scope": scope, "statuses": statuses}
            st.button(
                f"Accept {n.pairs:,} candidates in {n.queries:,} queries…", key=K.W_BAND_APPLY, disabled=not n.pairs,
                on_click=_bulk_ask, args=("Accept", "band", n, params),
            )  # fmt: skip
            if (st.session_state.get(K.BULK_CONFIRM) or {}).get("rule") == "band":
                _confirm_box(params, lambda expect_digest: review.accept_band(
                    store, pid, run_id, col, band[0], band[1], statuses=statuses, query_ids=ids, teacher=teacher,
                    expect_digest=expect_digest, reviewer=q.reviewer))  # fmt: skip
    with st.container(border=True):
        st.markdown(
            "**Reject every undecided candidate too similar to the positive** (likely false negatives)"
        )
        if ranges.get("pos_sim") is None:
            st.info(
                "This run has no similarity to the positive: mine with a dense strategy or the near-duplicate filter."
            )
            return
        thr = st.slider("Similarity to the positive above", 0.0, 1.0, 0.9, 0.01, key=K.W_SIM_THR)
        n = review.preview(
            review.above_similarity_pairs(store, run_id, thr, query_ids=ids, reviewer=q.reviewer)
        )
        params = {"rule": "sim", "thr": thr, "scope": scope}
        st.button(
            f"Reject {n.pairs:,} candidates in {n.queries:,} queries…", key=K.W_SIM_APPLY, disabled=not n.pairs,
            on_click=_bulk_ask, args=("Reject", "sim", n, params),
        )  # fmt: skip
        if (st.session_state.get(K.BULK_CONFIRM) or {}).get("rule") == "sim":
            _confirm_box(params, lambda expect_digest: review.reject_above_similarity(
                store, pid, run_id, thr, query_ids=ids, expect_digest=expect_digest, reviewer=q.reviewer))  # fmt: skip


# --------------------------------------------------------------------------- note, corpus search, summary


def _save_note(store: Store, pid: int, q: review.QueryReview) -> None:
    text = st.session_state.get(K.note(q.query_id), "")
    write("Note", review.set_note, store, pid, q.query_id, text, version=q.version, reviewer=q.reviewer)


def _search(store: Store, pid: int, run_id: int, qid: int, reviewer: str) -> None:
    text = str(st.session_state.get(K.W_CORPUS_Q, "")).strip()
    if not text:
        st.session_state.pop(K.SEARCH, None)
        return
    mode = st.session_state.get(K.W_CORPUS_MODE, "hybrid")
    encoder = None
    if mode != "bm25":
        encoder = run_safely(get_encoder, review.mining_model(store, pid))
        if encoder is None:
            return
    hits = run_safely(corpus_search.search, store, pid, text, query_id=qid, run_id=run_id, mode=mode,
                      encoder=encoder, reviewer=reviewer)  # fmt: skip
    if hits is not None:
        st.session_state[K.SEARCH] = (qid, text, mode, hits)
        card.notice("info", f"{len(hits)} hits for “{text}” below the candidates: select one (arrows), "
                    "A adds it as a negative, P as a positive.")  # fmt: skip
    for kind, msg in st.session_state.pop(K.FLASH, []):
        card.notice(kind, msg)


def _clear_search() -> None:
    st.session_state.pop(K.SEARCH, None)
    st.session_state[K.W_CORPUS_Q] = ""


def note_and_search(store: Store, pid: int, run_id: int, q: review.QueryReview) -> None:
    """The query's note (C; saved on Enter) and the corpus search (/; hits join the candidate view)."""
    left, right = st.columns([1, 1])
    key = K.note(q.query_id)
    if key not in st.session_state:
        st.session_state[key] = q.note or ""
    left.text_input(
        "Note on this query", key=key, on_change=_save_note, args=(store, pid, q), max_chars=2000,
        placeholder="a free-text note for the team (Enter saves)",
        help="C focuses this field. Shared by the query's reviewers; undo it in History.",
    )  # fmt: skip
    if q.note_by:
        left.caption(esc(f"last saved by {q.note_by}"))
    with right:
        a, b, c = st.columns([3, 1.3, 0.7], vertical_alignment="bottom")
        a.text_input(
            "Search the corpus", key=K.W_CORPUS_Q, on_change=_search, args=(store, pid, run_id, q.query_id, q.reviewer),
            placeholder="words or a question (Enter searches)", help="/ focuses this field. BM25 + dense retrieval.",
        )  # fmt: skip
        b.selectbox(
            "Retrieval", corpus_search.SEARCH_MODES, key=K.W_CORPUS_MODE, label_visibility="collapsed"
        )
        c.button("Clear", key=K.W_CORPUS_CLEAR, on_click=_clear_search, width="stretch")


def summary(store: Store, pid: int, run_id: int, reviewer: str) -> None:
    """This reviewer's decisions per minute and accept rates by source and score band, with a plotly view."""
    scope = st.radio("Decisions", ["This session", "All mine"], key=K.W_SUMMARY_SCOPE, horizontal=True)
    since = st.session_state.get(K.SESSION_START) if scope == "This session" else None
    s = session_summary(store, pid, reviewer, since, run_id=run_id)
    a, b, c = st.columns(3)
    a.metric("Decisions", f"{s.decisions:,}")
    b.metric("Per minute", f"{s.per_minute:.1f}")
    c.metric("Minutes", f"{s.minutes:.1f}")
    if not s.decisions:
        st.caption("No decision yet in this scope.")
        return
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Decisions per minute", "Accept rate by source",
                                                        "Accept rate by similarity to the positive"))  # fmt: skip
    fig.add_trace(pgo.Bar(x=s.timeline["minute"], y=s.timeline["decisions"], name="decisions"), row=1, col=1)
    fig.add_trace(pgo.Bar(x=s.by_source["source"], y=s.by_source["accept_rate"], name="by source",
                         text=s.by_source["decisions"], hovertemplate="%{x}: %{y:.0%} of %{text}<extra></extra>"),
                  row=1, col=2)  # fmt: skip
    fig.add_trace(pgo.Bar(x=s.by_band["band"], y=s.by_band["accept_rate"], name="by band",
                         text=s.by_band["decisions"], hovertemplate="%{x}: %{y:.0%} of %{text}<extra></extra>"),
                  row=1, col=3)  # fmt: skip
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=3)
    fig.update_layout(height=300, showlegend=False, margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, key="review_summary_chart")
    st.dataframe(s.by_source, hide_index=True, width="stretch")
