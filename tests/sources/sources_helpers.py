"""Paths shared by the documents / search-log tests (imported by name: ``from sources_helpers import DOCS``)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DOCS = FIXTURES / "docs"
DOCS_BAD = FIXTURES / "docs_bad"
