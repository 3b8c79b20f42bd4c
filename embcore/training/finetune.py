"""Fine-tune a sentence-transformers model on an exported training set and report the gain.

Reads ``DIR/train.jsonl`` (FlagEmbedding format: query, pos, neg, optional pos_scores /
neg_scores and prompt), turns every (query, positive) into one row of ``anchor, positive,
negative_1 .. negative_n`` columns and trains with ``SentenceTransformerTrainer``:

- ``mnrl``: MultipleNegativesRankingLoss (InfoNCE over in-batch positives + the row's negatives),
- ``cached-mnrl``: the GradCache variant, same objective with large batches in little memory,
- ``distill``: DistillKLDivLoss, KL divergence between the teacher's score distribution
  (``pos_scores`` / ``neg_scores``) and the student's over (positive, negatives),

optionally wrapped in MatryoshkaLoss; batches never hold the same text twice
(``BatchSamplers.NO_DUPLICATES``). The validation split, when the export has one, is evaluated
during training; the test split is evaluated before and after. The model is saved to
``out_dir`` with ``report.json`` (and ``loss_curve.svg``) next to it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from embcore.errors import EmbcoreError
from embcore.export.publish import resolve_export
from embcore.models.encoders import SentenceTransformerEncoder, model_label, resolve_model
from embcore.progress import ProgressFn, report
from embcore.training.evaluate import (
    EvalResult,
    EvalSet,
    compare,
    evaluate_set,
    file_sha256,
    load_eval_set,
    manifest_prompts,
    read_jsonl,
    read_manifest,
    split_names,
)

log = logging.getLogger(__name__)

LossName = Literal["mnrl", "cached-mnrl", "distill"]
LOSSES: tuple[str, ...] = get_args(LossName)

DEFAULT_LR = 5e-5
# GradCache MNRL: the same loss and gradients as MNRL, computed over mini-batches. On the CPU with
# 3 hard negatives per row (batch 32, 256 tokens) its peak RSS was 5.0 GB against 13.5 GB for MNRL,
# at the same speed (4 steps each on financial-qa-10K), so it is the default.
DEFAULT_LOSS: LossName = "cached-mnrl"
DEFAULT_TEMPERATURE = 0.05
"""InfoNCE temperature; sentence-transformers calls its inverse ``scale`` (20)."""

REPORT_NAME = "report.json"
LOSS_CURVE_NAME = "loss_curve.svg"


# --------------------------------------------------------------------------------------------
# Training rows
# --------------------------------------------------------------------------------------------


@dataclass
class TrainingData:
    """Training rows as columns for a ``datasets.Dataset``.

    Attributes:
        columns: ``{"anchor": [...], "positive": [...], "negative_1": [...], ..., ["label": [[...]]]}``;
            ``label`` (n_rows, 1 + num_negatives) teacher scores, only for the ``distill`` loss.
        num_negatives: negative columns per row.
        source_records: lines read from ``train.jsonl``.
        filled_negatives: negatives drawn at random from the pool because a row had too few.
        dropped: rows left out, by reason.
    """

    columns: dict[str, list[Any]]
    num_negatives: int
    source_records: int
    filled_negatives: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of training rows."""
        return len(self.columns.get("anchor", []))


def build_training_data(
    records: Sequence[dict[str, Any]],
    *,
    loss: str = "mnrl",
    num_negatives: int | None = None,
    query_prompt: str | None = None,
    passage_prompt: str | None = None,
    max_samples: int | None = None,
    seed: int = 42,
) -> TrainingData:
    """Turn FlagEmbedding records into (anchor, positive, negative_1..n[, label]) columns.

    Args:
        records: parsed ``train.jsonl`` lines.
        loss: one of :data:`LOSSES`; ``distill`` keeps only rows with teacher scores.
        num_negatives: negatives per row; ``None`` = the largest count in the data (0 for pairs).
            Rows with fewer get random passages from the pool of every passage in the file
            (never one of the row's positives); for ``distill`` they are dropped instead, since a
            random passage has no teacher score.
        query_prompt: prepended to queries whose record has no ``prompt`` of its own.
        passage_prompt: prepended to positives and negatives.
        max_samples: keep a random subset of at most this many rows.
        seed: seed for filling and subsampling.

    Returns:
        The :class:`TrainingData`.

    Raises:
        EmbcoreError: malformed records, no usable rows, ``distill`` without teacher scores.
    """
    if loss not in LOSSES:
        raise EmbcoreError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if num_negatives is not None and num_negatives < 0:
        raise EmbcoreError(f"num_negatives must be >= 0, got {num_negatives}")
    rng = np.random.default_rng(seed)
    distill = loss == "distill"
    pprompt = passage_prompt or ""

    # 1. Validate records and normalise their fields.
    parsed: list[tuple[str, list[str], list[str], list[float] | None, list[float] | None]] = []
    dropped: dict[str, int] = {}
    for i, rec in enumerate(records, 1):
        query = rec.get("query")
        pos = rec.get("pos")
        if not isinstance(query, str) or not isinstance(pos, list):
            raise EmbcoreError(f"train.jsonl line {i}: needs a 'query' string and a 'pos' list")
        negs = [str(n) for n in (rec.get("neg") or [])]
        pos = [str(p) for p in pos if str(p).strip()]
        if not query.strip() or not pos:
            dropped["empty query or no positive"] = dropped.get("empty query or no positive", 0) + 1
            continue
        prompt = rec.get("prompt") or query_prompt or ""
        ps, ns = rec.get("pos_scores"), rec.get("neg_scores")
        pos_scores = [float(x) for x in ps] if isinstance(ps, list) and len(ps) == len(rec["pos"]) else None
        neg_scores = [float(x) for x in ns] if isinstance(ns, list) and len(ns) == len(negs) else None
        parsed.append((prompt + query, pos, negs, pos_scores, neg_scores))
    if not parsed:
        raise EmbcoreError("train.jsonl has no usable (query, positive) row")

    # 2. The number of negative columns, and the pool for filling short rows.
    max_negs = max(len(p[2]) for p in parsed)
    n_neg = max_negs if num_negatives is None else num_negatives
    if distill and n_neg == 0:
        raise EmbcoreError("loss 'distill' needs negatives with neg_scores in train.jsonl")
    pool = sorted({t for p in parsed for t in (*p[1], *p[2])})

    # 3. One row per (query, positive); negatives: the row's own first, then random fill.
    anchors: list[str] = []
    positives: list[str] = []
    negatives: list[list[str]] = []
    labels: list[list[float]] = []
    filled = 0
    for query, pos, negs, pos_scores, neg_scores in parsed:
        pos_set = set(pos)
        keep = [(n, j) for j, n in enumerate(dict.fromkeys(negs)) if n not in pos_set and n.strip()]
        if distill and (pos_scores is None or neg_scores is None):
            dropped["no teacher scores"] = dropped.get("no teacher scores", 0) + len(pos)
            continue
        if distill and len(keep) < n_neg:
            dropped["too few scored negatives"] = dropped.get("too few scored negatives", 0) + len(pos)
            continue
        chosen = [n for n, _ in keep[:n_neg]]
        if len(chosen) < n_neg:
            taken = pos_set | set(chosen)
            need = n_neg - len(chosen)
            if len(pool) - len(taken) < need:
                raise EmbcoreError(f"not enough distinct passages to give every row {n_neg} negatives")
            while need:
                cand = pool[int(rng.integers(len(pool)))]
                if cand not in taken:
                    taken.add(cand)
                    chosen.append(cand)
                    need -= 1
                    filled += 1
        for pi, p in enumerate(pos):
            anchors.append(query)
            positives.append(pprompt + p)
            negatives.append([pprompt + n for n in chosen])
            if distill:
                assert pos_scores is not None and neg_scores is not None
                neg_idx = [j for _, j in keep[:n_neg]]
                labels.append([pos_scores[pi], *[neg_scores[j] for j in neg_idx]])
    if not anchors:
        reasons = ", ".join(f"{k}: {v}" for k, v in dropped.items())
        raise EmbcoreError(
            f"no training rows left for loss {loss!r} ({reasons}); 'distill' needs pos_scores and "
            "neg_scores in train.jsonl"
        )

    # 4. Optional random subset (order kept, so the result does not depend on the sampler).
    idx = np.arange(len(anchors))
    if max_samples is not None:
        if max_samples < 1:
            raise EmbcoreError(f"max_samples must be at least 1, got {max_samples}")
        if max_samples < len(anchors):
            idx = np.sort(rng.choice(len(anchors), size=max_samples, replace=False))
    columns: dict[str, list[Any]] = {
        "anchor": [anchors[i] for i in idx],
        "positive": [positives[i] for i in idx],
    }
    for j in range(n_neg):
        columns[f"negative_{j + 1}"] = [negatives[i][j] for i in idx]
    if distill:
        columns["label"] = [labels[i] for i in idx]
    if filled:
        log.warning("filled %d missing negatives with random passages (to %d per row)", filled, n_neg)
    return TrainingData(columns, n_neg, len(records), filled, dropped)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class FinetuneReport:
    """What a fine-tuning run did and what it gained; ``to_dict()`` is what ``report.json`` holds.

    Attributes:
        kind: "finetune" or "simcse".
        base_model: stable id of the starting model.
        output_dir: where the fine-tuned model was saved.
        settings: every training setting (epochs, batch size, loss, lr, seed, ...).
        data: data folder, row counts, ``train.jsonl`` SHA-256, the export's manifest config.
        base: test metrics of the base model (``EvalResult.to_dict()``), ``None`` if not run.
        finetuned: test metrics of the fine-tuned model, ``None`` if not run.
        comparison: ``{metric: {"base", "finetuned", "delta"}}``.
        by_dim: with Matryoshka, ``{dim: {"base": ndcg@10, "finetuned": ndcg@10}}`` on test.
        val_history: validation metrics during training: ``[{"step", "epoch", "ndcg@10", ...}]``.
        loss_curve: ``[{"step", "epoch", "loss", "learning_rate"}]``.
        steps: optimiser steps taken.
        timing: seconds: ``eval_base``, ``train``, ``eval_finetuned``, ``total``.
        peak_memory_mb: peak resident memory of the process during the run (and ``cuda`` peak).
        environment: library versions, device, platform.
        created_at: ISO-8601 UTC time the run finished.
        report_path: path of ``report.json``.
    """

    kind: str
    base_model: str
    output_dir: str
    settings: dict[str, Any]
    data: dict[str, Any]
    base: dict[str, Any] | None = None
    finetuned: dict[str, Any] | None = None
    comparison: dict[str, dict[str, float]] = field(default_factory=dict)
    by_dim: dict[str, dict[str, float]] = field(default_factory=dict)
    val_history: list[dict[str, Any]] = field(default_factory=list)
    loss_curve: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    timing: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: dict[str, float | None] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    report_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The headline numbers: base / fine-tuned / delta per metric, time, memory, paths."""
        return {
            "model": self.output_dir,
            "report": self.report_path,
            "loss": self.settings.get("loss"),
            "steps": self.steps,
            "metrics": self.comparison,
            "train_seconds": self.timing.get("train"),
            "peak_memory_mb": self.peak_memory_mb.get("rss"),
        }


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``report.json`` (or the one inside a model folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / REPORT_NAME
    if not p.is_file():
        raise EmbcoreError(f"no fine-tuning report at {p}")
    return json.loads(p.read_text(encoding="utf-8"))


def loss_curve_svg(points: Sequence[dict[str, Any]], width: int = 640, height: int = 320) -> str:
    """A dependency-free SVG line chart of ``[{"step", "loss"}]``."""
    pts = [(float(p["step"]), float(p["loss"])) for p in points if p.get("loss") is not None]
    pad_l, pad_r, pad_t, pad_b = 60, 20, 20, 40
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">step</text>',
        f'<text x="14" y="{pad_t + h / 2}" transform="rotate(-90 14 {pad_t + h / 2})" '
        'text-anchor="middle">training loss</text>',
    ]
    if pts:
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

        def sx(x: float) -> float:
            return pad_l + (x - x0) / (x1 - x0) * w

        def sy(y: float) -> float:
            return pad_t + h - (y - y0) / (y1 - y0) * h

        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(pts))
        parts += [
            f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#444"/>',
            f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + h}" stroke="#444"/>',
            f'<path d="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>',
            f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end">{y1:.3g}</text>',
            f'<text x="{pad_l - 4}" y="{pad_t + h}" text-anchor="end">{y0:.3g}</text>',
            f'<text x="{pad_l}" y="{pad_t + h + 16}" text-anchor="middle">{x0:g}</text>',
            f'<text x="{pad_l + w}" y="{pad_t + h + 16}" text-anchor="middle">{x1:g}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Memory, environment, model loading
# --------------------------------------------------------------------------------------------


def reset_peak_memory() -> None:
    """Reset the process's peak-RSS counter (Linux ``VmHWM``) and the CUDA peak, where possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    except Exception:  # noqa: BLE001 - best effort
        pass


def peak_memory_mb() -> dict[str, float | None]:
    """Peak resident memory in MiB since :func:`reset_peak_memory` (``rss``), and the CUDA peak."""
    rss: float | None = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
                break
    except OSError:
        pass
    if rss is None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024
    cuda: float | None = None
    try:
        import torch

        if torch.cuda.is_available():
            cuda = torch.cuda.max_memory_allocated() / 2**20
    except Exception:  # noqa: BLE001
        pass
    return {"rss": round(rss, 1), "cuda": None if cuda is None else round(cuda, 1)}


def environment() -> dict[str, Any]:
    """Versions and device, recorded in every report."""
    import sentence_transformers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "device": _device(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_sentence_transformer(name_or_path: str | None) -> Any:
    """Load a ``SentenceTransformer`` for training (offline for local paths); one clear error line."""
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name_or_path)
    if Path(path).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        model = SentenceTransformer(path, device=_device())
    except Exception as exc:  # noqa: BLE001 - turned into one clear line
        where = "local folder" if Path(path).exists() else "model id (no internet: give a local path)"
        raise EmbcoreError(f"could not load sentence-transformers model {path!r} ({where}): {exc}") from exc
    model.embcore_model_id = model_label(name_or_path)
    return model


# --------------------------------------------------------------------------------------------
# Trainer glue
# --------------------------------------------------------------------------------------------

_VAL_KEY = re.compile(r"^eval_(?:[a-z]+_)?(?:cosine|dot|euclidean|manhattan)_(.+)$")


def _progress_callback(
    progress: ProgressFn | None, loss_curve: list[dict[str, Any]], val_history: list[dict]
):  # noqa: ANN202
    """A ``transformers.TrainerCallback`` that records the loss / val metrics and reports progress."""
    from transformers import TrainerCallback

    class EmbcoreProgressCallback(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            report(progress, "train", 0, max(state.max_steps, 1))

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            report(progress, "train", state.global_step, max(state.max_steps, 1))

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
            logs = logs or {}
            epoch = round(float(state.epoch or 0.0), 4)
            if "loss" in logs:
                loss_curve.append(
                    {
                        "step": state.global_step,
                        "epoch": epoch,
                        "loss": float(logs["loss"]),
                        "learning_rate": float(logs.get("learning_rate", 0.0)),
                    }
                )
            metrics = {}
            for key, value in logs.items():
                m = _VAL_KEY.match(key)
                if m and isinstance(value, int | float):
                    metrics[m.group(1)] = float(value)
            if metrics:
                val_history.append({"step": state.global_step, "epoch": epoch, **metrics})
                if "ndcg@10" in metrics:
                    log.info("step %d: val ndcg@10 = %.4f", state.global_step, metrics["ndcg@10"])

    return EmbcoreProgressCallback()


def _ir_evaluator(eval_set: EvalSet, batch_size: int, name: str = "val") -> Any:
    """sentence-transformers' InformationRetrievalEvaluator over an :class:`EvalSet`."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries=dict(zip(eval_set.query_ids, eval_set.query_texts, strict=True)),
        corpus=dict(zip(eval_set.corpus_ids, eval_set.corpus_texts, strict=True)),
        relevant_docs={
            qid: {eval_set.corpus_ids[i] for i in rel}
            for qid, rel in zip(eval_set.query_ids, eval_set.relevant, strict=True)
        },
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1, 10],
        precision_recall_at_k=[1, 5, 10, 100],
        map_at_k=[100],
        batch_size=batch_size,
        name=name,
        write_csv=False,
        query_prompt=eval_set.query_prompt,
        corpus_prompt=eval_set.passage_prompt,
    )


@dataclass
class _TrainOutcome:
    steps: int
    seconds: float
    loss_curve: list[dict[str, Any]]
    val_history: list[dict[str, Any]]


def run_trainer(
    model: Any,
    columns: dict[str, list[Any]],
    loss_module: Any,
    *,
    epochs: float,
    batch_size: int,
    lr: float,
    seed: int,
    max_steps: int | None = None,
    warmup_ratio: float = 0.1,
    evaluator: Any = None,
    progress: ProgressFn | None = None,
    weight_decay: float = 0.01,
) -> _TrainOutcome:
    """Run ``SentenceTransformerTrainer`` with duplicate-free batches; no checkpoints are written.

    Evaluates ``evaluator`` (if any) once per epoch, or at the end when ``max_steps`` stops earlier.
    """
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    set_seed(seed)
    dataset = Dataset.from_dict(columns)
    steps_per_epoch = max(1, math.ceil(len(dataset) / batch_size))
    total = max_steps if max_steps else math.ceil(steps_per_epoch * epochs)
    eval_steps = min(steps_per_epoch, total)
    loss_curve: list[dict[str, Any]] = []
    val_history: list[dict[str, Any]] = []
    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="embcore-train-") as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp,
            num_train_epochs=epochs,
            max_steps=max_steps if max_steps else -1,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size,
            learning_rate=lr,
            warmup_steps=warmup_ratio,
            weight_decay=weight_decay,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            eval_strategy="steps" if evaluator is not None else "no",
            eval_steps=eval_steps if evaluator is not None else None,
            save_strategy="no",
            logging_steps=max(1, total // 200),
            logging_first_step=True,
            report_to="none",
            seed=seed,
            data_seed=seed,
            use_cpu=not cuda,
            bf16=bool(cuda and torch.cuda.is_bf16_supported()),
            dataloader_pin_memory=cuda,
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=loss_module,
            evaluator=evaluator,
            callbacks=[_progress_callback(progress, loss_curve, val_history)],
        )
        # Progress goes through our callback only: no stdout printing, no second tqdm bar.
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        steps = int(trainer.state.global_step)
    model.eval()
    return _TrainOutcome(steps, round(seconds, 3), loss_curve, val_history)


def make_loss(
    model: Any,
    loss: str,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    teacher_temperature: float | None = None,
    matryoshka_dims: Sequence[int] | None = None,
    mini_batch_size: int = 32,
    teacher_scores: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Build the loss module (and a dict of its settings for the report)."""
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.util import pairwise_cos_sim

    if loss not in LOSSES:
        raise EmbcoreError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if not temperature > 0:
        raise EmbcoreError(f"temperature must be > 0, got {temperature}")
    info: dict[str, Any] = {"loss": loss, "temperature": temperature}
    if loss == "mnrl":
        module = losses.MultipleNegativesRankingLoss(model, scale=1.0 / temperature)
    elif loss == "cached-mnrl":
        module = losses.CachedMultipleNegativesRankingLoss(
            model, scale=1.0 / temperature, mini_batch_size=mini_batch_size
        )
        info["mini_batch_size"] = mini_batch_size
    else:
        if teacher_temperature is None:
            # Teacher scores in [-1, 1] (cosines, probabilities) share the student's scale; anything
            # wider (cross-encoder logits) is softened with temperature 1.
            bounded = teacher_scores is None or float(np.abs(teacher_scores).max()) <= 1.0
            teacher_temperature = temperature if bounded else 1.0
        module = losses.DistillKLDivLoss(
            model,
            similarity_fct=pairwise_cos_sim,
            student_temperature=temperature,
            teacher_temperature=teacher_temperature,
        )
        info["teacher_temperature"] = teacher_temperature
    if matryoshka_dims:
        dims = validate_matryoshka_dims(matryoshka_dims, model.get_embedding_dimension())
        module = losses.MatryoshkaLoss(model, module, matryoshka_dims=dims)
        info["matryoshka_dims"] = dims
    return module, info


def validate_matryoshka_dims(dims: Sequence[int], model_dim: int | None) -> list[int]:
    """Distinct positive dims, largest first, none above the model's dimension."""
    out = sorted({int(d) for d in dims}, reverse=True)
    if not out or out[-1] <= 0:
        raise EmbcoreError(f"matryoshka dims must be positive integers, got {list(dims)}")
    if model_dim and out[0] > model_dim:
        raise EmbcoreError(f"matryoshka dim {out[0]} exceeds the model's embedding dimension {model_dim}")
    return out


def parse_dims(text: str | None) -> list[int] | None:
    """``"384,256,128"`` -> ``[384, 256, 128]``; ``None`` / ``""`` -> ``None``."""
    if not text:
        return None
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError as exc:
        raise EmbcoreError(
            f"--matryoshka expects comma-separated integers like 384,256,128, got {text!r}"
        ) from exc


# --------------------------------------------------------------------------------------------
# The one call
# --------------------------------------------------------------------------------------------


def _stage(progress: ProgressFn | None, name: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda _stage_name, done, total: progress(name, done, total)


def finetune(
    data_dir: str | Path,
    model: str | None = None,
    out_dir: str | Path = "models/finetuned",
    epochs: float = 1,
    batch_size: int = 32,
    loss: LossName = DEFAULT_LOSS,
    matryoshka_dims: Sequence[int] | None = None,
    lr: float = DEFAULT_LR,
    max_steps: int | None = None,
    max_samples: int | None = None,
    num_negatives: int | None = None,
    seed: int = 42,
    progress: ProgressFn | None = None,
    *,
    warmup_ratio: float = 0.1,
    temperature: float = DEFAULT_TEMPERATURE,
    teacher_temperature: float | None = None,
    mini_batch_size: int = 32,
    eval_test: bool = True,
    eval_base: bool = True,
    eval_val: bool = True,
    eval_max_queries: int | None = None,
    eval_batch_size: int = 64,
    max_seq_length: int | None = None,
) -> FinetuneReport:
    """Fine-tune ``model`` on ``data_dir/train.jsonl``; save it with a before/after report.

    Args:
        data_dir: an ``embcore build`` output folder.
        model: starting model path or hub id (``None`` = bundled all-MiniLM-L6-v2).
        out_dir: where to save the fine-tuned model, ``report.json`` and ``loss_curve.svg``.
        epochs: training epochs.
        batch_size: rows per batch (each row = query, positive and its negatives).
        loss: "cached-mnrl" (default: MNRL with bounded memory), "mnrl" or "distill" (needs
            pos_scores / neg_scores).
        matryoshka_dims: e.g. ``[384, 256, 128]`` to wrap the loss in MatryoshkaLoss.
        lr: peak learning rate (linear warm-up then decay).
        max_steps: stop after this many optimiser steps (overrides ``epochs``).
        max_samples: train on a random subset of at most this many rows.
        num_negatives: negatives per row (``None`` = as many as the data has).
        seed: seed of sampling, shuffling and initialisation.
        progress: ``(stage, done, total)`` callback; stages "evaluate base", "train",
            "evaluate fine-tuned", "save". Return ``False`` to cancel (nothing is saved).
        warmup_ratio: fraction of steps for the linear warm-up.
        temperature: InfoNCE / student temperature (scale = 1 / temperature).
        teacher_temperature: ``distill`` only; ``None`` picks one from the scores' range.
        mini_batch_size: ``cached-mnrl`` only: the GradCache chunk size.
        eval_test: evaluate base and fine-tuned model on the test split (when present).
        eval_base: with ``eval_test``, also evaluate the base model (``False`` when it is known).
        eval_val: evaluate on the val split during training (when present).
        eval_max_queries: evaluate on a random subset of at most this many queries.
        eval_batch_size: encoding batch size of evaluations.
        max_seq_length: truncate inputs to this many tokens (``None`` = the model's setting).

    Returns:
        The :class:`FinetuneReport` (also written to ``out_dir/report.json``).

    Raises:
        EmbcoreError: bad arguments, missing or malformed export, unloadable model.
        CancelledError: the progress callback returned ``False``.
    """
    t_start = time.perf_counter()
    reset_peak_memory()
    root = resolve_export(data_dir)  # an export root reads its current version; old flat exports work too
    train_path = root / "train.jsonl"
    if loss not in LOSSES:
        raise EmbcoreError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if epochs <= 0 and not max_steps:
        raise EmbcoreError(f"epochs must be > 0, got {epochs}")
    if batch_size < 1:
        raise EmbcoreError(f"batch_size must be at least 1, got {batch_size}")
    if max_steps is not None and max_steps < 1:
        raise EmbcoreError(f"max_steps must be at least 1, got {max_steps}")
    if not lr > 0:
        raise EmbcoreError(f"learning rate must be > 0, got {lr}")

    # 1. Data: training rows, prompts, the eval splits present.
    manifest = read_manifest(root)
    query_prompt, passage_prompt = manifest_prompts(manifest)
    records = read_jsonl(train_path)
    data = build_training_data(
        records,
        loss=loss,
        num_negatives=num_negatives,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        max_samples=max_samples,
        seed=seed,
    )
    splits = split_names(root) if (root / "eval").is_dir() else []
    test_set = (
        load_eval_set(root, "test").subsample(eval_max_queries, seed)
        if eval_test and "test" in splits
        else None
    )
    val_set = (
        load_eval_set(root, "val").subsample(eval_max_queries, seed) if eval_val and "val" in splits else None
    )
    log.info(
        "fine-tuning on %d rows (%d negatives each), loss %s; val: %s, test: %s",
        data.n_rows,
        data.num_negatives,
        loss,
        "yes" if val_set else "no",
        "yes" if test_set else "no",
    )

    # 2. Model, and the base model's test metrics.
    st_model = load_sentence_transformer(model)
    if max_seq_length:
        st_model.max_seq_length = int(max_seq_length)
    base_label = model_label(model)
    dims = (
        validate_matryoshka_dims(matryoshka_dims, st_model.get_embedding_dimension())
        if matryoshka_dims
        else None
    )
    timing: dict[str, float] = {}
    base_result: EvalResult | None = None
    by_dim: dict[str, dict[str, float]] = {}
    if test_set is not None and eval_base:
        t0 = time.perf_counter()
        enc = SentenceTransformerEncoder.from_model(st_model, base_label)
        base_result, corpus_emb = evaluate_set(
            enc, test_set, batch_size=eval_batch_size, progress=_stage(progress, "evaluate base")
        )
        for d in dims or []:
            r, _ = evaluate_set(
                enc, test_set, batch_size=eval_batch_size, truncate_dim=d, corpus_embeddings=corpus_emb
            )
            by_dim[str(d)] = {"base": r.metrics["ndcg@10"]}
        timing["eval_base"] = round(time.perf_counter() - t0, 3)

    # 3. Loss and trainer.
    label_arr = np.asarray(data.columns["label"], dtype=np.float64) if "label" in data.columns else None
    loss_module, loss_info = make_loss(
        st_model,
        loss,
        temperature=temperature,
        teacher_temperature=teacher_temperature,
        matryoshka_dims=dims,
        mini_batch_size=mini_batch_size,
        teacher_scores=label_arr,
    )
    evaluator = _ir_evaluator(val_set, eval_batch_size) if val_set is not None else None
    outcome = run_trainer(
        st_model,
        data.columns,
        loss_module,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        max_steps=max_steps,
        warmup_ratio=warmup_ratio,
        evaluator=evaluator,
        progress=progress,
    )
    timing["train"] = outcome.seconds

    # 4. Save, then the fine-tuned model's test metrics.
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report(progress, "save", 0, 1)
    st_model.save(str(out))
    report(progress, "save", 1, 1)
    tuned_result: EvalResult | None = None
    if test_set is not None:
        t0 = time.perf_counter()
        enc = SentenceTransformerEncoder.from_model(st_model, str(out))
        tuned_result, corpus_emb = evaluate_set(
            enc, test_set, batch_size=eval_batch_size, progress=_stage(progress, "evaluate fine-tuned")
        )
        for d in dims or []:
            r, _ = evaluate_set(
                enc, test_set, batch_size=eval_batch_size, truncate_dim=d, corpus_embeddings=corpus_emb
            )
            by_dim.setdefault(str(d), {})["finetuned"] = r.metrics["ndcg@10"]
        timing["eval_finetuned"] = round(time.perf_counter() - t0, 3)
    timing["total"] = round(time.perf_counter() - t_start, 3)

    # 5. The report.
    result = FinetuneReport(
        kind="finetune",
        base_model=base_label,
        output_dir=str(out.resolve()),
        settings={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "warmup_ratio": warmup_ratio,
            "max_steps": max_steps,
            "max_samples": max_samples,
            "num_negatives": data.num_negatives,
            "seed": seed,
            "max_seq_length": st_model.max_seq_length,
            "batch_sampler": "no_duplicates",
            "eval_max_queries": eval_max_queries,
            **loss_info,
        },
        data={
            "dir": str(root.resolve()),
            "train_file_sha256": file_sha256(train_path),
            "train_records": data.source_records,
            "train_rows": data.n_rows,
            "filled_negatives": data.filled_negatives,
            "dropped_rows": data.dropped,
            "query_prompt": query_prompt,
            "passage_prompt": passage_prompt,
            "splits": splits,
            "manifest_config": manifest.get("config"),
            "manifest_counts": manifest.get("counts"),
        },
        base=base_result.to_dict() if base_result else None,
        finetuned=tuned_result.to_dict() if tuned_result else None,
        comparison=compare(base_result, tuned_result) if base_result and tuned_result else {},
        by_dim=by_dim,
        val_history=outcome.val_history,
        loss_curve=outcome.loss_curve,
        steps=outcome.steps,
        timing=timing,
        peak_memory_mb=peak_memory_mb(),
        environment=environment(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        report_path=str((out / REPORT_NAME).resolve()),
    )
    write_report(result, out)
    return result


def write_report(result: FinetuneReport, out_dir: str | Path) -> Path:
    """Write ``report.json`` and ``loss_curve.svg`` into ``out_dir``; return the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    (out / LOSS_CURVE_NAME).write_text(loss_curve_svg(result.loss_curve), encoding="utf-8")
    return path
