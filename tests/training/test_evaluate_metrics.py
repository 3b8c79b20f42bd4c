"""Retrieval metrics: hand-computed values, brute force, and sentence-transformers' evaluator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embcore.training.evaluate import METRIC_NAMES, retrieval_metrics, top_k

L2_3 = math.log2(3)  # discount of rank 2
L2_4 = 2.0  # discount of rank 3


def test_hand_computed_metrics() -> None:
    ranked = [
        [5, 3, 0, 1, 2, 4],  # A: relevant {3} at rank 2
        [0, 1, 2, 3, 4, 5],  # B: relevant {0, 2} at ranks 1 and 3
        [0, 1, 2, 3, 4, 5],  # C: relevant {9} not retrieved
    ]
    relevant = [{3}, {0, 2}, {9}]
    metrics, per_query = retrieval_metrics(ranked, relevant)

    # Query A: one hit at rank 2.
    a = {
        "recall@1": 0.0,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "recall@100": 1.0,
        "mrr@10": 0.5,
        "ndcg@10": (1 / L2_3) / 1.0,
        "map@100": (1 / 2) / 1,
    }
    # Query B: hits at ranks 1 and 3, |R| = 2.
    b = {
        "recall@1": 0.5,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "recall@100": 1.0,
        "mrr@10": 1.0,
        "ndcg@10": (1 + 1 / L2_4) / (1 + 1 / L2_3),
        "map@100": (1 / 1 + 2 / 3) / 2,
    }
    # Query C: nothing relevant retrieved.
    c = dict.fromkeys(a, 0.0)
    for name in METRIC_NAMES:
        assert per_query[name][0] == pytest.approx(a[name])
        assert per_query[name][1] == pytest.approx(b[name])
        assert per_query[name][2] == pytest.approx(c[name])
        assert metrics[name] == pytest.approx((a[name] + b[name] + c[name]) / 3)
    # The numbers written out, as a reader would check them on paper.
    assert per_query["ndcg@10"][0] == pytest.approx(0.6309298)
    assert per_query["ndcg@10"][1] == pytest.approx(0.9197208)
    assert metrics["mrr@10"] == pytest.approx(0.5)


def test_hits_beyond_cutoff_do_not_count() -> None:
    ranked = [list(range(20))]
    metrics, _ = retrieval_metrics(ranked, [{12}])
    assert metrics["recall@10"] == 0.0
    assert metrics["mrr@10"] == 0.0
    assert metrics["ndcg@10"] == 0.0
    assert metrics["recall@100"] == 1.0
    assert metrics["map@100"] == pytest.approx(1 / 13)


def test_ndcg_ideal_uses_min_of_relevant_and_k() -> None:
    # 12 relevant documents, all ranked first: NDCG@10 must be exactly 1.
    metrics, _ = retrieval_metrics([list(range(30))], [set(range(12))])
    assert metrics["ndcg@10"] == pytest.approx(1.0)
    assert metrics["map@100"] == pytest.approx(1.0)
    assert metrics["recall@10"] == pytest.approx(10 / 12)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="relevant passage"):
        retrieval_metrics([[0, 1]], [set()])
    with pytest.raises(ValueError, match="entries"):
        retrieval_metrics([[0, 1]], [{0}, {1}])
    with pytest.raises(ValueError, match="shape"):
        retrieval_metrics([0, 1], [{0}])


def test_top_k_matches_brute_force_and_breaks_ties_by_index() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(7, 5)).astype(np.float32)
    c = rng.normal(size=(40, 5)).astype(np.float32)
    c[11] = c[3]  # an exact tie: index 3 must come first
    idx, scores = top_k(q, c, 10, chunk=3)
    full = q @ c.T
    for i in range(7):
        expected = sorted(range(40), key=lambda j: (-full[i, j], j))[:10]
        assert idx[i].tolist() == expected
        assert np.allclose(scores[i], full[i, expected])
    idx_all, _ = top_k(q, c, 100)
    assert idx_all.shape == (7, 40)


def test_matches_sentence_transformers_information_retrieval_evaluator() -> None:
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    rng = np.random.default_rng(7)
    n_q, n_c, k = 25, 150, 100
    corpus = {f"c{j:03d}": f"doc {j}" for j in range(n_c)}
    queries = {f"q{i:02d}": f"query {i}" for i in range(n_q)}
    relevant_idx = [
        set(rng.choice(n_c, size=int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(n_q)
    ]
    ranked = np.stack([rng.permutation(n_c)[:k] for _ in range(n_q)])
    evaluator = InformationRetrievalEvaluator(
        queries=queries,
        corpus=corpus,
        relevant_docs={f"q{i:02d}": {f"c{j:03d}" for j in rel} for i, rel in enumerate(relevant_idx)},
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[1, 5, 10, 100],
        map_at_k=[100],
        write_csv=False,
    )
    results = [
        [{"corpus_id": f"c{j:03d}", "score": float(k - r)} for r, j in enumerate(ranked[i])]
        for i in range(n_q)
    ]
    st = evaluator.compute_metrics(results)
    ours, _ = retrieval_metrics(ranked, relevant_idx)
    assert ours["ndcg@10"] == pytest.approx(st["ndcg@k"][10])
    assert ours["mrr@10"] == pytest.approx(st["mrr@k"][10])
    assert ours["map@100"] == pytest.approx(st["map@k"][100])
    for kk in (1, 5, 10, 100):
        assert ours[f"recall@{kk}"] == pytest.approx(st["recall@k"][kk])
