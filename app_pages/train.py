"""Train & evaluate: evaluate a model on an export's test split, fine-tune it, compare runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import plotly.express as px
import streamlit as st

from app_pages import _forms as forms
from app_pages._common import (
    K,
    exports_root,
    get_encoder,
    get_job,
    get_store,
    start_job,
)
from app_pages._ui import PAGE_EXPORT, esc, job_outcome, job_panel, require_project, show_flash
from embcore.models.estimate import with_eta
from embcore.training.defaults import finetune_settings, loss_options
from embcore.training.evaluate import evaluate
from embcore.training.finetune import FinetuneConfig, finetune
from embcore.training.speed import finetune_estimate
from embcore.workflow import record

st.title("Train & evaluate")
store = get_store()
show_flash()
project = require_project(store)
pid = int(project["id"])

# 1. a job in progress: progress and cancel only
job = get_job("train", pid)
if job is not None and job.running:
    st.info(esc(f"{job.label}… this runs on the CPU and can take minutes; other pages stay usable."))
    job_panel("train", pid, K.W_TR_CANCEL)
    st.stop()
if (done := job_outcome("train", pid, "The run")) is not None:
    st.success(f"Run {done} finished and recorded.")

# 2. which export and model
exports = store.exports(pid)
if exports.empty:
    st.info("Export the project first: evaluation and fine-tuning read an export's files.")
    st.page_link(PAGE_EXPORT, label="Go to Export", icon=":material/download:")
    st.stop()
labels = {int(r.id): f"export {int(r.id)} · {r.out_dir}" for r in exports.itertuples()}
export_id = st.selectbox("Export", list(labels)[::-1], format_func=labels.get, key=K.W_TR_EXPORT)
data_dir = str(exports.loc[exports["id"] == export_id, "out_dir"].iloc[0])
if not Path(data_dir, "eval").is_dir():
    st.error(esc(f"The files of export {export_id} are gone from {data_dir}; export again."))
    st.stop()
c1, c2 = st.columns(2)
model = c1.text_input("Model ('default' = bundled all-MiniLM-L6-v2)", value="default", key=K.W_TR_MODEL)
max_q = c2.number_input("Test queries evaluated (0 = all)", 0, 100000, 0, key=K.W_TR_MAXQ)
# fine-tuning settings: defaults and the measured reasons come from the core (embcore.training.defaults)
s = finetune_settings()
c1, c2, c3, c4, c5 = st.columns(5)
lr = c1.number_input(s["lr"].label, 1e-7, 1e-2, s["lr"].default, 1e-5, format="%.0e", key=K.W_TR_LR)
losses = loss_options()
loss = c2.selectbox(s["loss"].label, losses, index=losses.index(s["loss"].default), key=K.W_TR_LOSS)
epochs = c3.number_input(s["epochs"].label, 0.1, 20.0, s["epochs"].default, 0.5, key=K.W_TR_EPOCHS)
batch = c4.number_input(s["batch_size"].label, 2, 512, s["batch_size"].default, key=K.W_TR_BATCH)
max_steps = c5.number_input("Max steps (0 = full epochs)", 0, 100000, 0, key=K.W_TR_MAX_STEPS)
st.caption("  \n".join(esc(f"{x.label}: {x.note}") for x in s.values()))
cfg = {
    "export_id": export_id,
    "data_dir": data_dir,
    "model": model,
    "split": "test",
    "max_queries": int(max_q) or None,
}

if plan := finetune_estimate(data_dir, None if model == "default" else model, epochs=float(epochs), batch_size=int(batch), max_steps=int(max_steps) or None, eval_max_queries=int(max_q) or None):  # fmt: skip
    st.caption(esc(f"Before it starts: {plan.text}."))

# 3. start one: evaluation of the base model, or fine-tuning (which evaluates before and after)
b1, b2 = st.columns(2)
if b1.button("Evaluate", key=K.W_TR_EVAL, icon=":material/analytics:", width="stretch"):
    enc = get_encoder(model)
    start_job("train", pid, "Evaluating", lambda progress: record(
        store, pid, "eval", cfg, model_id=enc.model_id,
        fn=lambda: evaluate(enc, data_dir, "test", progress=progress, max_queries=cfg["max_queries"],
                            cache=store))[1])  # fmt: skip
    st.rerun()
if b2.button(
    "Fine-tune", key=K.W_TR_FINETUNE, type="primary", icon=":material/model_training:", width="stretch"
):
    out = exports_root() / "models" / f"export{export_id}-{datetime.now():%Y%m%d-%H%M%S}"
    ft = cfg | {
        "lr": float(lr),
        "loss": loss,
        "epochs": float(epochs),
        "batch_size": int(batch),
        "max_steps": int(max_steps) or None,
        "out_dir": str(out),
    }
    start_job("train", pid, "Fine-tuning", lambda progress: record(
        store, pid, "finetune", ft, model_id=model,
        fn=lambda: finetune(data_dir, None if model == "default" else model, out, FinetuneConfig(
            epochs=ft["epochs"], batch_size=ft["batch_size"], loss=ft["loss"], lr=ft["lr"], max_steps=ft["max_steps"],
            eval_max_queries=cfg["max_queries"]), progress=with_eta(progress)))[1])  # fmt: skip
    st.rerun()

# 4. past runs, compared
table = forms.train_runs_table(store, pid)
if table.empty:
    st.info("No evaluation or fine-tuning run yet.")
    st.stop()
st.subheader("Runs")
st.dataframe(table, hide_index=True, width="stretch")
long = table.melt(
    id_vars=["label"],
    value_vars=[c for c in ("ndcg@10", "mrr@10", "recall@10") if c in table],
    var_name="metric",
)
fig = px.bar(long, x="metric", y="value", color="label", barmode="group", text_auto=".3f")
fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), yaxis_range=[0, 1])
st.plotly_chart(fig, key="train_runs")
