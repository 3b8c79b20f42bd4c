"""Mine: choose strategies and filters, run mining in the background (progress + cancel), see the summary."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages import _forms as forms
from app_pages._common import K, get_encoder, get_job, get_store, start_job
from app_pages._ui import esc, job_outcome, job_panel, require_project, show_flash
from embcore.models.estimate import mining_estimate, with_eta
from embcore.review import model as review
from embcore.workflow import run_mining

st.title("Mine negatives")
store = get_store()
show_flash()
project = require_project(store)
pid = int(project["id"])

# 1. a run in progress (started here or in another tab): progress and cancel, nothing else
job = get_job("mine", pid)
if job is not None and job.running:
    st.info(
        esc(
            f"Mining {project['name']}… you can keep working in another tab; closing this one does not stop it."
        )
    )
    job_panel("mine", pid, K.W_CANCEL)
    st.stop()
finished = job_outcome("mine", pid, "Mining")
if finished is not None:
    st.success(f"Mining run {finished} finished. Review its candidates on the Review page.")
    st.session_state[K.RUN] = finished
    st.session_state.pop(K.QUERY, None)

stopped = store.runs(pid, status="interrupted")
if not stopped.empty:
    st.warning(
        f"{len(stopped)} run(s) of this project were interrupted: their process ended before they finished "
        "(nothing of them is used). Start a new run."
    )
    st.dataframe(stopped[["id", "kind", "started_at", "error"]], hide_index=True, width="stretch")

# 2. settings and start
with st.expander("Mining settings", expanded=store.latest_run(pid) is None):
    cfg = forms.mining_form(sorted(review.meta_options(store, pid)))
    est = mining_estimate(store, pid, cfg, get_encoder(cfg.model)) if cfg is not None else None
    if est is not None:
        st.caption(esc(f"Before it starts: {est.text} (less for texts already in the embedding cache)."))
    if st.button(
        "Start mining", key=K.W_MINE, type="primary", icon=":material/play_arrow:", disabled=cfg is None
    ):
        encoder = (
            get_encoder(cfg.model) if cfg.needs_embeddings() or st.session_state.get(K.ENCODER) else None
        )
        start_job(
            "mine",
            pid,
            "Mining",
            lambda progress: run_mining(store, pid, cfg, encoder=encoder, progress=with_eta(progress)),
        )
        st.rerun()

# 3. what the latest run did
run_id = store.latest_run(pid)
if run_id is None:
    st.info("No finished mining run yet: choose settings above and start one.")
    st.stop()
s = review.run_summary(store, pid, run_id)
run, per_query = s["run"], s["per_query"]
st.subheader(f"Run {run_id}")
counts = run.get("counts") or {}
c1, c2, c3, c4 = st.columns(4)
c1.metric("Candidates", f"{counts.get('candidates', 0):,}")
c2.metric("Selected negatives", f"{counts.get('selected', 0):,}")
c3.metric("Queries without negatives", f"{int((per_query['selected'] == 0).sum()):,}")
c4.metric("Time", f"{(run.get('timings') or {}).get('total_s', 0):.1f} s")
left, right = st.columns(2)
left.markdown("**What each filter removed**")
left.dataframe(s["filters"], hide_index=True, width="stretch")
right.markdown("**Candidates by outcome**")
right.dataframe(s["status"], hide_index=True, width="stretch")
if not s["sources"].empty:
    st.markdown("**Per strategy**")
    st.dataframe(s["sources"], hide_index=True, width="stretch")
st.markdown("**Candidates per query**")
fig = px.histogram(
    per_query.melt(id_vars="query_id", value_vars=["survivors", "selected"], var_name="kind", value_name="count"),
    x="count", color="kind", barmode="overlay", opacity=0.7, labels={"count": "candidates per query"},
)  # fmt: skip
fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
st.plotly_chart(fig, key="mine_per_query")
with st.expander("Run configuration"):
    st.json(run.get("config") or {})
