"""Fixtures of the training tests."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package may not be pip-installed in a fresh checkout
    sys.path.insert(0, str(ROOT))
