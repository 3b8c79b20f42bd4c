"""How fast fine-tuning runs and how long it will take: the input length fitted to the data, the
precision, when to validate, and the estimate from speeds measured on this machine."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcore.errors import EmbcoreError
from embcore.models.encoders import (
    SentenceTransformerEncoder,
    model_label,
    resolve_model,
)
from embcore.models.estimate import (
    FinetunePlan,
    Throughput,
    cached_throughput,
    calibration_sample,
    encoding_throughput,
    finetune_plan,
    machine_key,
    measure,
    store_throughput,
    total_chars,
)
from embcore.models.estimate import log as estimate_log
from embcore.training.data import TrainingData
from embcore.training.defaults import DEFAULTS, PRECISIONS
from embcore.training.evaluate import (
    EvalSet,
    load_eval_set,
    read_jsonl,
    split_names,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def fit_max_seq_length(
    tokenizer: Any,
    columns: dict[str, list[Any]],
    *,
    cap: int,
    percentile: float = DEFAULTS.seq_length_percentile,
    sample: int = 4000,
    seed: int = 0,
) -> tuple[int, dict[str, int]]:
    """A truncation length fitted to the data: the ``percentile`` token length per side.

    The query side is ``anchor``; the passage side is ``positive`` and every ``negative_*``
    column. The longer side's percentile, rounded up to a multiple of 8, capped by ``cap``
    (the model's maximum). Texts are sampled (at most ``sample`` per side) to keep it fast.

    Returns:
        ``(length, {"query": p, "passage": p})`` with each side's percentile in tokens.
    """
    rng = np.random.default_rng(seed)
    sides = {
        "query": list(columns.get("anchor", [])),
        "passage": [t for k, v in columns.items() if k == "positive" or k.startswith("negative_") for t in v],
    }
    per_side: dict[str, int] = {}
    for side, texts in sides.items():
        if not texts:
            continue
        if len(texts) > sample:
            texts = [texts[i] for i in rng.choice(len(texts), size=sample, replace=False)]
        ids = tokenizer(list(texts), truncation=False, padding=False)["input_ids"]
        per_side[side] = int(math.ceil(float(np.percentile([len(x) for x in ids], percentile))))
    if not per_side:
        return cap, per_side
    longest = max(per_side.values())
    return max(8, min(cap, int(math.ceil(longest / 8) * 8))), per_side


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16): there bf16 autocast is ~2x faster."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # noqa: BLE001 - older torch: assume not
        return False


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` on a CUDA GPU with bf16 or a CPU with native bf16, else ``fp32``."""
    import torch

    if precision not in PRECISIONS:
        raise EmbcoreError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def resolve_eval_val(
    eval_val: bool | str, *, epochs: float, max_steps: int | None, test_follows: bool
) -> bool:
    """Whether to validate during training: ``auto`` = only for runs longer than one epoch, or when
    no test evaluation follows (a single epoch's last validation would repeat the test's work)."""
    if isinstance(eval_val, bool):
        return eval_val
    if eval_val != "auto":
        raise EmbcoreError(f"eval_val must be true, false or 'auto', got {eval_val!r}")
    single = bool(max_steps) or epochs <= 1
    return not (single and test_follows)


def set_max_seq_length(st_model: Any, max_seq_length: int | str | None, data: TrainingData) -> dict[str, Any]:
    """Truncate the model's inputs (``"auto"``: fitted to the data); what was decided, for the report."""
    info: dict[str, Any] = {"model_max": st_model.max_seq_length}
    if max_seq_length == "auto":
        fitted, per_side = fit_max_seq_length(
            st_model.tokenizer, data.columns, cap=int(st_model.max_seq_length or 512)
        )
        info |= {"fitted_p99": per_side}
        st_model.max_seq_length = fitted
    elif max_seq_length:
        st_model.max_seq_length = int(max_seq_length)
    return info


def row_chars(data: TrainingData, st_model: Any, sample: int = 2000) -> float:
    """Mean characters of one training row (every column), each text capped at what truncation keeps."""
    cap = int(st_model.max_seq_length or 512) * 6  # ~4-5 characters a token in English; generous
    n = data.n_rows
    if not n:
        return 0.0
    idx = range(0, n, max(1, n // sample))
    cols = [c for c in data.columns if c != "label"]
    total = sum(min(len(str(data.columns[c][i])), cap) for i in idx for c in cols)
    return total / len(idx)


def plan_key(label: str, precision: str) -> str:
    """Measurement key of fine-tuning speed for a model (its stable label) and precision on this machine."""
    return f"train|{label}|{precision}|{machine_key()}"


def stable_label(st_model: Any) -> str:
    return str(getattr(st_model, "embcore_model_id", type(st_model).__name__))


def calibrate_training(st_model: Any, texts: Sequence[str], precision: str) -> Throughput:
    """Time one forward + backward pass over a mini-batch of ``texts`` (a warm-up pass first).

    GradCache (cached-mnrl) also runs a forward pass without gradients over every text: the
    measured speed is scaled by 3/4 for it (forward ~ a third of forward + backward).
    """
    import torch

    sample = calibration_sample(texts, 16)
    prepare = getattr(st_model, "preprocess", None) or st_model.tokenize
    st_model.train()
    seconds = 0.0
    try:
        for timed in (False, True):
            feats = prepare(sample)
            t0 = time.perf_counter()
            with torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=precision == "bf16" and not torch.cuda.is_available()
            ):
                out = st_model(feats)["sentence_embedding"]
            out.float().pow(2).sum().backward()
            if timed:
                seconds = time.perf_counter() - t0
    finally:
        st_model.zero_grad(set_to_none=True)
        st_model.eval()
    cap = int(st_model.max_seq_length or 512) * 6
    tp = measure(
        plan_key(stable_label(st_model), precision),
        sum(min(len(t), cap) for t in sample),
        len(sample),
        seconds,
    )
    return Throughput(tp.key, tp.chars_per_s * 0.75, tp.texts_per_s * 0.75, tp.measured_at)


def announce_plan(
    model: str | None,
    st_model: Any,
    data: TrainingData,
    *,
    batch_size: int,
    epochs: float,
    max_steps: int | None,
    precision: str,
    eval_sets: Sequence[EvalSet],
) -> FinetunePlan | None:
    """Estimate the run from measured speeds (calibrating once per model and machine) and log it."""
    try:
        key = plan_key(stable_label(st_model), precision)
        tp = cached_throughput(key)
        if tp is None:
            passages = [
                t for c, v in data.columns.items() if c.startswith(("positive", "negative_")) for t in v
            ]
            tp = calibrate_training(st_model, passages, precision)
            store_throughput(tp)
        eval_chars = [
            total_chars(s.query_texts, s.query_prompt) + total_chars(s.corpus_texts, s.passage_prompt)
            for s in eval_sets
        ]
        enc_tp = None
        if eval_sets:
            enc = SentenceTransformerEncoder.from_model(
                st_model, getattr(st_model, "embcore_model_id", "model")
            )
            enc_tp = encoding_throughput(enc, eval_sets[0].corpus_texts, prompt=eval_sets[0].passage_prompt)
        plan = finetune_plan(
            rows=data.n_rows,
            batch_size=batch_size,
            epochs=epochs,
            max_steps=max_steps,
            chars_per_row=row_chars(data, st_model),
            train_chars_per_s=tp.chars_per_s,
            eval_chars=int(np.mean(eval_chars)) if eval_chars else 0,
            eval_passes=len(eval_sets),
            eval_chars_per_s=enc_tp.chars_per_s if enc_tp else None,
        )
    except Exception as exc:  # noqa: BLE001 - an estimate must never stop the run
        log.debug("no fine-tuning estimate: %s", exc)
        return None
    estimate_log.info("%s", plan.text)
    return plan


def finetune_estimate(
    data_dir: str | Path,
    model: str | None = None,
    *,
    epochs: float = DEFAULTS.epochs,
    batch_size: int = DEFAULTS.batch_size,
    max_steps: int | None = None,
    eval_max_queries: int | None = None,
) -> FinetunePlan | None:
    """How long :func:`finetune` with the defaults will take, from speeds measured earlier on this
    machine (no model is loaded: ``None`` until a fine-tuning run or a calibration measured them).
    """
    from embcore.models.encoders import load_encoder
    from embcore.models.estimate import encoder_key

    root = Path(data_dir)
    tp = cached_throughput(plan_key(model_label(model), resolve_precision(DEFAULTS.precision)))
    if tp is None or not (root / "train.jsonl").is_file():
        return None
    records = read_jsonl(root / "train.jsonl")
    rows, chars = 0, 0
    for rec in records:
        pos = [str(p) for p in rec.get("pos") or []]
        negs = [str(n) for n in (rec.get("neg") or [])][: DEFAULTS.max_negatives]
        per = len(str(rec.get("query", ""))) + sum(len(n) for n in negs)
        rows += len(pos)
        chars += sum(per + len(p) for p in pos)
    if not rows:
        return None
    eval_chars, passes = 0, 0
    corpus = root / "eval" / "corpus.jsonl"
    if corpus.is_file() and "test" in split_names(root):
        test = load_eval_set(root, "test").subsample(eval_max_queries, 42)
        eval_chars = total_chars(test.corpus_texts) + total_chars(test.query_texts)
        passes = 2
    enc_tp = (
        cached_throughput(encoder_key(load_encoder(model), eval_chars // 200 or None)) if passes else None
    )
    return finetune_plan(
        rows=rows,
        batch_size=batch_size,
        epochs=epochs,
        max_steps=max_steps,
        chars_per_row=chars / rows,
        train_chars_per_s=tp.chars_per_s,
        eval_chars=eval_chars if enc_tp else 0,
        eval_passes=passes if enc_tp else 0,
        eval_chars_per_s=enc_tp.chars_per_s if enc_tp else None,
    )


def autocast(precision: str) -> AbstractContextManager[Any]:
    """bf16 autocast on the CPU for ``precision="bf16"`` (a no-op context otherwise, and on a GPU)."""
    import contextlib

    import torch

    if precision == "bf16" and not torch.cuda.is_available():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def eval_encoder(
    path: str | None, st_model: Any, label: str, eval_set: EvalSet
) -> SentenceTransformerEncoder:
    """The encoder that evaluates a model saved at ``path`` (``None`` = the bundled one).

    A local model folder is encoded on the fast backend when it pays off for the eval set's size
    (vectors within the fp32 tolerance: the comparison stays fair); anything else uses the
    in-memory PyTorch model.
    """
    resolved = resolve_model(path)
    if Path(resolved).is_dir() and (Path(resolved) / "modules.json").is_file():
        enc = SentenceTransformerEncoder(resolved)
        enc.model_id = label
        if enc.fast_path(len(eval_set.query_texts) + len(eval_set.corpus_texts)) is not None:
            return enc
    return SentenceTransformerEncoder.from_model(st_model, label)
