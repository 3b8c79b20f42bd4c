"""Data: upload a file (or the bundled sample), preview, map fields, see the cleaning report, create a project;
or documents / a search log as the input (app_pages/_sources_ui.py)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import _data_ui as data_ui
from app_pages import _forms as forms
from app_pages import _sources_ui as sources_ui
from app_pages._common import K, flash, get_store, sample_csv
from app_pages._ui import esc, guarded, project_sidebar, show_flash
from embcore.review import model as review
from embcore.workflow import create_project

st.title("Data")
store = get_store()
show_flash()
project_sidebar(store)

# 1. existing projects and where each one stands
overview = review.project_overview(store)
if overview.empty:
    st.info("No project yet. Upload a file below, or start from the bundled sample.")
else:
    st.subheader("Projects")
    cols = [
        "id",
        "name",
        "source_name",
        "queries",
        "passages",
        "mining_runs",
        "reviewed",
        "decisions",
        "exports",
        "stage",
    ]
    st.dataframe(overview[cols], hide_index=True, width="stretch")
    st.caption("Open a project with the picker in the sidebar.")

# 2. a file: uploaded or the bundled sample (or documents / a search log: app_pages/_sources_ui.py)
st.subheader("New project")
KINDS = {"table": "Table with queries", "documents": "Documents (no queries yet)", "log": "Search log"}
kind = st.radio("Input", list(KINDS), format_func=KINDS.get, key=K.W_INPUT_KIND, horizontal=True)
if kind == "documents":
    sources_ui.documents_form(store)
    st.stop()
if kind == "log":
    sources_ui.log_form(store)
    st.stop()
sources = ["Upload a file"] + (["Bundled sample"] if sample_csv() else [])
# a fresh database opens on the bundled sample: one click on "Create project" and it is ready to mine
default = sources.index("Bundled sample") if overview.empty and len(sources) > 1 else 0
source = st.radio("Data source", sources, index=default, key=K.W_SOURCE, horizontal=True)
if source == "Upload a file":
    upload = st.file_uploader(
        "CSV, TSV, JSON, JSONL or Parquet with a query column and a positive (answer / context) column",
        type=["csv", "tsv", "txt", "json", "jsonl", "ndjson", "parquet"],
        key=K.W_UPLOAD,
    )
    if upload is None:
        st.stop()
    raw = forms.read_source(upload, f"upload:{upload.file_id}")
else:
    path = sample_csv()
    raw = forms.read_source(path, f"sample:{path}")
if raw is None:
    st.stop()

st.caption(esc(f"{raw.name}: {len(raw.df):,} rows · {raw.format} · encoding {raw.encoding or 'n/a'}"))
st.dataframe(raw.df.head(200), width="stretch", height=240)

# 3. field mapping, the cleaning report it gives and a profile of the data
st.subheader("Field mapping")
mapping = forms.mapping_widgets(raw)
result = forms.cleaning_preview(raw, mapping)
if result is None:
    st.stop()
report = result.report()
c1, c2, c3 = st.columns(3)
c1.metric("Rows read", f"{report['rows_read']:,}")
c2.metric("Queries (samples)", f"{len(result.samples):,}")
c3.metric("Rows dropped", f"{report['rows_dropped']:,}")
data_ui.cleaning_report(report)
with st.expander("Data profile: columns, lengths, duplicates, rows → samples"):
    data_ui.data_profile(forms.data_profile(raw, result))
if mapping.guessed:
    st.info("Confirm the guessed mapping above to create the project.")
    st.stop()

# 4. create (or replace) the project
name = st.text_input("Project name", value=Path(raw.name).stem, key=K.W_NAME)
replace = st.checkbox("Replace an existing project with this name (its reviews are lost)", key=K.W_REPLACE)
if st.button("Create project", key=K.W_CREATE, type="primary", icon=":material/add:"):
    with guarded("Creating the project"), st.spinner("Cleaning and storing the data…"):
        info = create_project(store, None, mapping, name=name, raw=raw, replace=replace, ingested=result)
    st.session_state[K.PROJECT] = info.project_id
    st.session_state.pop(K.RUN, None)
    st.session_state.pop(K.QUERY, None)
    flash("success", f"Project {name!r} created with {len(info.ingest.samples):,} queries. Next: Mine.")
    st.rerun()
