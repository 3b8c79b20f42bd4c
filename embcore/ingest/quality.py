"""Quality gate for generated and pseudo queries: each filter counted, every filtered query kept with its reason.

Filters, in order (a query is labelled by the first one it fails):

1. ``length``: fewer than ``min_words`` or more than ``max_words`` words (two CJK characters = one word);
2. ``language``: the query's language (Chinese / other) differs from its positive's;
3. ``copy``: a near-verbatim span of its positive: the longest common substring covers at least
   ``copy_ratio`` of the query (queries of at least ``copy_min_words`` words; title queries are
   exempt). ICT queries are sentences of their chunk, so the check runs against the positive, which
   excludes the sentence: it catches a sentence repeated elsewhere in the chunk;
4. ``near_duplicate``: within one document, a query whose word set overlaps an earlier kept query's
   by ``dup_jaccard`` or more (Jaccard);
5. ``roundtrip``: the query must retrieve one of its positives within the top ``k`` of the chunk
   corpus by the dense model, BM25, both or either (``roundtrip``); the query's own source chunk(s)
   are left out of the competition (an ICT query is a sentence *of* its source chunk). Scores come
   from :mod:`embcore.mining.bm25` and :mod:`embcore.mining.dense` (with the DuckDB embedding
   cache, which mining then reuses);
6. ``llm_judge`` (optional): an LLM scores how well the positive answers the query, 1-5; below
   ``judge_min`` fails.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from embcore.errors import EmbcoreError
from embcore.ingest.pseudo_queries import language_of, text_units
from embcore.mining.bm25 import build_bm25, query_matrix
from embcore.mining.dense import encode_cached
from embcore.mining.tokenize import resolve_tokenizer, tokenize
from embcore.mining.types import EmbeddingCache
from embcore.models.encoders import Encoder
from embcore.progress import ProgressFn, report
from embcore.text import match_key

log = logging.getLogger(__name__)

RoundTrip = Literal["dense", "bm25", "both", "either", "off"]
ROUNDTRIPS: tuple[str, ...] = ("dense", "bm25", "both", "either", "off")
GATE_FILTERS: tuple[str, ...] = ("length", "language", "copy", "near_duplicate", "roundtrip", "llm_judge")


@dataclass
class GateConfig:
    """Quality gate settings (see the module docstring). ``enabled=False`` keeps every query."""

    enabled: bool = True
    min_words: int = 2
    max_words: int = 64
    language: bool = True
    copy_ratio: float = 0.8
    copy_min_words: int = 6
    dup_jaccard: float = 0.8
    roundtrip: RoundTrip = "dense"
    k: int = 10
    judge_min: float | None = None
    batch_size: int = 64

    def validate(self) -> GateConfig:
        """Raises EmbcoreError naming the setting that is out of range."""
        if self.roundtrip not in ROUNDTRIPS:
            raise EmbcoreError(
                f"unknown round-trip check {self.roundtrip!r}; choose from {', '.join(ROUNDTRIPS)}"
            )
        if self.k < 1:
            raise EmbcoreError(
                f"--roundtrip-k must be >= 1, got {self.k} (use --roundtrip off to skip the check)"
            )
        if not 0 < self.copy_ratio <= 1 or not 0 < self.dup_jaccard <= 1:
            raise EmbcoreError("copy ratio and duplicate threshold must be in (0, 1]")
        if self.min_words < 1 or self.max_words < self.min_words:
            raise EmbcoreError("query length bounds: 1 <= min_words <= max_words")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateItem:
    """One query to check: its text, positives, source chunks (indices into the chunk corpus), document, method."""

    text: str
    positives: list[str]
    sources: list[int]
    doc_id: str
    method: str


@dataclass
class GateResult:
    """Per query: ``status`` ('kept' | 'filtered'), ``reason`` (the first failed filter or None) and
    ``details`` (ranks, ratios, scores); plus counts per filter."""

    status: list[str]
    reason: list[str | None]
    details: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)


def _lcs_ratio(query: str, positive: str) -> float:
    a, b = match_key(query), match_key(positive)
    if not a:
        return 0.0
    m = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m.size / len(a)


def _ranks(
    scores: np.ndarray,
    n_chunks: int,
    targets: Sequence[Sequence[int]],
    sources: Sequence[Sequence[int]],
    start: int,
    zero_fails: bool,
) -> np.ndarray:
    """Rank of each query's best target among the chunks that are not its sources (1 = first)."""
    out = np.empty(scores.shape[0], dtype=np.int64)
    for r in range(scores.shape[0]):
        i = start + r
        own = float(scores[r, list(targets[i])].max())
        comp = scores[r, :n_chunks].copy()
        comp[list(sources[i])] = -np.inf
        out[r] = 10**9 if zero_fails and own <= 0 else 1 + int((comp > own).sum())
    return out


def roundtrip_ranks(
    items: Sequence[GateItem],
    chunk_texts: Sequence[str],
    *,
    mode: RoundTrip,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> dict[str, np.ndarray]:
    """Dense and/or BM25 rank of each query's positive among the chunks (its source chunks left out).

    The corpus holds every chunk plus the positives that are not chunks (ICT positives); only chunks
    compete. Returns ``{"dense": ranks, "bm25": ranks}`` for the retrievers the mode needs.
    """
    n_chunks = len(chunk_texts)
    index = {t: i for i, t in enumerate(chunk_texts)}
    texts = list(chunk_texts)
    targets: list[list[int]] = []
    for it in items:
        tg = []
        for p in it.positives:
            if p not in index:
                index[p] = len(texts)
                texts.append(p)
            tg.append(index[p])
        targets.append(tg)
    sources = [it.sources for it in items]
    queries = [it.text for it in items]
    out: dict[str, np.ndarray] = {}
    step = 256
    if mode in ("bm25", "both", "either"):
        tokenizer = resolve_tokenizer("auto", texts + queries)
        idx = build_bm25(tokenize(texts, tokenizer))
        q_tok = tokenize(queries, tokenizer)
        ranks = []
        for s in range(0, len(items), step):
            block = (query_matrix(idx, q_tok[s : s + step]) @ idx.weights_t).toarray()
            ranks.append(_ranks(block, n_chunks, targets, sources, s, zero_fails=True))
            report(progress, "gate bm25", min(s + step, len(items)), len(items))
        out["bm25"] = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
    if mode in ("dense", "both", "either"):
        if encoder is None:
            raise EmbcoreError("the dense round-trip check needs the model")
        p_emb = encode_cached(encoder, texts, cache=cache, batch_size=batch_size, progress=progress)
        q_emb = encode_cached(encoder, queries, cache=cache, batch_size=batch_size, progress=progress)
        ranks = []
        for s in range(0, len(items), step):
            block = q_emb[s : s + step] @ p_emb.T
            ranks.append(_ranks(block, n_chunks, targets, sources, s, zero_fails=False))
            report(progress, "gate dense", min(s + step, len(items)), len(items))
        out["dense"] = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
    return out


def _jaccard_sets(texts: Sequence[str]) -> list[frozenset[str]]:
    if not texts:
        return []
    tok = resolve_tokenizer("auto", list(texts))
    return [frozenset(t.casefold() for t in toks) for toks in tokenize(list(texts), tok)]


def run_gate(
    items: Sequence[GateItem],
    chunk_texts: Sequence[str],
    cfg: GateConfig,
    *,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | None = None,
    judge: Any = None,
    progress: ProgressFn | None = None,
) -> GateResult:
    """Run the gate over every query (see the module docstring for the filters and their order).

    Args:
        items: the queries.
        chunk_texts: the chunk corpus the round-trip check retrieves from (``GateItem.sources`` index it).
        cfg: settings.
        encoder: the dense model (round trip ``dense`` / ``both`` / ``either``).
        cache: embedding cache (the store).
        judge: ``judge(pairs) -> scores`` (1-5 or None), used when ``cfg.judge_min`` is set.
        progress: progress callback.
    """
    cfg.validate()
    n = len(items)
    status = ["kept"] * n
    reason: list[str | None] = [None] * n
    details: list[dict[str, Any]] = [{} for _ in range(n)]
    removed = {f: 0 for f in GATE_FILTERS}
    if not cfg.enabled:
        return GateResult(
            status, reason, details, {"enabled": False, "queries": n, "kept": n, "filters": removed}
        )

    def fail(i: int, name: str) -> None:
        status[i], reason[i] = "filtered", name
        removed[name] += 1

    alive = lambda: [i for i in range(n) if status[i] == "kept"]  # noqa: E731
    # 1-3. per query: length, language, copy
    for i, it in enumerate(items):
        units = text_units(it.text)
        if not cfg.min_words <= units <= cfg.max_words:
            fail(i, "length")
            continue
        if cfg.language and it.positives and language_of(it.text) != language_of(it.positives[0]):
            fail(i, "language")
            continue
        if it.method != "title" and units >= cfg.copy_min_words and it.positives:
            ratio = max(_lcs_ratio(it.text, p) for p in it.positives)
            details[i]["copy_ratio"] = round(ratio, 3)
            if ratio >= cfg.copy_ratio:
                fail(i, "copy")
    # 4. near-duplicates within a document (first one wins, in input order)
    live = alive()
    sets = dict(zip(live, _jaccard_sets([items[i].text for i in live]), strict=True))
    by_doc: dict[str, list[int]] = {}
    for i in live:
        by_doc.setdefault(items[i].doc_id, []).append(i)
    for members in by_doc.values():
        kept: list[int] = []
        for i in members:
            a = sets[i]
            dup = next(
                (j for j in kept if a and len(a & sets[j]) / len(a | sets[j]) >= cfg.dup_jaccard), None
            )
            if dup is not None:
                details[i]["duplicate_of"] = items[dup].text
                fail(i, "near_duplicate")
            else:
                kept.append(i)
    # 5. round trip
    live = alive()
    if cfg.roundtrip != "off" and live:
        ranks = roundtrip_ranks(
            [items[i] for i in live],
            chunk_texts,
            mode=cfg.roundtrip,
            encoder=encoder,
            cache=cache,
            batch_size=cfg.batch_size,
            progress=progress,
        )
        for r, i in enumerate(live):
            ok = []
            for name, rk in ranks.items():
                details[i][f"{name}_rank"] = int(min(rk[r], 10**9))
                ok.append(rk[r] <= cfg.k)
            passed = any(ok) if cfg.roundtrip == "either" else all(ok)
            if not passed:
                fail(i, "roundtrip")
    # 6. LLM judge
    live = alive()
    if cfg.judge_min is not None and judge is not None and live:
        scores = judge([(items[i].text, items[i].positives[0]) for i in live])
        for i, sc in zip(live, scores, strict=True):
            details[i]["judge"] = sc
            if sc is None or sc < cfg.judge_min:
                fail(i, "llm_judge")
    kept_n = sum(1 for s in status if s == "kept")
    by_method: dict[str, dict[str, int]] = {}
    for it, st in zip(items, status, strict=True):
        m = by_method.setdefault(it.method, {"queries": 0, "kept": 0})
        m["queries"] += 1
        m["kept"] += st == "kept"
    stats = {
        "enabled": True,
        "queries": n,
        "kept": kept_n,
        "kept_share": round(kept_n / n, 4) if n else 0.0,
        "filters": removed,
        "by_method": by_method,
        "settings": cfg.to_dict(),
    }
    log.info("quality gate: kept %d of %d queries (%s)", kept_n, n, removed)
    return GateResult(status, reason, details, stats)
