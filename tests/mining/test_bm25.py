from __future__ import annotations

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from support.mining_data import CORPUS, load_zh_fixture

from embcore.mining.bm25 import bm25_scores, bm25_topk, build_bm25
from embcore.mining.tokenize import tokenize

# "the" occurs in most documents -> negative idf, floored to epsilon * mean idf by rank-bm25
DOCS = [d.split() for d in [
    "the cat sat on the mat", "the dog ate the cat food", "a bird in the hand", "the the the",
    "", "cat cat dog", "the market fell", "the market rose and the market fell",
]]  # fmt: skip
QUERIES = [["the", "cat"], ["dog", "dog", "zebra"], ["zebra"], [], ["market", "the", "fell"], ["the"]]


@pytest.mark.parametrize(("k1", "b", "eps"), [(1.5, 0.75, 0.25), (0.9, 0.4, 0.5), (2.0, 1.0, 0.0)])
def test_scores_equal_rank_bm25(k1, b, eps):
    ref = BM25Okapi(DOCS, k1=k1, b=b, epsilon=eps)
    ours = bm25_scores(build_bm25(DOCS, k1=k1, b=b, epsilon=eps), QUERIES)
    for i, q in enumerate(QUERIES):
        with np.errstate(invalid="ignore"):
            expected = ref.get_scores(q)
        # with b=1 rank-bm25 divides 0/0 for the empty document (NaN); it matches nothing, so we score it 0
        np.testing.assert_allclose(ours[i], np.nan_to_num(expected), rtol=1e-12, atol=1e-12)


def test_scores_equal_rank_bm25_on_tokenised_text():
    docs = tokenize(CORPUS, "word")
    queries = tokenize(["where did the cat sit", "apple revenue in the fourth quarter", "rates"], "word")
    ref = BM25Okapi(docs)
    ours = bm25_scores(build_bm25(docs), queries)
    np.testing.assert_allclose(ours, np.array([ref.get_scores(q) for q in queries]), rtol=1e-12)


def test_topk_equals_brute_force_and_skips_non_matches():
    index = build_bm25(DOCS)
    full = bm25_scores(index, QUERIES)
    top = bm25_topk(index, QUERIES, 3, chunk_mb=1)
    for i in range(len(QUERIES)):
        matches = np.flatnonzero(full[i] != 0)
        expect = sorted(matches, key=lambda d: (-full[i, d], d))[:3]
        got = [int(d) for d in top.indices[i] if d >= 0]
        assert got == expect
        np.testing.assert_allclose(top.scores[i, : len(got)], full[i, got])
    assert (top.indices[2] == -1).all() and (top.indices[3] == -1).all()  # OOV / empty query


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(vocab, size=rng.integers(3, 15))) for _ in range(60)]
    queries = [list(rng.choice(vocab, size=4)) for _ in range(25)]
    index = build_bm25(docs)
    a = bm25_topk(index, queries, 10, chunk_mb=64)
    b = bm25_topk(index, queries, 10, chunk_mb=0)  # one query per chunk
    np.testing.assert_array_equal(a.indices, b.indices)
    ref = BM25Okapi(docs)
    for i, q in enumerate(queries):
        ref_scores = ref.get_scores(q)
        np.testing.assert_allclose(a.scores[i], np.sort(ref_scores)[::-1][:10])


def test_chinese_jieba_finds_the_passage_where_whitespace_fails():
    queries, passages, langs = load_zh_fixture()
    jieba_top = bm25_topk(build_bm25(tokenize(passages, "jieba")), tokenize(queries, "jieba"), 3)
    assert jieba_top.indices[:, 0].tolist() == list(range(len(queries)))
    ws_top = bm25_topk(build_bm25(tokenize(passages, "whitespace")), tokenize(queries, "whitespace"), 3)
    zh = [i for i, lang in enumerate(langs) if lang == "zh"]
    assert (ws_top.indices[zh, 0] == -1).all()  # whole sentences are single tokens: nothing matches


def test_mixed_chinese_english_queries():
    queries, passages, langs = load_zh_fixture()
    mixed = [i for i, lang in enumerate(langs) if lang == "mixed"]
    assert mixed
    top = bm25_topk(
        build_bm25(tokenize(passages, "jieba")), tokenize([queries[i] for i in mixed], "jieba"), 1
    )
    assert top.indices[:, 0].tolist() == mixed
