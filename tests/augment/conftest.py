from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/augment has no __init__.py: make embcore (repo root) and fake_openai importable under any
# pytest import mode, installed package or not
_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1]), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fake_openai import FakeOpenAI, SleepRecorder  # noqa: E402


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake OpenAI-compatible server on 127.0.0.1 (free port), stopped afterwards."""
    server = FakeOpenAI()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_sleep() -> SleepRecorder:
    return SleepRecorder()
