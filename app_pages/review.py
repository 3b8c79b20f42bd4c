"""Review: one query at a time, its candidates in one compact table, decisions by keyboard or mouse.

Keyboard (listed on screen): 1-9 or arrows select a candidate · A / X / P accept, reject or mark
it positive · Shift+0-3 grade it · Shift+A accept the rest · D done and next · U undo · J / K
next / previous · N next in the queue · / search the corpus · C note · F flag · V diff · Q queue ·
S session summary. Every decision names the reviewer, the candidate and the query version it was
shown with; a stale one (another tab, a key pressed against an old page) is refused visibly.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _review_ui as ui
from app_pages import _reviewer as who
from app_pages._common import get_store
from app_pages._ui import require_project, require_run, show_flash
from embcore.review import model as review

store = get_store()
project = require_project(store)
pid = int(project["id"])
run_id = require_run(store, pid)
show_flash()

# 1. who reviews; the queue and the sidebar filters; the query on screen
reviewer = who.current(store, pid)
who.sidebar(reviewer)
teacher = review.latest_teacher(store, pid)  # the latest scoring run's teacher: its raw score per row
queue = ui.queue_widgets(store, pid, run_id, reviewer, teacher and teacher["teacher_id"])
flt, show_kept = ui.filter_widgets(store, pid, run_id)
if ui.start(store, pid, run_id, flt, queue, reviewer) is None:
    st.info(ui.empty_message(flt, queue))
    st.stop()

# 2. the review area: a fragment, so a key press reruns only it
ui.area(store, pid, run_id, flt, show_kept, teacher, reviewer)
