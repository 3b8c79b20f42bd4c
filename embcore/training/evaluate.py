"""Retrieval evaluation of an embedding model on an exported evaluation set.

Reads the BEIR-style evaluation set that ``embcore build`` exports::

    DIR/eval/corpus.jsonl        {"_id": "p1", "text": "..."}   every unique passage
    DIR/eval/queries.jsonl       {"_id": "q1", "text": "..."}   queries of val and test
    DIR/eval/qrels/{split}.tsv   query-id <TAB> corpus-id <TAB> score   (header line first)
    DIR/manifest.json            {"prompts": {"query": ..., "passage": ...}, ...}

encodes the split's queries and the whole corpus (with the manifest's prompts), ranks the
corpus by cosine similarity and computes NDCG@10, MRR@10, MAP@100 and Recall@1/5/10/100 with
an exact numpy implementation (same definitions as sentence-transformers'
``InformationRetrievalEvaluator``; a test checks both against hand-computed values).

With an embedding cache (the project's DuckDB store: ``embeddings`` keyed by model, prompt and
text hash, the cache mining fills), texts already encoded are read instead of re-encoded: a
second evaluation of the same model, or the first one after mining with it, encodes only what
is new. A model folder's key includes a fingerprint of its files, so a folder rewritten by a
fine-tuning run never reuses stale vectors; an in-memory model is never cached.

Relevance: a qrels row with ``score > 0`` marks the passage relevant for Recall, MRR and MAP.
NDCG uses the qrels scores as graded gains (linear gains, as trec_eval / pytrec_eval, which
BEIR uses): an export whose reviewers graded candidates 0-3 writes those grades, and a
passage graded 3 then counts more than one graded 2. With binary qrels (every score 1) this
is exactly the binary NDCG.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embcore.errors import EmbcoreError
from embcore.export.publish import resolve_export
from embcore.mining.types import EmbeddingCache
from embcore.models.encoders import (
    Encoder,
    SentenceTransformerEncoder,
    default_model_path,
    load_encoder,
    resolve_model,
)
from embcore.progress import ProgressFn, report

log = logging.getLogger(__name__)

Split = Literal["val", "test"]
SPLITS: tuple[str, ...] = ("val", "test")

NDCG_AT: tuple[int, ...] = (10,)
MRR_AT: tuple[int, ...] = (10,)
MAP_AT: tuple[int, ...] = (100,)
RECALL_AT: tuple[int, ...] = (1, 5, 10, 100)
METRIC_NAMES: tuple[str, ...] = (
    *(f"ndcg@{k}" for k in NDCG_AT),
    *(f"mrr@{k}" for k in MRR_AT),
    *(f"map@{k}" for k in MAP_AT),
    *(f"recall@{k}" for k in RECALL_AT),
)
"""Keys of :attr:`EvalResult.metrics`, in display order."""


# --------------------------------------------------------------------------------------------
# Reading the export
# --------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; raise :class:`EmbcoreError` naming the file and line on bad JSON."""
    if not path.is_file():
        raise EmbcoreError(f"missing file {path} (is this an `embcore build` export folder?)")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EmbcoreError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise EmbcoreError(f"{path}:{lineno}: expected a JSON object per line")
            rows.append(obj)
    return rows


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    """The export's ``manifest.json`` (``{}`` when absent, so hand-made folders still work)."""
    path = resolve_export(data_dir) / "manifest.json"
    if not path.is_file():
        log.warning("no manifest.json in %s: evaluating without prompts", data_dir)
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EmbcoreError(f"{path}: invalid JSON ({exc.msg})") from exc
    if not isinstance(manifest, dict):
        raise EmbcoreError(f"{path}: expected a JSON object")
    return manifest


def manifest_prompts(manifest: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(query_prompt, passage_prompt)`` from a manifest; empty strings become ``None``."""
    prompts = manifest.get("prompts") or {}
    query = prompts.get("query") or None
    passage = prompts.get("passage") or None
    return query, passage


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """BEIR qrels TSV (``query-id, corpus-id, score`` with a header line) as ``{qid: {cid: score}}``."""
    if not path.is_file():
        raise EmbcoreError(f"missing file {path} (is this an `embcore build` export folder?)")
    qrels: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n\r").split("\t")
            if lineno == 1 and parts and parts[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue
            if not line.strip():
                continue
            if len(parts) < 2:
                raise EmbcoreError(f"{path}:{lineno}: expected 'query-id<TAB>corpus-id<TAB>score'")
            try:
                score = float(parts[2]) if len(parts) > 2 and parts[2].strip() else 1.0
            except ValueError as exc:
                raise EmbcoreError(f"{path}:{lineno}: score {parts[2]!r} is not a number") from exc
            qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = score
    return qrels


def split_names(data_dir: str | Path) -> list[str]:
    """The evaluation splits present in an export (those with at least one qrels row)."""
    out = []
    for split in SPLITS:
        path = resolve_export(data_dir) / "eval" / "qrels" / f"{split}.tsv"
        if path.is_file() and read_qrels(path):
            out.append(split)
    return out


@dataclass
class EvalSet:
    """One split of an exported evaluation set, ready to encode.

    Attributes:
        split: "val" or "test".
        query_ids: nq query ids (only queries with at least one relevant passage in the corpus).
        query_texts: nq raw query texts (no prompt applied).
        corpus_ids: nc passage ids, in ``corpus.jsonl`` order.
        corpus_texts: nc raw passage texts.
        relevant: per query, the set of indices into ``corpus_ids`` of its relevant passages.
        query_prompt: the query instruction from the manifest (``None`` = none).
        passage_prompt: the passage instruction from the manifest (``None`` = none).
        gains: per query, ``{corpus index: qrels score}`` of its relevant passages (NDCG's gains);
            ``None`` = binary (every gain 1).
    """

    split: str
    query_ids: list[str]
    query_texts: list[str]
    corpus_ids: list[str]
    corpus_texts: list[str]
    relevant: list[set[int]]
    query_prompt: str | None = None
    passage_prompt: str | None = None
    gains: list[dict[int, float]] | None = None

    @property
    def graded(self) -> bool:
        """Whether some relevant passage has a gain other than 1."""
        return self.gains is not None and any(g != 1.0 for d in self.gains for g in d.values())

    def subsample(self, max_queries: int | None, seed: int) -> EvalSet:
        """A copy with at most ``max_queries`` queries drawn at random (order kept); corpus unchanged."""
        if max_queries is None or max_queries >= len(self.query_ids):
            return self
        if max_queries < 1:
            raise EmbcoreError(f"max_queries must be at least 1, got {max_queries}")
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(self.query_ids), size=max_queries, replace=False))
        return EvalSet(
            split=self.split,
            query_ids=[self.query_ids[i] for i in keep],
            query_texts=[self.query_texts[i] for i in keep],
            corpus_ids=self.corpus_ids,
            corpus_texts=self.corpus_texts,
            relevant=[self.relevant[i] for i in keep],
            query_prompt=self.query_prompt,
            passage_prompt=self.passage_prompt,
            gains=None if self.gains is None else [self.gains[i] for i in keep],
        )


def load_eval_set(data_dir: str | Path, split: str = "test", *, use_prompts: bool = True) -> EvalSet:
    """Load one split of the evaluation set exported under ``data_dir``.

    Args:
        data_dir: an ``embcore build`` output folder.
        split: "val" or "test".
        use_prompts: apply the manifest's query / passage prompts (``False`` = raw texts).

    Returns:
        The :class:`EvalSet`.

    Raises:
        EmbcoreError: unknown split, missing files, qrels naming unknown query or passage ids,
            or a split without any query.
    """
    if split not in SPLITS:
        raise EmbcoreError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if not Path(data_dir).is_dir():
        raise EmbcoreError(f"data folder {data_dir} does not exist")
    root = resolve_export(data_dir)  # an export root reads its current version; old flat exports work too
    eval_dir = root / "eval"
    qrels_path = eval_dir / "qrels" / f"{split}.tsv"
    qrels = read_qrels(qrels_path)
    if not qrels:
        raise EmbcoreError(f"split {split!r} has no queries ({qrels_path} is empty)")

    # 1. The corpus, in file order; ids must be unique.
    corpus_ids: list[str] = []
    corpus_texts: list[str] = []
    index: dict[str, int] = {}
    for row in read_jsonl(eval_dir / "corpus.jsonl"):
        cid = str(row.get("_id"))
        if cid in index:
            raise EmbcoreError(f"{eval_dir / 'corpus.jsonl'}: duplicate _id {cid!r}")
        index[cid] = len(corpus_ids)
        corpus_ids.append(cid)
        title = row.get("title") or ""
        text = str(row.get("text") or "")
        corpus_texts.append(f"{title} {text}".strip() if title else text)

    # 2. The split's queries, in qrels order, with the indices of their relevant passages.
    queries = {str(r.get("_id")): str(r.get("text") or "") for r in read_jsonl(eval_dir / "queries.jsonl")}
    query_ids: list[str] = []
    query_texts: list[str] = []
    relevant: list[set[int]] = []
    gains: list[dict[int, float]] = []
    for qid, docs in qrels.items():
        if qid not in queries:
            raise EmbcoreError(f"{qrels_path}: query id {qid!r} is not in {eval_dir / 'queries.jsonl'}")
        unknown = [cid for cid in docs if cid not in index]
        if unknown:
            raise EmbcoreError(
                f"{qrels_path}: corpus id {unknown[0]!r} is not in {eval_dir / 'corpus.jsonl'}"
            )
        rel = {index[cid] for cid, score in docs.items() if score > 0}
        if not rel:
            continue
        query_ids.append(qid)
        query_texts.append(queries[qid])
        relevant.append(rel)
        gain: dict[int, float] = {}
        for cid, score in docs.items():
            if score > 0:
                gain[index[cid]] = max(gain.get(index[cid], 0.0), float(score))
        gains.append(gain)
    if not query_ids:
        raise EmbcoreError(f"split {split!r} has no query with a relevant passage ({qrels_path})")

    query_prompt, passage_prompt = manifest_prompts(read_manifest(root)) if use_prompts else (None, None)
    return EvalSet(
        split, query_ids, query_texts, corpus_ids, corpus_texts, relevant, query_prompt, passage_prompt, gains
    )


# --------------------------------------------------------------------------------------------
# Metrics (exact, numpy)
# --------------------------------------------------------------------------------------------


def top_k(
    query_emb: np.ndarray, corpus_emb: np.ndarray, k: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` corpus indices by dot product for every query.

    Ties are broken by the lower corpus index, so the ranking is deterministic.

    Args:
        query_emb: (nq, d) query vectors.
        corpus_emb: (nc, d) corpus vectors.
        k: how many to keep (capped at nc).
        chunk: queries scored at a time (bounds memory to ``chunk * nc`` floats).

    Returns:
        ``(indices, scores)``, both of shape (nq, min(k, nc)), best first.
    """
    from embcore.mining.dense import concat_topk, topk_rows

    nq, nc = query_emb.shape[0], corpus_emb.shape[0]
    k = min(k, nc)
    if nq == 0 or k == 0:
        return np.zeros((nq, k), dtype=np.int64), np.zeros((nq, k), dtype=np.float32)
    # exact top-k of each chunk of queries (ties: lower corpus index first), the mining code's kernel
    parts = [topk_rows(query_emb[s : s + chunk] @ corpus_emb.T, k) for s in range(0, nq, chunk)]
    res = concat_topk(parts, k)
    return res.indices.astype(np.int64), res.scores.astype(np.float32)


def retrieval_metrics(
    ranked: np.ndarray | Sequence[Sequence[int]],
    relevant: Sequence[Iterable[int]],
    gains: Sequence[Mapping[int, float]] | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """NDCG@10, MRR@10, MAP@100 and Recall@1/5/10/100 from rankings and relevance.

    Definitions (those of sentence-transformers' ``InformationRetrievalEvaluator``), for one query
    with relevant set R and ranking r_1, r_2, ... (rel_i = 1 if r_i in R):

    - Recall@k = |{i <= k : rel_i}| / |R|
    - MRR@k = 1 / (rank of the first relevant within k), 0 if none
    - NDCG@k = sum_{i<=k} g_i / log2(i + 1)  /  IDCG@k, with g_i the gain of r_i (rel_i when
      binary) and IDCG@k the same sum over the gains sorted from high to low (the ideal ranking)
    - MAP@k (AP@k) = sum_{i<=k} rel_i * Precision@i  /  min(k, |R|)

    each averaged over the queries. Cutoffs larger than the ranking length use the whole ranking.

    Args:
        ranked: (nq, K) corpus indices, best first (K >= 1).
        relevant: per query, the relevant corpus indices (non-empty).
        gains: per query, ``{corpus index: gain}`` (graded relevance, linear gains as trec_eval);
            None = binary gains. A relevant index without a gain counts 1.

    Returns:
        ``(metrics, per_query)``: the averaged metrics keyed as :data:`METRIC_NAMES`, and the same
        metrics per query as arrays of shape (nq,).
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must have shape (nq, K), got {ranked.shape}")
    nq = ranked.shape[0]
    if len(relevant) != nq:
        raise ValueError(f"relevant has {len(relevant)} entries for {nq} ranked queries")
    if nq == 0:
        raise ValueError("no queries to evaluate")
    # 1. Binary relevance of every ranked position, and |R| per query.
    rel_sets = [set(int(i) for i in r) for r in relevant]
    n_rel = np.array([len(r) for r in rel_sets], dtype=np.float64)
    if (n_rel == 0).any():
        raise ValueError("every query needs at least one relevant passage")
    hits = np.array(
        [[int(c) in rel_sets[q] for c in ranked[q]] for q in range(nq)], dtype=np.float64
    ).reshape(nq, ranked.shape[1])
    positions = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(positions + 1.0)
    per_query: dict[str, np.ndarray] = {}

    # 2. Recall@k.
    for k in RECALL_AT:
        per_query[f"recall@{k}"] = hits[:, :k].sum(axis=1) / n_rel
    # 3. MRR@k: reciprocal rank of the first hit within k.
    for k in MRR_AT:
        h = hits[:, :k]
        first = np.where(h.any(axis=1), h.argmax(axis=1) + 1.0, np.inf)
        per_query[f"mrr@{k}"] = 1.0 / first
    # 4. NDCG@k: gains of the ranked hits (1 when binary); the ideal ranking puts the highest
    #    gains first (min(|R|, k) of them)
    if gains is None:
        gain_rows = hits
        ideal = [np.ones(int(n)) for n in n_rel]
    else:
        if len(gains) != nq:
            raise ValueError(f"gains has {len(gains)} entries for {nq} ranked queries")
        g = [{int(i): float(v) for i, v in gains[q].items()} for q in range(nq)]
        gain_rows = np.array(
            [[g[q].get(int(c), 1.0) if int(c) in rel_sets[q] else 0.0 for c in ranked[q]] for q in range(nq)],
            dtype=np.float64,
        ).reshape(nq, ranked.shape[1])
        ideal = [
            np.sort(np.array([g[q].get(i, 1.0) for i in rel_sets[q]], dtype=np.float64))[::-1]
            for q in range(nq)
        ]
    for k in NDCG_AT:
        dcg = (gain_rows[:, :k] * discounts[:k]).sum(axis=1)
        ideal_disc = 1.0 / np.log2(np.arange(1, k + 1, dtype=np.float64) + 1.0)
        idcg = np.array([(ideal[q][:k] * ideal_disc[: min(len(ideal[q]), k)]).sum() for q in range(nq)])
        per_query[f"ndcg@{k}"] = dcg / idcg
    # 5. MAP@k: precision at each hit within k, summed, over min(k, |R|).
    for k in MAP_AT:
        h = hits[:, :k]
        precision_at_i = np.cumsum(h, axis=1) / positions[: h.shape[1]]
        per_query[f"map@{k}"] = (precision_at_i * h).sum(axis=1) / np.minimum(k, n_rel)

    metrics = {name: float(per_query[name].mean()) for name in METRIC_NAMES}
    return metrics, per_query


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """Retrieval metrics of one model on one split.

    Attributes:
        model_id: the model's stable id (path or hub id; the bundled one's hub name).
        split: "val" or "test".
        metrics: ``{"ndcg@10": ..., "mrr@10": ..., "map@100": ..., "recall@1": ..., ...}`` in [0, 1].
        n_queries: number of queries evaluated.
        n_corpus: number of passages ranked.
        query_prompt: prompt prepended to queries (``None`` = none).
        passage_prompt: prompt prepended to passages (``None`` = none).
        truncate_dim: embedding dimension used (``None`` = full).
        seconds: wall time of the evaluation.
        seed: seed of the query subsample (matters only with ``max_queries``).
        per_query: per query id, its metrics (same keys as ``metrics``) and the rank of the first
            relevant passage within the top 100 (``None`` if not retrieved).
        cache: with an embedding cache: ``{"model_key", "cached", "encoded"}`` (distinct texts
            read from the cache and encoded now); ``None`` without one.
        graded: whether NDCG used graded gains (the qrels hold grades other than 1).
    """

    model_id: str
    split: str
    metrics: dict[str, float]
    n_queries: int
    n_corpus: int
    query_prompt: str | None = None
    passage_prompt: str | None = None
    truncate_dim: int | None = None
    seconds: float = 0.0
    seed: int | None = None
    per_query: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    cache: dict[str, Any] | None = None
    graded: bool = False

    @property
    def ndcg10(self) -> float:
        """NDCG@10, the headline metric."""
        return self.metrics["ndcg@10"]

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (for ``embcore eval`` output, reports and the store)."""
        out = asdict(self)
        if not per_query:
            out.pop("per_query")
        return out


def as_encoder(model: Any) -> Encoder:
    """Turn a model argument into an :class:`~embcore.models.encoders.Encoder`.

    Accepts ``None`` / ``"default"`` (the bundled all-MiniLM-L6-v2), a local path or hub id,
    an :class:`~embcore.models.encoders.Encoder` (e.g. the fake ``HashingEncoder``), or an in-memory
    ``SentenceTransformer``.
    """
    if model is None or isinstance(model, str | Path):
        resolved = resolve_model(None if model is None else str(model))
        if (
            Path(resolved).is_dir()
            and not (Path(resolved) / "modules.json").is_file()
            and not any(Path(resolved).glob("config*.json"))
        ):
            raise EmbcoreError(f"{resolved} is not a sentence-transformers model folder (no modules.json)")
        # The bundled model is shared process-wide; any other path is loaded fresh, since a
        # fine-tuning run may have rewritten it since the last call.
        if model is None or resolved == resolve_model(None):
            return load_encoder(None)
        return SentenceTransformerEncoder(str(model))
    if hasattr(model, "get_embedding_dimension") and hasattr(model, "encode"):
        return SentenceTransformerEncoder.from_model(
            model, str(getattr(model, "embcore_model_id", "in-memory"))
        )
    if hasattr(model, "encode") and hasattr(model, "model_id"):
        return model
    raise EmbcoreError(f"cannot evaluate {type(model).__name__}: give a model path/id or an encoder")


def _folder_fingerprint(folder: Path) -> str:
    """A short hash of a model folder's file names, sizes and modification times."""
    h = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def cache_model_key(encoder: Encoder) -> str | None:
    """The model part of the embedding-cache key for ``encoder`` (``None``: do not cache).

    - the bundled model: its stable id (the key mining uses, so evaluation reuses mining's vectors);
    - a local model folder: ``"<id>@<fingerprint of its files>"`` (a retrained folder gets a new key);
    - an in-memory model (being fine-tuned): ``None``;
    - any other encoder (a hub id, the fake ``HashingEncoder``): its ``model_id``.
    """
    model_id = str(getattr(encoder, "model_id", "") or "")
    if not model_id:
        return None
    if isinstance(encoder, SentenceTransformerEncoder):
        path = getattr(encoder, "path", "")
        if not path:
            return None  # wraps a model in memory: its weights may change at any time
        if Path(path).is_dir() and Path(path).resolve() != Path(default_model_path()).resolve():
            return f"{model_id}@{_folder_fingerprint(Path(path))}"
    return model_id


class _CountingCache:
    """An :class:`EmbeddingCache` view under a fixed model key that counts hits and new vectors."""

    def __init__(self, cache: EmbeddingCache, model_key: str) -> None:
        self.cache, self.model_key = cache, model_key
        self.cached = 0
        self.encoded = 0

    def get_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found = self.cache.get_embeddings(self.model_key, prompt, hashes)
        self.cached += len(found)
        return found

    def put_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        self.encoded += len(hashes)
        self.cache.put_embeddings(self.model_key, prompt, hashes, vectors)


def _encode(
    encoder: Encoder,
    texts: list[str],
    prompt: str | None,
    batch_size: int,
    progress: ProgressFn | None,
    cache: _CountingCache | None,
) -> np.ndarray:
    if cache is None:
        return encoder.encode(texts, prompt=prompt, batch_size=batch_size, progress=progress)
    from embcore.mining.dense import encode_cached

    return encode_cached(
        encoder, texts, prompt=prompt or "", cache=cache, batch_size=batch_size, progress=progress
    )


def _prefixed(progress: ProgressFn | None, prefix: str) -> ProgressFn | None:
    if progress is None:
        return None

    def _cb(stage: str, done: int, total: int) -> bool | None:
        return progress(prefix, done, total)

    return _cb


def evaluate_set(
    encoder: Encoder,
    eval_set: EvalSet,
    *,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    truncate_dim: int | None = None,
    corpus_embeddings: np.ndarray | None = None,
    cache: EmbeddingCache | None = None,
) -> tuple[EvalResult, np.ndarray]:
    """Evaluate ``encoder`` on a loaded :class:`EvalSet`.

    Args:
        encoder: any :class:`~embcore.models.encoders.Encoder`.
        eval_set: the queries, corpus and relevance judgements.
        batch_size: encoding batch size.
        progress: ``(stage, done, total)`` callback; stages "encode queries", "encode corpus".
        truncate_dim: keep the first ``truncate_dim`` dimensions (Matryoshka) and re-normalise.
        corpus_embeddings: (nc, d) precomputed corpus vectors for this encoder (skips encoding).
        cache: embedding cache (e.g. the project's :class:`~embcore.store.Store`): texts it holds
            for this model and prompt are not encoded again, new vectors are added to it. Unused
            for an encoder :func:`cache_model_key` refuses (a model in memory).

    Returns:
        ``(result, corpus_embeddings)``; the latter can be passed back to evaluate another split.
    """
    t0 = time.perf_counter()
    key = cache_model_key(encoder) if cache is not None else None
    counting = _CountingCache(cache, key) if cache is not None and key is not None else None
    q = _encode(
        encoder,
        eval_set.query_texts,
        eval_set.query_prompt,
        batch_size,
        _prefixed(progress, "encode queries"),
        counting,
    )
    if corpus_embeddings is None:
        corpus_embeddings = _encode(
            encoder,
            eval_set.corpus_texts,
            eval_set.passage_prompt,
            batch_size,
            _prefixed(progress, "encode corpus"),
            counting,
        )
    c = corpus_embeddings
    if truncate_dim is not None:
        if not 0 < truncate_dim <= q.shape[1]:
            raise EmbcoreError(f"truncate_dim must be in 1..{q.shape[1]}, got {truncate_dim}")
        q, c = _renormalise(q[:, :truncate_dim]), _renormalise(c[:, :truncate_dim])
    k = max((*RECALL_AT, *MAP_AT, *NDCG_AT, *MRR_AT))
    ranked, _ = top_k(q.astype(np.float32), c.astype(np.float32), k)
    report(progress, "score", len(eval_set.query_ids), len(eval_set.query_ids))
    metrics, per_q = retrieval_metrics(ranked, eval_set.relevant, eval_set.gains if eval_set.graded else None)
    per_query: dict[str, dict[str, Any]] = {}
    for i, qid in enumerate(eval_set.query_ids):
        hit_pos = [pos for pos, cidx in enumerate(ranked[i]) if int(cidx) in eval_set.relevant[i]]
        entry: dict[str, Any] = {name: float(per_q[name][i]) for name in METRIC_NAMES}
        entry["first_relevant_rank"] = hit_pos[0] + 1 if hit_pos else None
        per_query[qid] = entry
    result = EvalResult(
        model_id=str(getattr(encoder, "model_id", "unknown")),
        split=eval_set.split,
        metrics=metrics,
        n_queries=len(eval_set.query_ids),
        n_corpus=len(eval_set.corpus_ids),
        query_prompt=eval_set.query_prompt,
        passage_prompt=eval_set.passage_prompt,
        truncate_dim=truncate_dim,
        seconds=round(time.perf_counter() - t0, 3),
        per_query=per_query,
        cache=(
            None
            if counting is None
            else {"model_key": counting.model_key, "cached": counting.cached, "encoded": counting.encoded}
        ),
        graded=eval_set.graded,
    )
    return result, corpus_embeddings


def _renormalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def evaluate(
    model: Any,
    data_dir: str | Path,
    split: str = "test",
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    max_queries: int | None = None,
    seed: int = 42,
    *,
    use_prompts: bool = True,
    truncate_dim: int | None = None,
    cache: EmbeddingCache | None = None,
) -> EvalResult:
    """Evaluate a model on one split of an exported evaluation set.

    Encodes the split's queries (with the manifest's query prompt) and every passage of
    ``eval/corpus.jsonl`` (with the passage prompt), ranks by cosine similarity and computes
    NDCG@10, MRR@10, MAP@100 and Recall@1/5/10/100.

    Args:
        model: model path or hub id (``None`` / ``"default"`` = bundled all-MiniLM-L6-v2), an
            :class:`~embcore.models.encoders.Encoder`, or an in-memory ``SentenceTransformer``.
        data_dir: an ``embcore build`` output folder.
        split: "val" or "test".
        batch_size: encoding batch size.
        progress: ``(stage, done, total)`` callback; return ``False`` to cancel.
        max_queries: evaluate a random subset of this many queries (the corpus stays whole).
        seed: seed of that subset.
        use_prompts: apply the manifest's prompts.
        truncate_dim: evaluate the first ``truncate_dim`` dimensions only (Matryoshka models).
        cache: embedding cache (the project's DuckDB store): vectors it holds for this model
            are reused instead of re-encoding the corpus (see :func:`evaluate_set`).

    Returns:
        An :class:`EvalResult`.

    Raises:
        EmbcoreError: bad split, missing or malformed files, a model that cannot be loaded.
        CancelledError: the progress callback returned ``False``.
    """
    eval_set = load_eval_set(data_dir, split, use_prompts=use_prompts).subsample(max_queries, seed)
    encoder = as_encoder(model)
    log.info(
        "evaluating %s on %s/%s: %d queries, %d passages",
        getattr(encoder, "model_id", "?"),
        data_dir,
        split,
        len(eval_set.query_ids),
        len(eval_set.corpus_ids),
    )
    result, _ = evaluate_set(
        encoder, eval_set, batch_size=batch_size, progress=progress, truncate_dim=truncate_dim, cache=cache
    )
    result.seed = seed
    return result


def compare(
    base: EvalResult | dict[str, Any], tuned: EvalResult | dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Base vs fine-tuned metrics as ``{metric: {"base": b, "finetuned": t, "delta": t - b}}``."""
    b = base.metrics if isinstance(base, EvalResult) else base.get("metrics", base)
    t = tuned.metrics if isinstance(tuned, EvalResult) else tuned.get("metrics", tuned)
    return {
        name: {"base": float(b[name]), "finetuned": float(t[name]), "delta": float(t[name]) - float(b[name])}
        for name in METRIC_NAMES
        if name in b and name in t
    }
