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
import platform
import re
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from embcore.errors import EmbcoreError
from embcore.export.publish import resolve_export
from embcore.export.write import file_sha256
from embcore.models.backends import set_torch_threads
from embcore.models.encoders import (
    SentenceTransformerEncoder,
    default_device,
    load_sentence_transformer,
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
from embcore.progress import ProgressFn, report
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

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

log = logging.getLogger(__name__)

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
    max_negatives: int | None = None,
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
        max_negatives: with ``num_negatives=None``, use at most this many (``None`` = no cap).

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
    dropped: dict[str, int] = {}
    # 1. Validate records and normalise their fields.
    parsed = _parse_records(records, query_prompt, dropped)
    # 2. The number of negative columns, and the pool for filling short rows.
    max_negs = max(len(r.negatives) for r in parsed)
    if num_negatives is not None:
        n_neg = num_negatives
    else:
        n_neg = max_negs if max_negatives is None else min(max_negs, max_negatives)
    if distill and n_neg == 0:
        raise EmbcoreError("loss 'distill' needs negatives with neg_scores in train.jsonl")
    pool = sorted({t for r in parsed for t in (*r.positives, *r.negatives)})
    # 3. One row per (query, positive); negatives: the row's own first, then random fill.
    rows = _Rows()
    for rec in parsed:
        rows.add(rec, n_neg, pool, rng, distill, passage_prompt or "", dropped)
    if not rows.anchors:
        reasons = ", ".join(f"{k}: {v}" for k, v in dropped.items())
        raise EmbcoreError(
            f"no training rows left for loss {loss!r} ({reasons}); 'distill' needs pos_scores and "
            "neg_scores in train.jsonl"
        )
    # 4. Optional random subset (order kept, so the result does not depend on the sampler).
    columns = rows.columns(n_neg, distill, _subset(len(rows.anchors), max_samples, rng))
    if rows.filled:
        log.warning("filled %d missing negatives with random passages (to %d per row)", rows.filled, n_neg)
    return TrainingData(columns, n_neg, len(records), rows.filled, dropped)


@dataclass
class _Record:
    """One usable ``train.jsonl`` line: prompted query, positives, negatives, teacher scores."""

    query: str
    positives: list[str]
    negatives: list[str]
    pos_scores: list[float] | None
    neg_scores: list[float] | None


def _parse_records(
    records: Sequence[dict[str, Any]], query_prompt: str | None, dropped: dict[str, int]
) -> list[_Record]:
    """Check every line and keep the usable ones (lines without a query or positive are counted in ``dropped``).

    Raises:
        EmbcoreError: a line without a 'query' string and a 'pos' list, or no usable line at all.
    """
    parsed: list[_Record] = []
    for i, rec in enumerate(records, 1):
        query, pos = rec.get("query"), rec.get("pos")
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
        parsed.append(_Record(prompt + query, pos, negs, pos_scores, neg_scores))
    if not parsed:
        raise EmbcoreError("train.jsonl has no usable (query, positive) row")
    return parsed


class _Rows:
    """Training rows being built: anchors, positives, negatives per row, teacher labels."""

    def __init__(self) -> None:
        self.anchors: list[str] = []
        self.positives: list[str] = []
        self.negatives: list[list[str]] = []
        self.labels: list[list[float]] = []
        self.filled = 0

    def add(
        self,
        rec: _Record,
        n_neg: int,
        pool: list[str],
        rng: np.random.Generator,
        distill: bool,
        pprompt: str,
        dropped: dict[str, int],
    ) -> None:
        """One row per positive of ``rec``, or count why it is dropped (``distill`` without scores)."""
        pos_set = set(rec.positives)
        keep = [(n, j) for j, n in enumerate(dict.fromkeys(rec.negatives)) if n not in pos_set and n.strip()]
        if distill and (rec.pos_scores is None or rec.neg_scores is None):
            dropped["no teacher scores"] = dropped.get("no teacher scores", 0) + len(rec.positives)
            return
        if distill and len(keep) < n_neg:
            dropped["too few scored negatives"] = dropped.get("too few scored negatives", 0) + len(
                rec.positives
            )
            return
        chosen = [n for n, _ in keep[:n_neg]]
        chosen += self._fill(n_neg - len(chosen), pool, pos_set | set(chosen), rng, n_neg)
        for pi, p in enumerate(rec.positives):
            self.anchors.append(rec.query)
            self.positives.append(pprompt + p)
            self.negatives.append([pprompt + n for n in chosen])
            if distill:
                assert rec.pos_scores is not None and rec.neg_scores is not None
                self.labels.append([rec.pos_scores[pi], *[rec.neg_scores[j] for _, j in keep[:n_neg]]])

    def _fill(
        self, need: int, pool: list[str], taken: set[str], rng: np.random.Generator, n_neg: int
    ) -> list[str]:
        """``need`` random passages of the pool not in ``taken``.

        Raises:
            EmbcoreError: the pool has too few distinct passages.
        """
        if need <= 0:
            return []
        if len(pool) - len(taken) < need:
            raise EmbcoreError(f"not enough distinct passages to give every row {n_neg} negatives")
        out: list[str] = []
        while len(out) < need:
            cand = pool[int(rng.integers(len(pool)))]
            if cand not in taken:
                taken.add(cand)
                out.append(cand)
        self.filled += len(out)
        return out

    def columns(self, n_neg: int, distill: bool, idx: np.ndarray) -> dict[str, list[Any]]:
        """The rows ``idx`` as ``anchor, positive, negative_1..n[, label]`` columns."""
        columns: dict[str, list[Any]] = {
            "anchor": [self.anchors[i] for i in idx],
            "positive": [self.positives[i] for i in idx],
        }
        for j in range(n_neg):
            columns[f"negative_{j + 1}"] = [self.negatives[i][j] for i in idx]
        if distill:
            columns["label"] = [self.labels[i] for i in idx]
        return columns


def _subset(n: int, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of the rows kept: all, or a sorted random subset of ``max_samples``."""
    if max_samples is None:
        return np.arange(n)
    if max_samples < 1:
        raise EmbcoreError(f"max_samples must be at least 1, got {max_samples}")
    return np.sort(rng.choice(n, size=max_samples, replace=False)) if max_samples < n else np.arange(n)


# --------------------------------------------------------------------------------------------
# Speed settings: sequence length fitted to the data, precision
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


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


def _ir_evaluator(eval_set: EvalSet, batch_size: int, name: str = "val") -> InformationRetrievalEvaluator:
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
    precision: str | None = None,
) -> _TrainOutcome:
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
    return _TrainOutcome(steps, round(seconds, 3), loss_curve, val_history)


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


# --------------------------------------------------------------------------------------------
# The one call
# --------------------------------------------------------------------------------------------


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
    with _autocast(precision):
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
        enc = _eval_encoder(model, st_model, model_label(model), inputs.test_set)
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
    seq_info = _set_max_seq_length(st_model, cfg.max_seq_length, inputs.data)
    dims = None
    if cfg.matryoshka_dims:
        dims = validate_matryoshka_dims(cfg.matryoshka_dims, st_model.get_embedding_dimension())
    evals = [
        x
        for x in (inputs.test_set if cfg.eval_base else None, inputs.test_set, inputs.val_set)
        if x is not None
    ]
    plan = _announce_plan(model, st_model, inputs.data, batch_size=cfg.batch_size, epochs=cfg.epochs,
                          max_steps=cfg.max_steps, precision=precision, eval_sets=evals)  # fmt: skip
    return st_model, seq_info, dims, plan


def _train(
    st_model: Any, inputs: _Inputs, cfg: FinetuneConfig, dims: list[int] | None, precision: str,
    progress: ProgressFn | None,
) -> tuple[_TrainOutcome, dict[str, Any]]:  # fmt: skip
    """Step 3: the loss, the validation evaluator, the trainer; (what training did, the loss settings)."""
    labels = inputs.data.columns.get("label")
    loss_module, loss_info = make_loss(
        st_model, cfg.loss, temperature=cfg.temperature, teacher_temperature=cfg.teacher_temperature,
        matryoshka_dims=dims, mini_batch_size=cfg.mini_batch_size,
        teacher_scores=None if labels is None else np.asarray(labels, dtype=np.float64),
    )  # fmt: skip
    evaluator = _ir_evaluator(inputs.val_set, cfg.eval_batch_size) if inputs.val_set is not None else None
    outcome = run_trainer(st_model, inputs.data.columns, loss_module, epochs=cfg.epochs, batch_size=cfg.batch_size,
                          lr=cfg.lr, seed=cfg.seed, max_steps=cfg.max_steps, warmup_ratio=cfg.warmup_ratio,
                          evaluator=evaluator, progress=progress, precision=precision)  # fmt: skip
    return outcome, loss_info


def _set_max_seq_length(
    st_model: Any, max_seq_length: int | str | None, data: TrainingData
) -> dict[str, Any]:
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


def _record_speed(
    plan: FinetunePlan | None, outcome: _TrainOutcome, st_model: Any, inputs: _Inputs, cfg: FinetuneConfig,
    precision: str, timing: dict[str, float],
) -> None:  # fmt: skip
    """The estimate in the timings; the real speed (when no validation ran inside it) replaces the calibration."""
    if plan is None:
        return
    timing["train_estimated"] = round(plan.train_seconds, 1)
    if outcome.steps and inputs.val_set is None:
        rows = outcome.steps * cfg.batch_size
        store_throughput(measure(plan_key(_label(st_model), precision),
                                 int(rows * _row_chars(inputs.data, st_model)), rows, outcome.seconds))  # fmt: skip


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
    outcome: _TrainOutcome,
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


def _row_chars(data: TrainingData, st_model: Any, sample: int = 2000) -> float:
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


def _label(st_model: Any) -> str:
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
        plan_key(_label(st_model), precision), sum(min(len(t), cap) for t in sample), len(sample), seconds
    )
    return Throughput(tp.key, tp.chars_per_s * 0.75, tp.texts_per_s * 0.75, tp.measured_at)


def _announce_plan(
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
        key = plan_key(_label(st_model), precision)
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
            chars_per_row=_row_chars(data, st_model),
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


def _autocast(precision: str) -> AbstractContextManager[Any]:
    """bf16 autocast on the CPU for ``precision="bf16"`` (a no-op context otherwise, and on a GPU)."""
    import contextlib

    import torch

    if precision == "bf16" and not torch.cuda.is_available():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _eval_encoder(
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


def save_model(st_model: Any, out_dir: str | Path, progress: ProgressFn | None) -> Path:
    """Save a trained model into ``out_dir`` (progress stage "save"); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report(progress, "save", 0, 1)
    st_model.save(str(out))
    report(progress, "save", 1, 1)
    return out


def write_report(result: FinetuneReport, out_dir: str | Path) -> Path:
    """Write ``report.json`` and ``loss_curve.svg`` into ``out_dir``; return the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    (out / LOSS_CURVE_NAME).write_text(loss_curve_svg(result.loss_curve), encoding="utf-8")
    return path
