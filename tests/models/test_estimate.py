"""Estimate maths, the throughput cache, ETA, and the fine-tuning speed helpers (no model)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.encoders import HashingEncoder

from embcore.errors import EmbcoreError
from embcore.models import estimate
from embcore.models.estimate import (
    EtaTracker,
    Throughput,
    cached_throughput,
    estimate_encoding,
    finetune_plan,
    format_duration,
    store_throughput,
    with_eta,
)
from embcore.training.data import build_training_data
from embcore.training.defaults import DEFAULT_EXPLANATIONS, DEFAULTS
from embcore.training.speed import fit_max_seq_length, resolve_eval_val, resolve_precision

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBCORE_CACHE_DIR", str(tmp_path / "cache"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_format_duration_rounds_to_what_matters() -> None:
    assert format_duration(3) == "a few seconds"
    assert format_duration(42) == "about 40 s"
    assert format_duration(180) == "about 3 min"
    assert format_duration(61 * 60) == "about 1 h 1 min"
    assert format_duration(120 * 60) == "about 2 h"
    assert format_duration(float("nan")) == "unknown"


def test_throughput_seconds_scale_with_characters() -> None:
    tp = Throughput("k", chars_per_s=1000.0, texts_per_s=10.0, measured_at="now")
    assert tp.seconds(60_000) == pytest.approx(60.0)


def test_measurements_are_cached_per_key_and_survive_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    store_throughput(Throughput("a", 10.0, 1.0, "t"), path)
    store_throughput(Throughput("b", 20.0, 2.0, "t"), path)
    assert cached_throughput("a", path).chars_per_s == 10.0
    assert cached_throughput("b", path).chars_per_s == 20.0
    assert cached_throughput("c", path) is None
    path.write_text("{not json")
    assert cached_throughput("a", path) is None
    store_throughput(Throughput("a", 5.0, 1.0, "t"), path)  # a broken file is replaced, not fatal
    assert cached_throughput("a", path).chars_per_s == 5.0


def test_encoding_estimate_calibrates_once_then_reads_the_cache() -> None:
    enc = HashingEncoder()
    texts = [f"passage number {i} about revenue and costs" for i in range(500)]
    est = estimate_encoding(enc, texts, what="passages")
    assert est is not None and est.seconds > 0 and "encoding 500 passages with fake-hashing" in est.text
    calls = enc.calls
    again = estimate_encoding(enc, texts, what="passages")
    assert enc.calls == calls  # no second calibration
    assert again is not None and again.seconds == pytest.approx(est.seconds)
    # twice the characters, twice the time
    double = estimate_encoding(enc, [t + " " + t + "x" for t in texts], what="passages")
    assert double is not None and double.seconds == pytest.approx(2 * est.seconds, rel=0.05)


def test_no_estimate_without_a_measurement_when_calibration_is_off() -> None:
    assert estimate_encoding(HashingEncoder(model_id="never-measured"), ["a"] * 10, calibrate=False) is None


def test_announce_logs_the_estimate_before_a_long_job(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="embcore.models.estimate"):
        estimate.announce_encoding(HashingEncoder(), ["some text"] * 300, what="queries")
        estimate.announce_encoding(HashingEncoder(), ["short job"] * 5, what="queries")
    lines = [r.getMessage() for r in caplog.records if r.name == "embcore.models.estimate"]
    assert len(lines) == 1 and lines[0].startswith("encoding 300 queries") and "on this machine" in lines[0]


def test_finetune_plan_counts_steps_rows_and_evaluations() -> None:
    plan = finetune_plan(
        rows=800,
        batch_size=32,
        epochs=1,
        max_steps=None,
        chars_per_row=1000,
        train_chars_per_s=4000,
        eval_chars=200_000,
        eval_passes=2,
        eval_chars_per_s=20_000,
    )
    assert plan.steps == 25
    assert plan.train_seconds == pytest.approx(800 * 1000 / 4000)
    assert plan.eval_seconds == pytest.approx(2 * 200_000 / 20_000)
    assert plan.seconds == pytest.approx(plan.train_seconds + plan.eval_seconds)
    assert "800 rows: 25 steps" in plan.text and "of evaluation" in plan.text
    capped = finetune_plan(
        rows=800, batch_size=32, epochs=3, max_steps=5, chars_per_row=1000, train_chars_per_s=4000
    )
    assert capped.steps == 5 and capped.train_seconds == pytest.approx(5 * 32 * 1000 / 4000)
    assert capped.eval_seconds == 0 and "evaluation" not in capped.text
    two = finetune_plan(
        rows=800, batch_size=32, epochs=2, max_steps=None, chars_per_row=1000, train_chars_per_s=4000
    )
    assert two.steps == 50 and two.train_seconds == pytest.approx(2 * 800 * 1000 / 4000)


def test_eta_uses_the_rate_since_the_stage_started() -> None:
    clock = Clock()
    eta = EtaTracker(clock)
    assert eta.update("encode", 0, 100) is None  # the stage's clock starts
    clock.now = 10.0
    assert eta.update("encode", 20, 100) == pytest.approx(40.0)
    clock.now = 20.0
    assert eta.update("encode", 60, 100) == pytest.approx(40 / 3)
    assert eta.update("train", 1, 25) is None  # a new stage starts its own clock


def test_with_eta_puts_the_time_left_in_the_stage_and_passes_cancel_through() -> None:
    clock = Clock()
    seen: list[str] = []

    def progress(stage: str, done: int, total: int) -> bool:
        seen.append(stage)
        return done < 50

    cb = with_eta(progress, clock=clock)
    assert cb("encode passages", 0, 100) is True
    clock.now = 30.0
    assert cb("encode passages", 10, 100) is True
    clock.now = 60.0
    assert cb("encode passages", 50, 100) is False  # cancel passes through
    assert seen[0] == "encode passages"
    assert seen[1] == "encode passages · about 4 min left" and seen[2] == "encode passages · about 60 s left"
    assert with_eta(None) is None


# ------------------------------------------------------------------ fine-tuning speed helpers


class WordTokenizer:
    """Whitespace tokenizer with the call signature of a Hugging Face tokenizer."""

    def __call__(self, texts, truncation=False, padding=False):  # noqa: ANN001, ANN204
        return {"input_ids": [t.split() for t in texts]}


def test_fitted_length_is_the_longer_sides_percentile_rounded_up_and_capped() -> None:
    columns = {
        "anchor": ["w " * 10] * 100,
        "positive": ["w " * 30] * 99 + ["w " * 500],
        "negative_1": ["w " * 41] * 100,
    }
    length, sides = fit_max_seq_length(WordTokenizer(), columns, cap=256, percentile=99)
    assert sides["query"] == 10 and sides["passage"] == 41
    assert length == 48  # 41 rounded up to a multiple of 8
    assert fit_max_seq_length(WordTokenizer(), columns, cap=32)[0] == 32
    assert fit_max_seq_length(WordTokenizer(), columns, cap=256, percentile=100)[0] == 256


def test_default_number_of_negatives_is_capped_but_an_explicit_one_is_kept() -> None:
    records = [
        {"query": f"q{i}", "pos": [f"p{i}"], "neg": [f"n{i}_{j}" for j in range(7)]} for i in range(10)
    ]
    assert build_training_data(records, max_negatives=DEFAULTS.max_negatives).num_negatives == 3
    assert build_training_data(records, num_negatives=5, max_negatives=3).num_negatives == 5
    assert build_training_data(records).num_negatives == 7
    few = [{"query": f"q{i}", "pos": [f"p{i}"], "neg": [f"n{i}"]} for i in range(10)]
    assert build_training_data(few, max_negatives=3).num_negatives == 1  # never filled up to the cap


def test_validation_runs_only_when_it_adds_information() -> None:
    assert resolve_eval_val("auto", epochs=1, max_steps=None, test_follows=True) is False
    assert resolve_eval_val("auto", epochs=1, max_steps=None, test_follows=False) is True
    assert resolve_eval_val("auto", epochs=3, max_steps=None, test_follows=True) is True
    assert resolve_eval_val(True, epochs=1, max_steps=None, test_follows=True) is True
    with pytest.raises(EmbcoreError, match="eval_val"):
        resolve_eval_val("sometimes", epochs=1, max_steps=None, test_follows=True)


def test_precision_choices() -> None:
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") in ("fp32", "bf16")
    with pytest.raises(EmbcoreError, match="unknown precision 'fp16'"):
        resolve_precision("fp16")


def test_every_default_has_a_one_line_explanation() -> None:
    from dataclasses import fields

    names = {f.name for f in fields(DEFAULTS)} - {"seq_length_percentile"}
    assert names <= set(DEFAULT_EXPLANATIONS)
    assert all("\n" not in v and len(v) < 220 for v in DEFAULT_EXPLANATIONS.values())


# ------------------------------------------------------------------ estimates of real jobs (no model)


def test_mining_estimate_of_a_project_counts_its_passages_and_queries(tmp_path: Path) -> None:
    from embcore.mining.config import MiningConfig
    from embcore.store import Store
    from embcore.workflow import create_project

    sample = _ROOT / "embcore" / "data" / "sample_qa.csv"
    with Store(tmp_path / "db.duckdb") as store:
        pid = create_project(store, sample).project_id
        inp = store.mining_input(pid)
        enc = HashingEncoder(model_id="estimate-test")
        est = estimate.mining_estimate(store, pid, MiningConfig(strategies=["dense"]), enc)
        n = len(inp.passage_texts) + len(inp.query_texts)
        assert est is not None and est.text.startswith(f"encoding {n:,} texts with estimate-test")
        assert estimate.mining_estimate(store, pid, MiningConfig(strategies=["random"]), enc) is None


def test_finetune_estimate_needs_a_measurement_then_scales_with_the_export(tmp_path: Path) -> None:
    from support.exports import write_export

    from embcore.models.encoders import model_label
    from embcore.training.speed import finetune_estimate, plan_key, resolve_precision

    root = write_export(tmp_path / "export", num_neg=2)
    assert finetune_estimate(root) is None  # nothing measured on this machine yet
    key = plan_key(model_label(None), resolve_precision(DEFAULTS.precision))
    store_throughput(Throughput(key, chars_per_s=100.0, texts_per_s=1.0, measured_at="t"))
    plan = finetune_estimate(root, batch_size=4, epochs=2)
    assert plan is not None and plan.steps == 8  # 16 rows, batch 4, 2 epochs
    assert plan.train_seconds > 0 and "fine-tuning 16 rows: 8 steps" in plan.text
    half = finetune_estimate(root, batch_size=4, epochs=1)
    assert half is not None and half.train_seconds == pytest.approx(plan.train_seconds / 2)
