"""InfoNCE and triplet loss against hand-computed values; similarity matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.encoders import HashingEncoder

from embcore.errors import EmbcoreError
from embcore.training.contrastive import cosine_similarity_matrix, info_nce, similarity_matrix, triplet_loss

Q = np.array([[1.0, 0.0], [0.0, 1.0]])
P = np.array([[1.0, 0.0], [0.0, 1.0]])
N = np.array([[0.6, 0.8], [0.8, 0.6]])  # unit vectors: n1 is close to q2, n2 close to q1


def test_info_nce_in_batch_only_by_hand() -> None:
    # q1: sims to (p1, p2) = (1, 0); L = -log(e^1 / (e^1 + e^0)) = log(1 + e^-1); same for q2.
    res = info_nce(Q, P, temperature=1.0)
    expected = math.log(1 + math.exp(-1))
    assert res.loss == pytest.approx(expected)
    assert res.per_example == pytest.approx([expected, expected])
    assert res.labels.tolist() == [0, 1]
    assert res.probabilities.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_info_nce_with_hard_negatives_by_hand() -> None:
    tau = 0.5
    res = info_nce(Q, P, N, temperature=tau)
    # q1 candidates (p1, p2, n1, n2) with sims (1, 0, 0.6, 0.8).
    l1 = -math.log(math.exp(1 / tau) / sum(math.exp(s / tau) for s in (1, 0, 0.6, 0.8)))
    # q2 candidates with sims (0, 1, 0.8, 0.6).
    l2 = -math.log(math.exp(1 / tau) / sum(math.exp(s / tau) for s in (0, 1, 0.8, 0.6)))
    assert res.per_example == pytest.approx([l1, l2])
    assert res.loss == pytest.approx((l1 + l2) / 2)
    assert res.logits.shape == (2, 4)
    own = info_nce(Q, P, N, temperature=tau, in_batch=False)
    o1 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(0.6 / tau)))
    o2 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(0.6 / tau)))  # q2 . n2 = 0.6
    assert own.per_example == pytest.approx([o1, o2])
    assert own.labels.tolist() == [0, 0]
    assert info_nce(Q, P, N, temperature=tau, reduction="sum").loss == pytest.approx(l1 + l2)


def test_info_nce_cosine_ignores_scale_and_dot_does_not() -> None:
    a = info_nce(Q * 3, P * 0.5, N * 2, temperature=0.1)
    b = info_nce(Q, P, N, temperature=0.1)
    assert a.loss == pytest.approx(b.loss)
    assert info_nce(Q * 3, P, temperature=1.0, similarity="dot").loss != pytest.approx(b.loss)


def test_info_nce_matches_sentence_transformers_mnrl_formula() -> None:
    """MultipleNegativesRankingLoss = cross-entropy(scale * cos(q, [p; n]), arange(B))."""
    import torch

    rng = np.random.default_rng(0)
    q, p, n = rng.normal(size=(5, 8)), rng.normal(size=(5, 8)), rng.normal(size=(5, 3, 8))
    res = info_nce(q, p, n, temperature=0.05)
    qt = torch.nn.functional.normalize(torch.tensor(q), dim=-1)
    cands = torch.nn.functional.normalize(
        torch.cat([torch.tensor(p), torch.tensor(n).reshape(15, 8)]), dim=-1
    )
    ref = torch.nn.functional.cross_entropy(20.0 * qt @ cands.T, torch.arange(5))
    assert res.loss == pytest.approx(float(ref), rel=1e-9)


def test_info_nce_is_stable_at_low_temperature() -> None:
    res = info_nce(Q, P, N, temperature=1e-4)
    assert np.isfinite(res.loss) and res.loss == pytest.approx(0.0, abs=1e-6)


def test_triplet_by_hand() -> None:
    a = np.array([[0.0, 0.0], [0.0, 0.0]])
    p = np.array([[1.0, 0.0], [1.0, 0.0]])
    n = np.array([[0.0, 2.0], [0.5, 0.0]])
    # squared Euclidean: d(a,p) = 1; d(a,n) = 4 -> max(0, 1 - 4 + 0.2) = 0; 0.25 -> 1 - 0.25 + 0.2 = 0.95
    sq = triplet_loss(a, p, n, margin=0.2)
    assert sq.per_example[:, 0] == pytest.approx([0.0, 0.95])
    assert sq.loss == pytest.approx(0.475)
    assert sq.logits == pytest.approx(np.array([[1.0, 4.0], [1.0, 0.25]]))
    # Euclidean: 1 - 2 + 0.2 < 0 -> 0; 1 - 0.5 + 0.2 = 0.7
    eu = triplet_loss(a, p, n, margin=0.2, distance="euclidean", reduction="sum")
    assert eu.per_example[:, 0] == pytest.approx([0.0, 0.7])
    assert eu.loss == pytest.approx(0.7)


def test_triplet_cosine_and_several_negatives() -> None:
    a = np.array([[1.0, 0.0]])
    p = np.array([[1.0, 1.0]])  # cos = 1/sqrt(2)
    n = np.array([[[0.0, 1.0], [1.0, 0.1]]])  # cos = 0 and 1/sqrt(1.01)
    res = triplet_loss(a, p, n, margin=0.1, distance="cosine")
    d_ap = 1 - 1 / math.sqrt(2)
    expected = [max(0.0, d_ap - 1.0 + 0.1), max(0.0, d_ap - (1 - 1 / math.sqrt(1.01)) + 0.1)]
    assert res.per_example.shape == (1, 2)
    assert res.per_example[0] == pytest.approx(expected)
    assert res.loss == pytest.approx(sum(expected) / 2)


def test_argument_checks() -> None:
    with pytest.raises(ValueError, match="temperature"):
        info_nce(Q, P, temperature=0)
    with pytest.raises(ValueError, match="shape"):
        info_nce(Q, P[:1])
    with pytest.raises(ValueError, match="negatives"):
        info_nce(Q, P, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="distance"):
        triplet_loss(Q, P, N, distance="manhattan")
    with pytest.raises(ValueError, match="at least one negative"):
        triplet_loss(Q, P, np.zeros((2, 0, 2)))


def test_similarity_matrices() -> None:
    m = cosine_similarity_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]]))
    assert m.shape == (3, 3)
    assert np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert m[0, 1] == pytest.approx(1 / math.sqrt(2)) and m[0, 2] == pytest.approx(0.0)
    sentences = ["revenue grew in 2023", "revenue grew strongly in 2023", "the cat sat on the mat"]
    sim = similarity_matrix(sentences, HashingEncoder())
    assert sim.matrix.shape == (3, 3) and sim.embeddings.shape == (3, 64)
    assert sim.model_id == "fake-hashing"
    assert sim.most_similar(0, k=1)[0][0] == 1
    with pytest.raises(EmbcoreError):
        similarity_matrix([], HashingEncoder())
