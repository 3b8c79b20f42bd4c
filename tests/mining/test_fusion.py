from __future__ import annotations

import numpy as np
import pytest

from embcore.errors import EmbcoreError
from embcore.mining.dense import TopK
from embcore.mining.fusion import KIND_QUERY, from_topk, fuse, rank_in_groups, ranked_list


def _lists():
    bm25 = from_topk(
        "bm25", TopK(np.array([[3, 1, 2], [0, -1, -1]]), np.array([[9.0, 5.0, 1.0], [4.0, -np.inf, -np.inf]]))
    )
    dense = from_topk(
        "dense", TopK(np.array([[1, 4, -1], [2, 0, 5]]), np.array([[0.9, 0.8, -np.inf], [0.7, 0.6, 0.5]]))
    )
    return bm25, dense


def test_rrf_scores_and_provenance():
    bm25, dense = _lists()
    f = fuse([bm25, dense], method="rrf", rrf_k=60)
    q0 = f.query_idx == 0
    # passage 1: bm25 rank 2, dense rank 1 -> found by both, first
    assert f.cand_idx[q0].tolist() == [1, 3, 4, 2]
    assert f.score[q0][0] == pytest.approx(1 / 62 + 1 / 61)
    assert f.source_labels()[q0].tolist() == ["bm25+dense", "bm25", "dense", "bm25"]
    row = np.flatnonzero(q0 & (f.cand_idx == 1))[0]
    assert f.source_rank["bm25"][row] == 2 and f.source_rank["dense"][row] == 1
    assert f.source_score["bm25"][row] == 5.0 and f.source_score["dense"][row] == pytest.approx(0.9)
    row = np.flatnonzero(q0 & (f.cand_idx == 4))[0]
    assert np.isnan(f.source_rank["bm25"][row]) and f.source_rank["dense"][row] == 2
    assert f.rank[q0].tolist() == [1, 2, 3, 4]
    # query 1: passage 0 found by both (bm25 1, dense 2) beats passage 2 (dense 1)
    assert f.cand_idx[f.query_idx == 1].tolist() == [0, 2, 5]


def test_weighted_fusion_uses_minmax_scores_and_weights():
    bm25, dense = _lists()
    f = fuse([bm25, dense], method="weighted", weights={"bm25": 1.0, "dense": 0.0})
    q0 = f.query_idx == 0
    # only bm25 counts: minmax(9, 5, 1) = 1, .5, 0 ; dense-only passage 4 gets 0
    assert f.cand_idx[q0][:2].tolist() == [3, 1]
    assert f.score[q0][:2].tolist() == pytest.approx([1.0, 0.5])


def test_single_list_keeps_its_order_and_scores():
    bm25, _ = _lists()
    f = fuse([bm25])
    assert f.cand_idx.tolist() == [3, 1, 2, 0]
    assert f.score.tolist() == [9.0, 5.0, 1.0, 4.0]


def test_fuse_rejects_unknown_method_and_duplicate_sources():
    bm25, _ = _lists()
    with pytest.raises(EmbcoreError, match="rrf, weighted"):
        fuse([bm25], method="max")  # type: ignore[arg-type]
    with pytest.raises(EmbcoreError, match="duplicate"):
        fuse([bm25, bm25])


def test_ranked_list_dedupes_and_ranks_per_query():
    lst = ranked_list(
        "x", np.array([1, 0, 0, 0]), np.array([5, 2, 3, 2]), np.array([0.1, 0.2, 0.9, 0.5]), kind=KIND_QUERY
    )
    assert lst.query_idx.tolist() == [0, 0, 1]
    assert lst.cand_idx.tolist() == [3, 2, 5]
    assert lst.rank.tolist() == [1, 2, 1]
    assert (lst.cand_kind == KIND_QUERY).all()
    ordered = ranked_list(
        "y", np.array([0, 0, 0]), np.array([7, 8, 9]), np.zeros(3), order=np.array([2, 0, 1])
    )
    assert ordered.cand_idx.tolist() == [8, 9, 7]


def test_rank_in_groups():
    assert rank_in_groups(np.array([0, 0, 2, 2, 2, 5])).tolist() == [1, 2, 1, 2, 3, 1]
