"""Test support shared by every test folder: fake encoder, tiny exports, the fake OpenAI-compatible
server, app and browser helpers, mining inputs, the review tests' mined sample (importable as
``support.*``: pytest puts ``tests/`` on the path, see ``[tool.pytest.ini_options] pythonpath``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository."""
SAMPLE = ROOT / "embcore" / "data" / "sample_qa.csv"
"""The bundled sample dataset."""
FIXTURES = ROOT / "tests" / "fixtures"
"""Small data files in every format and encoding."""
