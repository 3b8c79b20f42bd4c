"""Checks on the shared financial-qa-10K and with the real bundled model (marked ``integration``)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from support.encoders import HashingEncoder
from support.mining_data import assert_no_positive_leaks, load_financial

from embcore.mining.config import MiningConfig
from embcore.mining.pipeline import mine
from embcore.mining.types import DictEmbeddingCache
from embcore.models.encoders import load_encoder

pytestmark = pytest.mark.integration


def test_full_financial_qa_never_proposes_a_positive():
    """Contexts shared by several questions must not become each other's negatives (all sources)."""
    inp = load_financial()
    assert len(inp.query_texts) > 6800 and max(len(p) for p in inp.positives) > 1
    cfg = MiningConfig(
        strategies=["bm25", "dense", "inbatch", "rules"], rules=["ticker:same:hard"], num_negatives=7, top_k=30,
    )  # fmt: skip
    res = mine(inp, cfg, encoder=HashingEncoder(dim=256))
    df = res.candidates
    assert_no_positive_leaks(inp, df, cfg.near_duplicate_threshold)
    # the positive itself is almost always among the candidates, and always removed
    assert res.stats["filters"]["positive_id"] >= 0.9 * len(inp.query_texts)
    assert res.stats["queries_without_negatives"] < 0.01 * len(inp.query_texts)
    uses = Counter(p for ps in inp.positives for p in ps)
    assert sum(n > 1 for n in uses.values()) > 40  # contexts shared by several questions are in the data


def test_real_model_small_subset():
    inp = load_financial(limit=150)
    enc = load_encoder(None)
    calls = []
    cache = DictEmbeddingCache()
    res = mine(
        inp,
        MiningConfig(strategies=["hybrid"], num_negatives=3),
        encoder=enc,
        cache=cache,
        progress=lambda s, d, t: calls.append(s),
    )
    df = res.candidates
    dense_top1 = df[df.dense_rank == 1]
    hit = np.mean(
        [c in inp.positives[q] for q, c in zip(dense_top1.query_idx, dense_top1.cand_idx, strict=True)]
    )
    assert hit > 0.6  # the model ranks the positive first for most questions (0.76 measured)
    assert_no_positive_leaks(inp, df, 0.98)
    assert res.stats["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    # a warm re-mine with other margins encodes nothing
    calls.clear()
    again = mine(
        inp,
        MiningConfig(strategies=["dense"], relative_margin=0.1, max_score=0.9),
        encoder=enc,
        cache=cache,
        progress=lambda s, d, t: calls.append((s, d, t)),
    )
    assert ("encode passages", len(inp.passage_texts), len(inp.passage_texts)) in calls
    assert again.stats["timings"]["encode"] < 1.0
