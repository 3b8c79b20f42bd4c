"""EDA must not corrupt facts: numbers, names, tickers and the row's metadata values stay
untouched and in place under every operation (English and Chinese)."""

from __future__ import annotations

import random

import pytest

from embcore.augment.eda import OPS, augment_samples, augment_text, random_swap, tokenize
from embcore.augment.lexicon import CompositeLexicon, WordNetLexicon

FINANCE = (
    "NVIDIA reported revenue of $3.2B in fiscal 2023, up 12% from 1,234.5 million, "
    "driven by GPU-powered deep learning demand from Microsoft and other cloud providers."
)
# the facts in FINANCE, in order: every one must survive every operation, in the same order
FACTS = ["NVIDIA", "$3.2B", "2023", "12%", "1,234.5", "million", "GPU-powered", "Microsoft"]
SEEDS = range(12)


def _words(text: str, lang: str = "en") -> list[str]:
    return [t.text for t in tokenize(text, lang, protect=False) if t.kind in ("word", "url")]  # type: ignore[arg-type]


def _protected(text: str, lang: str = "en", terms: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    """(word index, text) of every protected word of ``text``."""
    words = [t for t in tokenize(text, lang, True, terms) if t.kind in ("word", "url")]  # type: ignore[arg-type]
    return [(i, t.text) for i, t in enumerate(words) if t.protected]


def _in_order(needles: list[str], text: str) -> bool:
    pos = 0
    for n in needles:
        i = text.find(n, pos)
        if i < 0:
            return False
        pos = i + len(n)
    return True


def test_numbers_with_units_and_currency_are_one_protected_token() -> None:
    prot = [t for _, t in _protected(FINANCE)]
    for fact in ("NVIDIA", "3.2B", "2023", "12%", "1,234.5", "million", "GPU-powered", "Microsoft"):
        assert fact in prot, fact
    assert "3.2B" in _words("revenue of $3.2B")  # not "3.2" + "B"


@pytest.mark.parametrize("op", OPS)
def test_every_operation_keeps_facts_untouched_and_in_order(op: str) -> None:
    changed = 0
    for seed in SEEDS:
        for out in augment_text(FINANCE, [op], n=3, rate=0.3, seed=seed):  # type: ignore[list-item]
            changed += 1
            assert _in_order(FACTS, out.text), (op, out.text)
    assert changed, f"{op} changed nothing at all"


def test_swap_leaves_protected_words_at_their_position() -> None:
    before = _protected(FINANCE)
    for seed in SEEDS:
        for out in augment_text(FINANCE, ["swap"], n=3, rate=0.3, seed=seed):
            words = _words(out.text)
            assert len(words) == len(_words(FINANCE))
            assert [(i, words[i]) for i, _ in before] == before, out.text


def test_swap_never_moves_a_name() -> None:
    """The reported defect: NVIDIA swapped into another position."""
    text = "What significant invention did NVIDIA create for the gaming market?"
    idx = _words(text).index("NVIDIA")
    outs = [o for seed in SEEDS for o in augment_text(text, ["swap"], n=3, rate=0.5, seed=seed)]
    assert outs
    assert all(_words(o.text)[idx] == "NVIDIA" for o in outs)


def test_insert_never_splits_a_fact_from_its_neighbours() -> None:
    toks = tokenize(FINANCE, "en", True)
    # words separated only by a space from a protected word ("fiscal 2023", "1,234.5 million")
    pairs = [
        (a.text, c.text)
        for a, b, c in zip(toks, toks[1:], toks[2:], strict=False)
        if a.kind == "word" and b.kind == "space" and c.kind == "word" and (a.protected or c.protected)
    ]
    assert ("fiscal", "2023") in pairs and ("1,234.5", "million") in pairs
    outs = [o for seed in SEEDS for o in augment_text(FINANCE, ["insert"], n=3, rate=0.2, seed=seed)]
    assert outs
    for out in outs:
        words = _words(out.text)
        adjacent = set(zip(words, words[1:], strict=False))
        assert all(p in adjacent for p in pairs), out.text


def test_protected_occurrence_of_a_word_stays_when_its_lowercase_twin_changes() -> None:
    lex = CompositeLexicon(en=WordNetLexicon(), zh=None)
    text = "Apple sold apple juice and apple pie"
    for seed in SEEDS:
        for out in augment_text(text, ["synonym"], n=2, rate=0.5, seed=seed, lexicon=lex):
            assert out.text.startswith("Apple ")


def test_metadata_values_of_the_row_are_protected() -> None:
    sample = {
        "id": 1,
        "query": "How fast did data center revenue grow at the graphics chip maker last year?",
        "pos": ["The data center business of the chip maker grew strongly."],
        "meta": {"segment": "data center", "company": "chip maker"},
    }
    copies = [
        c
        for seed in SEEDS
        for c in augment_samples([sample], ["synonym", "delete", "swap", "insert"], n=3, rate=0.4, seed=seed)
    ]
    assert copies
    for c in copies:
        assert "data center" in c["query"] and "chip maker" in c["query"], c["query"]
        assert c["query"].index("data center") < c["query"].index("chip maker")
    # without the metadata, the same words are fair game (the protection comes from the row)
    plain = [
        c["query"]
        for seed in SEEDS
        for c in augment_samples([dict(sample, meta={})], ["synonym", "delete"], n=3, rate=0.4, seed=seed)
    ]
    assert any("data center" not in q or "chip maker" not in q for q in plain)


def test_chinese_numbers_names_and_metadata_are_protected() -> None:
    text = "英伟达2023年第三季度营收为181.2亿美元，同比增长206%，腾讯在北京的数据中心采购了大量芯片。"
    facts = ["英伟达", "2023", "第三季度", "181.2", "亿美元", "206", "%", "腾讯", "北京"]
    sample = {"id": 7, "query": text, "pos": ["x"], "meta": {"公司": "英伟达"}}
    copies = [
        c
        for seed in SEEDS
        for c in augment_samples([sample], ["swap", "delete", "insert"], n=3, rate=0.4, seed=seed)
    ]
    assert copies
    for c in copies:
        assert _in_order(facts, c["query"]), c["query"]
    # swapping keeps each protected jieba token at its index (checked on the tokens themselves:
    # re-segmenting the output can cut it differently)
    base = tokenize(text, "zh", True, ("英伟达",))
    assert {t.text for t in base if t.protected} >= {"英", "伟达", "2023", "181.2", "亿美元", "腾讯", "北京"}
    for seed in SEEDS:
        toks = [type(t)(t.text, t.kind, t.protected) for t in base]
        assert random_swap(toks, 0.5, random.Random(seed))
        assert [(i, t.text) for i, t in enumerate(toks) if t.protected] == [
            (i, t.text) for i, t in enumerate(base) if t.protected
        ]


def test_protection_can_be_turned_off() -> None:
    outs = [
        o.text
        for seed in SEEDS
        for o in augment_text(FINANCE, ["swap", "delete"], n=3, rate=0.5, seed=seed, protect=False)
    ]
    assert any(not _in_order(FACTS, t) for t in outs)
