"""embcore's Streamlit app: ``streamlit run app.py``. Navigation over ``app_pages/`` (not ``pages/``: Streamlit would also run that folder in its legacy multipage mode) and nothing else."""

from __future__ import annotations

import streamlit as st

from app_pages._common import run_page
from app_pages._reviewer import guard_address
from app_pages._ui import crash_screen

st.set_page_config(page_title="embcore", page_icon=":material/dataset:", layout="wide")
guard_address()  # beyond loopback only with a login or --i-know-this-is-public

page = st.navigation(
    [
        st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:", default=True),
        st.Page("app_pages/queries.py", title="Queries", icon=":material/quiz:"),
        st.Page("app_pages/mine.py", title="Mine", icon=":material/search:"),
        st.Page("app_pages/review.py", title="Review", icon=":material/rule:"),
        st.Page("app_pages/agreement.py", title="Agreement", icon=":material/group:"),
        st.Page("app_pages/augment.py", title="Augment & scores", icon=":material/auto_awesome:"),
        st.Page("app_pages/similarity.py", title="Similarity", icon=":material/grid_on:"),
        st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
        st.Page("app_pages/train.py", title="Train & evaluate", icon=":material/model_training:"),
    ]
)
run_page(page, crash_screen)
