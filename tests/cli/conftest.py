"""Fixtures of the CLI tests."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests" / "review"):  # the package, and the review tests' mined sample
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
