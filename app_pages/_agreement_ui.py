"""Pieces of the Agreement page: overlap and assignment, kappa figures, disagreements with adjudication."""

from __future__ import annotations

import streamlit as st

from app_pages._common import K, flash, run_safely
from app_pages._ui import esc
from embcore.review import agreement
from embcore.store import Store
from embcore.store.reviewers import POLICY

DECISION_WORDS = {"accept": "Accept (negative)", "reject": "Reject", "positive": "Positive"}


def _save(store: Store, pid: int) -> None:
    overlap = int(st.session_state.get(K.W_AG_OVERLAP, 1))
    leads = list(st.session_state.get(K.W_AG_LEADS, []))
    before = len(st.session_state.get(K.FLASH, []))
    run_safely(store.save_review_settings, pid, overlap, leads)
    if len(st.session_state.get(K.FLASH, [])) == before:  # no error queued
        flash("success", f"Saved: {overlap} reviewer(s) per query, leads: {', '.join(leads) or 'anyone'}.")


def _assign(store: Store, pid: int) -> None:
    names = list(st.session_state.get(K.W_AG_REVIEWERS, []))
    overlap = int(st.session_state.get(K.W_AG_OVERLAP, 1))
    counts = run_safely(agreement.assign, store, pid, names, overlap)
    if counts is not None:
        flash("success", f"Assigned every query to {overlap} of {len(names)} reviewers; the others skip it.")


def _unassign(store: Store, pid: int) -> None:
    run_safely(agreement.clear_assignment, store, pid)
    flash("info", "Assignment removed: everyone reviews every query.")


def settings(store: Store, pid: int) -> None:
    """Overlap k, leads, and the assignment of queries to reviewers."""
    current = store.review_settings(pid)
    names = store.reviewer_names(pid)
    with st.expander("Reviewers, overlap and leads", expanded=not store.has_assignments(pid)):
        a, b = st.columns(2)
        a.number_input("Reviewers per query (overlap k)", 1, 20, current["overlap"], key=K.W_AG_OVERLAP)
        b.multiselect(
            "Leads (may adjudicate; none = every reviewer)", sorted(set(names) | set(current["leads"])),
            default=current["leads"], key=K.W_AG_LEADS,
        )  # fmt: skip
        st.button("Save", key=K.W_AG_SAVE, on_click=_save, args=(store, pid))
        st.multiselect("Assign the queries to", names, default=names, key=K.W_AG_REVIEWERS)
        c, d = st.columns(2)
        c.button("Assign (each query to k reviewers)", key=K.W_AG_ASSIGN, on_click=_assign, args=(store, pid),
                 type="primary")  # fmt: skip
        d.button("Remove the assignment", key=K.W_AG_UNASSIGN, on_click=_unassign, args=(store, pid))
        counts = store.assignment_counts(pid)
        if len(counts):
            st.dataframe(counts, hide_index=True)
        else:
            st.caption("No assignment: every reviewer sees every query.")


def figures(ag: agreement.Agreement) -> None:
    """Fleiss' kappa overall, Cohen's kappa per pair of reviewers, how the exported decisions were reached."""
    a, b, c = st.columns(3)
    a.metric("Fleiss' kappa (overall)", "–" if ag.fleiss is None else f"{ag.fleiss:.3f}",
             help=f"over {ag.fleiss_items} candidates rated by exactly {ag.raters} reviewers")  # fmt: skip
    b.metric("Candidates with 2+ reviewers", f"{ag.items:,}")
    c.metric("Disagreements", f"{ag.disagreements:,}")
    if len(ag.pairs):
        st.markdown("**Cohen's kappa per pair of reviewers**")
        table = ag.pairs.assign(
            a=ag.pairs["a"].replace("", "(unnamed)"), b=ag.pairs["b"].replace("", "(unnamed)"),
            agree=[f"{float(x):.3f}" for x in ag.pairs["agree"]],
            kappa=["undefined" if k is None else f"{float(k):.3f}" for k in ag.pairs["kappa"]],
        ).rename(columns={"a": "reviewer A", "b": "reviewer B", "items": "candidates both decided",
                          "agree": "agreement", "kappa": "Cohen's kappa"})  # fmt: skip
        st.table(table.set_index("reviewer A"))
    else:
        st.info("No candidate has been decided by two reviewers yet.")
    if ag.resolution:
        st.caption(esc("Exported decisions: " + ", ".join(f"{k} {v:,}" for k, v in sorted(ag.resolution.items()))
                       + f". Policy: {POLICY}."))  # fmt: skip


def _adjudicate(store: Store, pid: int, qid: int, passage: int, decision: str | None, lead: str) -> None:
    res = run_safely(agreement.adjudicate, store, pid, qid, passage, decision, lead=lead)
    if res is not None and res.applied:
        flash("success", f"{res.message} (undo it in the Review page's History).")


def disagreements(store: Store, pid: int, reviewer: str, lead: bool) -> None:
    """The pairs reviewers disagree on, with the lead's final decision."""
    df = agreement.disagreements(store, pid)
    st.markdown(f"**Disagreements** ({len(df):,}{', adjudicated ones last' if len(df) else ''})")
    if df.empty:
        st.caption("None yet.")
        return
    if not lead:
        st.caption(esc(f"Only a lead can adjudicate ({reviewer} is not one)."))
    for r in df.itertuples(index=False):
        with st.container(border=True):
            st.text(f"Query {int(r.query_id)}: {r.query}")
            st.text(f"Candidate {int(r.passage_id)}: {r.passage}")
            state = "adjudicated by " + str(r.lead) if r.adjudicated else str(r.resolved_by or "undecided")
            st.caption(esc(f"Votes: {'; '.join(r.votes)} · exported: {r.decision or '–'} ({state})"))
            cols = st.columns(4)
            for col, (dec, label) in zip(cols, DECISION_WORDS.items(), strict=False):
                col.button(
                    label, key=K.adjudicate(int(r.query_id), int(r.passage_id), dec), disabled=not lead,
                    type="primary" if r.adjudicated and r.decision == dec else "secondary",
                    on_click=_adjudicate, args=(store, pid, int(r.query_id), int(r.passage_id), dec, reviewer),
                )  # fmt: skip
            cols[3].button(
                "Clear", key=K.adjudicate(int(r.query_id), int(r.passage_id), "clear"),
                disabled=not lead or not r.adjudicated,
                on_click=_adjudicate, args=(store, pid, int(r.query_id), int(r.passage_id), None, reviewer),
            )  # fmt: skip


__all__ = ["disagreements", "figures", "settings"]
