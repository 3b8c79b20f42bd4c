from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# On a busy 2-core machine, spinning OpenMP threads made a training step ~8x slower; this only
# takes effect when torch has not been imported yet in this process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_HERE = Path(__file__).resolve().parents[1] / "evaluate"
_ROOT = _HERE.parents[1]
for p in (str(_ROOT), str(_HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from _export_fixture import write_export  # noqa: E402


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    """A tiny export (16 topics, 2 negatives a row, val + test splits)."""
    return write_export(tmp_path / "export")
