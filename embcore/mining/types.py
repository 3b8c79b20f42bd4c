"""Data contracts between the store and the mining pipeline.

The store loads a project into a :class:`MiningInput` (plain arrays, no SQL), the pipeline
returns a :class:`MiningResult`, and the store saves it. Nothing in ``embcore.mining`` talks
to DuckDB directly; embedding caching goes through the :class:`EmbeddingCache` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd


class EmbeddingCache(Protocol):
    """Cache of embeddings keyed by (model id, prompt, text hash). Implemented on DuckDB by the store."""

    def get_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the cached vectors for those hashes that are present."""
        ...

    def put_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` under ``hashes[i]``."""
        ...


class DictEmbeddingCache:
    """In-memory :class:`EmbeddingCache` (tests, one-off scripts)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str, str], np.ndarray] = {}

    def get_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out = {}
        for h in hashes:
            v = self.data.get((model_id, prompt, h))
            if v is not None:
                out[h] = v
        return out

    def put_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        for h, v in zip(hashes, vectors, strict=True):
            self.data[(model_id, prompt, h)] = np.asarray(v, dtype=np.float32)


@dataclass
class MiningInput:
    """One project's data, as the mining pipeline sees it.

    Attributes:
        query_ids: (nq,) int64 store ids of the queries.
        query_texts: nq cleaned query texts.
        passage_ids: (np,) int64 store ids of the corpus passages (kind 'passage').
        passage_texts: np cleaned passage texts.
        positives: per query, the *indices* (into passage_ids) of its positive passages.
        query_meta: per query, mapped metadata values as strings (e.g. {"ticker": "NVDA"}).
        passage_meta: per passage, metadata of the first row that brought it (same keys).
        known_negatives: per query, indices of passages the data itself gave as negatives.
        query_prompts: optional per-query prompt/instruction text ("" = none).
    """

    query_ids: np.ndarray
    query_texts: list[str]
    passage_ids: np.ndarray
    passage_texts: list[str]
    positives: list[list[int]]
    query_meta: list[dict[str, str]] = field(default_factory=list)
    passage_meta: list[dict[str, str]] = field(default_factory=list)
    known_negatives: list[list[int]] = field(default_factory=list)
    query_prompts: list[str] = field(default_factory=list)


CANDIDATE_COLUMNS: tuple[str, ...] = (
    "query_idx",  # int: index into MiningInput.query_ids
    "cand_kind",  # str: 'passage' (cand_idx indexes passages) or 'query' (symmetric in-batch: indexes queries)
    "cand_idx",  # int
    "sources",  # str: '+'-joined retrievers/strategies that proposed it, e.g. 'bm25+dense'
    "score",  # float: the score used for ranking/filters (fused score for hybrid)
    "rank",  # int: 1-based rank in the query's final candidate list
    "bm25_rank",  # float (NaN if not found by bm25)
    "bm25_score",  # float
    "dense_rank",  # float
    "dense_score",  # float (cosine query-candidate)
    "pos_sim",  # float: max cosine between candidate and the query's positives (NaN if no dense)
    "status",  # str: 'selected' | 'kept' | name of the first filter that removed it
)


@dataclass
class MiningResult:
    """Output of one mining run.

    Attributes:
        candidates: DataFrame with :data:`CANDIDATE_COLUMNS` (one row per query x candidate).
        stats: JSON-able dict: per-filter removed counts, per-strategy candidate counts,
            candidates per query (min/median/max), queries left without negatives, timings (s).
    """

    candidates: pd.DataFrame
    stats: dict[str, Any]
