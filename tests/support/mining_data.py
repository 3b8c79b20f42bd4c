"""Test data for the mining tests: a tiny hand-made corpus, the Chinese fixture, the shared dataset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embcore.mining.types import MiningInput
from embcore.text import clean_text, match_key

_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = _ROOT / "tests" / "fixtures"
_FIN = Path("data") / "financial-qa-10k" / "Financial-QA-10k.csv"
_FIN_CANDIDATES = [Path(p) for p in (os.environ.get("EMBCORE_FINANCIAL_CSV"),) if p] + [
    _ROOT.parent / "shared" / _FIN,
    Path("/work/shared") / _FIN,
]
FINANCIAL_CSV = next((p for p in _FIN_CANDIDATES if p.is_file()), _FIN_CANDIDATES[0])

CORPUS = [
    "The cat sat on the mat in the kitchen.",  # 0
    "Dogs are loyal animals and love long walks.",  # 1
    "The stock market fell sharply today after the rate decision.",  # 2
    "Apple reported record revenue for the fourth quarter.",  # 3
    "Cats like to sleep on warm mats near the window.",  # 4
    "the cat sat on the  mat in the KITCHEN.",  # 5: same text as 0 after normalisation
    "Interest rates were raised by the central bank.",  # 6
    "Apple's iPhone sales grew in the fourth quarter.",  # 7
    "A recipe for apple pie with cinnamon.",  # 8
    "Bond yields rose as the market expected rate cuts.",  # 9
]
QUERIES = [
    "where did the cat sit",  # positive 0
    "how did the stock market do after the rate decision",  # positive 2
    "what revenue did apple report for the quarter",  # positive 3
    "what did the central bank do with interest rates",  # positive 6
]


def make_input(
    queries: list[str],
    passages: list[str],
    positives: list[list[int]],
    query_meta: list[dict[str, str]] | None = None,
    passage_meta: list[dict[str, str]] | None = None,
) -> MiningInput:
    """A MiningInput with sequential ids."""
    return MiningInput(
        query_ids=np.arange(len(queries), dtype=np.int64),
        query_texts=list(queries),
        passage_ids=np.arange(100, 100 + len(passages), dtype=np.int64),
        passage_texts=list(passages),
        positives=[list(p) for p in positives],
        query_meta=list(query_meta or []),
        passage_meta=list(passage_meta or []),
    )


def tiny_input_data() -> MiningInput:
    """Ten passages, four queries, with a normalised-text duplicate of a positive (passage 5)."""
    meta_p = [
        {"topic": "pets"}, {"topic": "pets"}, {"topic": "markets"}, {"topic": "tech"}, {"topic": "pets"},
        {"topic": "pets"}, {"topic": "markets"}, {"topic": "tech"}, {"topic": "food"}, {"topic": "markets"},
    ]  # fmt: skip
    meta_q = [{"topic": "pets"}, {"topic": "markets"}, {"topic": "tech"}, {"topic": "markets"}]
    return make_input(QUERIES, CORPUS, [[0], [2], [3], [6]], meta_q, meta_p)


def load_zh_fixture() -> tuple[list[str], list[str], list[str]]:
    """(queries, passages, lang of each query); query i's positive is passage i."""
    rows = [
        json.loads(line)
        for line in (FIXTURES / "zh_bm25.jsonl").read_text(encoding="utf-8").splitlines()
        if line
    ]
    passages = [r["positive"] for r in rows]
    queries = [r["query"] for r in rows if r["query"]]
    langs = [r["lang"] for r in rows if r["query"]]
    return queries, passages, langs


def load_financial(limit: int | None = None) -> MiningInput:
    """The shared financial-qa-10K as a MiningInput: cleaned texts, rows grouped by question,
    contexts deduplicated (a context shared by several questions is one passage)."""
    if not FINANCIAL_CSV.exists():
        pytest.skip(f"shared dataset not found: {FINANCIAL_CSV}")
    df = pd.read_csv(FINANCIAL_CSV).dropna(subset=["question", "context"])
    if limit is not None:
        df = df.head(limit)
    q_texts = [clean_text(t) for t in df["question"]]
    c_texts = [clean_text(t) for t in df["context"]]
    tickers = [str(t) for t in df["ticker"]]
    passages = list(dict.fromkeys(c_texts))
    p_index = {t: i for i, t in enumerate(passages)}
    p_ticker = dict(zip(c_texts, tickers, strict=True))
    positives: dict[str, list[int]] = {}
    q_ticker: dict[str, str] = {}
    for q, c, t in zip(q_texts, c_texts, tickers, strict=True):
        bucket = positives.setdefault(q, [])
        if p_index[c] not in bucket:
            bucket.append(p_index[c])
        q_ticker.setdefault(q, t)
    queries = list(positives)
    return make_input(
        queries, passages, [positives[q] for q in queries],
        [{"ticker": q_ticker[q]} for q in queries], [{"ticker": p_ticker[p]} for p in passages],
    )  # fmt: skip


def assert_no_positive_leaks(inp: MiningInput, frame: pd.DataFrame, threshold: float | None = None) -> None:
    """No surviving candidate is a positive of its query, by index or normalised text (or near-duplicate)."""
    alive = frame[frame["status"].isin(["selected", "kept"])]
    p_keys = [match_key(t) for t in inp.passage_texts]
    q_keys = [match_key(t) for t in inp.query_texts]
    for q, c, kind in zip(alive["query_idx"], alive["cand_idx"], alive["cand_kind"], strict=True):
        positives = inp.positives[q]
        assert kind == "query" or c not in positives
        key = p_keys[c] if kind == "passage" else q_keys[c]
        assert key != q_keys[q] and all(key != p_keys[p] for p in positives)
    if threshold is not None:
        assert not (alive["pos_sim"] >= threshold).any()
