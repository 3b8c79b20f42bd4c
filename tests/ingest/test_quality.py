"""The quality gate: every filter fires on its case, counts add up, filtered queries keep their reason."""

from __future__ import annotations

import numpy as np
from support.encoders import HashingEncoder

from embcore.ingest.quality import GateConfig, GateItem, roundtrip_ranks, run_gate

CHUNKS = [
    "Acme sells industrial pumps and valves to water utilities in forty countries worldwide.",
    "Beta builds routers and network security software for telecom carriers and enterprises.",
    "Gamma buys wheat sugar and cocoa futures to hedge commodity prices for its bakeries.",
    "Delta pays a quarterly dividend and repurchased shares worth two hundred million dollars.",
    "Epsilon pipelines carry natural gas from Texas and Oklahoma under fee based contracts.",
]


def item(
    text: str, chunk: int, *, positive: str | None = None, doc: str = "d", method: str = "llm:question"
) -> GateItem:
    return GateItem(text, [positive or CHUNKS[chunk]], [chunk], doc, method)


def test_each_filter_and_its_count() -> None:
    items = [
        item("pumps", 0),  # 0 length (one word)
        item("泵和阀门卖给哪些客户", 0),  # 1 language (Chinese query, English chunk)
        item("Acme sells industrial pumps and valves to water utilities", 0),  # 2 copy
        item("Which routers does Beta build for telecom carriers?", 1, doc="b"),  # 3 kept
        item("Which routers does Beta build for the telecom carriers?", 1, doc="b"),  # 4 near duplicate of 3
        item("Which routers does Beta build for telecom carriers?", 1, doc="other"),  # 5 other document: kept
        item(
            "What does Epsilon hedge with cocoa futures for bakeries?", 4
        ),  # 6 roundtrip: retrieves Gamma's chunk
        item("Gamma: Risk factors", 2, method="title"),  # 7 title queries are exempt from the copy filter
    ]
    res = run_gate(items, CHUNKS, GateConfig(roundtrip="bm25", k=1), encoder=None)
    assert res.reason == ["length", "language", "copy", None, "near_duplicate", None, "roundtrip", None]
    assert res.stats["filters"] == {
        "length": 1,
        "language": 1,
        "copy": 1,
        "near_duplicate": 1,
        "roundtrip": 1,
        "llm_judge": 0,
    }
    assert res.stats["kept"] == 3 and res.stats["queries"] == 8
    assert res.details[2]["copy_ratio"] >= 0.8
    assert res.details[4]["duplicate_of"] == items[3].text
    assert res.details[6]["bm25_rank"] > 1 and res.details[3]["bm25_rank"] == 1
    assert res.stats["by_method"]["title"] == {"queries": 1, "kept": 1}


def test_gate_off_keeps_everything() -> None:
    items = [item("pumps", 0)]
    res = run_gate(items, CHUNKS, GateConfig(enabled=False))
    assert res.status == ["kept"] and res.stats == {
        "enabled": False,
        "queries": 1,
        "kept": 1,
        "filters": res.stats["filters"],
    }


def test_roundtrip_leaves_the_source_chunk_out_for_ict() -> None:
    # an ICT query is a sentence of its chunk: against the full chunk it would always rank first; the
    # check ranks its positive (the chunk without the sentence) against the *other* chunks only
    sentence = "Acme sells industrial pumps and valves."
    rest = "Its customers are water utilities in forty countries worldwide."
    chunks = [sentence + " " + rest, *CHUNKS[1:]]
    it = GateItem(sentence, [rest], [0], "a", "ict")
    ranks = roundtrip_ranks([it], chunks, mode="both", encoder=HashingEncoder())
    assert set(ranks) == {"bm25", "dense"}
    # the positive shares no word with the sentence, so BM25 finds nothing: no pass by luck of the source chunk
    assert ranks["bm25"][0] == 10**9
    res = run_gate([it], chunks, GateConfig(roundtrip="bm25", k=3))
    assert res.reason == ["roundtrip"]


def test_roundtrip_modes_dense_both_either() -> None:
    items = [
        item("Which routers does Beta build for telecom carriers?", 1),
        item("What fee contracts do gas pipelines use?", 4),
    ]
    enc = HashingEncoder()
    for mode in ("dense", "both", "either"):
        res = run_gate(items, CHUNKS, GateConfig(roundtrip=mode, k=1), encoder=enc)
        assert res.status == ["kept", "kept"], (mode, res.details)
        assert ("dense_rank" in res.details[0]) and (("bm25_rank" in res.details[0]) == (mode != "dense"))


def test_llm_judge_filters_low_scores() -> None:
    items = [
        item("Which routers does Beta build for telecom carriers?", 1),
        item("What fee contracts do gas pipelines use?", 4),
    ]
    calls = []

    def judge(pairs):
        calls.append(pairs)
        return [5.0, 2.0]

    res = run_gate(items, CHUNKS, GateConfig(roundtrip="off", judge_min=3), judge=judge)
    assert res.reason == [None, "llm_judge"] and res.details[1]["judge"] == 2.0
    assert calls[0][0] == (items[0].text, CHUNKS[1])


def test_ranks_are_exact_against_brute_force() -> None:
    enc = HashingEncoder()
    items = [
        item(f"question about {w}", i)
        for i, w in enumerate(["pumps", "routers", "cocoa", "dividend", "pipelines"])
    ]
    ranks = roundtrip_ranks(items, CHUNKS, mode="dense", encoder=enc)["dense"]
    q = enc.encode([it.text for it in items])
    p = enc.encode(CHUNKS)
    s = q @ p.T
    for i in range(len(items)):
        others = np.delete(s[i], i)
        assert ranks[i] == 1 + int((others > s[i, i]).sum())
