"""Fixtures shared by every test folder (helpers live in the ``support`` package)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.encoders import HashingEncoder
from support.exports import write_export
from support.fake_openai import SleepRecorder, fake_openai  # noqa: F401 - fake_openai: the shared fixture

# On a busy 2-core machine, spinning OpenMP threads made a training step ~8x slower; this only
# takes effect when torch has not been imported yet in this process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    """A tiny export (16 topics, 2 negatives a row, val + test splits)."""
    return write_export(tmp_path / "export")


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    """The deterministic hashing encoder (no model download)."""
    return HashingEncoder(dim=64)


@pytest.fixture
def no_sleep() -> SleepRecorder:
    """An injectable ``sleep`` that records delays instead of sleeping (fast backoff tests)."""
    return SleepRecorder()
