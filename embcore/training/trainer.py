"""The sentence-transformers trainer glue: duplicate-free batches, progress and validation through a
callback, the losses (MNRL, GradCache MNRL, distillation, Matryoshka), saving the model."""

from __future__ import annotations

import logging
import math
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcore.errors import EmbcoreError
from embcore.progress import ProgressFn, report
from embcore.training.defaults import DEFAULT_TEMPERATURE, DEFAULTS, LOSSES
from embcore.training.evaluate import (
    EvalSet,
)

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

log = logging.getLogger(__name__)


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


def ir_evaluator(eval_set: EvalSet, batch_size: int, name: str = "val") -> InformationRetrievalEvaluator:
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
class TrainOutcome:
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
    precision: str | None = None,
) -> TrainOutcome:
    """Run ``SentenceTransformerTrainer`` with duplicate-free batches; no checkpoints are written.

    Evaluates ``evaluator`` (if any) once per epoch, or at the end when ``max_steps`` stops earlier.
    ``precision="bf16"`` trains under bf16 autocast (weights and optimiser stay fp32); ``None`` =
    bf16 on a CUDA GPU that has it, fp32 on the CPU.
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
            bf16=precision == "bf16" if precision else bool(cuda and torch.cuda.is_bf16_supported()),
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
    return TrainOutcome(steps, round(seconds, 3), loss_curve, val_history)


def make_loss(
    model: Any,
    loss: str,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    teacher_temperature: float | None = None,
    matryoshka_dims: Sequence[int] | None = None,
    mini_batch_size: int = DEFAULTS.mini_batch_size,
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


def save_model(st_model: Any, out_dir: str | Path, progress: ProgressFn | None) -> Path:
    """Save a trained model into ``out_dir`` (progress stage "save"); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report(progress, "save", 0, 1)
    st_model.save(str(out))
    report(progress, "save", 1, 1)
    return out
