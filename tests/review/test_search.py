"""Corpus search from Review: BM25 and dense retrieval over the project's corpus with the mining
engines, fused by rank, using the embedding cache; hits know their state for the query on screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import SAMPLE
from support.encoders import HashingEncoder

from embcore.errors import EmbcoreError
from embcore.mining.bm25 import bm25_scores, build_bm25
from embcore.mining.tokenize import tokenize
from embcore.review import model as review
from embcore.review import search
from embcore.store import Store


class CountingEncoder(HashingEncoder):
    """The fake encoder, counting the texts it really encodes."""


def test_bm25_hits_are_the_brute_force_top(mined) -> None:
    store, pid, run_id = mined
    hits = search.search(store, pid, "employees represented by unions", mode="bm25", k=5)
    corpus = store.search_corpus(pid)
    tokens = tokenize(corpus["text"].tolist(), "word")
    scores = bm25_scores(build_bm25(tokens), tokenize(["employees represented by unions"], "word"))[0]
    expected = corpus["id"].to_numpy()[np.argsort(-scores, kind="stable")[:5]]
    assert hits["passage_id"].tolist() == expected.tolist()
    assert hits["bm25_rank"].tolist() == [1, 2, 3, 4, 5] and hits["dense_rank"].isna().all()


def test_hybrid_uses_the_cache_and_marks_the_query_state(mined) -> None:
    store, pid, run_id = mined
    enc = CountingEncoder()
    qid = int(review.query_order(store, pid, run_id)[0])
    q = review.load_query(store, pid, run_id, qid)
    positive = int(q.positives["passage_id"].iloc[0])
    hits = search.search(store, pid, q.text, query_id=qid, run_id=run_id, encoder=enc, reviewer="alice")
    assert enc.encoded == 1, (
        "the passages' vectors come from the mining run's cache; only the search is encoded"
    )
    assert set(hits["bm25_rank"].dropna()) and set(hits["dense_rank"].dropna())
    assert hits["rank"].tolist() == sorted(hits["rank"].tolist())
    row = hits.set_index("passage_id").loc[positive]
    assert bool(row["positive"]) is True
    cand = int(q.shown["passage_id"].iloc[0])
    if cand in set(hits["passage_id"]):
        assert hits.set_index("passage_id").loc[cand, "status"] == "selected"
    review.decide(store, pid, qid, cand, "reject", reviewer="alice")
    fresh = search.refresh(store, pid, hits, qid, run_id, "alice")
    if cand in set(fresh["passage_id"]):
        assert fresh.set_index("passage_id").loc[cand, "decision"] == "reject"
    with pytest.raises(EmbcoreError, match="type something"):
        search.search(store, pid, "  ")
    with pytest.raises(EmbcoreError, match="unknown search mode"):
        search.search(store, pid, "x", mode="sparse")


@pytest.mark.integration
def test_dense_search_with_the_bundled_model(tmp_path: Path) -> None:
    from embcore.mining.config import MiningConfig
    from embcore.models.encoders import load_encoder
    from embcore.workflow import create_project, run_mining

    with Store(tmp_path / "real.duckdb") as store:
        pid = create_project(store, SAMPLE, name="sample").project_id
        run_mining(store, pid, MiningConfig(strategies=["hybrid"], num_negatives=3))
        enc = load_encoder(None)
        pos = store.positives(pid)
        text = str(pos["text"].iloc[0])
        # a paraphrase of the first positive, without its numbers: meaning, not words
        hits = search.search(store, pid, "how much did sales grow and what drove the increase", mode="dense",
                             encoder=enc, k=10)  # fmt: skip
        assert len(hits) == 10 and hits["dense_score"].is_monotonic_decreasing
        exact = search.search(store, pid, text, mode="hybrid", encoder=enc, k=5)
        assert int(exact.iloc[0]["passage_id"]) == int(pos["passage_id"].iloc[0])
