"""Contrastive learning, made visible: InfoNCE and triplet losses, similarity matrices, SimCSE.

The losses are plain numpy re-statements of the formulas in the literature, computed on a batch
of (query, positive, negatives) embeddings, so the app can show *why* a hard negative matters:

- InfoNCE (van den Oord et al. 2018; with in-batch negatives as in DPR / SimCSE /
  sentence-transformers' MultipleNegativesRankingLoss), for query i with positive p_i and
  candidate set C_i::

      L_i = -log( exp(sim(q_i, p_i) / tau) / sum_{c in C_i} exp(sim(q_i, c) / tau) )

  ``in_batch=True``: C_i = every positive of the batch + every negative of the batch;
  ``in_batch=False``: C_i = {p_i} + the negatives of row i only.
- Triplet loss with margin (Schroff et al. 2015, FaceNet), for anchor a, positive p, negative n::

      L = max(0, d(a, p) - d(a, n) + margin)

  with d the squared Euclidean distance (FaceNet), the Euclidean distance (sentence-transformers'
  TripletLoss) or the cosine distance 1 - cos.

Unsupervised SimCSE (Gao et al. 2021) encodes the same sentence twice with dropout on; the two
views are a positive pair and the other sentences of the batch are negatives (InfoNCE with
tau = 0.05). :func:`simcse_embeddings` returns those views for display; :func:`train_simcse`
trains a model that way from a plain list of sentences.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from embcore.errors import EmbcoreError
from embcore.models.encoders import load_sentence_transformer
from embcore.progress import ProgressFn

if TYPE_CHECKING:
    from embcore.training.report import FinetuneReport

log = logging.getLogger(__name__)

Similarity = Literal["cosine", "dot"]
Distance = Literal["squared_euclidean", "euclidean", "cosine"]
Reduction = Literal["mean", "sum"]
DISTANCES: tuple[str, ...] = get_args(Distance)
SIMILARITIES: tuple[str, ...] = get_args(Similarity)


# --------------------------------------------------------------------------------------------
# Losses (numpy)
# --------------------------------------------------------------------------------------------


@dataclass
class LossResult:
    """A loss value with its parts, for display.

    Attributes:
        loss: the reduced loss (mean or sum of ``per_example``).
        per_example: InfoNCE: (B,) loss per query; triplet: (B, k) loss per (anchor, negative).
        logits: InfoNCE: (B, C) similarity / temperature of every query to every candidate;
            triplet: (B, 1 + k) distances: column 0 = d(a, p), columns 1.. = d(a, n_j).
        labels: InfoNCE: (B,) column of each query's positive in ``logits``; triplet: ``None``.
        probabilities: InfoNCE: (B, C) softmax of ``logits``; triplet: ``None``.
    """

    loss: float
    per_example: np.ndarray
    logits: np.ndarray
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None


def _as_batch(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, dim), got {arr.shape}")
    return arr


def _as_negatives(x: Any, batch: int, dim: int) -> np.ndarray:
    """Negatives as (B, k, d); accepts None (k = 0), (B, d) (k = 1) or (B, k, d)."""
    if x is None:
        return np.zeros((batch, 0, dim))
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3 or arr.shape[0] != batch or arr.shape[2] != dim:
        raise ValueError(
            f"negatives must have shape ({batch}, k, {dim}) or ({batch}, {dim}), got {arr.shape}"
        )
    return arr


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Divide by the L2 norm along ``axis`` (zero vectors stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


def info_nce(
    queries: Any,
    positives: Any,
    negatives: Any = None,
    temperature: float = 0.05,
    *,
    in_batch: bool = True,
    similarity: Similarity = "cosine",
    reduction: Reduction = "mean",
) -> LossResult:
    """InfoNCE loss of a batch of (query, positive, negatives) embeddings.

    ``L_i = -log softmax(sim(q_i, C_i) / tau)[p_i]`` (see the module docstring for C_i).

    Args:
        queries: (B, d) query embeddings.
        positives: (B, d) positive embeddings, row i belonging to query i.
        negatives: ``None``, (B, d) or (B, k, d) hard negatives of each query.
        temperature: tau > 0; lower = sharper distribution.
        in_batch: candidates include the other rows' positives and negatives (DPR, SimCSE,
            MultipleNegativesRankingLoss); ``False`` = own positive and negatives only.
        similarity: "cosine" (vectors L2-normalised first) or "dot".
        reduction: "mean" or "sum" over the batch.

    Returns:
        A :class:`LossResult`; ``logits`` columns are ``[p_1..p_B, n_1,1..n_1,k, n_2,1 ..]`` when
        ``in_batch`` else ``[p_i, n_i,1..n_i,k]``.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    q = _as_batch(queries, "queries")
    p = _as_batch(positives, "positives")
    if p.shape != q.shape:
        raise ValueError(f"positives must have the queries' shape {q.shape}, got {p.shape}")
    b, d = q.shape
    n = _as_negatives(negatives, b, d)
    if similarity == "cosine":
        q, p, n = l2_normalize(q), l2_normalize(p), l2_normalize(n)
    # 1. Similarity of every query to its candidates.
    if in_batch:
        cands = np.concatenate([p, n.reshape(b * n.shape[1], d)], axis=0)  # (B + B*k, d)
        sims = q @ cands.T  # (B, B + B*k)
        labels = np.arange(b)
    else:
        sims = np.concatenate([np.sum(q * p, axis=1)[:, None], np.einsum("bd,bkd->bk", q, n)], axis=1)
        labels = np.zeros(b, dtype=np.int64)
    logits = sims / temperature
    # 2. Cross-entropy with the positive as the target class (stable log-sum-exp).
    per = _logsumexp(logits, axis=1) - logits[np.arange(b), labels]
    probs = np.exp(logits - _logsumexp(logits, axis=1)[:, None])
    loss = float(per.mean() if reduction == "mean" else per.sum())
    return LossResult(loss, per, logits, labels, probs)


def triplet_loss(
    anchors: Any,
    positives: Any,
    negatives: Any,
    margin: float = 0.2,
    *,
    distance: Distance = "squared_euclidean",
    reduction: Reduction = "mean",
    normalize: bool = False,
) -> LossResult:
    """Triplet loss with margin: ``max(0, d(a, p) - d(a, n) + margin)`` for every (a, p, n).

    Args:
        anchors: (B, d) anchor (query) embeddings.
        positives: (B, d) positives.
        negatives: (B, d) or (B, k, d) negatives; each negative forms one triplet with (a_i, p_i).
        margin: the margin alpha (FaceNet uses 0.2 on unit vectors; sentence-transformers' TripletLoss 5
            with the Euclidean distance).
        distance: "squared_euclidean" (FaceNet), "euclidean" or "cosine" (1 - cos).
        reduction: "mean" or "sum" over all B * k triplets.
        normalize: L2-normalise the embeddings first (FaceNet constrains them to the unit sphere).

    Returns:
        A :class:`LossResult` with ``per_example`` (B, k) and ``logits`` = distances (B, 1 + k).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    a = _as_batch(anchors, "anchors")
    p = _as_batch(positives, "positives")
    if p.shape != a.shape:
        raise ValueError(f"positives must have the anchors' shape {a.shape}, got {p.shape}")
    n = _as_negatives(negatives, *a.shape)
    if n.shape[1] == 0:
        raise ValueError("triplet loss needs at least one negative per anchor")
    if normalize:
        a, p, n = l2_normalize(a), l2_normalize(p), l2_normalize(n)
    d_ap = _distance(a, p, distance)  # (B,)
    d_an = _distance(a[:, None, :], n, distance)  # (B, k)
    per = np.maximum(0.0, d_ap[:, None] - d_an + margin)
    loss = float(per.mean() if reduction == "mean" else per.sum())
    return LossResult(loss, per, np.concatenate([d_ap[:, None], d_an], axis=1))


def _distance(x: np.ndarray, y: np.ndarray, kind: str) -> np.ndarray:
    if kind == "cosine":
        return 1.0 - np.sum(l2_normalize(x) * l2_normalize(y), axis=-1)
    sq = np.sum((x - y) ** 2, axis=-1)
    return sq if kind == "squared_euclidean" else np.sqrt(sq)


# --------------------------------------------------------------------------------------------
# Similarity matrices
# --------------------------------------------------------------------------------------------


def cosine_similarity_matrix(a: Any, b: Any = None) -> np.ndarray:
    """Cosine similarities (n, m) between the rows of ``a`` (n, d) and ``b`` (m, d; default ``a``)."""
    x = l2_normalize(_as_batch(a, "a"))
    y = x if b is None else l2_normalize(_as_batch(b, "b"))
    if y.shape[1] != x.shape[1]:
        raise ValueError(f"dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    return np.clip(x @ y.T, -1.0, 1.0)


@dataclass
class SimilarityMatrix:
    """Sentences, their embeddings and their pairwise cosine similarities.

    Attributes:
        sentences: n texts.
        embeddings: (n, d) L2-normalised float32 vectors.
        matrix: (n, n) cosine similarities.
        model_id: the encoder's id.
    """

    sentences: list[str]
    embeddings: np.ndarray
    matrix: np.ndarray
    model_id: str

    def most_similar(self, i: int, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` other sentences most similar to sentence ``i``, as ``(index, cosine)``."""
        row = self.matrix[i].copy()
        row[i] = -np.inf
        order = np.argsort(-row, kind="stable")[:k]
        return [(int(j), float(row[j])) for j in order if np.isfinite(row[j])]


def similarity_matrix(
    sentences: Sequence[str],
    model: Any = None,
    *,
    prompt: str | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> SimilarityMatrix:
    """Encode ``sentences`` and return their cosine similarity matrix.

    Args:
        sentences: the texts (at least one).
        model: model path / id (``None`` = bundled model), an :class:`~embcore.models.encoders.Encoder`
            or an in-memory ``SentenceTransformer``.
        prompt: prepended to every sentence before encoding.
        batch_size: encoding batch size.
        progress: ``(stage, done, total)`` callback.

    Returns:
        A :class:`SimilarityMatrix`.
    """
    from embcore.training.evaluate import as_encoder

    sentences = [str(s) for s in sentences]
    if not sentences:
        raise EmbcoreError("give at least one sentence")
    encoder = as_encoder(model)
    emb = np.asarray(encoder.encode(sentences, prompt=prompt, batch_size=batch_size, progress=progress))
    return SimilarityMatrix(
        sentences, emb.astype(np.float32), cosine_similarity_matrix(emb), encoder.model_id
    )


# --------------------------------------------------------------------------------------------
# SimCSE
# --------------------------------------------------------------------------------------------


@dataclass
class SimCSEViews:
    """The same sentences encoded with dropout off (eval) and twice with dropout on (train).

    Attributes:
        sentences: n texts.
        eval_embeddings: (n, d) deterministic embeddings (model in eval mode).
        view_a: (n, d) first dropout pass (model in train mode).
        view_b: (n, d) second dropout pass; differs from ``view_a`` only through dropout noise.
        model_id: the model's id.
    """

    sentences: list[str]
    eval_embeddings: np.ndarray
    view_a: np.ndarray
    view_b: np.ndarray
    model_id: str

    @property
    def positive_similarity(self) -> np.ndarray:
        """(n,) cos(view_a_i, view_b_i): SimCSE's positive pairs (close to, but below, 1)."""
        return np.sum(l2_normalize(self.view_a) * l2_normalize(self.view_b), axis=1)

    @property
    def dropout_matrix(self) -> np.ndarray:
        """(n, n) cos(view_a_i, view_b_j): diagonal = positives, off-diagonal = in-batch negatives."""
        return cosine_similarity_matrix(self.view_a, self.view_b)

    @property
    def eval_matrix(self) -> np.ndarray:
        """(n, n) cosine similarities of the eval-mode embeddings."""
        return cosine_similarity_matrix(self.eval_embeddings)

    @property
    def dropout_drift(self) -> np.ndarray:
        """(n,) cos(eval_i, view_a_i): how far one dropout pass moves a sentence."""
        return np.sum(l2_normalize(self.eval_embeddings) * l2_normalize(self.view_a), axis=1)

    def loss(self, temperature: float = 0.05) -> LossResult:
        """The unsupervised SimCSE loss of this batch: InfoNCE of view_a against view_b."""
        return info_nce(self.view_a, self.view_b, None, temperature, in_batch=True)


def _sentence_transformer(model: Any) -> tuple[Any, str]:
    """An in-memory ``SentenceTransformer`` (and its id) from a path / id / encoder / model."""
    if hasattr(model, "get_embedding_dimension") and hasattr(model, "preprocess"):
        return model, str(getattr(model, "embcore_model_id", "in-memory"))
    inner = getattr(model, "model", None)  # embcore.models.encoders.SentenceTransformerEncoder
    if inner is not None and hasattr(inner, "preprocess"):
        return inner, str(getattr(model, "model_id", "in-memory"))
    if model is None or isinstance(model, str | Path):
        st = load_sentence_transformer(None if model is None else str(model))
        return st, st.embcore_model_id
    raise EmbcoreError(f"SimCSE needs a sentence-transformers model, not {type(model).__name__}")


def _forward(st: Any, sentences: list[str], batch_size: int) -> np.ndarray:
    import torch

    out = []
    for start in range(0, len(sentences), batch_size):
        features = st.preprocess(sentences[start : start + batch_size])
        features = {k: v.to(st.device) if hasattr(v, "to") else v for k, v in features.items()}
        emb = st(features)["sentence_embedding"]
        out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
    return np.concatenate(out, axis=0).astype(np.float32)


def simcse_embeddings(
    model: Any,
    sentences: Sequence[str],
    *,
    seed: int = 0,
    batch_size: int = 32,
) -> SimCSEViews:
    """Encode ``sentences`` once in eval mode and twice in train mode (dropout on).

    Args:
        model: model path / id (``None`` = bundled model), an embcore encoder wrapping a
            sentence-transformers model, or an in-memory ``SentenceTransformer``.
        sentences: the texts (at least one).
        seed: torch seed for the dropout masks (same seed = same views).
        batch_size: forward batch size.

    Returns:
        A :class:`SimCSEViews`; the model is left in eval mode.
    """
    import torch

    sentences = [str(s) for s in sentences]
    if not sentences:
        raise EmbcoreError("give at least one sentence")
    st, model_id = _sentence_transformer(model)
    was_training = st.training
    try:
        with torch.no_grad():
            st.eval()
            eval_emb = _forward(st, sentences, batch_size)
            st.train()
            torch.manual_seed(seed)
            view_a = _forward(st, sentences, batch_size)
            view_b = _forward(st, sentences, batch_size)
    finally:
        st.train(was_training)
    return SimCSEViews(sentences, eval_emb, view_a, view_b, model_id)


def train_simcse(
    sentences: Sequence[str],
    model: Any = None,
    out_dir: str | Path = "models/simcse",
    epochs: float = 1,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    *,
    lr: float = 3e-5,
    temperature: float = 0.05,
    max_steps: int | None = None,
    seed: int = 42,
) -> FinetuneReport:
    """Unsupervised SimCSE: train on a plain list of sentences, save the model and a report.

    Each sentence is paired with itself (anchor == positive); the two copies go through the
    model with different dropout masks, and the other sentences of the batch are the negatives
    (MultipleNegativesRankingLoss = InfoNCE with tau = ``temperature``). Duplicates are removed
    first, so a batch never holds the same sentence twice.

    Args:
        sentences: raw texts (at least 2 distinct).
        model: starting model path / id (``None`` = bundled all-MiniLM-L6-v2).
        out_dir: where the model, ``report.json`` and ``loss_curve.svg`` go.
        epochs: passes over the sentences.
        batch_size: sentences per batch (more = more negatives; SimCSE used 64).
        progress: ``(stage, done, total)`` callback; stages "train", "save".
        lr: learning rate (SimCSE used 3e-5 for BERT-base).
        temperature: InfoNCE temperature.
        max_steps: stop after this many steps.
        seed: seed.

    Returns:
        A :class:`~embcore.training.report.FinetuneReport` with ``kind="simcse"`` (no retrieval metrics).
    """
    from sentence_transformers.sentence_transformer import losses

    from embcore.training.report import (
        FinetuneReport,
        environment,
        peak_memory_mb,
        reset_peak_memory,
        write_report,
    )
    from embcore.training.trainer import run_trainer, save_model

    t_start = time.perf_counter()
    reset_peak_memory()
    unique = list(dict.fromkeys(s.strip() for s in sentences if str(s).strip()))
    if len(unique) < 2:
        raise EmbcoreError("SimCSE needs at least 2 distinct non-empty sentences")
    if batch_size < 2:
        raise EmbcoreError(f"SimCSE needs batch_size >= 2 (in-batch negatives), got {batch_size}")
    if model is None or isinstance(model, str | Path):
        st = load_sentence_transformer(None if model is None else str(model))
    elif hasattr(model, "path") and not hasattr(model, "preprocess"):
        # An embcore encoder may be shared (load_encoder's cache): train a fresh copy instead.
        st = load_sentence_transformer(model.path)
    else:
        st, _ = _sentence_transformer(model)  # an in-memory SentenceTransformer, trained in place
    base_id = str(getattr(st, "embcore_model_id", model))
    loss_module = losses.MultipleNegativesRankingLoss(st, scale=1.0 / temperature)
    outcome = run_trainer(
        st,
        {"anchor": unique, "positive": list(unique)},
        loss_module,
        epochs=epochs,
        batch_size=min(batch_size, len(unique)),
        lr=lr,
        seed=seed,
        max_steps=max_steps,
        warmup_ratio=0.0,
        progress=progress,
    )
    out = save_model(st, out_dir, progress)
    result = FinetuneReport(
        kind="simcse",
        base_model=base_id,
        output_dir=str(out.resolve()),
        settings={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "temperature": temperature,
            "max_steps": max_steps,
            "seed": seed,
            "loss": "simcse (mnrl, anchor == positive)",
        },
        data={"sentences": len(sentences), "unique_sentences": len(unique)},
        loss_curve=outcome.loss_curve,
        steps=outcome.steps,
        timing={"train": outcome.seconds, "total": round(time.perf_counter() - t_start, 3)},
        peak_memory_mb=peak_memory_mb(),
        environment=environment(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        report_path=str((out / "report.json").resolve()),
    )
    write_report(result, out)
    return result
