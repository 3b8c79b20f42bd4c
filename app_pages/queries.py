"""Queries: accept, edit or reject the queries made for documents (ICT, titles, LLM) before mining.

Keyboard: J next · K previous · A accept · X reject · E edit. Filtered queries (quality gate) show
their reason and can be accepted back; rejected and filtered queries are never mined nor exported.
"""

from __future__ import annotations

import streamlit as st

from app_pages._common import K, get_store, run_safely
from app_pages._ui import esc, require_project, show_flash
from embcore.review import queries as qreview

STATUS_BADGES = {
    "kept": ":green[kept by the gate]",
    "filtered": ":orange[filtered]",
    "accepted": ":blue[accepted]",
    "rejected": ":red[rejected]",
}

store = get_store()
project = require_project(store)
pid = int(project["id"])
show_flash()
st.title("Queries")
summ = qreview.summary(store, pid)
if not summ.total:
    st.info("This project has no generated queries: only projects made from documents have them (Data page).")
    st.stop()

# 1. sidebar: counts, filters
sb = st.sidebar
sb.caption(" · ".join(f"{k} {v:,}" for k, v in summ.by_status.items()))
if summ.reasons:
    sb.caption("Filtered by: " + ", ".join(f"{k} {v:,}" for k, v in summ.reasons.items()))
status = sb.radio("Status", qreview.STATUS_FILTERS, key=K.W_Q_STATUS, horizontal=True)
method = sb.selectbox("Made by", ["any", *qreview.methods(store, pid)], key=K.W_Q_METHOD)
sb.caption("Keys: J next · K previous · A accept · X reject · E edit")
table = qreview.query_list(store, pid, status, None if method == "any" else method)
ids = [int(i) for i in table["query_id"]]
qid = st.session_state.get(K.Q_QUERY)
if qid not in ids:
    qid = st.session_state[K.Q_QUERY] = ids[0] if ids else None
if qid is None:
    st.info("No query matches the filters.")
    st.stop()
row = table.set_index("query_id").loc[qid]
row["query_id"] = qid


def go(delta: int) -> None:
    target = qreview.step(ids, st.session_state.get(K.Q_QUERY), delta)
    if target is not None:
        st.session_state[K.Q_QUERY] = target


def decide(status_: str) -> None:
    run_safely(qreview.set_status, store, pid, [qid], status_)
    st.session_state[K.Q_EDIT] = False
    go(+1)


def save_edit() -> None:
    run_safely(qreview.edit, store, pid, qid, st.session_state.get(K.W_Q_EDIT_TEXT, ""))
    st.session_state[K.Q_EDIT] = False


# 2. navigation and decisions
pos = ids.index(qid)
c = st.columns([1, 1, 1, 1, 1, 3], vertical_alignment="center")
c[0].button(
    "Previous",
    key=K.W_Q_PREV,
    shortcut="K",
    icon=":material/arrow_back:",
    on_click=go,
    args=(-1,),
    width="stretch",
)
c[1].button(
    "Next",
    key=K.W_Q_NEXT,
    shortcut="J",
    icon=":material/arrow_forward:",
    on_click=go,
    args=(+1,),
    width="stretch",
)
c[2].button(
    "Accept",
    key=K.W_Q_ACCEPT,
    shortcut="A",
    icon=":material/check:",
    on_click=decide,
    args=("accepted",),
    width="stretch",
)
c[3].button(
    "Reject",
    key=K.W_Q_REJECT,
    shortcut="X",
    icon=":material/close:",
    on_click=decide,
    args=("rejected",),
    width="stretch",
)
c[4].button("Edit", key=K.W_Q_EDIT, shortcut="E", icon=":material/edit:", width="stretch",
            on_click=lambda: st.session_state.update({K.Q_EDIT: not st.session_state.get(K.Q_EDIT, False)}))  # fmt: skip
c[5].markdown(
    f"Query **{pos + 1}** of {len(ids):,} · id {qid} · {STATUS_BADGES.get(row['status'], row['status'])}"
)

# 3. the query, why it was filtered, where it comes from, its positive
st.subheader("Query")
st.text(row["text"])
if row["status"] == "filtered":
    st.warning(
        esc(
            f"Filtered by the quality gate: {row['reason']} ({', '.join(f'{k} {v}' for k, v in row['scores'].items())})"
        )
    )
elif row["scores"]:
    st.caption(esc(", ".join(f"{k} {v}" for k, v in row["scores"].items())))
if isinstance(row["original_text"], str) and row["original_text"]:
    st.caption(esc(f"edited; originally: {row['original_text']}"))
st.caption(esc(qreview.describe(row)))
if st.session_state.get(K.Q_EDIT):
    st.text_input("Edited query", value=row["text"], key=K.W_Q_EDIT_TEXT)
    st.button("Save the edit", key=K.W_Q_SAVE, type="primary", on_click=save_edit)
st.markdown("**Positive**")
st.text(row["positive"] or "")

# 4. every query of the filter
with st.expander(f"All {len(table):,} queries of this filter"):
    st.dataframe(
        table[["query_id", "text", "method", "status", "reason", "doc_id"]], hide_index=True, width="stretch"
    )
