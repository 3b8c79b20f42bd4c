from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.encoders import HashingEncoder
from support.mining_data import assert_no_positive_leaks, load_zh_fixture, make_input

from embcore.errors import CancelledError, EmbcoreError
from embcore.mining import pipeline
from embcore.mining.config import FILTER_ORDER, MiningConfig
from embcore.mining.pipeline import mine
from embcore.mining.types import CANDIDATE_COLUMNS, DictEmbeddingCache


def test_all_candidates_with_status_and_stats(tiny_input, fake_encoder):
    cfg = MiningConfig(strategies=["hybrid"], num_negatives=3, top_k=6, relative_margin=None)
    res = mine(tiny_input, cfg, encoder=fake_encoder, cache=DictEmbeddingCache())
    df = res.candidates
    assert tuple(df.columns) == CANDIDATE_COLUMNS
    assert df.groupby("query_idx")["rank"].apply(lambda r: r.tolist() == list(range(1, len(r) + 1))).all()
    row = df[(df.query_idx == 0) & (df.cand_idx == 0)].iloc[0]
    assert row.status == "positive_id" and row.sources == "bm25+dense"
    assert df[(df.query_idx == 0) & (df.cand_idx == 5)].iloc[0].status == "positive_text"
    assert (df[df.status == "selected"].groupby("query_idx").size() <= 3).all()
    # selected = the best-ranked survivors
    for _, g in df.groupby("query_idx"):
        alive = g[g.status.isin(["selected", "kept"])]
        assert (
            alive["status"].tolist()[: (alive.status == "selected").sum()]
            == ["selected"] * (alive.status == "selected").sum()
        )
    assert_no_positive_leaks(tiny_input, df, cfg.near_duplicate_threshold)
    st = res.stats
    assert list(st["filters"]) == list(FILTER_ORDER)
    assert st["filters"]["positive_id"] == (df.status == "positive_id").sum() >= 4
    assert st["status"]["selected"] == (df.status == "selected").sum()
    assert set(st["sources"]) == {"bm25", "dense"} and st["sources"]["dense"]["proposed"] > 0
    assert set(st["candidates_per_query"]) == {"min", "median", "mean", "max"}
    assert {"encode", "bm25", "dense", "fusion", "filters", "total"} <= set(st["timings"])
    assert st["model_id"] == "fake-hashing" and st["tokenizer"] == "word" and len(st["data_hash"]) == 40
    assert MiningConfig.from_dict(st["config"]) == cfg


def test_shared_positive_never_becomes_a_negative(fake_encoder):
    passages = [
        "Revenue grew to 10bn in 2023.",
        "Costs fell in 2023.",
        "The CEO resigned.",
        "Dividends were raised.",
    ]
    queries = ["what was revenue in 2023", "how much did revenue grow in 2023", "who resigned"]
    inp = make_input(queries, passages, [[0], [0, 1], [2]])
    cfg = MiningConfig(
        strategies=["dense", "bm25", "inbatch", "inbatch-symmetric", "random"],
        num_negatives=10, top_k=10, inbatch_size=8, relative_margin=None, near_duplicate_threshold=None,
    )  # fmt: skip
    df = mine(inp, cfg, encoder=fake_encoder).candidates
    q0 = df[df.query_idx == 0]
    p0 = q0[(q0.cand_kind == "passage") & (q0.cand_idx == 0)]
    assert len(p0) and (p0.status == "positive_id").all()
    # query 1 shares passage 0 with query 0: as a symmetric in-batch candidate it is a false negative
    q1_as_cand = q0[(q0.cand_kind == "query") & (q0.cand_idx == 1)]
    assert q1_as_cand.status.tolist() == ["positive_id"]
    assert q0[(q0.cand_kind == "query") & (q0.cand_idx == 2)].status.tolist() == ["selected"]
    assert_no_positive_leaks(inp, df)
    # query 0 may get passage 1 (only query 1's positive) as a negative, never passage 0
    assert set(
        df[(df.query_idx == 1) & (df.cand_kind == "passage") & df.status.isin(["selected", "kept"])].cand_idx
    ) <= {2, 3}


def test_seeded_runs_are_identical(tiny_input, fake_encoder):
    cfg = MiningConfig(
        strategies=["random", "inbatch", "dense"], sampling="random", num_negatives=2, inbatch_size=2, seed=7
    )
    a = mine(tiny_input, cfg, encoder=fake_encoder).candidates
    b = mine(tiny_input, cfg, encoder=fake_encoder).candidates
    pd.testing.assert_frame_equal(a, b)
    other = [
        mine(tiny_input, MiningConfig(**{**cfg.to_dict(), "seed": s}), encoder=fake_encoder).candidates
        for s in range(4)
    ]
    assert any(not o.equals(a) for o in other)


def test_warm_remine_uses_the_cache(tiny_input):
    enc, cache = HashingEncoder(), DictEmbeddingCache()
    mine(tiny_input, MiningConfig(strategies=["dense"]), encoder=enc, cache=cache)
    encoded = enc.encoded
    assert encoded == len(tiny_input.passage_texts) + len(tiny_input.query_texts)
    res = mine(
        tiny_input,
        MiningConfig(strategies=["hybrid"], relative_margin=0.2, absolute_margin=0.01),
        encoder=enc,
        cache=cache,
    )
    assert enc.encoded == encoded
    assert res.stats["filters"]["relative_margin"] + res.stats["filters"]["absolute_margin"] > 0


def test_lexical_run_needs_no_model(tiny_input, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(pipeline, "load_encoder", no_model)
    cfg = MiningConfig(
        strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=2
    )
    res = mine(tiny_input, cfg)
    assert res.candidates["dense_score"].isna().all() and res.stats["model_id"] is None
    assert (res.candidates["sources"] == "bm25").all()
    assert_no_positive_leaks(tiny_input, res.candidates)


def test_rank_window_and_score_filters(tiny_input, fake_encoder):
    base = {
        "strategies": ["dense"],
        "num_negatives": 2,
        "relative_margin": None,
        "near_duplicate_threshold": None,
    }
    plain = mine(tiny_input, MiningConfig(**base), encoder=fake_encoder).candidates
    windowed = mine(tiny_input, MiningConfig(**base, range_min=1), encoder=fake_encoder).candidates
    for q in range(len(tiny_input.query_texts)):
        first = plain[(plain.query_idx == q) & plain.status.isin(["selected", "kept"])].iloc[0]
        w = windowed[(windowed.query_idx == q) & (windowed.cand_idx == first.cand_idx)]
        assert w.status.tolist() == ["rank_window"]
    capped = mine(tiny_input, MiningConfig(**base, max_score=0.2), encoder=fake_encoder)
    df = capped.candidates
    assert (df[df.status.isin(["selected", "kept"])].dense_score <= 0.2).all()
    assert capped.stats["filters"]["max_score"] == (df.status == "max_score").sum() > 0


def test_relative_margin_against_the_positive_score(tiny_input, fake_encoder):
    res = mine(tiny_input, MiningConfig(strategies=["dense"], relative_margin=0.05), encoder=fake_encoder)
    df = res.candidates
    q_emb = fake_encoder.encode(tiny_input.query_texts)
    p_emb = fake_encoder.encode(tiny_input.passage_texts)
    pos = np.array([min(q_emb[i] @ p_emb[p] for p in ps) for i, ps in enumerate(tiny_input.positives)])
    alive = df[df.status.isin(["selected", "kept"])]
    assert (
        alive.dense_score.to_numpy() <= pos[alive.query_idx] - np.abs(pos[alive.query_idx]) * 0.05 + 1e-9
    ).all()
    removed = df[df.status == "relative_margin"]
    assert (removed.dense_score.to_numpy() > pos[removed.query_idx] * 0.95 - 1e-9).all()


def test_cross_encoder_rescoring(tiny_input, fake_encoder, monkeypatch):
    def overlap(a: str, b: str) -> int:
        return len(set(a.lower().split()) & set(b.lower().split()))

    class WordOverlap:
        def predict(self, pairs, batch_size=32, **kwargs):
            return np.array([overlap(a, b) for a, b in pairs], float)

    monkeypatch.setattr(pipeline, "load_cross_encoder", lambda name: WordOverlap())
    cfg = MiningConfig(
        strategies=["dense"], cross_encoder="fake-ce", absolute_margin=2.5, relative_margin=None
    )
    df = mine(tiny_input, cfg, encoder=fake_encoder).candidates
    qt, pt = tiny_input.query_texts, tiny_input.passage_texts
    pos_ce = [min(overlap(qt[q], pt[p]) for p in ps) for q, ps in enumerate(tiny_input.positives)]
    for q, g in df.groupby("query_idx"):
        assert (np.diff(g.score.to_numpy()) <= 0).all()  # ranked by cross-encoder score
        assert g.score.tolist() == [overlap(qt[q], pt[c]) for c in g.cand_idx]
        assert (g[g.status.isin(["selected", "kept"])].score + 2.5 <= pos_ce[q]).all()
        assert (g[g.status == "absolute_margin"].score + 2.5 > pos_ce[q]).all()
    assert (df.status == "absolute_margin").sum() > 0


def test_rules_and_metadata(tiny_input, fake_encoder):
    cfg = MiningConfig(
        strategies=["rules"], rules=["topic:same:hard", "topic:different:easy"], num_negatives=3
    )
    df = mine(tiny_input, cfg, encoder=fake_encoder).candidates
    topics = [m["topic"] for m in tiny_input.passage_meta]
    for q, meta in enumerate(tiny_input.query_meta):
        g = df[df.query_idx == q]
        same = g[g.sources.str.contains("rule:same-topic")]
        diff = g[g.sources.str.contains("rule:different-topic")]
        assert {topics[c] for c in same.cand_idx} == {meta["topic"]}
        assert meta["topic"] not in {topics[c] for c in diff.cand_idx}


def test_chinese_end_to_end_picks_jieba():
    queries, passages, _ = load_zh_fixture()
    inp = make_input(queries, passages, [[i] for i in range(len(queries))])
    cfg = MiningConfig(
        strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=2
    )
    res = mine(inp, cfg)
    assert res.stats["tokenizer"] == "jieba"
    top1 = res.candidates[res.candidates["rank"] == 1]
    assert (top1.cand_idx.to_numpy() == top1.query_idx.to_numpy()).all() and (
        top1.status == "positive_id"
    ).all()


def test_per_query_prompts_are_cache_keys(tiny_input):
    cache, enc = DictEmbeddingCache(), HashingEncoder()
    tiny_input.query_prompts = ["Represent: ", "", "Represent: ", ""]
    mine(tiny_input, MiningConfig(strategies=["dense"], query_prompt="q: "), encoder=enc, cache=cache)
    prompts = {prompt for _, prompt, _ in cache.data}
    assert prompts == {"Represent: ", "q: ", ""}  # "" = passages


def test_progress_and_cancel(tiny_input, fake_encoder):
    stages = []
    mine(
        tiny_input,
        MiningConfig(strategies=["hybrid"]),
        encoder=fake_encoder,
        progress=lambda s, d, t: stages.append(s),
    )
    assert {"mine", "bm25", "dense", "encode passages", "encode queries"} <= set(stages)
    with pytest.raises(CancelledError):
        mine(
            tiny_input,
            MiningConfig(strategies=["dense"]),
            encoder=fake_encoder,
            progress=lambda s, d, t: s != "dense",
        )


def test_invalid_input_raises(tiny_input, fake_encoder):
    tiny_input.positives[0] = [99]
    with pytest.raises(EmbcoreError, match="outside"):
        mine(tiny_input, MiningConfig(), encoder=fake_encoder)
    tiny_input.positives = tiny_input.positives[:2]
    with pytest.raises(EmbcoreError, match="positives has 2 entries"):
        mine(tiny_input, MiningConfig(), encoder=fake_encoder)


def test_score_filters_modes(tiny_input, fake_encoder, monkeypatch):
    capped = {"strategies": ["dense"], "num_negatives": 2, "max_score": 0.2}
    on = mine(tiny_input, MiningConfig(**capped), encoder=fake_encoder)
    off = mine(tiny_input, MiningConfig(**capped, score_filters="off"), encoder=fake_encoder)
    assert on.stats["filters"]["max_score"] > 0 and on.stats["score_filters"] == "applied"
    assert off.stats["score_filters"] == "skipped"
    assert all(off.stats["filters"][f] == 0 for f in ("near_duplicate", "max_score", "relative_margin"))
    assert_no_positive_leaks(tiny_input, off.candidates)  # id / text positive filters still run

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(pipeline, "load_encoder", no_model)
    easy = mine(tiny_input, MiningConfig(strategies=["random", "inbatch"], num_negatives=2))
    assert easy.stats["score_filters"] == "skipped" and easy.candidates["dense_score"].isna().all()
    assert_no_positive_leaks(tiny_input, easy.candidates)
