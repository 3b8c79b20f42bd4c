"""The mining orchestrator: candidates from every strategy -> fusion -> filters -> sampling.

:func:`mine` returns *all* candidates with their outcome ('selected', 'kept', or the name of
the first filter that removed them) so that the review step can show them side by side, plus
JSON-able stats (per-filter removals, per-source counts, distributions, timings) that the
store records with the run together with the config, seed, model id and data hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.mining import filters as flt
from embcore.mining.bm25 import bm25_topk, build_bm25
from embcore.mining.config import FILTER_ORDER, MiningConfig
from embcore.mining.dense import dense_topk, encode_cached, rowwise_dot
from embcore.mining.fusion import (
    KIND_NAMES,
    KIND_PASSAGE,
    KIND_QUERY,
    CandidateList,
    FusedCandidates,
    from_topk,
    fuse,
    rank_in_groups,
    ranked_list,
)
from embcore.mining.inbatch import inbatch_candidates
from embcore.mining.randomneg import random_candidates
from embcore.mining.rules import meta_codes, rule_topk
from embcore.mining.sampling import select
from embcore.mining.tokenize import resolve_tokenizer, tokenize
from embcore.mining.types import CANDIDATE_COLUMNS, EmbeddingCache, MiningInput, MiningResult
from embcore.models.encoders import Encoder, load_cross_encoder, load_encoder
from embcore.progress import ProgressFn, report

log = logging.getLogger(__name__)

_RNG_STREAMS = {"inbatch": 1, "inbatch-symmetric": 2, "random": 3, "rules": 4, "sampling": 5}
_N_STEPS = 7


@dataclass
class _Embeddings:
    """query: (nq, dim) and passage: (np, dim) float32, L2-normalised."""

    query: np.ndarray
    passage: np.ndarray

    def candidates(self, kind: np.ndarray, cand_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(matrix, rows): one matrix holding every candidate's vector and each candidate's row in it."""
        if not np.any(kind == KIND_QUERY):
            return self.passage, cand_idx
        rows = np.where(kind == KIND_QUERY, cand_idx + self.passage.shape[0], cand_idx)
        return np.vstack([self.passage, self.query]), rows


@dataclass
class _Features:
    """Per candidate row: dense_score (cosine to the query), pos_sim (max cosine to a positive);
    per query: pos_score (lowest cosine to a positive). NaN where no embeddings."""

    dense_score: np.ndarray
    pos_sim: np.ndarray
    pos_score: np.ndarray


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 4)


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, _RNG_STREAMS[stream]])


def _renamed(progress: ProgressFn | None, stage: str) -> ProgressFn | None:
    """Forward ``progress`` under a fixed stage name."""
    if progress is None:
        return None
    return lambda _stage, done, total: progress(stage, done, total)


# --------------------------------------------------------------------------- the orchestrator
def mine(
    inp: MiningInput,
    cfg: MiningConfig,
    *,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | None = None,
    progress: ProgressFn | None = None,
) -> MiningResult:
    """Mine negative candidates for every query and select ``cfg.num_negatives`` of them.

    Args:
        inp: Queries, passages, positives and metadata.
        cfg: The mining configuration (validated here).
        encoder: Bi-encoder; default ``load_encoder(cfg.model)`` when the config needs embeddings.
            When given, dense columns are filled even for lexical-only runs.
        cache: Embedding cache (the store's DuckDB cache); None encodes everything.
        progress: Progress callback ``(stage, done, total)``; returning False cancels.

    Returns:
        A :class:`MiningResult`: one row per (query, candidate) with :data:`CANDIDATE_COLUMNS`,
        sorted by query then rank, and the run's stats.

    Raises:
        EmbcoreError: On invalid config or input, or a model that cannot be loaded.
        CancelledError: When ``progress`` returns False.
    """
    cfg.validate()
    _check_input(inp)
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    # 1. positives by passage id and by normalised text
    with _timed(timings, "positives"):
        pidx = flt.build_positive_index(inp.positives, inp.query_texts, inp.passage_texts)
    report(progress, "mine", 1, _N_STEPS)
    # 2. embeddings, when the config needs them (dense, near-duplicates, margins) or an encoder is given
    emb = None
    if cfg.needs_embeddings() or encoder is not None:
        encoder = encoder if encoder is not None else load_encoder(cfg.model)
        with _timed(timings, "encode"):
            emb = _embed(inp, cfg, encoder, cache, progress)
    report(progress, "mine", 2, _N_STEPS)
    # 3. one ranked candidate list per source
    depth = cfg.top_k + int(pidx.counts.max(initial=0))
    lists, tokenizer = _candidate_lists(inp, cfg, emb, depth, timings, progress)
    report(progress, "mine", 3, _N_STEPS)
    # 4. fusion into one ranking per query, with provenance
    with _timed(timings, "fusion"):
        fused = fuse(lists, method=cfg.fusion, rrf_k=cfg.rrf_k, weights=cfg.weights)
    report(progress, "mine", 4, _N_STEPS)
    # 5. optional cross-encoder rescoring (re-ranks), then dense features
    ce_pos_score = None
    if cfg.cross_encoder:
        with _timed(timings, "cross_encoder"):
            fused, ce_pos_score = _rescore(inp, cfg, fused, pidx, progress)
    with _timed(timings, "features"):
        feats = _features(fused, pidx, emb)
    report(progress, "mine", 5, _N_STEPS)
    # 6. filters, then sampling among the survivors
    with _timed(timings, "filters"):
        filter_score = fused.score if ce_pos_score is not None else feats.dense_score
        pos_score = ce_pos_score if ce_pos_score is not None else feats.pos_score
        tally = _apply_filters(fused, pidx, feats, filter_score, pos_score, cfg)
    with _timed(timings, "sampling"):
        selected = select(
            fused.query_idx,
            tally.alive,
            cfg.num_negatives,
            sampling=cfg.sampling,
            rng=_rng(cfg.seed, "sampling"),
        )
    report(progress, "mine", 6, _N_STEPS)
    # 7. result table and stats
    with _timed(timings, "frame"):
        status = tally.labels(selected)
        frame = _candidates_frame(fused, feats, status, emb is not None)
    timings["total"] = round(time.perf_counter() - t_start, 4)
    stats = _stats(inp, cfg, fused, tally, selected, pos_score, timings)
    stats["model_id"] = encoder.model_id if emb is not None and encoder is not None else None
    stats["tokenizer"] = tokenizer
    has_scores = emb is not None or ce_pos_score is not None
    stats["score_filters"] = "applied" if has_scores and cfg.score_filters != "off" else "skipped"
    report(progress, "mine", 7, _N_STEPS)
    log.info(
        "mined %d candidates for %d queries (%d selected, %d queries without negatives) in %.2fs",
        len(frame),
        len(inp.query_texts),
        int(selected.sum()),
        stats["queries_without_negatives"],
        timings["total"],
    )
    return MiningResult(candidates=frame, stats=stats)


# --------------------------------------------------------------------------- steps
def _check_input(inp: MiningInput) -> None:
    """Raise :class:`EmbcoreError` when the input's arrays disagree."""
    nq, n_p = len(inp.query_texts), len(inp.passage_texts)
    if nq == 0 or n_p == 0:
        raise EmbcoreError(f"nothing to mine: {nq} queries and {n_p} passages")
    expect = {
        "query_ids": (len(inp.query_ids), nq),
        "positives": (len(inp.positives), nq),
        "passage_ids": (len(inp.passage_ids), n_p),
    }
    optional = {"query_meta": nq, "passage_meta": n_p, "known_negatives": nq, "query_prompts": nq}
    for name, n in optional.items():
        value = getattr(inp, name)
        if value:
            expect[name] = (len(value), n)
    for name, (got, want) in expect.items():
        if got != want:
            raise EmbcoreError(f"mining input: {name} has {got} entries, expected {want}")
    flat = [i for p in inp.positives for i in p]
    if flat and (min(flat) < 0 or max(flat) >= n_p):
        raise EmbcoreError(f"mining input: a positive index is outside 0..{n_p - 1}")


def _embed(
    inp: MiningInput,
    cfg: MiningConfig,
    encoder: Encoder,
    cache: EmbeddingCache | None,
    progress: ProgressFn | None,
) -> _Embeddings:
    """Passage and query embeddings through the cache (per-query prompts override ``cfg.query_prompt``)."""
    prepare = getattr(encoder, "fast_path", None)
    if callable(prepare):  # one backend for the whole run, chosen for its full size
        prepare(len(inp.passage_texts) + len(inp.query_texts))
    passage = encode_cached(
        encoder,
        inp.passage_texts,
        prompt=cfg.passage_prompt,
        cache=cache,
        batch_size=cfg.batch_size,
        progress=_renamed(progress, "encode passages"),
        what="passages",
    )
    prompts = [p or cfg.query_prompt for p in inp.query_prompts or [""] * len(inp.query_texts)]
    query = np.zeros((len(inp.query_texts), passage.shape[1]), dtype=np.float32)
    for prompt in dict.fromkeys(prompts):
        rows = [i for i, p in enumerate(prompts) if p == prompt]
        query[rows] = encode_cached(
            encoder,
            [inp.query_texts[i] for i in rows],
            prompt=prompt,
            cache=cache,
            batch_size=cfg.batch_size,
            progress=_renamed(progress, "encode queries"),
            what="queries",
        )
    return _Embeddings(query=query, passage=passage)


def _candidate_lists(
    inp: MiningInput,
    cfg: MiningConfig,
    emb: _Embeddings | None,
    depth: int,
    timings: dict[str, float],
    progress: ProgressFn | None,
) -> tuple[list[CandidateList], str | None]:
    """One :class:`CandidateList` per source in ``cfg.sources``; also the resolved tokenizer (or None)."""
    lists: list[CandidateList] = []
    sources = cfg.sources
    tokenizer = None
    nq, n_p = len(inp.query_texts), len(inp.passage_texts)
    if "bm25" in sources:
        with _timed(timings, "tokenize"):
            tokenizer = resolve_tokenizer(cfg.tokenizer, [*inp.passage_texts, *inp.query_texts])
            p_tok = tokenize(inp.passage_texts, tokenizer, cfg.stopwords)
            q_tok = tokenize(inp.query_texts, tokenizer, cfg.stopwords)
        with _timed(timings, "bm25"):
            index = build_bm25(p_tok, k1=cfg.bm25_k1, b=cfg.bm25_b, epsilon=cfg.bm25_epsilon)
            lists.append(
                from_topk("bm25", bm25_topk(index, q_tok, depth, chunk_mb=cfg.chunk_mb, progress=progress))
            )
    if "dense" in sources:
        if emb is None:  # pragma: no cover - needs_embeddings() guarantees embeddings
            raise EmbcoreError("dense mining needs embeddings")
        with _timed(timings, "dense"):
            top = dense_topk(
                emb.query,
                emb.passage,
                depth,
                chunk_mb=cfg.chunk_mb,
                use_faiss=cfg.use_faiss,
                progress=progress,
            )
            lists.append(from_topk("dense", top))
    for name, symmetric in (("inbatch", False), ("inbatch-symmetric", True)):
        if name in sources:
            with _timed(timings, name):
                q, c = inbatch_candidates(
                    inp.positives, cfg.inbatch_size, _rng(cfg.seed, name), symmetric=symmetric
                )
                kind = KIND_QUERY if symmetric else KIND_PASSAGE
                lists.append(
                    ranked_list(name, q, c, _pair_cosine(emb, q, np.full(q.shape, kind), c), kind=kind)
                )
    if "random" in sources:
        with _timed(timings, "random"):
            q, c, order = random_candidates(
                nq, n_p, cfg.top_k, _rng(cfg.seed, "random"), chunk_mb=cfg.chunk_mb
            )
            lists.append(
                ranked_list("random", q, c, _pair_cosine(emb, q, np.zeros(q.shape, np.int8), c), order=order)
            )
    if "rules" in cfg.strategies:
        with _timed(timings, "rules"):
            lists += _rule_lists(inp, cfg, emb, depth, progress)
    return lists, tokenizer


def _pair_cosine(emb: _Embeddings | None, q: np.ndarray, kind: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cosine of each (query, candidate) pair, or zeros without embeddings."""
    if emb is None:
        return np.zeros(q.shape[0])
    matrix, rows = emb.candidates(kind, c)
    return rowwise_dot(emb.query, q, matrix, rows)


def _rule_lists(
    inp: MiningInput, cfg: MiningConfig, emb: _Embeddings | None, depth: int, progress: ProgressFn | None
) -> list[CandidateList]:
    """One candidate list per metadata rule (easy rules show cosine scores but keep their random order)."""
    out = []
    rng = _rng(cfg.seed, "rules")
    for rule in cfg.rules:
        q_codes, p_codes = meta_codes(inp.query_meta, inp.passage_meta, rule.column)
        top = rule_topk(
            rule,
            q_codes,
            p_codes,
            depth,
            query_emb=emb.query if emb is not None else None,
            passage_emb=emb.passage if emb is not None else None,
            rng=rng,
            chunk_mb=cfg.chunk_mb,
            progress=progress,
        )
        lst = from_topk(rule.label, top)
        if rule.tag == "easy":
            lst.score = _pair_cosine(emb, lst.query_idx, lst.cand_kind, lst.cand_idx)
        out.append(lst)
    return out


def _rescore(
    inp: MiningInput,
    cfg: MiningConfig,
    fused: FusedCandidates,
    pidx: flt.PositiveIndex,
    progress: ProgressFn | None,
) -> tuple[FusedCandidates, np.ndarray]:
    """Cross-encoder scores for every candidate (which become ``score`` and the ranking) and
    the per-query positive score (lowest cross-encoder score of its positives)."""
    model = load_cross_encoder(str(cfg.cross_encoder))
    qt, pt = inp.query_texts, inp.passage_texts
    left = [qt[i] for i in fused.query_idx]
    right = [
        qt[c] if k == KIND_QUERY else pt[c] for k, c in zip(fused.cand_kind, fused.cand_idx, strict=True)
    ]
    scores = flt.cross_encoder_scores(model, left, right, batch_size=cfg.batch_size, progress=progress)
    pq, pp = pidx.pairs()
    pos = flt.cross_encoder_scores(model, [qt[i] for i in pq], [pt[i] for i in pp], batch_size=cfg.batch_size)
    pos_score = np.full(len(qt), np.inf)
    np.minimum.at(pos_score, pq, pos)
    pos_score[np.isinf(pos_score)] = np.nan
    # re-rank each query's candidates by cross-encoder score (ties: previous rank)
    fused.score = scores
    fused = fused.take(np.lexsort((fused.rank, -scores, fused.query_idx)))
    fused.rank = rank_in_groups(fused.query_idx)
    return fused, pos_score


def _features(fused: FusedCandidates, pidx: flt.PositiveIndex, emb: _Embeddings | None) -> _Features:
    """Cosine to the query, highest cosine to a positive, and per-query positive scores."""
    m, nq = len(fused), pidx.matrix.shape[0]
    if emb is None:
        return _Features(np.full(m, np.nan), np.full(m, np.nan), np.full(nq, np.nan))
    matrix, rows = emb.candidates(fused.cand_kind, fused.cand_idx)
    # the dense retriever already scored its candidates; compute the cosine of the others only
    dense = fused.source_score.get("dense", np.full(m, np.nan)).copy()
    todo = np.flatnonzero(np.isnan(dense))
    dense[todo] = rowwise_dot(emb.query, fused.query_idx[todo], matrix, rows[todo])
    return _Features(
        dense_score=dense,
        pos_sim=flt.max_positive_similarity(pidx, fused.query_idx, matrix, rows, emb.passage),
        pos_score=flt.positive_scores(pidx, emb.query, emb.passage),
    )


def _apply_filters(
    fused: FusedCandidates,
    pidx: flt.PositiveIndex,
    feats: _Features,
    score: np.ndarray,
    pos_score: np.ndarray,
    cfg: MiningConfig,
) -> flt.FilterTally:
    """Run every filter in :data:`FILTER_ORDER`; the rank window counts survivors of the others."""
    q, kind, c = fused.query_idx, fused.cand_kind, fused.cand_idx
    row_pos = pos_score[q]
    if cfg.score_filters == "off":  # only the id / text positive filters and the rank window
        cfg = dataclasses.replace(
            cfg,
            near_duplicate_threshold=None,
            max_score=None,
            min_score=None,
            absolute_margin=None,
            relative_margin=None,
        )
    masks: dict[str, Callable[[], np.ndarray]] = {
        "positive_id": lambda: flt.positive_id_mask(pidx, q, kind, c),
        "positive_text": lambda: flt.positive_text_mask(pidx, q, kind, c),
        "near_duplicate": lambda: flt.near_duplicate_mask(feats.pos_sim, cfg.near_duplicate_threshold),
        "max_score": lambda: flt.max_score_mask(score, cfg.max_score),
        "min_score": lambda: flt.min_score_mask(score, cfg.min_score),
        "absolute_margin": lambda: flt.absolute_margin_mask(score, row_pos, cfg.absolute_margin),
        "relative_margin": lambda: flt.relative_margin_mask(score, row_pos, cfg.relative_margin),
        "rank_window": lambda: flt.rank_window_mask(q, tally.alive, cfg.range_min, cfg.range_max),
    }
    tally = flt.FilterTally.for_rows(len(fused))
    for name in FILTER_ORDER:
        tally.apply(name, masks[name]())
    return tally


def _candidates_frame(
    fused: FusedCandidates, feats: _Features, status: np.ndarray, has_emb: bool
) -> pd.DataFrame:
    """The candidates table with :data:`CANDIDATE_COLUMNS`."""
    m = len(fused)
    nan = np.full(m, np.nan)
    data: dict[str, Any] = {
        "query_idx": fused.query_idx,
        "cand_kind": np.array(KIND_NAMES, dtype=object)[fused.cand_kind],
        "cand_idx": fused.cand_idx,
        "sources": fused.source_labels(),
        "score": fused.score,
        "rank": fused.rank,
        "bm25_rank": fused.source_rank.get("bm25", nan),
        "bm25_score": fused.source_score.get("bm25", nan),
        "dense_rank": fused.source_rank.get("dense", nan),
        "dense_score": feats.dense_score if has_emb else fused.source_score.get("dense", nan),
        "pos_sim": feats.pos_sim,
        "status": status,
    }
    return pd.DataFrame({col: data[col] for col in CANDIDATE_COLUMNS})


# --------------------------------------------------------------------------- stats
def _dist(values: np.ndarray) -> dict[str, float]:
    """min / median / mean / max of ``values`` (NaN ignored; all NaN -> None values)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"min": None, "median": None, "mean": None, "max": None}  # type: ignore[dict-item]
    return {
        "min": round(float(v.min()), 4),
        "median": round(float(np.median(v)), 4),
        "mean": round(float(v.mean()), 4),
        "max": round(float(v.max()), 4),
    }


def data_hash(inp: MiningInput) -> str:
    """sha1 of the texts and positives: the same data gives the same hash."""
    h = hashlib.sha1()
    for part in (inp.query_texts, inp.passage_texts):
        for text in part:
            h.update(text.encode("utf-8"))
            h.update(b"\x00")
        h.update(b"\x01")
    for p in inp.positives:
        h.update(np.asarray(p, dtype=np.int64).tobytes())
        h.update(b"\x02")
    return h.hexdigest()


def _stats(
    inp: MiningInput,
    cfg: MiningConfig,
    fused: FusedCandidates,
    tally: flt.FilterTally,
    selected: np.ndarray,
    pos_score: np.ndarray,
    timings: dict[str, float],
) -> dict[str, Any]:
    """JSON-able run statistics (see :class:`MiningResult`)."""
    nq = len(inp.query_texts)
    per_q = lambda mask: np.bincount(fused.query_idx[mask], minlength=nq)  # noqa: E731
    n_sel = per_q(selected)
    sources = {}
    for i, name in enumerate(fused.sources):
        has = (fused.source_mask >> i & 1).astype(bool)
        sources[name] = {
            "proposed": int(has.sum()),
            "survived": int((has & tally.alive).sum()),
            "selected": int((has & selected).sum()),
        }
    return {
        "n_queries": nq,
        "n_passages": len(inp.passage_texts),
        "n_candidates": len(fused),
        "num_negatives": cfg.num_negatives,
        "seed": cfg.seed,
        "data_hash": data_hash(inp),
        "config": cfg.to_dict(),
        "sources": sources,
        "filters": {name: tally.removed.get(name, 0) for name in FILTER_ORDER},
        "status": tally.counts(selected),
        "candidates_per_query": _dist(per_q(np.ones(len(fused), bool))),
        "survivors_per_query": _dist(per_q(tally.alive)),
        "selected_per_query": _dist(n_sel),
        "queries_without_negatives": int((n_sel == 0).sum()),
        "queries_short_of_negatives": int(((n_sel > 0) & (n_sel < cfg.num_negatives)).sum()),
        "positive_score": _dist(pos_score),
        "timings": timings,
    }
