from __future__ import annotations

import numpy as np
import pytest

from embcore.mining import filters as flt
from embcore.mining.fusion import KIND_PASSAGE, KIND_QUERY
from embcore.text import match_key

QUERIES = ["what is the revenue", "how much revenue", "what is the REVENUE"]  # 0 and 2: same normalised text
PASSAGES = ["Revenue was 5bn.", "revenue  was 5BN.", "Costs rose.", "Revenue fell.", "Profit grew."]
POSITIVES = [[0], [0, 3], [4]]


@pytest.fixture
def pidx() -> flt.PositiveIndex:
    return flt.build_positive_index(POSITIVES, QUERIES, PASSAGES)


def test_positive_index_expands_over_identical_queries(pidx):
    dense = pidx.matrix.toarray().astype(int)
    assert dense[0].tolist() == [1, 0, 0, 0, 1]  # query 2 has the same text: its positive counts too
    assert dense[1].tolist() == [1, 0, 0, 1, 0]
    assert dense[2].tolist() == [1, 0, 0, 0, 1]
    assert pidx.counts.tolist() == [2, 2, 2]


def test_positive_id_mask(pidx):
    q = np.array([0, 0, 1, 1, 0, 1, 1])
    kind = np.array([KIND_PASSAGE] * 4 + [KIND_QUERY] * 3)
    c = np.array([0, 2, 3, 2, 0, 0, 2])
    # passages: 0 is q0's positive, 3 is q1's; queries: q0 itself, q1 shares passage 0 with q0
    assert flt.positive_id_mask(pidx, q, kind, c).tolist() == [False, True, False, True, False, False, False]


def test_positive_text_mask(pidx):
    q = np.array([0, 0, 0, 1, 1])
    kind = np.array([KIND_PASSAGE, KIND_PASSAGE, KIND_PASSAGE, KIND_QUERY, KIND_PASSAGE])
    c = np.array([1, 2, 3, 1, 1])
    # passage 1 == passage 0 after normalisation; query 1 as its own candidate equals its text
    assert flt.positive_text_mask(pidx, q, kind, c).tolist() == [False, True, True, False, False]


def test_near_duplicate_mask():
    pos_sim = np.array([0.99, 0.98, 0.5, np.nan])
    assert flt.near_duplicate_mask(pos_sim, 0.98).tolist() == [False, False, True, True]
    assert flt.near_duplicate_mask(pos_sim, None).all()


def test_score_filters_on_hand_made_scores():
    score = np.array([0.95, 0.85, 0.75, 0.50, 0.10])
    pos = np.full(5, 0.80)
    assert flt.max_score_mask(score, 0.8).tolist() == [False, False, True, True, True]
    assert flt.min_score_mask(score, 0.5).tolist() == [True, True, True, True, False]
    # absolute: keep if score + 0.1 <= 0.8
    assert flt.absolute_margin_mask(score, pos, 0.1).tolist() == [False, False, False, True, True]
    # relative 5 %: keep if score <= 0.8 - 0.04 = 0.76
    assert flt.relative_margin_mask(score, pos, 0.05).tolist() == [False, False, True, True, True]
    # a negative positive score: threshold = -0.2 - 0.2 * 0.5 = -0.3 (sign-safe)
    neg = np.full(2, -0.2)
    assert flt.relative_margin_mask(np.array([-0.25, -0.35]), neg, 0.5).tolist() == [False, True]
    # no positive score (NaN) -> keep
    assert flt.absolute_margin_mask(score[:1], np.array([np.nan]), 0.1).tolist() == [True]
    assert flt.max_score_mask(score, None).all() and flt.relative_margin_mask(score, pos, None).all()


def test_rank_window_counts_survivors_per_query():
    q = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    alive = np.array([False, True, True, True, True, True, False, True])
    keep = flt.rank_window_mask(q, alive, range_min=1, range_max=3)
    # survivor ranks: query 0 rows 1..4 = 1..4 -> keep ranks 2-3; query 1 rows 5, 7 = 1, 2 -> keep row 7
    assert keep.tolist() == [True, False, True, True, False, False, True, True]


def test_filter_tally_records_the_first_filter():
    tally = flt.FilterTally.for_rows(4)
    assert tally.apply("a", np.array([False, True, True, True])) == 1
    assert tally.apply("b", np.array([False, False, True, True])) == 1  # row 0 already removed by 'a'
    labels = tally.labels(np.array([True, False, True, False]))
    assert labels.tolist() == ["a", "b", "selected", "kept"]
    assert tally.removed == {"a": 1, "b": 1}


def test_positive_scores_and_max_positive_similarity():
    pidx = flt.build_positive_index([[0, 1], []], ["q0", "q1"], ["p0", "p1", "p2"])
    q_emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    p_emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    pos = flt.positive_scores(pidx, q_emb, p_emb)
    assert pos[0] == pytest.approx(0.6) and np.isnan(pos[1])  # lowest positive score; none -> NaN
    sim = flt.max_positive_similarity(pidx, np.array([0, 0, 1]), p_emb, np.array([2, 0, 2]), p_emb)
    assert sim[0] == pytest.approx(0.8) and sim[1] == pytest.approx(1.0) and np.isnan(sim[2])


@pytest.mark.parametrize(
    "text", ["Plain  ASCII Text ", "Ｆｕｌｌ width", "tab\tand\nnewline", "zero\u200bwidth", "ÉCOLE"]
)
def test_fast_match_key_equals_match_key(text):
    assert flt.fast_match_key(text) == match_key(text)


def test_cross_encoder_scores_in_chunks():
    class Fake:
        def predict(self, pairs, batch_size=32, **kwargs):
            return np.array([len(a) + len(b) for a, b in pairs], dtype=np.float32)

    out = flt.cross_encoder_scores(Fake(), ["a", "bb", "c"], ["x", "y", "zz"], chunk=2)
    assert out.tolist() == [2.0, 3.0, 3.0]
