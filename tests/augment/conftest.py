from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/augment has no __init__.py: make embcore (repo root) and fake_openai importable under any
# pytest import mode, installed package or not
_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1]), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fake_openai import SleepRecorder, fake_openai  # noqa: E402, F401 - fake_openai: the shared fixture


@pytest.fixture
def no_sleep() -> SleepRecorder:
    return SleepRecorder()
