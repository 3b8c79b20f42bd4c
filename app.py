"""embcore's Streamlit app: ``streamlit run app.py``. Navigation over ``pages/`` and nothing else."""

from __future__ import annotations

import streamlit as st

from pages._common import run_page
from pages._ui import crash_screen

st.set_page_config(page_title="embcore", page_icon=":material/dataset:", layout="wide")

page = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
        st.Page("pages/mine.py", title="Mine", icon=":material/search:"),
        st.Page("pages/review.py", title="Review", icon=":material/rule:"),
        st.Page("pages/similarity.py", title="Similarity", icon=":material/grid_on:"),
        st.Page("pages/export.py", title="Export", icon=":material/download:"),
        st.Page("pages/train.py", title="Train & evaluate", icon=":material/model_training:"),
    ]
)
run_page(page, crash_screen)
