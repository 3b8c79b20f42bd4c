"""What a fine-tuning run did: the report (``report.json``, ``loss_curve.svg``), peak memory and
the environment it ran in."""

from __future__ import annotations

import json
import logging
import platform
import resource
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embcore.errors import EmbcoreError
from embcore.models.encoders import (
    default_device,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


REPORT_NAME = "report.json"
LOSS_CURVE_NAME = "loss_curve.svg"


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
# Memory, environment
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
        "device": default_device(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def write_report(result: FinetuneReport, out_dir: str | Path) -> Path:
    """Write ``report.json`` and ``loss_curve.svg`` into ``out_dir``; return the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    (out / LOSS_CURVE_NAME).write_text(loss_curve_svg(result.loss_curve), encoding="utf-8")
    return path
