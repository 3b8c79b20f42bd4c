"""Teacher scores for distillation (``pos_scores`` / ``neg_scores``).

A teacher is a cross-encoder when the user gives one, otherwise a bi-encoder (the bundled
model or a bigger local one). Raw scores are cached in DuckDB by (teacher id, query hash,
passage hash), so re-exporting never re-scores; normalisation is applied afterwards, per
query, over the query's positives and negatives together.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from embcore.errors import EmbcoreError
from embcore.models.encoders import Encoder, load_encoder, model_label, resolve_model
from embcore.progress import ProgressFn, report
from embcore.text import text_hash

if TYPE_CHECKING:
    from embcore.store import Store

log = logging.getLogger(__name__)

TeacherKind = Literal["auto", "cross", "bi"]
Normalize = Literal["raw", "sigmoid", "minmax", "softmax"]
TEACHER_KINDS: tuple[str, ...] = get_args(TeacherKind)
NORMALIZATIONS: tuple[str, ...] = get_args(Normalize)


@dataclass
class TeacherConfig:
    """Which teacher scores the pairs and how its scores are normalised.

    Attributes:
        model: cross-encoder or bi-encoder: local path, hub id, or "default" (bundled bi-encoder).
        kind: "cross", "bi", or "auto": ``model_type: CrossEncoder`` in
            ``config_sentence_transformers.json`` or a ``*ForSequenceClassification`` config without
            ``modules.json`` is a cross-encoder; other sentence-transformers folders are bi-encoders.
        normalize: "raw" (cosine for bi-encoders, logits for cross-encoders), "sigmoid",
            "minmax" (per query to [0, 1]) or "softmax" (per query, with ``temperature``).
        temperature: softmax temperature.
        query_prompt: bi-encoder query instruction (use the same as for mining).
        passage_prompt: bi-encoder passage prefix.
        batch_size: scoring batch size.
    """

    model: str = "default"
    kind: TeacherKind = "auto"
    normalize: Normalize = "raw"
    temperature: float = 1.0
    query_prompt: str = ""
    passage_prompt: str = ""
    batch_size: int = 64

    def validate(self) -> TeacherConfig:
        if self.kind not in TEACHER_KINDS:
            raise EmbcoreError(
                f"teacher kind {self.kind!r} is not allowed; choose one of: {', '.join(TEACHER_KINDS)}"
            )
        if self.normalize not in NORMALIZATIONS:
            raise EmbcoreError(
                f"teacher normalisation {self.normalize!r} is not allowed; choose one of: {', '.join(NORMALIZATIONS)}"
            )
        if self.temperature <= 0:
            raise EmbcoreError(f"teacher temperature must be > 0, got {self.temperature}")
        return self

    def resolved_kind(self) -> str:
        return detect_kind(self.model) if self.kind == "auto" else self.kind

    def teacher_id(self) -> str:
        """Cache key of the raw scores: model, kind and (for bi-encoders) the prompts."""
        kind = self.resolved_kind()
        label = model_label(self.model) if kind == "bi" else str(self.model)
        if kind == "bi":
            return f"bi:{label}|q={self.query_prompt}|p={self.passage_prompt}"
        return f"cross:{label}"

    def info(self) -> dict[str, Any]:
        return asdict(self) | {"kind": self.resolved_kind(), "teacher_id": self.teacher_id()}


def detect_kind(model: str | None) -> str:
    """Guess whether a local model folder is a cross-encoder ("cross") or a bi-encoder ("bi")."""
    path = Path(resolve_model(model))
    st_cfg = path / "config_sentence_transformers.json"
    if st_cfg.is_file():  # sentence-transformers >= 5 writes the model type
        try:
            model_type = json.loads(st_cfg.read_text(encoding="utf-8")).get("model_type")
        except (OSError, json.JSONDecodeError):
            model_type = None
        if model_type == "CrossEncoder":
            return "cross"
    if (path / "modules.json").is_file():
        return "bi"
    cfg = path / "config.json"
    if cfg.is_file():
        try:
            arch = json.loads(cfg.read_text(encoding="utf-8")).get("architectures") or []
        except (OSError, json.JSONDecodeError):
            arch = []
        if any(str(a).endswith("ForSequenceClassification") for a in arch):
            return "cross"
        return "bi"
    if not path.exists():
        raise EmbcoreError(
            f"teacher model {model!r} is not a local folder; give --teacher-kind cross|bi explicitly"
        )
    return "bi"


# --------------------------------------------------------------------------- raw scores


def _bi_scores(
    cfg: TeacherConfig,
    queries: Sequence[str],
    passages: Sequence[str],
    *,
    encoder: Encoder | None,
    cache: Any,
    progress: ProgressFn | None,
) -> np.ndarray:
    from embcore.mining.dense import encode_cached

    enc = encoder or load_encoder(cfg.model)
    q = encode_cached(
        enc, queries, prompt=cfg.query_prompt, cache=cache, batch_size=cfg.batch_size, progress=progress
    )
    p = encode_cached(
        enc, passages, prompt=cfg.passage_prompt, cache=cache, batch_size=cfg.batch_size, progress=progress
    )
    return np.einsum("ij,ij->i", q, p).astype(np.float64)


def _cross_scores(
    cfg: TeacherConfig, queries: Sequence[str], passages: Sequence[str], progress: ProgressFn | None
) -> np.ndarray:
    import torch

    from embcore.models.encoders import load_cross_encoder

    model = load_cross_encoder(resolve_model(cfg.model))
    out = np.empty(len(queries), dtype=np.float64)
    chunk = 2048
    for start in range(0, len(queries), chunk):
        pairs = list(zip(queries[start : start + chunk], passages[start : start + chunk], strict=True))
        scores = model.predict(
            pairs, batch_size=cfg.batch_size, show_progress_bar=False, activation_fn=torch.nn.Identity()
        )
        out[start : start + len(pairs)] = np.asarray(scores, dtype=np.float64).reshape(-1)
        report(progress, "teacher", start + len(pairs), len(queries))
    return out


def raw_scores(
    cfg: TeacherConfig,
    queries: Sequence[str],
    passages: Sequence[str],
    *,
    store: Store | None = None,
    encoder: Encoder | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Raw teacher scores of aligned (query, passage) pairs, through the DuckDB cache when given."""
    cfg.validate()
    if len(queries) != len(passages):
        raise EmbcoreError("queries and passages must be aligned one to one")
    tid = cfg.teacher_id()
    keys = [(text_hash(q), text_hash(p)) for q, p in zip(queries, passages, strict=True)]
    cached = store.get_teacher_scores(tid, keys) if store is not None else {}
    todo_idx = [i for i, k in enumerate(keys) if k not in cached]
    # score each missing pair once
    uniq: dict[tuple[str, str], int] = {}
    for i in todo_idx:
        uniq.setdefault(keys[i], i)
    if uniq:
        idx = list(uniq.values())
        qs, ps = [queries[i] for i in idx], [passages[i] for i in idx]
        if cfg.resolved_kind() == "cross":
            fresh = _cross_scores(cfg, qs, ps, progress)
        else:
            fresh = _bi_scores(cfg, qs, ps, encoder=encoder, cache=store, progress=progress)
        new = {keys[i]: float(s) for i, s in zip(idx, fresh, strict=True)}
        if store is not None:
            store.put_teacher_scores(tid, new)
        cached = {**cached, **new}
    return np.array([cached[k] for k in keys], dtype=np.float64)


# --------------------------------------------------------------------------- normalisation


def normalize_group(scores: np.ndarray, how: str, temperature: float = 1.0) -> np.ndarray:
    """Normalise the scores of one query's passages (positives + negatives together)."""
    s = np.asarray(scores, dtype=np.float64)
    if how == "raw" or s.size == 0:
        return s
    if how == "sigmoid":
        return 1.0 / (1.0 + np.exp(-s))
    if how == "minmax":
        lo, hi = float(s.min()), float(s.max())
        return np.ones_like(s) if hi - lo < 1e-12 else (s - lo) / (hi - lo)
    if how == "softmax":
        z = s / temperature
        z = np.exp(z - z.max())
        return z / z.sum()
    raise EmbcoreError(f"unknown normalisation {how!r}; allowed: {', '.join(NORMALIZATIONS)}")


def make_teacher(
    cfg: TeacherConfig,
    *,
    store: Store | None = None,
    encoder: Encoder | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A scorer for :func:`embcore.export.exporter.export_project` plus its description for the manifest.

    The scorer takes (queries, texts per query, prompts) and returns scores aligned one to one
    with each query's texts (positives first, then negatives, as the exporter passes them).
    """
    cfg.validate()

    def score(queries: list[str], texts: list[list[str]], prompts: list[str]) -> list[list[float]]:
        flat_q = [q for q, ts in zip(queries, texts, strict=True) for _ in ts]
        flat_p = [t for ts in texts for t in ts]
        raw = raw_scores(cfg, flat_q, flat_p, store=store, encoder=encoder, progress=progress)
        out, start = [], 0
        for ts in texts:
            part = raw[start : start + len(ts)]
            start += len(ts)
            out.append([round(float(x), 6) for x in normalize_group(part, cfg.normalize, cfg.temperature)])
        return out

    return score, cfg.info()


def score_run(
    store: Store,
    pid: int,
    run_id: int,
    cfg: TeacherConfig,
    *,
    encoder: Encoder | None = None,
    progress: ProgressFn | None = None,
) -> int:
    """Score every candidate (given / generated negatives included) and positive of a mining run
    (for review) and record a 'score' run.

    Returns:
        Number of pairs scored (cache hits included).
    """
    cfg.validate()
    cands = store.candidates(run_id, include_given=True)
    pos = store.positives(pid)
    queries = store.queries(pid)
    qtext = dict(zip(queries["id"], queries["text"], strict=True))
    qs = [qtext[q] for q in cands["query_id"]] + [qtext[q] for q in pos["query_id"]]
    ps = list(cands["text"]) + list(pos["text"])
    with store.recorded_run(
        pid, "score", cfg.info() | {"mine_run": run_id}, model_id=cfg.teacher_id()
    ) as run:
        with run.step("score"):
            raw_scores(cfg, qs, ps, store=store, encoder=encoder, progress=progress)
        run.counts["pairs"] = len(qs)
    return len(qs)
