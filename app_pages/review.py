"""Review: one query at a time, positives on top, BM25 and dense candidates side by side.

Keyboard: J next · K previous · N next unreviewed · A / X / P accept, reject or mark as positive
the candidate marked "next up" · Shift+A accept all remaining. Every click is written to DuckDB
at once.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _review_ui as ui
from app_pages._common import K, get_store
from app_pages._ui import esc, require_project, require_run, show_flash
from embcore import review
from embcore.errors import EmbcoreError

store = get_store()
project = require_project(store)
pid = int(project["id"])
run_id = require_run(store, pid)
show_flash()

# 1. sidebar: progress and filters
prog = review.progress(store, pid)
st.sidebar.progress(prog.fraction, text=f"Reviewed {prog.reviewed:,} of {prog.queries:,}")
st.sidebar.caption(
    f"Accepted {prog.accepted:,} · rejected {prog.rejected:,} · marked positive {prog.positives:,}"
)
flt, show_kept = ui.filter_widgets(store, pid, run_id)

# 2. which query: the one on screen, or the first unreviewed one after a filter change
order = review.query_order(store, pid, run_id, flt)
reviewed = review.reviewed_ids(store, pid)
if st.session_state.get(K.FILTER) != flt or K.QUERY not in st.session_state:
    st.session_state[K.FILTER] = flt
    st.session_state[K.QUERY] = review.start_query(order, reviewed)
qid = st.session_state[K.QUERY]
if qid is None:
    st.info("No query matches the filters." if flt.active else "This project has no queries.")
    st.stop()
pos = review.locate(order, qid)

# 3. navigation (J / K / N)
nav = st.columns([1, 1, 1.4, 3], vertical_alignment="center")
nav[0].button("Previous", key=K.W_PREV, shortcut="K", icon=":material/arrow_back:", width="stretch",
              on_click=ui.go, args=(review.step(order, qid, -1), "This is the first query."))  # fmt: skip
nav[1].button("Next", key=K.W_NEXT, shortcut="J", icon=":material/arrow_forward:", width="stretch",
              on_click=ui.go, args=(review.step(order, qid, +1), "This is the last query."))  # fmt: skip
nav[2].button("Next unreviewed", key=K.W_NEXT_TODO, shortcut="N", icon=":material/fast_forward:", width="stretch",
              on_click=ui.go_unreviewed, args=(store, pid, order, qid))  # fmt: skip
teacher = review.latest_teacher(store, pid)  # the latest scoring run's teacher: its raw score on each card
try:
    q = review.load_query(
        store, pid, run_id, qid, show_kept=show_kept, teacher=teacher and teacher["teacher_id"]
    )
except EmbcoreError as exc:  # e.g. the query belongs to another project: start over on the next run
    st.session_state.pop(K.QUERY, None)
    st.error(esc(str(exc)))
    st.stop()
nav[3].markdown(
    f"Query **{pos.label}** · id {qid} · " + (":green[reviewed]" if q.reviewed else ":orange[not reviewed]")
)

# 4. the query and its positives
st.subheader("Query")
st.text(q.text)
if q.meta:
    st.caption(esc(" · ".join(f"{k}: {v}" for k, v in q.meta.items())))
ui.positives(store, pid, q)

# 5. candidates: the "next up" toolbar, then BM25 | dense side by side, other sources, given / generated
# negatives, filtered ones
ui.toolbar(store, pid, run_id, q)
if teacher:
    st.caption(
        esc(f"teacher: raw score of the {review.teacher_label(teacher)} (scoring run {teacher['run_id']})")
    )
bm25, dense, other = q.bm25, q.dense, q.other
lists = [("bm25", "BM25 candidates", bm25), ("dense", "Dense candidates", dense)]
lists = [x for x in lists if len(x[2])]
if not lists and not len(other) and not len(q.given):
    st.info("No candidate to review for this query in this run (see the filtered ones below).")
for col, (where, title, frame) in zip(st.columns(max(1, len(lists))), lists, strict=False):
    with col:
        st.markdown(f"**{title}** ({len(frame)})")
        ui.cards(store, pid, q, frame, where)
if len(other):
    st.markdown(f"**Other sources** ({len(other)})")
    ui.cards(store, pid, q, other, "other")
if len(q.given):
    st.markdown(f"**Given and generated negatives** ({len(q.given)})")
    ui.cards(store, pid, q, q.given, "given")
if len(q.filtered):
    with st.expander(f"Removed by the false-negative filters ({len(q.filtered)})"):
        ui.cards(store, pid, q, q.filtered, "filtered")

# 6. bulk actions (computed only when opened)
if st.toggle("Bulk actions", key=K.W_BULK):
    ui.bulk_actions(store, pid, run_id, q, order, show_kept)
