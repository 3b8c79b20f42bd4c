from __future__ import annotations

import numpy as np
import pytest

from embcore.errors import EmbcoreError
from embcore.mining.config import RuleSpec
from embcore.mining.inbatch import batch_pairs, inbatch_candidates
from embcore.mining.randomneg import random_candidates
from embcore.mining.rules import meta_codes, relation_mask, rule_topk


def test_batch_pairs_stay_within_shuffled_batches():
    a, b = batch_pairs(10, 4, np.random.default_rng(0))
    assert (a != b).all()
    assert len(a) == 4 * 3 + 4 * 3 + 2 * 1  # batches of 4, 4, 2
    batch_of = {}
    for x, y in zip(a, b, strict=True):
        batch_of.setdefault(int(x), set()).add(int(y))
    for x, others in batch_of.items():
        for y in others:
            assert batch_of[y] - {x} == others - {y}  # same batch, seen from both sides


def test_inbatch_asymmetric_and_symmetric():
    positives = [[10], [11], [12], []]
    q, c = inbatch_candidates(positives, 4, np.random.default_rng(0))
    # one batch of all four: each query gets the other queries' first positives (query 3 has none)
    assert sorted(zip(q.tolist(), c.tolist(), strict=True)) == [
        (0, 11), (0, 12), (1, 10), (1, 12), (2, 10), (2, 11), (3, 10), (3, 11), (3, 12),
    ]  # fmt: skip
    qs, cs = inbatch_candidates(positives, 4, np.random.default_rng(0), symmetric=True)
    assert len(qs) == 12 and (qs != cs).all()


def test_random_candidates_are_distinct_seeded_and_cover_both_paths():
    for n_passages in (8, 1000):  # small corpus (keys) and large corpus (oversampling)
        q, c, order = random_candidates(30, n_passages, 5, np.random.default_rng(1))
        assert len(q) == 30 * 5
        for i in range(30):
            assert len(set(c[q == i].tolist())) == 5
        assert order[q == 0].tolist() == [0, 1, 2, 3, 4]
        q2, c2, _ = random_candidates(30, n_passages, 5, np.random.default_rng(1))
        np.testing.assert_array_equal(c, c2)
    q, c, _ = random_candidates(3, 2, 5, np.random.default_rng(0))
    assert len(q) == 6  # capped at the corpus size


def test_rules_on_an_arbitrary_metadata_column():
    q_meta = [{"region": "EU"}, {"region": "US"}, {"region": "nan"}]  # NaN stored as text = missing
    p_meta = [{"region": "US"}, {"region": "EU"}, {"region": "EU"}, {"region": "None"}, {"region": "APAC"}]
    qc, pc = meta_codes(q_meta, p_meta, "region")
    assert relation_mask(qc, pc, "same").astype(int).tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0] * 5]
    assert relation_mask(qc, pc, "different").astype(int).tolist() == [
        [1, 0, 0, 0, 1],
        [0, 1, 1, 0, 1],
        [0] * 5,
    ]
    q_emb = np.eye(3, 2, dtype=np.float32)
    p_emb = np.array([[0, 1], [0.6, 0.8], [1, 0], [1, 0], [0.8, 0.6]], dtype=np.float32)
    hard = rule_topk(RuleSpec("region", "same", "hard"), qc, pc, 3, query_emb=q_emb, passage_emb=p_emb)
    assert hard.indices[0].tolist() == [2, 1, -1]  # same region, most similar first
    assert (hard.indices[2] == -1).all()  # a query without a value gets nothing
    easy = rule_topk(RuleSpec("region", "different", "easy"), qc, pc, 3, rng=np.random.default_rng(0))
    assert sorted(easy.indices[1][easy.indices[1] >= 0].tolist()) == [1, 2, 4]


def test_rule_errors_name_the_columns():
    with pytest.raises(EmbcoreError, match="available columns: region"):
        meta_codes([{"region": "EU"}], [{"region": "EU"}], "ticker")
    with pytest.raises(EmbcoreError, match="needs embeddings"):
        rule_topk(RuleSpec("region"), np.zeros(1, np.int64), np.zeros(1, np.int64), 1)
