"""Similarity views for the app: a query against its positives and candidates, n-by-n matrices,
plain vs SimCSE-style dropout encodings, and positive vs negative score distributions.

Matrices and SimCSE views come from :mod:`embcore.training.contrastive`; this module assembles the
texts from the store, goes through the store's embedding cache, and returns typed results the
Similarity page turns into plotly figures.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.mining.dense import encode_cached
from embcore.models.encoders import Encoder
from embcore.store import Store
from embcore.training.contrastive import (
    SimCSEViews,
    SimilarityMatrix,
    cosine_similarity_matrix,
    simcse_embeddings,
    similarity_matrix,
)

log = logging.getLogger(__name__)

MAX_SENTENCES = 64
"""Largest n of an n-by-n view (a bigger heatmap is unreadable anyway)."""


@dataclass
class QuerySimilarity:
    """Cosine similarities of a query (and its positives) against its positives and candidates.

    Attributes:
        row_labels: ["query", "positive 1", ...] (1 + P labels).
        col_labels: ["positive 1", ..., "#3 bm25", ...] (P + C labels).
        row_texts: the texts of the rows.
        col_texts: the texts of the columns.
        matrix: (1 + P, P + C) cosine similarities.
        col_kinds: "positive" or the candidate's status/decision, per column.
    """

    row_labels: list[str]
    col_labels: list[str]
    row_texts: list[str]
    col_texts: list[str]
    matrix: np.ndarray
    col_kinds: list[str]


def query_similarity(
    encoder: Encoder,
    query: str,
    positives: Sequence[str],
    candidates: pd.DataFrame,
    *,
    cache: Store | None = None,
    query_prompt: str = "",
    passage_prompt: str = "",
    max_candidates: int = 30,
) -> QuerySimilarity:
    """Encode a query, its positives and (up to ``max_candidates``) candidates and compare them.

    Args:
        encoder: the bi-encoder.
        query: the query text.
        positives: its positive texts.
        candidates: rows with ``text``, ``rank``, ``sources``, ``status``, ``decision``.
        cache: embedding cache (the store).
        query_prompt: prompt prepended to the query.
        passage_prompt: prompt prepended to passages.
        max_candidates: cap on the candidate columns.
    """
    cands = candidates.head(max_candidates)
    pos = [str(t) for t in positives]
    cand_texts = [str(t) for t in cands["text"]] if len(cands) else []
    q = encode_cached(encoder, [query], prompt=query_prompt, cache=cache)
    p = (
        encode_cached(encoder, pos + cand_texts, prompt=passage_prompt, cache=cache)
        if pos or cand_texts
        else None
    )
    pos_emb = p[: len(pos)] if p is not None else np.zeros((0, q.shape[1]), np.float32)
    rows = np.vstack([q, pos_emb])
    matrix = cosine_similarity_matrix(rows, p) if p is not None else np.zeros((len(rows), 0))
    pos_labels = [f"positive {i + 1}" for i in range(len(pos))]
    cand_labels, kinds = [], []
    for r in cands.itertuples(index=False):
        decision = r.decision if isinstance(r.decision, str) else None
        kinds.append(decision or str(r.status))
        cand_labels.append(f"#{int(r.rank)} {r.sources}" + (f" [{decision}]" if decision else ""))
    return QuerySimilarity(
        row_labels=["query", *pos_labels],
        col_labels=pos_labels + cand_labels,
        row_texts=[query, *pos],
        col_texts=pos + cand_texts,
        matrix=matrix,
        col_kinds=["positive"] * len(pos) + kinds,
    )


def default_sentences(store: Store, pid: int, n: int = 8) -> list[str]:
    """A project's first ``n`` queries: a starting set for the n-by-n views."""
    return store.query_texts(pid, n)


def sentence_matrix(encoder: Encoder, sentences: Sequence[str]) -> SimilarityMatrix:
    """The n-by-n cosine matrix of a chosen set of sentences."""
    sentences = _check_sentences(sentences)
    return similarity_matrix(sentences, encoder)


def _check_sentences(sentences: Sequence[str]) -> list[str]:
    out = [s.strip() for s in sentences if s and s.strip()]
    if len(out) < 2:
        raise EmbcoreError("enter at least two sentences, one per line")
    if len(out) > MAX_SENTENCES:
        raise EmbcoreError(f"at most {MAX_SENTENCES} sentences at a time (got {len(out)})")
    return out


_COPY_LOCK = threading.Lock()
_DROPOUT_COPIES: dict[int, Any] = {}


def _private_model(encoder: Encoder) -> Any:
    """A private copy of the encoder's sentence-transformers model for dropout passes.

    Switching a shared model to train mode would change what a concurrent encode (another
    browser tab mining) computes, so dropout passes run on a copy made once per encoder.
    """
    inner = getattr(encoder, "model", None)
    if inner is None or not hasattr(inner, "preprocess"):
        raise EmbcoreError(
            f"the SimCSE dropout view needs a sentence-transformers model; {encoder.model_id!r} is not one"
        )
    with _COPY_LOCK:
        key = id(inner)
        if key not in _DROPOUT_COPIES:
            clone = copy.deepcopy(inner)
            clone.embcore_model_id = encoder.model_id
            _DROPOUT_COPIES[key] = clone
        return _DROPOUT_COPIES[key]


def simcse_views(encoder: Encoder, sentences: Sequence[str], *, seed: int = 0) -> SimCSEViews:
    """The same sentences encoded plainly (eval mode) and twice with dropout on (SimCSE views)."""
    sentences = _check_sentences(sentences)
    model = _private_model(encoder)
    with _COPY_LOCK:  # one dropout pass at a time on the shared copy
        return simcse_embeddings(model, sentences, seed=seed)


# --------------------------------------------------------------------------- project-wide scores


SCORE_KINDS: tuple[str, ...] = (
    "positive",
    "accepted",
    "auto-selected",
    "rejected",
    "marked positive",
    "filtered",
)
"""Groups of the score histogram."""


def score_distributions(
    store: Store,
    pid: int,
    run_id: int,
    encoder: Encoder,
    *,
    max_queries: int = 100,
    seed: int = 0,
    query_prompt: str = "",
    passage_prompt: str = "",
) -> pd.DataFrame:
    """Cosine(query, passage) of positives and of candidates by outcome, over a sample of queries.

    Candidates that a reviewer decided are grouped by decision; undecided ones by status
    ("auto-selected" or "filtered"; unselected survivors are left out to keep the sample small).

    Returns:
        DataFrame with columns ``kind`` (one of :data:`SCORE_KINDS`), ``score``, ``query_id``.
    """
    qids = store.filtered_query_ids(pid, run_id)
    if not len(qids):
        raise EmbcoreError("the project has no queries")
    rng = np.random.default_rng(seed)
    if len(qids) > max_queries:
        qids = np.sort(rng.choice(qids, size=max_queries, replace=False))
    qids_list = [int(q) for q in qids]
    pos = store.positive_pairs(pid, qids_list)
    cands = store.candidate_score_table(pid, run_id, qids_list)
    cands = cands[(cands["status"] != "kept") | cands["decision"].notna()]
    kinds = []
    for status, decision in zip(cands["status"], cands["decision"], strict=True):
        if isinstance(decision, str):
            kinds.append(
                {"accept": "accepted", "reject": "rejected", "positive": "marked positive"}[decision]
            )
        else:
            kinds.append("auto-selected" if status == "selected" else "filtered")
    q_texts = dict(zip(pos["query_id"], pos["query_text"], strict=True))
    q_texts.update(zip(cands["query_id"], cands["query_text"], strict=True))
    q_ids = list(q_texts)
    q_emb = encode_cached(encoder, [q_texts[q] for q in q_ids], prompt=query_prompt, cache=store)
    q_row = {q: i for i, q in enumerate(q_ids)}
    texts = [str(t) for t in pos["text"]] + [str(t) for t in cands["text"]]
    p_emb = (
        encode_cached(encoder, texts, prompt=passage_prompt, cache=store)
        if texts
        else np.zeros((0, q_emb.shape[1]))
    )
    owners = [int(q) for q in pos["query_id"]] + [int(q) for q in cands["query_id"]]
    scores = np.einsum("ij,ij->i", q_emb[[q_row[q] for q in owners]], p_emb) if owners else np.zeros(0)
    return pd.DataFrame(
        {
            "kind": ["positive"] * len(pos) + kinds,
            "score": scores.astype(float),
            "query_id": owners,
        }
    )
