"""Fixtures for the mining tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # the package may not be pip-installed in a fresh checkout
    sys.path.insert(0, str(_ROOT))

from embcore.mining.types import MiningInput  # noqa: E402
from embcore.models.encoders import HashingEncoder  # noqa: E402

from ._data import tiny_input_data  # noqa: E402


@pytest.fixture
def tiny_input() -> MiningInput:
    """Ten passages, four queries, with a normalised-text duplicate of a positive (passage 5)."""
    return tiny_input_data()


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    """The deterministic hashing encoder (no model download)."""
    return HashingEncoder(dim=64)
