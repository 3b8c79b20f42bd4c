"""Cleaning one cell: its texts (list cells give several), missing values and null-like texts."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from embcore.text import clean_text


def cell_texts(value: Any) -> list[str]:
    """Clean one cell; list-valued cells (JSON arrays, Parquet lists) give several texts."""
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list | tuple):
        out = []
        for v in value:
            out.extend(cell_texts(v))
        return out
    if isinstance(value, dict):
        value = value.get("text", json.dumps(value, ensure_ascii=False))
    text = clean_text(value)
    return [text] if text else []


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


class Cells:
    """Cleans cells, treating null-like texts ("NaN", "null", ...) as missing and counting them."""

    def __init__(self, nulls: frozenset[str]) -> None:
        self.nulls = nulls
        self.hits: dict[str, dict[str, int]] = {}  # column -> null-like text -> cells

    def texts(self, value: Any, column: str) -> list[str]:
        texts = cell_texts(value)
        keep = [t for t in texts if t not in self.nulls]
        if len(keep) < len(texts):
            per = self.hits.setdefault(column, {})
            for t in texts:
                if t in self.nulls:
                    per[t] = per.get(t, 0) + 1
        return keep

    def missing(self, values: Sequence[Any]) -> bool:
        """True when every value is absent, empty or null-like (not merely empty after cleaning)."""
        for v in values:
            if is_missing(v):
                continue
            texts = cell_texts(v)
            if not texts or any(t not in self.nulls for t in texts):
                return False
        return True


def missing_what(value: Any) -> str:
    if is_missing(value):
        return "empty cell"
    texts = cell_texts(value)
    return f"{texts[0]!r} counts as missing" if texts else "empty cell"
