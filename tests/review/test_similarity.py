"""embcore.review.similarity without the app: SimCSE dropout views with the real bundled model."""

from __future__ import annotations

import numpy as np
import pytest

from embcore.review import similarity


@pytest.mark.integration
def test_simcse_views_with_the_bundled_model() -> None:
    from embcore.models.encoders import load_encoder

    views = similarity.simcse_views(
        load_encoder(None), ["the cat sat on the mat", "revenue grew 5%", "a dog barked"]
    )
    pos = views.positive_similarity
    assert views.dropout_matrix.shape == (3, 3)
    assert np.all(pos < 0.9999) and np.all(pos > 0.8), "dropout makes two passes differ, but only a little"
    assert np.allclose(np.diag(views.eval_matrix), 1.0, atol=1e-5)
