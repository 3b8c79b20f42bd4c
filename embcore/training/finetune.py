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

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcore.errors import EmbcoreError
from embcore.export.publish import resolve_export
from embcore.export.write import file_sha256
from embcore.models.backends import set_torch_threads
from embcore.models.encoders import (
    SentenceTransformerEncoder,
    load_sentence_transformer,
    model_label,
)
from embcore.models.estimate import (
    FinetunePlan,
    measure,
    store_throughput,
)
from embcore.progress import ProgressFn
from embcore.training.data import TrainingData, build_training_data
from embcore.training.defaults import (
    DEFAULT_LOSS,
    DEFAULT_TEMPERATURE,
    DEFAULTS,
    LOSSES,
    PRECISIONS,
    LossName,
)
from embcore.training.evaluate import (
    EvalResult,
    EvalSet,
    compare,
    evaluate_set,
    load_eval_set,
    manifest_prompts,
    read_jsonl,
    read_manifest,
    split_names,
)
from embcore.training.report import (
    REPORT_NAME,
    FinetuneReport,
    environment,
    peak_memory_mb,
    reset_peak_memory,
    write_report,
)
from embcore.training.speed import (
    announce_plan,
    autocast,
    eval_encoder,
    plan_key,
    resolve_eval_val,
    resolve_precision,
    row_chars,
    set_max_seq_length,
    stable_label,
)
from embcore.training.trainer import (
    TrainOutcome,
    ir_evaluator,
    make_loss,
    run_trainer,
    save_model,
    validate_matryoshka_dims,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def _stage(progress: ProgressFn | None, name: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda _stage_name, done, total: progress(name, done, total)


@dataclass
class FinetuneConfig:
    """How to fine-tune (every setting of :func:`finetune`; the app and the CLI build one).

    Attributes:
        epochs: training epochs.
        batch_size: rows per batch (each row = query, positive and its negatives).
        loss: "cached-mnrl" (default: MNRL with bounded memory), "mnrl" or "distill" (needs
            pos_scores / neg_scores).
        matryoshka_dims: e.g. ``[384, 256, 128]`` to wrap the loss in MatryoshkaLoss.
        lr: peak learning rate (linear warm-up then decay).
        max_steps: stop after this many optimiser steps (overrides ``epochs``).
        max_samples: train on a random subset of at most this many rows.
        num_negatives: negatives per row (``None`` = as many as the data has, at most
            ``DEFAULTS.max_negatives``).
        seed: seed of sampling, shuffling and initialisation.
        warmup_ratio: fraction of steps for the linear warm-up.
        temperature: InfoNCE / student temperature (scale = 1 / temperature).
        teacher_temperature: ``distill`` only; ``None`` picks one from the scores' range.
        mini_batch_size: ``cached-mnrl`` only: the GradCache chunk size.
        eval_test: evaluate base and fine-tuned model on the test split (when present).
        eval_base: with ``eval_test``, also evaluate the base model (``False`` when it is known).
        eval_val: evaluate on the val split during training (when present); ``"auto"`` skips it
            for single-epoch runs followed by the test evaluation (see :func:`resolve_eval_val`).
        eval_max_queries: evaluate on a random subset of at most this many queries.
        eval_batch_size: encoding batch size of evaluations.
        max_seq_length: truncate inputs to this many tokens; ``"auto"`` = fitted to the data
            (:func:`fit_max_seq_length`); ``None`` = the model's setting.
        precision: ``"auto"`` (bf16 autocast where the hardware has native bf16), ``"fp32"`` or ``"bf16"``.

    The defaults are :data:`DEFAULTS` (chosen by measurement; :data:`DEFAULT_EXPLANATIONS`).
    """

    epochs: float = DEFAULTS.epochs
    batch_size: int = DEFAULTS.batch_size
    loss: LossName = DEFAULT_LOSS
    matryoshka_dims: Sequence[int] | None = None
    lr: float = DEFAULTS.lr
    max_steps: int | None = None
    max_samples: int | None = None
    num_negatives: int | None = None
    seed: int = 42
    warmup_ratio: float = DEFAULTS.warmup_ratio
    temperature: float = DEFAULT_TEMPERATURE
    teacher_temperature: float | None = None
    mini_batch_size: int = DEFAULTS.mini_batch_size
    eval_test: bool = True
    eval_base: bool = True
    eval_val: bool | str = DEFAULTS.eval_val
    eval_max_queries: int | None = None
    eval_batch_size: int = 64
    max_seq_length: int | str | None = DEFAULTS.max_seq_length
    precision: str = DEFAULTS.precision

    def validate(self) -> FinetuneConfig:
        """Check the settings.

        Raises:
            EmbcoreError: an unknown loss, or a count / rate out of range.
        """
        if self.loss not in LOSSES:
            raise EmbcoreError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.epochs <= 0 and not self.max_steps:
            raise EmbcoreError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 1:
            raise EmbcoreError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_steps is not None and self.max_steps < 1:
            raise EmbcoreError(f"max_steps must be at least 1, got {self.max_steps}")
        if not self.lr > 0:
            raise EmbcoreError(f"learning rate must be > 0, got {self.lr}")
        if isinstance(self.max_seq_length, str) and self.max_seq_length != "auto":
            raise EmbcoreError(
                f"max_seq_length must be a positive integer or 'auto', got {self.max_seq_length!r}"
            )
        if self.precision not in PRECISIONS:
            raise EmbcoreError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a run's config)."""
        out = asdict(self)
        out["matryoshka_dims"] = None if self.matryoshka_dims is None else list(self.matryoshka_dims)
        return out


@dataclass
class _Inputs:
    """What a fine-tuning reads from an export: training rows, prompts, the eval sets present."""

    root: Path
    manifest: dict[str, Any]
    query_prompt: str | None
    passage_prompt: str | None
    data: TrainingData
    splits: list[str]
    test_set: EvalSet | None
    val_set: EvalSet | None


def _read_inputs(data_dir: str | Path, cfg: FinetuneConfig) -> _Inputs:
    """Step 1: training rows from ``train.jsonl``, prompts from the manifest, the val / test sets."""
    root = resolve_export(data_dir)  # an export root reads its current version; old flat exports work too
    manifest = read_manifest(root)
    query_prompt, passage_prompt = manifest_prompts(manifest)
    data = build_training_data(
        read_jsonl(root / "train.jsonl"),
        loss=cfg.loss,
        num_negatives=cfg.num_negatives,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        max_samples=cfg.max_samples,
        seed=cfg.seed,
        max_negatives=DEFAULTS.max_negatives,
    )
    splits = split_names(root) if (root / "eval").is_dir() else []

    def eval_set(name: str, wanted: bool) -> EvalSet | None:
        if not (wanted and name in splits):
            return None
        return load_eval_set(root, name).subsample(cfg.eval_max_queries, cfg.seed)

    test_set = eval_set("test", cfg.eval_test)
    do_val = resolve_eval_val(
        cfg.eval_val, epochs=cfg.epochs, max_steps=cfg.max_steps, test_follows=test_set is not None
    )
    inputs = _Inputs(
        root, manifest, query_prompt, passage_prompt, data, splits, test_set, eval_set("val", do_val)
    )
    log.info("fine-tuning on %d rows (%d negatives each), loss %s; val: %s, test: %s", data.n_rows,
             data.num_negatives, cfg.loss, "yes" if inputs.val_set else "no", "yes" if inputs.test_set else "no")  # fmt: skip
    return inputs


def _evaluate(
    enc: Any, test_set: EvalSet, dims: Sequence[int] | None, cfg: FinetuneConfig, progress: ProgressFn | None,
    timing: dict[str, float], key: str, precision: str = "fp32",
) -> tuple[EvalResult, dict[str, float]]:  # fmt: skip
    """The test metrics of an encoder, and its NDCG@10 at each Matryoshka dimension (seconds in
    ``timing[key]``), under ``precision`` (bf16 autocast on the CPU)."""
    t0 = time.perf_counter()
    by_dim = {}
    with autocast(precision):
        result, corpus_emb = evaluate_set(enc, test_set, batch_size=cfg.eval_batch_size, progress=progress)
        for d in dims or []:
            r, _ = evaluate_set(
                enc, test_set, batch_size=cfg.eval_batch_size, truncate_dim=d, corpus_embeddings=corpus_emb
            )
            by_dim[str(d)] = r.metrics["ndcg@10"]
    timing[key] = round(time.perf_counter() - t0, 3)
    return result, by_dim


def finetune(
    data_dir: str | Path,
    model: str | None = None,
    out_dir: str | Path = "models/finetuned",
    config: FinetuneConfig | None = None,
    *,
    progress: ProgressFn | None = None,
) -> FinetuneReport:
    """Fine-tune ``model`` on ``data_dir/train.jsonl``; save it with a before/after report.

    Args:
        data_dir: an ``embcore build`` output folder.
        model: starting model path or hub id (``None`` = bundled all-MiniLM-L6-v2).
        out_dir: where to save the fine-tuned model, ``report.json`` and ``loss_curve.svg``.
        config: the settings (default: :class:`FinetuneConfig`'s defaults).
        progress: ``(stage, done, total)`` callback; stages "evaluate base", "train",
            "evaluate fine-tuned", "save". Return ``False`` to cancel (nothing is saved).

    Returns:
        The :class:`FinetuneReport` (also written to ``out_dir/report.json``).

    Raises:
        EmbcoreError: bad settings, missing or malformed export, unloadable model.
        CancelledError: the progress callback returned ``False``.
    """
    cfg = (config or FinetuneConfig()).validate()
    t_start = time.perf_counter()
    reset_peak_memory()
    precision, threads = resolve_precision(cfg.precision), set_torch_threads()
    # 1. Data: training rows, prompts, the eval splits present.
    inputs = _read_inputs(data_dir, cfg)
    # 2. Model (inputs truncated to what the data needs), the estimate, the base model's test metrics.
    st_model, seq_info, dims, plan = _prepare_model(model, inputs, cfg, precision)
    timing: dict[str, float] = {}
    base_result, base_dims = None, {}
    if inputs.test_set is not None and cfg.eval_base:
        enc = eval_encoder(model, st_model, model_label(model), inputs.test_set)
        base_result, base_dims = _evaluate(enc, inputs.test_set, dims, cfg, _stage(progress, "evaluate base"),
                                           timing, "eval_base")  # fmt: skip
    # 3. Loss and trainer.
    outcome, loss_info = _train(st_model, inputs, cfg, dims, precision, progress)
    timing["train"] = outcome.seconds
    _record_speed(plan, outcome, st_model, inputs, cfg, precision, timing)
    # 4. Save, then the fine-tuned model's test metrics: the model in memory, not an export of the saved
    # one (exporting a model used once would cost time and ~1 GB of peak memory), under the training
    # precision (bf16 on capable CPUs: vectors within cosine 0.9999 of fp32, like the base model's fast path).
    out = save_model(st_model, out_dir, progress)
    tuned_result, tuned_dims = None, {}
    if inputs.test_set is not None:
        enc = SentenceTransformerEncoder.from_model(st_model, str(out))
        tuned_result, tuned_dims = _evaluate(enc, inputs.test_set, dims, cfg, _stage(progress, "evaluate fine-tuned"),
                                             timing, "eval_finetuned", precision)  # fmt: skip
    timing["total"] = round(time.perf_counter() - t_start, 3)
    # 5. The report.
    by_dim = {d: {"base": v} for d, v in base_dims.items()}
    for d, v in tuned_dims.items():
        by_dim.setdefault(d, {})["finetuned"] = v
    speed = {"max_seq_length_info": seq_info, "precision": precision, "threads": threads,
             "eval_val": inputs.val_set is not None}  # fmt: skip
    result = _report(model, out, cfg, inputs, st_model, loss_info | speed, base_result, tuned_result, by_dim, outcome,
                     timing)  # fmt: skip
    write_report(result, out)
    return result


def _prepare_model(
    model: str | None, inputs: _Inputs, cfg: FinetuneConfig, precision: str
) -> tuple[Any, dict[str, Any], list[int] | None, FinetunePlan | None]:
    """Step 2: the model with its input length fitted, the Matryoshka dims, the logged estimate.

    Returns:
        (the ``SentenceTransformer``, what was decided about the length, the dims, the estimate).
    """
    st_model = load_sentence_transformer(model)
    seq_info = set_max_seq_length(st_model, cfg.max_seq_length, inputs.data)
    dims = None
    if cfg.matryoshka_dims:
        dims = validate_matryoshka_dims(cfg.matryoshka_dims, st_model.get_embedding_dimension())
    evals = [
        x
        for x in (inputs.test_set if cfg.eval_base else None, inputs.test_set, inputs.val_set)
        if x is not None
    ]
    plan = announce_plan(model, st_model, inputs.data, batch_size=cfg.batch_size, epochs=cfg.epochs,
                          max_steps=cfg.max_steps, precision=precision, eval_sets=evals)  # fmt: skip
    return st_model, seq_info, dims, plan


def _train(
    st_model: Any, inputs: _Inputs, cfg: FinetuneConfig, dims: list[int] | None, precision: str,
    progress: ProgressFn | None,
) -> tuple[TrainOutcome, dict[str, Any]]:  # fmt: skip
    """Step 3: the loss, the validation evaluator, the trainer; (what training did, the loss settings)."""
    labels = inputs.data.columns.get("label")
    loss_module, loss_info = make_loss(
        st_model, cfg.loss, temperature=cfg.temperature, teacher_temperature=cfg.teacher_temperature,
        matryoshka_dims=dims, mini_batch_size=cfg.mini_batch_size,
        teacher_scores=None if labels is None else np.asarray(labels, dtype=np.float64),
    )  # fmt: skip
    evaluator = ir_evaluator(inputs.val_set, cfg.eval_batch_size) if inputs.val_set is not None else None
    outcome = run_trainer(st_model, inputs.data.columns, loss_module, epochs=cfg.epochs, batch_size=cfg.batch_size,
                          lr=cfg.lr, seed=cfg.seed, max_steps=cfg.max_steps, warmup_ratio=cfg.warmup_ratio,
                          evaluator=evaluator, progress=progress, precision=precision)  # fmt: skip
    return outcome, loss_info


def _record_speed(
    plan: FinetunePlan | None, outcome: TrainOutcome, st_model: Any, inputs: _Inputs, cfg: FinetuneConfig,
    precision: str, timing: dict[str, float],
) -> None:  # fmt: skip
    """The estimate in the timings; the real speed (when no validation ran inside it) replaces the calibration."""
    if plan is None:
        return
    timing["train_estimated"] = round(plan.train_seconds, 1)
    if outcome.steps and inputs.val_set is None:
        rows = outcome.steps * cfg.batch_size
        store_throughput(measure(plan_key(stable_label(st_model), precision),
                                 int(rows * row_chars(inputs.data, st_model)), rows, outcome.seconds))  # fmt: skip


def _report(
    model: str | None,
    out: Path,
    cfg: FinetuneConfig,
    inputs: _Inputs,
    st_model: Any,
    loss_info: dict[str, Any],
    base: EvalResult | None,
    tuned: EvalResult | None,
    by_dim: dict[str, dict[str, float]],
    outcome: TrainOutcome,
    timing: dict[str, float],
) -> FinetuneReport:
    """Step 5: what the fine-tuning did and gained."""
    data = inputs.data
    return FinetuneReport(
        kind="finetune",
        base_model=model_label(model),
        output_dir=str(out.resolve()),
        settings={
            "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "warmup_ratio": cfg.warmup_ratio,
            "max_steps": cfg.max_steps,
            "max_samples": cfg.max_samples,
            "num_negatives": data.num_negatives,
            "seed": cfg.seed,
            "max_seq_length": st_model.max_seq_length,
            **{
                k: loss_info[k]
                for k in ("max_seq_length_info", "precision", "threads", "eval_val")
                if k in loss_info
            },
            "batch_sampler": "no_duplicates",
            "eval_max_queries": cfg.eval_max_queries,
            **{
                k: v
                for k, v in loss_info.items()
                if k not in ("max_seq_length_info", "precision", "threads", "eval_val")
            },
        },
        data={
            "dir": str(inputs.root.resolve()),
            "train_file_sha256": file_sha256(inputs.root / "train.jsonl"),
            "train_records": data.source_records,
            "train_rows": data.n_rows,
            "filled_negatives": data.filled_negatives,
            "dropped_rows": data.dropped,
            "query_prompt": inputs.query_prompt,
            "passage_prompt": inputs.passage_prompt,
            "splits": inputs.splits,
            "manifest_config": inputs.manifest.get("config"),
            "manifest_counts": inputs.manifest.get("counts"),
        },
        base=base.to_dict() if base else None,
        finetuned=tuned.to_dict() if tuned else None,
        comparison=compare(base, tuned) if base and tuned else {},
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
