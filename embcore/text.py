"""Text normalisation and hashing shared by ingest, mining, review and export."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from typing import Any

# Zero-width and other invisible format characters that survive NFKC.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
_WS_RE = re.compile(r"\s+")


def _is_control(ch: str) -> bool:
    # Cc = control characters (keep whitespace controls: they become spaces), Cf = format
    cat = unicodedata.category(ch)
    return (cat == "Cc" and ch not in "\t\n\r\x0b\x0c") or cat == "Cf"


def clean_text(value: Any) -> str:
    """Normalise one cell to clean text.

    Steps: 1. NaN/None -> "". 2. Unicode NFKC. 3. drop zero-width / control / format
    characters. 4. collapse every whitespace run to one space and strip.

    Args:
        value: Any cell value (str, number, None, NaN).

    Returns:
        The cleaned string ("" for missing values).
    """
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    text = value if isinstance(value, str) else str(value)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE_RE.sub("", text)
    # isprintable() is False for every Cc / Cf character: a C-speed pre-check of the per-character scan
    if not text.isprintable() and any(_is_control(c) for c in text):
        text = "".join(c if not _is_control(c) else "" for c in text)
    return _WS_RE.sub(" ", text).strip()


def match_key(text: str) -> str:
    """Key used to decide that two texts are "the same" (negative == positive checks).

    Clean text, casefolded, with whitespace collapsed. Two passages that differ only in
    case, width forms, invisible characters or spacing get the same key.
    """
    return clean_text(text).casefold()


def text_hash(text: str) -> str:
    """Stable sha1 hex digest of the exact (already cleaned) text, used as a cache/dedup key."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cjk_ratio(text: str) -> float:
    """Fraction of non-space characters that are CJK ideographs (0.0 for empty text)."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    cjk = sum(1 for c in chars if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" or "\uf900" <= c <= "\ufaff")
    return cjk / len(chars)
