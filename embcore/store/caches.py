"""Caches keyed by content and shared by every project: embeddings, teacher scores, LLM responses.

Writes the tables ``embeddings``, ``teacher_scores`` and ``llm_cache`` (never a credential:
the LLM cache's key and request are built without the API key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from embcore.store.connection import Connection, to_json
from embcore.store.sql import caches as sql


class CachesMixin(Connection):
    """Embedding, teacher-score and LLM-response caches (mining's ``EmbeddingCache`` and friends)."""

    def get_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached embeddings for (model, prompt, text hash); implements mining's EmbeddingCache."""
        if not len(hashes):
            return {}
        frame = pd.DataFrame({"h": list(dict.fromkeys(hashes))})
        with self._frame("want_hashes", frame):
            rows = self._fetchnumpy(sql.GET_EMBEDDINGS, [model_id, prompt or ""])
        return {
            str(h): np.asarray(v, dtype=np.float32)
            for h, v in zip(rows["text_hash"], rows["vec"], strict=True)
        }

    def put_embeddings(self, model_id: str, prompt: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Cache embeddings (existing ones are kept)."""
        if not len(hashes):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        frame = pd.DataFrame({"h": list(hashes), "vec": list(vectors)}).drop_duplicates("h")
        with self.transaction(), self._frame("new_vecs", frame):
            self._execute(sql.PUT_EMBEDDINGS, [model_id, prompt or ""])

    def get_teacher_scores(
        self, model_id: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], float]:
        """Cached raw teacher scores of (query hash, passage hash) pairs."""
        if not pairs:
            return {}
        frame = pd.DataFrame(list(dict.fromkeys(pairs)), columns=["qh", "ph"])
        with self._frame("want_pairs", frame):
            rows = self._fetchall(sql.GET_TEACHER_SCORES, [model_id])
        return {(q, p): float(s) for q, p, s in rows}

    def query_teacher_scores(
        self, teacher: str, query_hash: str, passage_hashes: Sequence[str]
    ) -> dict[str, float]:
        """Cached raw teacher scores of one query against some passages: ``{passage_hash: score}``.

        One equality lookup on the primary key's leading columns: about twice as fast as
        :meth:`get_teacher_scores`, which registers and joins a frame of pairs.
        """
        if not passage_hashes:
            return {}
        # every scored pair of the query (a few dozen); filtering here beats list_contains in SQL
        rows = self._fetchall(sql.QUERY_TEACHER_SCORES, [teacher, query_hash])
        wanted = set(passage_hashes)
        return {str(h): float(v) for h, v in rows if h in wanted}

    def put_teacher_scores(self, model_id: str, scores: dict[tuple[str, str], float]) -> None:
        """Cache raw teacher scores of (query hash, passage hash) pairs (existing ones are kept)."""
        if not scores:
            return
        frame = pd.DataFrame(
            [(q, p, float(s)) for (q, p), s in scores.items()], columns=["qh", "ph", "score"]
        )
        with self.transaction(), self._frame("new_scores", frame):
            self._execute(sql.PUT_TEACHER_SCORES, [model_id])

    def llm_cache_get(self, key: str) -> str | None:
        """A cached LLM response (None when not cached)."""
        response = self._scalar(sql.LLM_GET, [key])
        return None if response is None else str(response)

    def llm_cache_put(
        self, key: str, request: dict[str, Any] | str, response: str, model: str | None = None
    ) -> None:
        """Cache an LLM response (the request must not hold a credential)."""
        req = request if isinstance(request, str) else to_json(request)
        self._execute(sql.LLM_PUT, [key, model, req, response])

    def llm_cache_size(self) -> int:
        """How many LLM responses are cached."""
        return int(self._scalar(sql.LLM_COUNT))
