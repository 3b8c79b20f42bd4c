"""Augment & scores: prompts and sample types, EDA / LLM augmentation (in the background, with
cancel), and teacher scores shown in Review and exported as pos_scores / neg_scores."""

from __future__ import annotations

import streamlit as st

from app_pages import _forms as forms
from app_pages._common import K, flash, get_job, get_store, start_job, teacher_encoder
from app_pages._ui import (
    PAGE_MINE,
    PAGE_REVIEW,
    esc,
    guarded,
    job_outcome,
    job_panel,
    require_project,
    run_picker,
    show_flash,
)
from embcore.augment.llm import ChatClient
from embcore.augment.project import StoreResponseCache, generate_augmentations, store_augmentations
from embcore.models.prompts import available_prompts
from embcore.models.teacher import score_run
from embcore.review import model as review

st.title("Augment & scores")
store = get_store()
show_flash()
project = require_project(store)
pid = int(project["id"])
run_id = run_picker(store, pid)
prompts_tab, augment_tab, scores_tab = st.tabs(["Prompts & types", "Augmentation", "Teacher scores"])

# 1. prompts and types: written to `prompt` / `type` of every exported sample
with prompts_tab:
    st.caption("Written to the `prompt` and `type` fields of every exported sample (a query's own prompt "
               "wins over the Export page's instruction). Current values:")  # fmt: skip
    st.dataframe(review.sample_fields(store, pid), hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left:
        prompt = forms.prompt_form(available_prompts(review.mining_model(store, pid)))
        st.text(prompt or "(no prompt)")
        if st.button("Apply prompt to all queries", key=K.W_PROMPT_APPLY, icon=":material/edit_note:"):
            with guarded("Setting the prompt"):
                store.set_sample_fields(pid, prompt=prompt)
            flash("success", "Prompt set on every query." if prompt else "Prompt cleared on every query.")
            st.rerun()
    with right:
        type_ = forms.type_form()
        if st.button("Apply type to all queries", key=K.W_TYPE_APPLY, icon=":material/label:"):
            with guarded("Setting the type"):
                store.set_sample_fields(pid, type_=type_)
            flash(
                "success", f"Type {type_!r} set on every query." if type_ else "Type cleared on every query."
            )
            st.rerun()

# 2. augmentation: EDA copies and LLM generations, linked to their source query
with augment_tab:
    job = get_job("augment", pid)
    if job is not None and job.running:
        st.info(esc(f"{job.label} of {project['name']}… other pages stay usable."))
        job_panel("augment", pid, K.W_AUG_CANCEL)
    else:
        if (preview := job_outcome("augment", pid, "Augmentation")) is not None:
            st.session_state[K.AUG_PREVIEW] = (pid, preview)
        if K.W_AUG_MAX not in st.session_state:  # the widget was hidden (a job ran, another page): restore
            st.session_state[K.W_AUG_MAX] = st.session_state.get(K.AUG_MAX, 0)
        n_max = st.columns(3)[0].number_input("Augment only the first N samples (0 = all)", 0, 10**7,
                                              key=K.W_AUG_MAX)  # fmt: skip
        st.session_state[K.AUG_MAX] = int(n_max)
        st.markdown("**Rule-based (EDA)**: a preview first; nothing is stored before you add it")
        eda = forms.eda_form(int(n_max) or None)
        if st.button("Preview EDA samples", key=K.W_AUG_EDA, type="primary", icon=":material/play_arrow:",
                     disabled=eda is None):  # fmt: skip
            start_job("augment", pid, "EDA augmentation",
                      lambda p: generate_augmentations(store, pid, eda, progress=p))  # fmt: skip
            st.rerun()
        st.markdown("**LLM-based** (your own OpenAI-compatible server; answers are cached in DuckDB)")
        llm = forms.llm_form(int(n_max) or None)
        if st.button("Preview LLM generations", key=K.W_AUG_LLM, type="primary", icon=":material/smart_toy:",
                     disabled=llm is None):  # fmt: skip
            cfg, client = llm[0], ChatClient(llm[1], cache=StoreResponseCache(store, llm[1].model))
            start_job("augment", pid, "LLM generation",
                      lambda p: generate_augmentations(store, pid, cfg, client=client, progress=p))  # fmt: skip
            st.rerun()
    pending = st.session_state.get(K.AUG_PREVIEW)
    if pending is not None and pending[0] == pid and (job is None or not job.running):
        preview = pending[1]
        st.markdown(f"**Preview** ({len(preview.items):,} generated from {preview.stats['source_samples']:,} "
                    "source samples; untick or delete what is wrong)")  # fmt: skip
        keep = forms.augment_preview(preview)
        a, b = st.columns(2)
        if a.button(f"Add {len(keep):,} samples", key=K.W_AUG_ADD, type="primary", icon=":material/add:",
                    disabled=not keep, width="stretch"):  # fmt: skip
            with guarded("Adding the samples"):
                st.session_state[K.AUGMENT] = (pid, store_augmentations(store, preview, keep))
            st.session_state.pop(K.AUG_PREVIEW, None)
            st.rerun()
        if b.button("Discard the preview", key=K.W_AUG_DISCARD, icon=":material/delete:", width="stretch"):
            st.session_state.pop(K.AUG_PREVIEW, None)
            st.rerun()
    last = st.session_state.get(K.AUGMENT)
    if last is not None and last[0] == pid:
        added = last[1].get("added", {})
        st.success(f"Augmented {last[1].get('source_samples', 0):,} source samples: kept "
                   f"{last[1].get('kept', 0):,} of {last[1].get('generated', 0):,} generated items.")  # fmt: skip
        c1, c2, c3 = st.columns(3)
        c1.metric("Added queries", f"{added.get('queries', 0):,}")
        c2.metric("Added positive pairs", f"{added.get('positives', 0):,}",
                  help="New positives, and the positives new queries share with their source.")  # fmt: skip
        c3.metric("Added negatives", f"{added.get('negatives', 0):,}")
        if last[1].get("llm"):
            with st.expander("LLM statistics"):
                st.json(last[1]["llm"])
    items = review.generated_items(store, pid)
    if items.empty:
        st.info("No augmented or generated item yet.")
    else:
        st.markdown(f"**Augmented and generated items** ({len(items):,}, newest first)")
        st.dataframe(items, hide_index=True, width="stretch")
        st.caption("Generated negatives are reviewed on the Review page with the mined candidates.")
        st.page_link(PAGE_REVIEW, label="Go to Review", icon=":material/rule:")

# 3. teacher scores of a mining run's candidates and positives (shown in Review, reused by Export)
with scores_tab:
    job = get_job("score", pid)
    if job is not None and job.running:
        st.info("Scoring with the teacher… other pages stay usable.")
        job_panel("score", pid, K.W_SCORE_CANCEL)
    elif run_id is None:
        st.info("Mine first: the teacher scores a mining run's candidates.")
        st.page_link(PAGE_MINE, label="Go to Mine", icon=":material/search:")
    else:
        if (n := job_outcome("score", pid, "Scoring")) is not None:
            st.success(f"Scored {n:,} pairs. Review shows the teacher's score next to each candidate.")
        teacher = forms.teacher_form()
        st.caption(f"Scores every candidate of mining run {run_id} (sidebar), the generated negatives and the "
                   "positives; raw scores are cached in DuckDB, so the export reuses them.")  # fmt: skip
        if st.button("Score candidates", key=K.W_SCORE, type="primary", icon=":material/scoreboard:",
                     disabled=teacher is None):  # fmt: skip
            with guarded("Loading the teacher"):
                enc = teacher_encoder(teacher)
            start_job("score", pid, "Teacher scoring", lambda p: score_run(
                store, pid, run_id, teacher, encoder=enc, progress=p))  # fmt: skip
            st.rerun()
    runs = review.score_runs(store, pid)
    if not runs.empty:
        st.markdown("**Scoring runs**")
        st.dataframe(runs, hide_index=True, width="stretch")
