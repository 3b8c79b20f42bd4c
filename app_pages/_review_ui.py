"""Pieces of the Review page: filters, navigation callbacks, positives, candidate cards, bulk actions.

Every button writes through :mod:`embcore.review` in an ``on_click`` callback (wrapped by
:func:`~app_pages._common.run_safely`), so the decision is in DuckDB before the page redraws and a
core error shows as ``st.error`` on the redraw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from app_pages._common import K, flash, memo, run_safely
from app_pages._ui import esc
from embcore import review
from embcore.store import Store

STATUS_LABELS = {"all": "All", "unreviewed": "Unreviewed", "reviewed": "Reviewed"}
DECISION_BADGES = {
    "accept": ":green[accepted]",
    "reject": ":red[rejected]",
    "positive": ":blue[marked positive]",
}


# --------------------------------------------------------------------------- filters and navigation


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
    sb.caption(
        "Keys: J next · K previous · N next unreviewed · A accept · X reject · P positive · Shift+A accept all"
    )
    return review.ReviewFilter.make(status, meta, sources, text), show_kept


def go(query_id: int | None, at_end: str) -> None:
    """Move to ``query_id`` (None: stay and say why)."""
    if query_id is None:
        flash("info", at_end)
    else:
        st.session_state[K.QUERY] = int(query_id)


def go_unreviewed(store: Store, pid: int, order: np.ndarray, current: int) -> None:
    """Move to the next query nobody has reviewed (read at click time: another tab may have reviewed some)."""
    target = review.next_unreviewed(order, review.reviewed_ids(store, pid), current)
    go(target, "Every query matching the filters has been reviewed.")


# --------------------------------------------------------------------------- positives


def positives(store: Store, pid: int, q: review.QueryReview) -> None:
    """The query's positives, each editable."""
    st.markdown(f"**Positives** ({len(q.positives)})")
    for row in q.positives.itertuples(index=False):
        pid_ = int(row.passage_id)
        with st.container(border=True):
            st.text(row.text)
            origin = {"review": "marked positive by a reviewer", "edit": "edited by a reviewer"}.get(
                row.origin, None if row.origin == "data" else f"origin {row.origin}"
            )
            score = getattr(row, "teacher_score", None)
            notes = [
                esc(x)
                for x in (origin, None if score is None or pd.isna(score) else f"teacher {score:.3f}")
                if x
            ]
            if notes:
                st.caption(" · ".join(notes))
            with st.expander("Edit this positive"):
                new = st.text_area(
                    "Text", value=row.text, key=K.positive("text", q.query_id, pid_), height=120
                )
                st.button(
                    "Save edit", key=K.positive("save", q.query_id, pid_), disabled=new.strip() == str(row.text),
                    on_click=run_safely, args=(review.edit_positive, store, pid, q.query_id, pid_, new),
                )  # fmt: skip


# --------------------------------------------------------------------------- candidates


def toolbar(store: Store, pid: int, run_id: int, q: review.QueryReview) -> None:
    """Keyboard-driven actions on the 'next up' candidate, and accept-all-remaining."""
    counts = q.counts()
    nxt = q.next_up
    st.subheader("Candidates")
    st.caption(
        f"{counts['shown']} shown · {counts['accept']} accepted · {counts['reject']} rejected · "
        f"{counts['positive']} marked positive · {counts['undecided']} undecided"
        + (f" · next up: {_rank(q, nxt)}" if nxt is not None else "")
    )
    cols = st.columns(4)
    for col, (label, key, shortcut, decision, icon) in zip(cols[:3], (
        ("Accept next up", K.W_ACCEPT_NEXT, "A", "accept", ":material/check:"),
        ("Reject next up", K.W_REJECT_NEXT, "X", "reject", ":material/close:"),
        ("Next up is a positive", K.W_POSITIVE_NEXT, "P", "positive", ":material/star:"),
    ), strict=True):  # fmt: skip
        col.button(label, key=key, shortcut=shortcut, icon=icon, disabled=nxt is None, width="stretch",
                   on_click=run_safely, args=(review.decide, store, pid, q.query_id, nxt, decision))  # fmt: skip
    cols[3].button(
        "Accept all remaining", key=K.W_ACCEPT_REST, shortcut="Shift+A", icon=":material/done_all:",
        disabled=counts["undecided"] == 0, width="stretch", type="primary",
        on_click=run_safely, args=(review.accept_remaining, store, pid, run_id, q.query_id, q.shown_statuses),
    )  # fmt: skip


def _rank(q: review.QueryReview, passage_id: int | None) -> str:
    c = q.candidates
    hit = c.loc[c["passage_id"] == passage_id, "rank"]
    if not len(hit):
        return "?"
    return "a given / generated negative" if pd.isna(hit.iloc[0]) else f"#{int(hit.iloc[0])}"


def cards(store: Store, pid: int, q: review.QueryReview, frame: pd.DataFrame, where: str) -> None:
    """One bordered card per candidate: provenance line, text (literal), decision buttons."""
    overlap, nxt = q.overlap, q.next_up
    for row in frame.to_dict("records"):
        cand = int(row["passage_id"])
        decision = row["decision"] if isinstance(row["decision"], str) else None
        with st.container(border=True, key=f"card-{q.query_id}-{cand}-{where}"):
            head = esc(review.describe_candidate(row, overlap))
            badge = DECISION_BADGES.get(decision, "")
            marker = ":violet[**▶ next up**] " if cand == nxt and where != "filtered" else ""
            st.caption(f"{marker}{head} {badge}")
            st.text(row["text"])
            b = st.columns(4)
            _button(b[0], "Accept", "accept", decision, store, pid, q.query_id, cand, where)
            _button(b[1], "Reject", "reject", decision, store, pid, q.query_id, cand, where)
            _button(b[2], "Positive", "positive", decision, store, pid, q.query_id, cand, where)
            if decision is not None:
                b[3].button("Undo", key=K.candidate("undo", q.query_id, cand, where), width="stretch",
                            on_click=run_safely, args=(review.decide, store, pid, q.query_id, cand, None))  # fmt: skip


def _button(
    slot: Any,
    label: str,
    decision: str,
    current: str | None,
    store: Store,
    pid: int,
    qid: int,
    cand: int,
    where: str,
) -> None:
    slot.button(
        label, key=K.candidate(decision, qid, cand, where), width="stretch", disabled=current == decision,
        type="primary" if current == decision else "secondary",
        on_click=run_safely, args=(review.decide, store, pid, qid, cand, decision),
    )  # fmt: skip


# --------------------------------------------------------------------------- bulk


def _bulk_done(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    result = run_safely(fn, *args, **kwargs)
    if result is not None:
        flash("success", f"{what}: {result.pairs:,} candidates in {result.queries:,} queries.")


def bulk_actions(
    store: Store, pid: int, run_id: int, q: review.QueryReview, order: np.ndarray, show_kept: bool
) -> None:
    """Accept a score band for all queries; reject everything too similar to the positive."""
    statuses = review.SHOWN_WITH_KEPT if show_kept else review.SHOWN_DEFAULT
    with st.container(border=True):
        st.markdown("**Accept every undecided candidate whose score lies in a band**")
        ranges = memo(
            "ranges",
            (run_id,),
            lambda: {c: review.score_range(store, run_id, c) for c in review.SCORE_COLUMNS},
        )
        col = st.selectbox("Score", [c for c, r in ranges.items() if r is not None], key=K.W_BAND_COL)
        if col is None or ranges[col][0] >= ranges[col][1]:
            st.info("This run has no score spread to choose a band from.")
            return
        lo, hi = ranges[col]
        band = st.slider("Band", lo, hi, (lo + (hi - lo) / 2, hi), key=K.band(col))
        scope = st.radio(
            "Queries", ["All queries", "Queries matching the filters"], key=K.W_BAND_SCOPE, horizontal=True
        )
        ids = None if scope == "All queries" else [int(i) for i in order]
        n = review.preview(
            review.band_pairs(store, run_id, col, band[0], band[1], statuses=statuses, query_ids=ids)
        )
        st.button(
            f"Accept {n.pairs:,} candidates in {n.queries:,} queries", key=K.W_BAND_APPLY, disabled=not n.pairs,
            on_click=_bulk_done,
            args=("Accepted", review.accept_band, store, pid, run_id, col, band[0], band[1]),
            kwargs={"statuses": statuses, "query_ids": ids},
        )  # fmt: skip
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
        scope = st.radio("Queries", ["This query", "All queries"], key=K.W_SIM_SCOPE, horizontal=True)
        ids = [q.query_id] if scope == "This query" else None
        n = review.preview(review.above_similarity_pairs(store, run_id, thr, query_ids=ids))
        st.button(
            f"Reject {n.pairs:,} candidates in {n.queries:,} queries", key=K.W_SIM_APPLY, disabled=not n.pairs,
            on_click=_bulk_done, args=("Rejected", review.reject_above_similarity, store, pid, run_id, thr),
            kwargs={"query_ids": ids},
        )  # fmt: skip
