"""The fine-tuning settings a user is offered (app, docs), with their defaults and why.

The defaults themselves live in one place: :class:`embcore.training.finetune.FinetuneConfig` (and
its ``DEFAULT_*`` constants); this module reads them from there, so a changed default shows up
everywhere at once. Each setting carries one line saying what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from embcore.training.finetune import LOSSES, FinetuneConfig

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
