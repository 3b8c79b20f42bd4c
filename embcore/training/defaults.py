"""The fine-tuning settings a user is offered (app, docs), with their defaults and why.

The defaults themselves live in one place, here: :data:`DEFAULTS` (chosen by measurement, one line
each in :data:`DEFAULT_EXPLANATIONS`); :class:`embcore.training.finetune.FinetuneConfig` takes its
field defaults from them and :func:`finetune_settings` reads that class, so a changed default shows
up everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

LossName = Literal["mnrl", "cached-mnrl", "distill"]
LOSSES: tuple[str, ...] = get_args(LossName)

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@dataclass(frozen=True)
class FinetuneDefaults:
    """The product's fine-tuning defaults: the ONE place the CLI, the app and the API read them.

    Chosen by measurement on the CPU (``benchmarks/bench_cpu_speed.py``, financial-qa-10K, 800
    training rows, all-MiniLM-L6-v2); :data:`DEFAULT_EXPLANATIONS` says why, one line each.
    """

    loss: str = "cached-mnrl"
    lr: float = 5e-5
    epochs: float = 1.0
    batch_size: int = 32
    max_negatives: int = 3
    mini_batch_size: int = 8
    max_seq_length: str = "auto"
    seq_length_percentile: float = 99.0
    precision: str = "auto"
    eval_val: str = "auto"
    temperature: float = 0.05
    warmup_ratio: float = 0.1


DEFAULTS = FinetuneDefaults()
"""The defaults in force."""

DEFAULT_EXPLANATIONS: dict[str, str] = {
    "loss": "cached-mnrl: MNRL (in-batch + hard negatives) computed in mini-batches (GradCache): same "
    "gradients, a third of the memory on the CPU.",
    "lr": f"{DEFAULTS.lr:g}: a safe peak rate for small models; bigger models usually want 1e-5 to 2e-5.",
    "epochs": f"{DEFAULTS.epochs:g}: one pass over a few thousand rows already moves a small model; more risks over-fitting.",
    "batch_size": f"{DEFAULTS.batch_size} rows: every row sees {DEFAULTS.batch_size - 1} in-batch negatives besides its own hard ones.",
    "max_negatives": f"{DEFAULTS.max_negatives} hard negatives per row (the export may have more): a step costs about "
    "(2 + negatives) passages per row, and the last fine-tuning benchmark found no gain beyond 3.",
    "mini_batch_size": f"{DEFAULTS.mini_batch_size}: GradCache chunks of {DEFAULTS.mini_batch_size} texts pad far less than 32 (each chunk is padded to its "
    "longest text): measured 2-3x faster steps and lower memory, same gradients.",
    "max_seq_length": "auto: the 99th percentile token length of the queries and of the passages (the "
    "longer of the two), capped by the model's maximum: padding never grows past what the data needs.",
    "precision": "auto: bf16 autocast on CPUs with native bf16 (AMX / AVX512-BF16), measured 1.7x faster steps; "
    "fp32 elsewhere.",
    "eval_val": "auto: validate at each epoch end when training more than one epoch (or without a test "
    "evaluation); one epoch skips it: the test evaluation right after training measures the same thing.",
    "temperature": f"{DEFAULTS.temperature:g} (scale {1 / DEFAULTS.temperature:g}): the usual InfoNCE temperature for sentence embeddings.",
    "warmup_ratio": f"{DEFAULTS.warmup_ratio:g}: linear warm-up over the first tenth of the steps, then linear decay.",
}
"""One-line explanation of each default in :data:`DEFAULTS` (rendered by the app and the README)."""

DEFAULT_LR = DEFAULTS.lr
DEFAULT_LOSS: LossName = "cached-mnrl"
DEFAULT_TEMPERATURE = DEFAULTS.temperature
"""InfoNCE temperature; sentence-transformers calls its inverse ``scale`` (20)."""

# measured facts (README "Evaluate and fine-tune"; benchmarks/bench_finetune.py)
_MEASURED_LR = (
    "1e-4 measured best for the 22M all-MiniLM-L6-v2 on financial-qa-10K (+0.02-0.03 NDCG@10 over 2e-5, "
    "whatever the negatives); bigger models usually want less (1e-5)."
)
_MEASURED_LOSS = (
    "GradCache MNRL: same gradients as mnrl in bounded memory, 5.0 GB vs 13.5 GB peak on the CPU "
    "(batch 32, 3 hard negatives), same speed; distill needs teacher scores."
)


@dataclass(frozen=True)
class Setting:
    """One fine-tuning setting: its :class:`FinetuneConfig` field, default and a one-line note."""

    name: str
    label: str
    default: Any
    note: str


def _num(x: float) -> str:
    """Short human form: ``5e-05`` -> ``5e-5``, ``0.0001`` -> ``1e-4``, ``1.0`` -> ``1``."""
    if x and abs(x) < 1e-2:
        mantissa, exp = f"{x:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
    return f"{x:g}"


def finetune_default(name: str) -> Any:
    """The default of one :class:`~embcore.training.finetune.FinetuneConfig` field (``lr``, ``loss``, ...).

    Raises:
        KeyError: no such setting.
    """
    from embcore.training.finetune import FinetuneConfig

    for f in fields(FinetuneConfig):
        if f.name == name:
            return f.default
    raise KeyError(f"FinetuneConfig has no setting {name!r}")


def finetune_settings() -> dict[str, Setting]:
    """Learning rate, loss, epochs and batch size with their defaults and the measured reasons."""
    lr, loss = finetune_default("lr"), finetune_default("loss")
    epochs, batch = finetune_default("epochs"), finetune_default("batch_size")
    return {
        "lr": Setting("lr", "Learning rate", float(lr), f"Default {_num(lr)}; {_MEASURED_LR}"),
        "loss": Setting("loss", "Loss", str(loss), f"Default {loss}: {_MEASURED_LOSS}"),
        "epochs": Setting(
            "epochs",
            "Epochs",
            float(epochs),
            f"Default {_num(epochs)}: the learning-rate measurements above are one epoch; each epoch costs the same "
            "time again on the CPU.",
        ),
        "batch_size": Setting(
            "batch_size",
            "Batch size",
            int(batch),
            f"Default {batch}: rows per step; the other rows' positives are extra negatives, so a bigger batch "
            "gives harder training (cached-mnrl keeps its memory bounded).",
        ),
    }


def loss_options() -> list[str]:
    """The losses fine-tuning accepts."""
    return list(LOSSES)
