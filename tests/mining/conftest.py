"""Fixtures for the mining tests."""

from __future__ import annotations

import pytest
from support.mining_data import tiny_input_data

from embcore.mining.types import MiningInput


@pytest.fixture
def tiny_input() -> MiningInput:
    """Ten passages, four queries, with a normalised-text duplicate of a positive (passage 5)."""
    return tiny_input_data()
