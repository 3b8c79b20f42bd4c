"""Corpus search from the Review page: BM25 and dense retrieval over the project's corpus with the
mining engines (:mod:`embcore.mining.bm25`, :mod:`embcore.mining.dense`, reciprocal-rank fusion
from :mod:`embcore.mining.fusion`) and the DuckDB embedding cache the mining run filled.

The expert often knows the confusing passage mining missed: a hit can be added to the query on
screen as a negative or as an extra positive (:func:`embcore.review.model.add_search_hit`).

The BM25 index and the corpus vectors are built once per corpus and kept in a small in-process
cache (a new passage changes the corpus key and rebuilds them); passage vectors come from the
embedding cache, so a corpus mined with dense retrieval is never encoded again.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.mining.bm25 import BM25Index, bm25_topk, build_bm25
from embcore.mining.dense import dense_topk, encode_cached
from embcore.mining.fusion import from_topk, fuse
from embcore.mining.tokenize import resolve_tokenizer, tokenize
from embcore.models.encoders import Encoder, load_encoder
from embcore.store import Store

log = logging.getLogger(__name__)

SearchMode = Literal["hybrid", "bm25", "dense"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")


@dataclass
class _Index:
    ids: np.ndarray
    texts: list[str]
    meta: list[dict[str, Any]]
    bm25: BM25Index
    tokenizer: str
    stopwords: str | None
    vectors: dict[str, np.ndarray]


_CACHE: OrderedDict[tuple[Any, ...], _Index] = OrderedDict()


def _run_settings(store: Store, pid: int, run_id: int | None) -> dict[str, Any]:
    rid = run_id if run_id is not None else store.latest_run(pid, "mine")
    if rid is None:
        return {}
    run = store.get_run(rid)
    cfg = dict(run.get("config") or {})
    stats = run.get("stats") or {}
    cfg["tokenizer_resolved"] = stats.get("tokenizer")
    cfg["model_id"] = stats.get("model_id") or run.get("model_id")
    return cfg


def _index(store: Store, pid: int, settings: dict[str, Any]) -> _Index:
    key = (*store.search_corpus_key(pid), settings.get("tokenizer_resolved") or settings.get("tokenizer"),
           settings.get("stopwords"))  # fmt: skip
    if key in _CACHE and store.path != ":memory:":
        _CACHE.move_to_end(key)
        return _CACHE[key]
    df = store.search_corpus(pid)
    texts = [str(t) for t in df["text"]]
    tok = settings.get("tokenizer_resolved") or resolve_tokenizer(
        str(settings.get("tokenizer") or "auto"), texts
    )
    stop = settings.get("stopwords")
    bm25 = build_bm25(tokenize(texts, tok, stop), k1=float(settings.get("bm25_k1", 1.5)),
                      b=float(settings.get("bm25_b", 0.75)), epsilon=float(settings.get("bm25_epsilon", 0.25)))  # fmt: skip
    meta = [
        json.loads(m) if isinstance(m, str) and m else (m if isinstance(m, dict) else {}) for m in df["meta"]
    ]
    idx = _Index(df["id"].astype("int64").to_numpy(), texts, meta, bm25, tok, stop, {})
    _CACHE[key] = idx
    while len(_CACHE) > 4:
        _CACHE.popitem(last=False)
    return idx


def search(
    store: Store,
    pid: int,
    text: str,
    *,
    query_id: int | None = None,
    run_id: int | None = None,
    k: int = 10,
    mode: str = "hybrid",
    encoder: Encoder | None = None,
    reviewer: str = "",
) -> pd.DataFrame:
    """Search the project's corpus with BM25 and / or dense retrieval, fused by reciprocal rank.

    Args:
        text: what to search for (words for BM25, meaning for dense retrieval).
        query_id: the query on screen: marks its positives, candidates and the reviewer's decisions.
        run_id: the mining run whose settings (tokenizer, BM25 parameters, model, prompts) are used.
        k: hits per retriever (the fused list has at most 2k).
        mode: ``hybrid``, ``bm25`` or ``dense``.
        encoder: the mining model (default: loaded from the run's ``model``).
        reviewer: whose decisions are shown.

    Returns:
        One row per hit, best first: passage_id, rank, bm25_rank, bm25_score, dense_rank,
        dense_score, text, meta, positive, status (in the run, or None), given, decision.

    Raises:
        EmbcoreError: an empty search, an unknown mode, or dense search without a model.
    """
    text = (text or "").strip()
    if not text:
        raise EmbcoreError("type something to search for")
    if mode not in SEARCH_MODES:
        raise EmbcoreError(f"unknown search mode {mode!r}; allowed: {', '.join(SEARCH_MODES)}")
    t0 = time.perf_counter()
    settings = _run_settings(store, pid, run_id)
    idx = _index(store, pid, settings)
    lists = []
    if mode in ("hybrid", "bm25"):
        top = bm25_topk(idx.bm25, tokenize([text], idx.tokenizer, idx.stopwords), k)
        lists.append(from_topk("bm25", top))
    if mode in ("hybrid", "dense"):
        if encoder is None:
            encoder = load_encoder(
                None if settings.get("model") in (None, "", "default") else str(settings["model"])
            )
        vectors = idx.vectors.get(encoder.model_id)
        passage_prompt = str(settings.get("passage_prompt") or "")
        if vectors is None:
            vectors = encode_cached(encoder, idx.texts, prompt=passage_prompt, cache=store)
            idx.vectors[encoder.model_id] = vectors
        prompt = str(settings.get("query_prompt") or "")
        if query_id is not None:
            own_prompt = store.query_text_and_prompt(query_id)[1]
            prompt = own_prompt or prompt
        qv = encoder.encode([text], prompt=prompt or None)
        lists.append(from_topk("dense", dense_topk(np.asarray(qv, np.float32), vectors, k)))
    fused = fuse(lists, method="rrf", rrf_k=int(settings.get("rrf_k", 60)))
    cand = fused.cand_idx
    out = pd.DataFrame({
        "passage_id": idx.ids[cand],
        "rank": fused.rank,
        "bm25_rank": fused.source_rank.get("bm25", np.full(len(cand), np.nan)),
        "bm25_score": fused.source_score.get("bm25", np.full(len(cand), np.nan)),
        "dense_rank": fused.source_rank.get("dense", np.full(len(cand), np.nan)),
        "dense_score": fused.source_score.get("dense", np.full(len(cand), np.nan)),
        "text": [idx.texts[i] for i in cand],
        "meta": [idx.meta[i] for i in cand],
    })  # fmt: skip
    if query_id is not None and len(out):
        state = store.search_hit_state(query_id, out["passage_id"].tolist(), run_id, reviewer)
        out = out.merge(state, on="passage_id", how="left")
    else:
        out = out.assign(positive=False, status=None, given=False, decision=None)
    log.info("corpus search %r (%s): %d hits in %.3fs", text[:40], mode, len(out), time.perf_counter() - t0)
    return out.sort_values("rank", kind="stable", ignore_index=True)


def refresh(
    store: Store, pid: int, hits: pd.DataFrame, query_id: int, run_id: int | None, reviewer: str
) -> pd.DataFrame:
    """The same hits with their current state for the query (positive, status, given, the reviewer's decision)."""
    if hits.empty:
        return hits
    base = hits.drop(columns=[c for c in ("positive", "status", "given", "decision") if c in hits.columns])
    state = store.search_hit_state(query_id, base["passage_id"].tolist(), run_id, reviewer)
    return base.merge(state, on="passage_id", how="left")
