"""Export: split ratios, seed, grouping / stratification; one click writes train / val / test JSONL
and the evaluation set, records the export in DuckDB and offers the files as a zip."""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd
import streamlit as st

from app_pages import _forms as forms
from app_pages._common import K, exports_root, get_store, teacher_encoder, zip_folder
from app_pages._ui import esc, guarded, require_project, run_picker, show_flash
from embcore import review
from embcore.export import ExportConfig, export_project
from embcore.scoring import make_teacher
from embcore.sources import review as qreview

NONE = "(none)"

st.title("Export")
store = get_store()
show_flash()
project = require_project(store)
pid = int(project["id"])
run_id = run_picker(store, pid)
if run_id is None:
    st.warning("No mining run yet: the export will hold only negatives given by the data itself.")
else:
    st.caption(
        f"Negatives from run {run_id}: every candidate a reviewer accepted, and for queries nobody reviewed, "
        "the run's automatically selected ones."
    )

# 1. settings
c1, c2, c3, c4 = st.columns(4)
train = c1.number_input("Train", 0.0, 1.0, 0.8, 0.05, key=K.W_TRAIN)
val = c2.number_input("Validation", 0.0, 1.0, 0.1, 0.05, key=K.W_VAL)
test = c3.number_input("Test", 0.0, 1.0, 0.1, 0.05, key=K.W_TEST)
seed = c4.number_input("Seed", value=42, step=1, key=K.W_EX_SEED)
meta_keys = [NONE, *sorted(review.meta_options(store, pid))]
by_doc = qreview.from_documents(store, pid)  # a documents project: its chunks of one document stay together
meta_keys += ["doc_id"] if by_doc and "doc_id" not in meta_keys else []
c1, c2, c3, c4 = st.columns(4)
group = c1.selectbox("Keep together (grouping column)", meta_keys, index=meta_keys.index("doc_id") if by_doc else 0, key=K.W_GROUP,
                     help="Queries sharing a value never straddle two splits (queries sharing a positive never do).")  # fmt: skip
stratify = c2.selectbox("Spread evenly (stratification column)", meta_keys, key=K.W_STRATIFY)
max_neg = c3.number_input("Max negatives per sample (0 = all)", 0, 1000, 0, key=K.W_MAX_NEG)
prompt = c4.text_input("Query instruction (optional)", value=review.project_prompt(store, pid) or "", key=K.W_PROMPT,
                       help="Defaults to the prompt set on the Augment & scores page; a query's own prompt wins.")  # fmt: skip
teacher_cfg = forms.export_teacher(review.latest_teacher(store, pid))
slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(project["name"])).strip("-") or "project"
default_dir = exports_root() / f"{slug}-{datetime.now():%Y%m%d-%H%M%S}"
out_dir = st.text_input("Output folder", value=str(default_dir), key=K.W_OUT_DIR)

# 2. one click
if st.button("Export", key=K.W_EXPORT, type="primary", icon=":material/download:"):
    with guarded("Export"):
        cfg = ExportConfig(
            ratios=(train, val, test), seed=int(seed), group_col=None if group == NONE else group,
            stratify_col=None if stratify == NONE else stratify, max_negatives=int(max_neg) or None,
            query_prompt=prompt.strip() or None,
        )  # fmt: skip
        teacher, info = (None, None)
        if teacher_cfg is not None:
            teacher, info = make_teacher(teacher_cfg, store=store, encoder=teacher_encoder(teacher_cfg))
        with st.spinner(
            "Splitting, scoring and writing files…" if teacher else "Splitting and writing files…"
        ):
            res = export_project(store, pid, out_dir, cfg, run_id=run_id, teacher=teacher, teacher_info=info)
            st.session_state[K.EXPORT] = (pid, res)

# 3. what it wrote
last = st.session_state.get(K.EXPORT)
if last is not None and last[0] == pid:
    res = last[1]
    st.success(esc(f"Export {res.export_id} written to {res.out_dir}"))
    st.dataframe(pd.DataFrame(res.counts).T.rename_axis("split"), width="stretch")
    if res.without_negatives:
        with st.expander(f"{len(res.without_negatives)} samples have no negative"):
            st.dataframe(pd.DataFrame({"query": res.without_negatives}), hide_index=True, width="stretch")
    if any(res.removed.values()):
        st.caption(
            esc(
                "Removed for safety: "
                + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in res.removed.items())
            )
        )
    st.download_button(
        "Download the files as a zip", data=lambda: zip_folder(res.out_dir), file_name=f"{slug}-export-{res.export_id}.zip",
        mime="application/zip", key=K.W_DOWNLOAD, icon=":material/folder_zip:",
    )  # fmt: skip

past = store.exports(pid)
if not past.empty:
    st.subheader("Earlier exports")
    st.dataframe(past[["id", "run_id", "out_dir", "created_at"]], hide_index=True, width="stretch")
