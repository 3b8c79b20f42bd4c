"""SimCSE views and training with the bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embcore.errors import EmbcoreError
from embcore.training.contrastive import simcse_embeddings, train_simcse

pytestmark = pytest.mark.integration

SENTENCES = [
    "Revenue grew 12 percent year over year.",
    "The company repurchased common stock.",
    "Operating margin declined in the fourth quarter.",
    "Goodwill is tested for impairment annually.",
    "Inventory is valued at the lower of cost and net realizable value.",
    "The Eiffel Tower is in Paris.",
]


def test_dropout_views_differ_but_stay_close() -> None:
    from embcore.models.encoders import load_sentence_transformer

    model = load_sentence_transformer(None)
    views = simcse_embeddings(model, SENTENCES, seed=1)
    assert views.view_a.shape == views.view_b.shape == views.eval_embeddings.shape == (6, 384)
    assert not np.allclose(views.view_a, views.view_b)  # dropout is on
    pos = views.positive_similarity
    assert np.all(pos < 0.9999) and np.all(pos > 0.8)
    m = views.dropout_matrix
    assert np.all(np.diag(m) >= m.max(axis=1) - 1e-6)  # each sentence's own view is its best match
    expected = model.encode(SENTENCES, normalize_embeddings=True)
    assert np.allclose(views.eval_embeddings, expected, atol=1e-5)
    assert not model.training
    again = simcse_embeddings(model, SENTENCES, seed=1)
    assert np.allclose(again.view_a, views.view_a)
    assert views.loss().loss > 0
    with pytest.raises(EmbcoreError):
        simcse_embeddings(model, [])


def test_train_simcse_saves_model_and_report(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    rep = train_simcse(SENTENCES + SENTENCES[:2], None, tmp_path / "simcse", batch_size=4, max_steps=2)
    assert rep.kind == "simcse" and rep.steps == 2
    assert rep.data == {"sentences": 8, "unique_sentences": 6}
    data = json.loads((tmp_path / "simcse" / "report.json").read_text())
    assert data["loss_curve"] and data["settings"]["temperature"] == 0.05
    assert SentenceTransformer(str(tmp_path / "simcse"), device="cpu").encode(["x"]).shape == (1, 384)
    with pytest.raises(EmbcoreError, match="2 distinct"):
        train_simcse(["same", "same"], None, tmp_path / "x")
