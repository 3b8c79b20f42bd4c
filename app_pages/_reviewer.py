"""Who is reviewing, and where the app may listen.

On a loopback server a reviewer types a name at first visit; it is kept in the browser session
(and in the page address, ``?reviewer=NAME``, so a reload keeps it) and stored with every
decision. When Streamlit's authentication is configured (an ``[auth]`` section in
``.streamlit/secrets.toml``), reviewers log in with ``st.login`` and the logged-in user's e-mail
(else name) is the reviewer. Beyond loopback without a login the app serves nothing unless the
operator passed ``--i-know-this-is-public`` (see :mod:`embcore.netguard`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import streamlit as st

from app_pages._common import K, run_safely
from app_pages._ui import esc
from embcore import netguard
from embcore.errors import EmbcoreError
from embcore.review.reviewers import clean_name
from embcore.store import Store

log = logging.getLogger("embcore.app")


def _secrets() -> dict[str, Any]:
    try:
        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001 - no secrets file at all
        return {}


def auth_configured() -> bool:
    """Whether ``st.login`` can be used (an ``[auth]`` section in the secrets)."""
    return netguard.auth_configured(_secrets())


def guard_address() -> None:
    """Serve nothing on a non-loopback address without a login or ``--i-know-this-is-public``."""
    address = st.get_option("server.address")
    try:
        warning = netguard.check_bind(
            address, public=netguard.public_ok(sys.argv[1:]), auth=auth_configured()
        )
    except EmbcoreError as exc:
        log.error("%s", exc)
        st.error(esc(str(exc)), icon=":material/lock:")
        st.stop()
        return
    if warning:
        log.warning("%s", warning)


def _set(name: str) -> None:
    st.session_state[K.REVIEWER] = name
    st.query_params["reviewer"] = name


def _start(store: Store, pid: int) -> None:
    try:
        name = clean_name(st.session_state.get(K.W_REVIEWER_NAME, ""))
    except EmbcoreError as exc:
        st.session_state.setdefault(K.FLASH, []).append(("error", str(exc)))
        return
    if not name:
        st.session_state.setdefault(K.FLASH, []).append(("error", "Type your name to start reviewing."))
        return
    if st.session_state.get(K.W_REVIEWER_ADOPT):
        run_safely(store.adopt_unnamed, pid, name)
    store.register_reviewer(pid, name)
    _set(name)


def change() -> None:
    """Forget the name (the next page asks again)."""
    st.session_state.pop(K.REVIEWER, None)
    st.query_params.pop("reviewer", None)


def current(store: Store, pid: int) -> str:
    """The reviewer of this browser session; asks for a name (or a login) and stops the page until known."""
    if auth_configured():
        user = st.user
        if not user.is_logged_in:
            st.info("Log in to review: your decisions are stored under your account.")
            st.button("Log in", on_click=st.login, type="primary", icon=":material/login:")
            st.stop()
        name = clean_name(str(user.get("email") or user.get("name") or "user"))
        if st.session_state.get(K.REVIEWER) != name:
            store.register_reviewer(pid, name)
            st.session_state[K.REVIEWER] = name
        return name
    name = st.session_state.get(K.REVIEWER)
    if not name:
        try:
            name = clean_name(st.query_params.get("reviewer", "")) or None
        except EmbcoreError:
            name = None
        if name:
            store.register_reviewer(pid, name)
            st.session_state[K.REVIEWER] = name
    if name:
        return str(name)
    with st.form("reviewer_gate", border=True):
        st.markdown(
            "**Who is reviewing?** Your name is stored with every decision (no password on this machine)."
        )
        st.text_input("Your name", key=K.W_REVIEWER_NAME, max_chars=60, placeholder="e.g. Alice")
        unnamed = store.unnamed_decisions(pid)
        if unnamed:
            st.checkbox(
                f"The {unnamed:,} decisions made on this project before names were asked are mine",
                key=K.W_REVIEWER_ADOPT,
            )
        st.form_submit_button("Start reviewing", type="primary", on_click=_start, args=(store, pid))
    st.stop()
    return ""  # unreachable


def sidebar(name: str, *, lead: bool = False) -> None:
    """ "Reviewing as NAME" with a button to change it (not when logged in)."""
    st.sidebar.markdown(f"Reviewing as **{esc(name)}**" + (" (lead)" if lead else ""))
    if auth_configured():
        st.sidebar.button("Log out", on_click=st.logout, key=K.W_REVIEWER_CHANGE)
    else:
        st.sidebar.button("Change reviewer", on_click=change, key=K.W_REVIEWER_CHANGE)
