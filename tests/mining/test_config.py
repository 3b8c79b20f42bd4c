from __future__ import annotations

import json

import pytest

from embcore.errors import EmbcoreError
from embcore.mining.config import FILTER_ORDER, MiningConfig, RuleSpec


def test_defaults_are_valid_and_documented():
    cfg = MiningConfig().validate()
    assert cfg.strategies == ["dense"]
    assert cfg.num_negatives == 7 and cfg.top_k == 50
    assert cfg.relative_margin == 0.05 and cfg.near_duplicate_threshold == 0.98
    assert cfg.sampling == "top" and cfg.fusion == "rrf" and cfg.model == "default"
    assert FILTER_ORDER[0] == "positive_id" and FILTER_ORDER[-1] == "rank_window"


def test_json_round_trip_is_equal():
    cfg = MiningConfig(
        strategies=["hybrid", "rules"],
        rules=[{"column": "ticker", "relation": "same", "tag": "hard"}, "region:different:easy"],
        weights={"bm25": 0.3, "dense": 0.7},
        range_max=30,
        max_score=0.9,
        stopwords="english",
    ).validate()
    again = MiningConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.rules[1] == RuleSpec("region", "different", "easy")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("strategies", ["bm25", "colbert"], "inbatch-symmetric"),
        ("tokenizer", "spacy", "jieba"),
        ("fusion", "max", "weighted"),
        ("sampling", "best", "random"),
        ("stopwords", "french", "english"),
    ],
)
def test_invalid_choices_name_the_allowed_values(field, value, allowed):
    with pytest.raises(EmbcoreError, match=allowed):
        MiningConfig(**{field: value}).validate()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_negatives": 0},
        {"top_k": -1},
        {"range_min": 5, "range_max": 5},
        {"range_min": 0, "range_max": 3, "num_negatives": 7},
        {"relative_margin": -0.1},
        {"near_duplicate_threshold": 1.5},
        {"strategies": []},
        {"strategies": ["rules"]},
        {"inbatch_size": 1},
    ],
)
def test_invalid_numbers_raise(kwargs):
    with pytest.raises(EmbcoreError):
        MiningConfig(**kwargs).validate()


def test_unknown_keys_and_bad_rules_raise():
    with pytest.raises(EmbcoreError, match="allowed"):
        MiningConfig.from_dict({"num_negs": 3})
    with pytest.raises(EmbcoreError, match="same, different"):
        MiningConfig(strategies=["rules"], rules=[{"column": "ticker", "relation": "similar"}]).validate()
    with pytest.raises(EmbcoreError, match="column:same"):
        RuleSpec.from_any("ticker")
    with pytest.raises(EmbcoreError, match="distinct 'name'"):
        MiningConfig(strategies=["rules"], rules=["ticker:same:hard", "ticker:same:easy"]).validate()
    named = [{"column": "ticker", "tag": "easy", "name": "easy-ticker"}, "ticker:same:hard"]
    assert MiningConfig(strategies=["rules"], rules=named).validate().sources == [
        "rule:easy-ticker",
        "rule:same-ticker",
    ]


def test_sources_and_embedding_needs():
    cfg = MiningConfig(strategies=["rules", "hybrid", "random"], rules=["ticker:same"]).validate()
    assert cfg.sources == ["bm25", "dense", "random", "rule:same-ticker"]
    lexical = MiningConfig(
        strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None
    ).validate()
    assert not lexical.needs_embeddings()
    assert MiningConfig(strategies=["bm25"]).needs_embeddings()  # default margins use cosines
    # easy negatives alone load no model unless the score filters are forced on
    assert not MiningConfig(strategies=["random", "inbatch"]).validate().needs_embeddings()
    assert MiningConfig(strategies=["random"], score_filters="on").validate().needs_embeddings()
    assert not MiningConfig(strategies=["bm25"], score_filters="off").validate().needs_embeddings()
    assert MiningConfig(strategies=["dense"], score_filters="off").validate().needs_embeddings()
    assert MiningConfig(strategies="bm25,random").validate().strategies == ["bm25", "random"]
