"""How long will it take? Throughput measured on this machine, estimates before long jobs, ETA during them.

A small calibration encodes a sample of the job's own texts (four batches) and stores the speed
in characters per second per (model, backend, precision, threads, machine) in a JSON file in the
user cache (``$EMBCORE_CACHE_DIR`` or ``~/.cache/embcore/throughput.json``), so later estimates
cost nothing. Characters rather than texts: a 1,000-character passage costs ~10x a 100-character
query. Fine-tuning is calibrated the same way with one training mini-batch.

Estimates are logged on the ``embcore.models.estimate`` logger at INFO, which this module enables, so
the CLI prints them before a job starts even without ``-v``; the app shows them as captions.
During a job, :func:`with_eta` rewrites a progress callback's stage to carry the time left.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcore.models.backends import default_threads, user_cache_dir
from embcore.progress import ProgressFn

if TYPE_CHECKING:
    from embcore.mining.config import MiningConfig
    from embcore.models.encoders import Encoder
    from embcore.store import Store

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)  # estimates are for the user: shown whenever logging has a handler

CALIBRATION_FILE = "throughput.json"
CALIBRATION_TEXTS = 128
"""Texts encoded by one calibration (four batches of 32, after a warm-up batch)."""
_FILE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Throughput:
    """Measured speed of one kind of work on this machine.

    Attributes:
        key: what was measured (model id, backend, precision, threads, machine).
        chars_per_s: characters processed per second.
        texts_per_s: texts per second on the calibration sample (for display).
        measured_at: ISO-8601 UTC time of the measurement.
    """

    key: str
    chars_per_s: float
    texts_per_s: float
    measured_at: str

    def seconds(self, chars: int) -> float:
        """Seconds to process ``chars`` characters."""
        return chars / max(self.chars_per_s, 1e-9)


# --------------------------------------------------------------------------------------------
# Formatting and maths
# --------------------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """``"about 40 s"``, ``"about 3 min"``, ``"about 1 h 20 min"`` (rounded to what matters)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 10:
        return "a few seconds"
    if seconds < 90:
        return f"about {int(round(seconds / 5.0) * 5)} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"about {int(round(minutes))} min"
    hours, rest = divmod(int(round(minutes)), 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


def total_chars(texts: Sequence[str], prompt: str | None = None) -> int:
    """Characters the encoder will see (prompt included)."""
    extra = len(prompt or "")
    return int(sum(len(t) + extra for t in texts))


def machine_key() -> str:
    """CPU model, usable cores and threads: a measurement is reused only on the same setup."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return f"{cpu}|cores={cores}|threads={default_threads()}"


def calibration_sample(texts: Sequence[str], n: int = CALIBRATION_TEXTS, seed: int = 0) -> list[str]:
    """A seeded random sample of ``texts`` (all of them when there are fewer than ``n``)."""
    texts = [t for t in texts if t]
    if len(texts) <= n:
        return list(texts)
    idx = np.random.default_rng(seed).choice(len(texts), size=n, replace=False)
    return [texts[i] for i in sorted(idx)]


# --------------------------------------------------------------------------------------------
# The measurement cache
# --------------------------------------------------------------------------------------------


def _cache_path() -> Path:
    return user_cache_dir() / CALIBRATION_FILE


def load_measurements(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every stored measurement, ``{key: Throughput fields}`` (empty when none or unreadable)."""
    p = path or _cache_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_throughput(key: str, path: Path | None = None) -> Throughput | None:
    """The stored measurement for ``key``, if any."""
    rec = load_measurements(path).get(key)
    if not isinstance(rec, dict):
        return None
    try:
        return Throughput(**rec)
    except TypeError:
        return None


def store_throughput(tp: Throughput, path: Path | None = None) -> None:
    """Store (or replace) a measurement; a cache that cannot be written is only logged."""
    p = path or _cache_path()
    with _FILE_LOCK:
        data = load_measurements(p)
        data[tp.key] = asdict(tp)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(p)
        except OSError as exc:
            log.debug("could not store the throughput measurement in %s: %s", p, exc)


def measure(key: str, chars: int, n_texts: int, seconds: float) -> Throughput:
    """A :class:`Throughput` from one timed run."""
    seconds = max(seconds, 1e-6)
    return Throughput(
        key=key,
        chars_per_s=chars / seconds,
        texts_per_s=n_texts / seconds,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def encoder_key(encoder: Any, n_texts: int | None = None) -> str:
    """The measurement key of an encoder: model id, the backend a job of ``n_texts`` would use, machine
    (the backend's precision follows from the backend and the machine)."""
    plan = getattr(encoder, "plan", None)
    backend = plan(n_texts) if callable(plan) else type(encoder).__name__
    return f"encode|{encoder.model_id}|{backend}|{machine_key()}"


def encoding_throughput(
    encoder: Any,
    texts: Sequence[str],
    *,
    prompt: str | None = None,
    batch_size: int = 32,
    calibrate: bool = True,
) -> Throughput | None:
    """The encoder's measured speed on this machine: from the cache, or a calibration on ``texts``.

    The calibration encodes :data:`CALIBRATION_TEXTS` of ``texts`` (warm-up batch excluded) on the
    backend a job of ``len(texts)`` texts would use. ``calibrate=False`` only reads the cache.
    """
    n = len(texts)
    prepare = getattr(encoder, "fast_path", None)
    if calibrate and callable(prepare):
        prepare(n)  # build (export) the fast path first: the calibration must time what will run
    key = encoder_key(encoder, n)
    tp = cached_throughput(key)
    if tp is not None or not calibrate:
        return tp
    sample = calibration_sample(texts)
    if not sample:
        return None
    encoder.encode(sample[: min(batch_size, len(sample))], prompt=prompt, batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    encoder.encode(sample, prompt=prompt, batch_size=batch_size)
    tp = measure(key, total_chars(sample, prompt), len(sample), time.perf_counter() - t0)
    store_throughput(tp)
    log.debug("calibrated %s: %.0f chars/s, %.1f texts/s", key, tp.chars_per_s, tp.texts_per_s)
    return tp


@dataclass(frozen=True)
class Estimate:
    """A duration estimate and the sentence that says it."""

    seconds: float
    text: str


def estimate_encoding(
    encoder: Any,
    texts: Sequence[str],
    *,
    what: str = "texts",
    prompt: str | None = None,
    calibrate: bool = True,
) -> Estimate | None:
    """How long encoding ``texts`` will take, e.g. "encoding 6,751 passages with M (openvino): about 1 min".

    ``None`` when there is no measurement and ``calibrate`` is False.
    """
    tp = encoding_throughput(encoder, texts, prompt=prompt, calibrate=calibrate)
    if tp is None:
        return None
    seconds = tp.seconds(total_chars(texts, prompt))
    backend = encoder.plan(len(texts)) if callable(getattr(encoder, "plan", None)) else ""
    how = f" ({backend})" if backend else ""
    text = f"encoding {len(texts):,} {what} with {encoder.model_id}{how}: {format_duration(seconds)} on this machine"
    return Estimate(seconds, text)


def record_encoding(encoder: Any, texts: Sequence[str], seconds: float, *, prompt: str | None = None) -> None:
    """Store the speed of an encoding that really ran (>= 256 texts): the best calibration there is."""
    if len(texts) < 256 or seconds <= 0 or not hasattr(encoder, "model_id"):
        return
    try:
        store_throughput(
            measure(encoder_key(encoder, len(texts)), total_chars(texts, prompt), len(texts), seconds)
        )
    except Exception as exc:  # noqa: BLE001 - never fail the job for a measurement
        log.debug("could not record throughput: %s", exc)


def cheap_to_calibrate(encoder: Any, n_texts: int) -> bool:
    """Whether a calibration now would not trigger a model export (safe in a page render)."""
    plan = getattr(encoder, "plan", None)
    return not callable(plan) or getattr(encoder, "_fast", None) is not None or plan(n_texts) == "torch"


def mining_estimate(store: Store, pid: int, cfg: MiningConfig, encoder: Encoder | None) -> Estimate | None:
    """How long the encoding of a mining run of project ``pid`` will take (``None``: no model needed,
    or no measurement yet and none that can be made without exporting the model first).

    Texts already in the embedding cache are counted too: the estimate is an upper bound.
    """
    if encoder is None or not cfg.needs_embeddings():
        return None
    inp = store.mining_input(pid)
    texts = list(inp.passage_texts) + list(inp.query_texts)
    if not texts:
        return None
    return estimate_encoding(encoder, texts, what="texts", calibrate=cheap_to_calibrate(encoder, len(texts)))


def announce_encoding(
    encoder: Any, texts: Sequence[str], *, what: str = "texts", prompt: str | None = None
) -> None:
    """Log the estimate of a job of at least a few hundred texts before it starts (never fails the job)."""
    if len(texts) < 256 or not hasattr(encoder, "model_id"):
        return
    try:
        est = estimate_encoding(encoder, texts, what=what, prompt=prompt)
    except Exception as exc:  # noqa: BLE001 - an estimate must never stop the work
        log.debug("no estimate: %s", exc)
        return
    if est is not None:
        log.info("%s", est.text)


# --------------------------------------------------------------------------------------------
# Fine-tuning
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinetunePlan:
    """What a fine-tuning run will cost.

    Attributes:
        steps: optimiser steps.
        train_seconds: estimated training time.
        eval_seconds: estimated evaluation time (base + fine-tuned test, validation).
        text: one sentence for the user.
    """

    steps: int
    train_seconds: float
    eval_seconds: float
    text: str

    @property
    def seconds(self) -> float:
        """Total estimated seconds."""
        return self.train_seconds + self.eval_seconds


def finetune_plan(
    *,
    rows: int,
    batch_size: int,
    epochs: float,
    max_steps: int | None,
    chars_per_row: float,
    train_chars_per_s: float,
    eval_chars: int = 0,
    eval_passes: int = 0,
    eval_chars_per_s: float | None = None,
) -> FinetunePlan:
    """Estimate a fine-tuning run from measured speeds.

    Args:
        rows: training rows.
        batch_size: rows per step.
        epochs: epochs (ignored when ``max_steps`` is set).
        max_steps: optimiser steps, if capped.
        chars_per_row: mean characters of one row (query + positive + negatives, after truncation).
        train_chars_per_s: measured training speed (forward + backward, characters per second).
        eval_chars: characters of one evaluation (queries + corpus).
        eval_passes: how many evaluations (base, fine-tuned, validations).
        eval_chars_per_s: measured encoding speed for evaluation.
    """
    steps_per_epoch = max(1, math.ceil(rows / max(batch_size, 1)))
    steps = max_steps if max_steps else max(1, math.ceil(steps_per_epoch * epochs))
    train_rows = min(steps * batch_size, max(rows, 1) * math.ceil(steps / steps_per_epoch))
    train_seconds = train_rows * chars_per_row / max(train_chars_per_s, 1e-9)
    eval_seconds = (
        eval_passes * eval_chars / max(eval_chars_per_s or 1e-9, 1e-9) if eval_passes and eval_chars else 0.0
    )
    text = (
        f"fine-tuning {rows:,} rows: {steps} steps, {format_duration(train_seconds)} of training"
        + (f" + {format_duration(eval_seconds)} of evaluation" if eval_seconds else "")
        + " on this machine"
    )
    return FinetunePlan(steps, train_seconds, eval_seconds, text)


# --------------------------------------------------------------------------------------------
# ETA while running
# --------------------------------------------------------------------------------------------


class EtaTracker:
    """Time left in the current stage, from the rate since the stage's first report.

    ``clock`` is injectable for tests. The first report of a stage starts its clock (start-up
    costs such as loading a model are not counted as progress).
    """

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self._stage: str | None = None
        self._t0 = 0.0
        self._done0 = 0

    def update(self, stage: str, done: int, total: int) -> float | None:
        """Record a report; return the seconds left in ``stage`` (``None`` until there is a rate)."""
        now = self._clock()
        if stage != self._stage or done < self._done0:
            self._stage, self._t0, self._done0 = stage, now, done
            return None
        elapsed, progressed = now - self._t0, done - self._done0
        if progressed <= 0 or elapsed <= 0 or total <= 0:
            return None
        return max(0.0, (total - done) * elapsed / progressed)


def with_eta(progress: ProgressFn | None, *, clock: Any = time.perf_counter) -> ProgressFn | None:
    """Wrap ``progress`` so that each stage name carries the time left: ``"encode passages · about 2 min left"``.

    For displays that print the stage as given (the app's job panel); the CLI's bars compute
    their own ETA. Cancellation (a ``False`` return) passes through.
    """
    if progress is None:
        return None
    tracker = EtaTracker(clock)

    def _cb(stage: str, done: int, total: int) -> bool | None:
        left = tracker.update(stage, done, total)
        label = stage if left is None or done >= total else f"{stage} · {format_duration(left)} left"
        return progress(label, done, total)

    return _cb
