"""Similarity: heatmaps of a query against its candidates, of chosen sentences, plain vs SimCSE
dropout encodings, and positive vs negative score histograms to choose thresholds."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages._common import K, get_encoder, get_store
from app_pages._ui import esc, guarded, heatmap, require_project, run_picker, show_flash
from embcore.review import model as review
from embcore.review import similarity

VIEWS = ["Query vs candidates", "Sentences (n × n)", "Plain vs SimCSE dropout", "Score histograms"]

st.title("Similarity")
store = get_store()
show_flash()
project = require_project(store)
pid = int(project["id"])
run_id = run_picker(store, pid)
model = st.sidebar.text_input(
    "Model ('default' = bundled all-MiniLM-L6-v2)", value="default", key=K.W_SIM_MODEL
)
encoder = get_encoder(model)
view = st.segmented_control("View", VIEWS, default=VIEWS[0], key=K.W_SIM_VIEW) or VIEWS[0]

with guarded("The similarity view"):
    if view == VIEWS[0]:
        qid = st.session_state.get(K.QUERY) or review.start_query(
            review.query_order(store, pid, run_id), review.reviewed_ids(store, pid)
        )
        if qid is None:
            st.info("This project has no queries.")
            st.stop()
        q = review.load_query(store, pid, run_id, qid)
        st.caption(
            "The query on screen in Review. Rows: the query and its positives; columns: positives, then its selected candidates by rank."
        )
        st.text(q.text)
        with st.spinner("Encoding…"):
            qs = similarity.query_similarity(encoder, q.text, list(q.positives["text"]), q.shown, cache=store)
        st.plotly_chart(
            heatmap(qs.matrix, qs.row_labels, qs.col_labels, qs.row_texts, qs.col_texts), key="sim_query"
        )
    elif view in VIEWS[1:3]:
        default = "\n".join(similarity.default_sentences(store, pid))
        text = st.text_area("Sentences, one per line", value=default, height=180, key=K.W_SIM_SENTENCES)
        sentences = [s for s in text.splitlines() if s.strip()]
        if st.button("Compute", key=K.W_SIM_COMPUTE, type="primary"):
            with st.spinner("Encoding…"):
                if view == VIEWS[1]:
                    st.session_state[K.SIM_MATRIX] = similarity.sentence_matrix(encoder, sentences)
                else:
                    st.session_state[K.SIM_SIMCSE] = similarity.simcse_views(encoder, sentences)
        labels = [f"{i + 1}" for i in range(len(sentences))]
        if view == VIEWS[1] and (m := st.session_state.get(K.SIM_MATRIX)) is not None:
            labels = [str(i + 1) for i in range(len(m.sentences))]
            st.plotly_chart(heatmap(m.matrix, labels, labels, m.sentences, m.sentences), key="sim_matrix")
        if view == VIEWS[2] and (v := st.session_state.get(K.SIM_SIMCSE)) is not None:
            labels = [str(i + 1) for i in range(len(v.sentences))]
            left, right = st.columns(2)
            left.plotly_chart(
                heatmap(v.eval_matrix, labels, labels, v.sentences, v.sentences, title="Plain (eval mode)"),
                key="sim_eval",
            )
            right.plotly_chart(
                heatmap(
                    v.dropout_matrix,
                    labels,
                    labels,
                    v.sentences,
                    v.sentences,
                    title="Dropout view A vs view B",
                ),
                key="sim_dropout",
            )
            st.caption(esc(
                f"SimCSE positives (diagonal, same sentence twice through dropout): mean cos "
                f"{v.positive_similarity.mean():.3f}; the off-diagonal cells are its in-batch negatives. "
                f"Unsupervised SimCSE loss of this batch: {v.loss().loss:.3f}."
            ))  # fmt: skip
    else:
        if run_id is None:
            st.info("Mine negatives first: the histograms compare positives with the mined candidates.")
            st.stop()
        max_q = st.slider("Queries sampled", 10, 1000, 100, 10, key=K.W_SIM_MAXQ)
        if st.button("Compute", key=K.W_SIM_COMPUTE, type="primary"):
            with st.spinner("Scoring positives and candidates…"):
                st.session_state[K.SIM_SCORES] = (
                    run_id,
                    similarity.score_distributions(store, pid, run_id, encoder, max_queries=max_q),
                )
        cached = st.session_state.get(K.SIM_SCORES)
        if cached is not None and cached[0] == run_id:
            scores = cached[1]
            fig = px.histogram(scores, x="score", color="kind", barmode="overlay", opacity=0.6, nbins=60, histnorm="probability density",
                               category_orders={"kind": list(similarity.SCORE_KINDS)})  # fmt: skip
            fig.update_layout(
                height=380, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="cosine(query, passage)"
            )
            st.plotly_chart(fig, key="sim_hist")
            st.dataframe(scores.groupby("kind")["score"].describe().round(3), width="stretch")
