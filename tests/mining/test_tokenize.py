from __future__ import annotations

import pytest
from support.mining_data import load_zh_fixture

from embcore.errors import EmbcoreError
from embcore.mining.tokenize import resolve_tokenizer, tokenize, word_tokens


def test_word_tokens_casefold_and_split_cjk_characters():
    assert word_tokens("Apple's Q4 REVENUE: $383bn") == ["apple", "s", "q4", "revenue", "383bn"]
    assert word_tokens("苹果公司 revenue") == ["苹", "果", "公", "司", "revenue"]


def test_stopwords_are_removed():
    assert tokenize(["What is the revenue of Apple?"], "word", "english") == [["revenue", "apple"]]
    assert "的" not in tokenize(["苹果公司的营收"], "jieba", "chinese")[0]


def test_jieba_handles_mixed_chinese_and_english():
    tokens = tokenize(["NVIDIA的GPU出口限制有什么影响？"], "jieba")[0]
    assert {"nvidia", "gpu", "出口", "限制"} <= set(tokens)
    assert "？" not in tokens


def test_auto_picks_jieba_for_chinese_and_word_for_english():
    queries, passages, _ = load_zh_fixture()
    assert resolve_tokenizer("auto", queries + passages) == "jieba"
    assert resolve_tokenizer("auto", ["What was Apple's revenue?", "Apple reported revenue."]) == "word"
    assert resolve_tokenizer("whitespace", queries) == "whitespace"


def test_unknown_tokenizer_raises():
    with pytest.raises(EmbcoreError, match="jieba"):
        resolve_tokenizer("bpe", ["x"])
    with pytest.raises(EmbcoreError, match="resolve 'auto'"):
        tokenize(["x"], "auto")
