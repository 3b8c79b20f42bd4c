"""Similarity page: query heatmap, n-by-n matrix, SimCSE view, score histograms (fake encoder)."""

from __future__ import annotations

import numpy as np
from support.app import texts
from support.encoders import HashingEncoder

from app_pages._common import K

SIM = "app_pages/similarity.py"


def test_query_heatmap_with_hover_texts(new_app, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(SIM, project=pid, encoder=HashingEncoder(dim=512))
    assert not at.error
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = charts[0].proto.spec
    assert '"type":"heatmap"' in spec.replace(" ", "") and "customdata" in spec


def test_sentence_matrix_and_simcse_view(new_app, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(SIM, project=pid, encoder=HashingEncoder(dim=512))
    at.segmented_control(key=K.W_SIM_VIEW).set_value("Sentences (n × n)").run()
    at.text_area(key=K.W_SIM_SENTENCES).set_value("revenue grew\nrevenue fell\nthe cat sat\n<b>x</b>").run()
    at.button(key=K.W_SIM_COMPUTE).click().run()
    m = at.session_state[K.SIM_MATRIX]
    assert m.matrix.shape == (4, 4) and np.allclose(np.diag(m.matrix), 1.0, atol=1e-5)
    assert len(at.get("plotly_chart")) == 1
    # the dropout view needs a real sentence-transformers model: a clear error with the fake one
    at.segmented_control(key=K.W_SIM_VIEW).set_value("Plain vs SimCSE dropout").run()
    at.button(key=K.W_SIM_COMPUTE).click().run()
    assert not at.exception
    assert any("sentence-transformers model" in t for t in texts(at.error))


def test_score_histograms(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(SIM, project=pid, encoder=HashingEncoder(dim=512))
    at.segmented_control(key=K.W_SIM_VIEW).set_value("Score histograms").run()
    at.slider(key=K.W_SIM_MAXQ).set_value(50).run()
    at.button(key=K.W_SIM_COMPUTE).click().run()
    assert not at.exception and not at.error
    run, scores = at.session_state[K.SIM_SCORES]
    assert run == run_id
    assert {"positive", "auto-selected"} <= set(scores["kind"])
    assert scores["query_id"].nunique() == 50
    # positives score higher than auto-selected negatives on average, even with the fake encoder
    means = scores.groupby("kind")["score"].mean()
    assert means["positive"] > means["auto-selected"]
    assert len(at.get("plotly_chart")) == 1


def test_too_few_sentences_is_an_error(new_app, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(SIM, project=pid, encoder=HashingEncoder(dim=512))
    at.segmented_control(key=K.W_SIM_VIEW).set_value("Sentences (n × n)").run()
    at.text_area(key=K.W_SIM_SENTENCES).set_value("only one").run()
    at.button(key=K.W_SIM_COMPUTE).click().run()
    assert not at.exception
    assert any("at least two sentences" in t for t in texts(at.error))
