"""Agreement: several reviewers on one project. Overlap k and assignment, Cohen's kappa per pair and
Fleiss' kappa overall, the disagreements, and adjudication by a lead (the export follows it)."""

from __future__ import annotations

import streamlit as st

from app_pages import _agreement_ui as ui
from app_pages import _reviewer as who
from app_pages._common import get_store
from app_pages._ui import require_project, show_flash
from embcore.review import agreement

store = get_store()
project = require_project(store)
pid = int(project["id"])
show_flash()
reviewer = who.current(store, pid)
lead = agreement.is_lead(store, pid, reviewer)
who.sidebar(reviewer, lead=lead)

st.subheader("Agreement")
ui.settings(store, pid)
ui.figures(agreement.agreement(store, pid))
ui.disagreements(store, pid, reviewer, lead)
