"""Export: split ratios, seed, grouping / stratification, what happens to samples without negatives;
the counts the export will produce are shown before the click; one click publishes a new version of
the project's export folder, records it in DuckDB and offers its files as a zip."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _forms as forms
from app_pages._common import K, get_store, project_export_root, teacher_encoder, zip_folder
from app_pages._ui import esc, guarded, require_project, run_picker, show_flash
from embcore.errors import EmbcoreError
from embcore.export.config import EMPTY_NEGATIVES, ExportConfig
from embcore.export.exporter import export_project
from embcore.export.formats import FORMAT_NAMES
from embcore.export.plan import preview_export
from embcore.models.teacher import make_teacher
from embcore.review import model as review
from embcore.review import queries as qreview

NONE = "(none)"
POLICY = {
    "top-up": "Top up from the run's next candidates, then random passages",
    "random": "Give them random passages",
    "drop": "Leave them out of the JSONL files",
}

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
        f"Negatives from run {run_id}: negatives given by the data, every accepted candidate, then the run's "
        "automatic selection among undecided candidates, topped up to the requested number. Rejected candidates "
        "and positives are never negatives."
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
c1, c2 = st.columns(2)
policy = c1.selectbox("Samples left without negatives", EMPTY_NEGATIVES, format_func=POLICY.get, key=K.W_EMPTY_NEG,
                      help="Trainers crash on an empty negative list: such a sample is never written with one.")  # fmt: skip
near = c2.number_input("Near-duplicate passages: Jaccard threshold (0 = off)", 0.0, 1.0, 0.7, 0.05, key=K.W_EX_NEAR_DUP,
                       help="Passages sharing this share of their word 3-grams count as one passage: same split, "
                       "never a negative of each other.")  # fmt: skip
c1, c2 = st.columns(2)
formats = c1.multiselect("Also write", ["st", "hf"], default=["st", "hf"], format_func=FORMAT_NAMES.get, key=K.W_EX_FORMATS,
                         help="FlagEmbedding JSONL, the BEIR evaluation set and the dataset card (README.md) are always written.")  # fmt: skip
lic = c2.text_input("Licence (dataset card)", value=store.project_license(pid) or "", key=K.W_EX_LICENSE, placeholder="unknown",
                        help="An SPDX / Hugging Face licence id (cc-by-4.0, apache-2.0, mit, other), recorded for the project. "
                        "Empty: 'unknown', with a note that the source data's terms apply.")  # fmt: skip
teacher_cfg = forms.export_teacher(review.latest_teacher(store, pid))
out_dir = st.text_input(
    "Output folder", value=str(project_export_root(str(project["name"]))), key=K.W_OUT_DIR
)
st.caption("A new or empty folder, or an earlier export of this project: each export becomes a new version in it "
           "and 'current' points to the newest.")  # fmt: skip
cfg = None
try:
    cfg = ExportConfig(
        ratios=(train, val, test), seed=int(seed), group_col=None if group == NONE else group,
        stratify_col=None if stratify == NONE else stratify, max_negatives=int(max_neg) or None,
        query_prompt=prompt.strip() or None, empty_negatives=policy, near_duplicates=float(near) or None,
        formats=("flag", *formats), license=lic.strip() or None,
    )  # fmt: skip
except EmbcoreError as exc:
    st.error(esc(str(exc)))

# 2. what the export will write, before the click (same code path, nothing written; cached)
if cfg is not None:
    with guarded("Preview"):
        pv = preview_export(store, pid, run_id, cfg)
    neg, leak = pv.negatives, pv.leakage
    m = st.columns(6)
    m[0].metric("Samples", f"{sum(c['samples'] for c in pv.counts.values()):,}")
    m[1].metric("Without negatives", f"{neg['samples_without_negatives']:,}", help=esc(POLICY[policy]))
    m[2].metric("Negatives dropped: eval positive", f"{pv.removed['train_negative_is_eval_positive']:,}")
    m[3].metric("Merged groups", f"{pv.merged_groups:,}", help="Queries built from several input rows.")
    m[4].metric("Near-duplicate groups", f"{pv.near_duplicates['near_duplicate_groups']:,}")
    m[5].metric("Leaks across splits", f"{sum(leak['positive_pairs_across_splits'].values()) + leak['queries_in_another_split']:,}")  # fmt: skip
    st.caption(
        esc(
            f"Samples without negatives: {neg['topped_up_samples']} topped up from the run, {neg['random_samples']} "
            f"given random passages, {neg['left_out_samples']} left out. Negatives equal or near-identical to the "
            f"query's own positive: {pv.removed['negative_equals_positive'] + pv.removed['negative_near_duplicate_of_positive']} "
            f"dropped. {pv.near_duplicates['passages_in_near_duplicate_groups']} passages sit in near-duplicate groups."
        )
    )

# 3. one click
if st.button("Export", key=K.W_EXPORT, type="primary", icon=":material/download:") and cfg is not None:
    with guarded("Export"):
        teacher, info = (None, None)
        if teacher_cfg is not None:
            teacher, info = make_teacher(teacher_cfg, store=store, encoder=teacher_encoder(teacher_cfg))
        with st.spinner(
            "Splitting, scoring and writing files…" if teacher else "Splitting and writing files…"
        ):
            res = export_project(store, pid, out_dir, cfg, run_id=run_id, teacher=teacher, teacher_info=info)
            st.session_state[K.EXPORT] = (pid, res)

# 4. what it wrote
last = st.session_state.get(K.EXPORT)
if last is not None and last[0] == pid:
    res = last[1]
    st.success(esc(f"Export {res.export_id} written to {res.version_dir} (now {res.out_dir}/current)"))
    written = ", ".join(FORMAT_NAMES[f] for f in res.manifest.get("formats", {}).get("written", ["flag"]))
    lic_used = res.manifest.get("license", "unknown")
    st.caption(esc(f"Formats: {written}, BEIR evaluation set; dataset card README.md (licence {lic_used})."))
    st.dataframe(pd.DataFrame(res.counts).T.rename_axis("split"), width="stretch")
    with st.expander("Leakage report (0 expected everywhere)"):
        st.json(res.leakage)
    st.download_button(
        "Download the files as a zip", data=lambda: zip_folder(res.version_dir), file_name=f"{res.out_dir.name}-export-{res.export_id}.zip",
        mime="application/zip", key=K.W_DOWNLOAD, icon=":material/folder_zip:",
    )  # fmt: skip

past = store.exports(pid)
if not past.empty:
    st.subheader("Earlier exports")
    st.dataframe(past[["id", "run_id", "out_dir", "created_at"]], hide_index=True, width="stretch")
