"""Rendering helpers shared by the pages: escaping, flash messages, project / run pickers, guards,
the background-job progress panel and plotly heatmaps.

User data is always rendered as text: ``st.text`` / ``st.dataframe`` for bodies, and
:func:`esc` (Markdown-escaped) wherever user text must go into Markdown (captions, messages).
"""

from __future__ import annotations

import html
import logging
import re
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_pages._common import K, clear_job, get_job
from embcore.errors import EmbcoreError
from embcore.review import model as review
from embcore.review.status import project_steps
from embcore.store import Store

log = logging.getLogger("embcore.app")

PAGE_DATA = "app_pages/data.py"
PAGE_MINE = "app_pages/mine.py"
PAGE_REVIEW = "app_pages/review.py"
PAGE_EXPORT = "app_pages/export.py"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^\"'@%])")


def esc(text: Any) -> str:
    """Escape every Markdown / HTML-significant character so ``text`` shows literally in ``st.markdown``."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def show_flash() -> None:
    """Render (and forget) the messages queued by callbacks."""
    for kind, text in st.session_state.pop(K.FLASH, []):
        getattr(st, kind, st.info)(esc(text))


def error(exc: Exception) -> None:
    """Show a core error as one clear, escaped line."""
    st.error(esc(str(exc)))


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Run core calls; on failure show one clear ``st.error`` (never a traceback) and stop the page."""
    try:
        yield
    except EmbcoreError as exc:
        error(exc)
        st.stop()
    except Exception as exc:  # noqa: BLE001 - the log keeps the traceback, the user gets one line
        log.exception("%s failed", what)
        st.error(
            esc(f"{what} failed unexpectedly ({type(exc).__name__}: {exc}). Details are in the server log.")
        )
        st.stop()


def crash_screen(exc: BaseException) -> None:
    """Last-resort handler used by app.py: an error box instead of a traceback."""
    log.error("page crashed", exc_info=exc)
    st.error(
        esc(f"Something went wrong ({type(exc).__name__}: {exc}). Your reviews are saved; reload the page.")
    )


# --------------------------------------------------------------------------- project and run


def _sync_project() -> None:
    st.session_state[K.PROJECT] = st.session_state[K.W_PROJECT_PICK]
    st.session_state.pop(K.RUN, None)
    st.session_state.pop(K.QUERY, None)
    st.session_state.pop(K.W_EX_LICENSE, None)  # the licence field shows the newly opened project's


def project_sidebar(store: Store) -> dict[str, Any] | None:
    """Sidebar project switcher; returns the open project as ``{"id", "name"}`` (None when there is none)."""
    projects = dict(review.project_names(store))
    if not projects:
        st.sidebar.caption("No project yet: create one on the Data page.")
        st.session_state.pop(K.PROJECT, None)
        return None
    ids = list(projects)
    current = st.session_state.get(K.PROJECT)
    if current not in projects:
        current = ids[-1]
        st.session_state[K.PROJECT] = current
    if st.session_state.get(K.W_PROJECT_PICK) != current:
        st.session_state[K.W_PROJECT_PICK] = current
    st.sidebar.selectbox(
        "Project",
        ids,
        format_func=lambda i: f"{projects[i]} (#{i})",
        key=K.W_PROJECT_PICK,
        on_change=_sync_project,
    )
    progress_stepper(store, int(current))
    return {"id": current, "name": projects[current]}


STEP_ICONS = {
    "done": ":material/check_circle:",
    "current": ":material/arrow_circle_right:",
    "partial": ":material/timelapse:",
    "skipped": ":material/do_not_disturb_on:",
    "todo": ":material/radio_button_unchecked:",
}


def progress_stepper(store: Store, pid: int) -> None:
    """Sidebar: the path Data -> Mine -> Review -> Export -> Train, each step done / current / next
    with its count (one aggregate query; rendered on every page by :func:`project_sidebar`)."""
    lines = []
    for step in project_steps(store, pid):
        name = f"**{step.label}**" if step.state == "current" else step.label
        lines.append(f"{STEP_ICONS[step.state]} {name} · {esc(step.detail)}")
    with st.sidebar.container(key="progress_stepper"):
        st.caption("Where this project stands")
        st.markdown("  \n".join(lines))


def require_project(store: Store) -> dict[str, Any]:
    """The open project, or an explanation and a stop."""
    project = project_sidebar(store)
    if project is None:
        st.info("Create or open a project on the Data page first.")
        st.page_link(PAGE_DATA, label="Go to Data", icon=":material/upload_file:")
        st.stop()
    return project  # type: ignore[return-value]


def _run_label(run_id: int, config: dict[str, Any], finished: Any) -> str:
    when = (
        pd.Timestamp(finished).strftime("%Y-%m-%d %H:%M")
        if finished is not None and pd.notna(finished)
        else ""
    )
    return f"run {run_id} · {'+'.join(config.get('strategies', []))} · {when}"


def _sync_run() -> None:
    st.session_state[K.RUN] = st.session_state[K.W_RUN_PICK]


def run_picker(store: Store, pid: int) -> int | None:
    """Sidebar picker of the project's finished mining runs (latest first); returns the chosen run."""
    runs = review.finished_runs(store, pid)
    if not runs:
        return None
    labels = {rid: _run_label(rid, cfg, when) for rid, cfg, when in runs}
    ids = list(labels)
    current = st.session_state.get(K.RUN)
    if current not in labels:
        current = ids[0]
        st.session_state[K.RUN] = current
    if st.session_state.get(K.W_RUN_PICK) != current:
        st.session_state[K.W_RUN_PICK] = current
    st.sidebar.selectbox("Mining run", ids, format_func=labels.get, key=K.W_RUN_PICK, on_change=_sync_run)
    return current


def require_run(store: Store, pid: int) -> int:
    """The mining run under review, or an explanation and a stop."""
    run_id = run_picker(store, pid)
    if run_id is None:
        st.info("This project has no finished mining run yet.")
        st.page_link(PAGE_MINE, label="Go to Mine", icon=":material/search:")
        st.stop()
    return run_id  # type: ignore[return-value]


# --------------------------------------------------------------------------- background jobs


def job_panel(kind: str, pid: int, cancel_key: str) -> None:
    """Progress of a running background job with a Cancel button; redraws itself every half second."""

    @st.fragment(run_every=0.5)
    def _panel() -> None:
        job = get_job(kind, pid)
        if job is None or not job.running:
            st.rerun()  # the job ended: redraw the whole page with its outcome
            return
        text = f"{job.label}: {job.stage}" + (f" ({job.done:,} / {job.total:,})" if job.total else "")
        st.progress(job.fraction, text=esc(text))
        if job.cancel.is_set():
            st.caption("Cancelling at the next safe point…")
        st.button("Cancel", key=cancel_key, on_click=job.cancel.set, icon=":material/cancel:", shortcut="Esc")

    _panel()


def job_outcome(kind: str, pid: int, what: str) -> Any:
    """Show how a finished job ended (once) and return its result (``None`` unless it succeeded)."""
    job = get_job(kind, pid)
    if job is None or job.running:
        return None
    clear_job(kind, pid)
    if job.error:
        st.error(esc(f"{what} failed: {job.error}"))
        return None
    if job.cancelled:
        st.warning(f"{what} was cancelled; nothing was stored.")
        return None
    return job.result


# --------------------------------------------------------------------------- plots


def _hover(texts: Sequence[str], width: int = 70, max_lines: int = 8) -> list[str]:
    out = []
    for t in texts:
        lines = textwrap.wrap(str(t), width=width)[:max_lines] or [""]
        out.append("<br>".join(html.escape(line) for line in lines))
    return out


def heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_texts: Sequence[str],
    col_texts: Sequence[str],
    *,
    title: str = "",
    zmin: float = -0.2,
    zmax: float = 1.0,
) -> go.Figure:
    """A cosine-similarity heatmap whose hover shows both texts (HTML-escaped)."""
    rh, ch = _hover(row_texts), _hover(col_texts)
    custom = np.empty(matrix.shape + (2,), dtype=object)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            custom[i, j, 0], custom[i, j, 1] = rh[i], ch[j]
    fig = go.Figure(
        go.Heatmap(
            z=np.round(matrix, 3),
            x=[html.escape(str(c)) for c in col_labels],
            y=[html.escape(str(r)) for r in row_labels],
            customdata=custom,
            zmin=zmin,
            zmax=zmax,
            colorscale="Blues",
            texttemplate="%{z:.2f}",
            hovertemplate="<b>cos %{z:.3f}</b><br><br>%{customdata[0]}<br><br>vs<br><br>%{customdata[1]}<extra></extra>",
        )
    )
    fig.update_layout(
        title=html.escape(title),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        height=max(300, 40 * len(row_labels) + 120),
    )
    fig.update_yaxes(autorange="reversed")
    return fig
