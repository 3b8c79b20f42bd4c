"""Text normalisation and hashing shared by ingest, mining, review and export."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from functools import lru_cache
from typing import Any

import numpy as np

# Zero-width and other invisible format characters that survive NFKC.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")


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
    if not text.isprintable():  # invisible, control and format characters are all non-printable
        text = _INVISIBLE_RE.sub("", text)
        if any(_is_control(c) for c in text):
            text = "".join(c if not _is_control(c) else "" for c in text)
    return " ".join(text.split())  # == collapse every whitespace run (str.isspace, as regex \s) and strip


def match_key(text: str) -> str:
    """Key used to decide that two texts are "the same" (negative == positive checks).

    Clean text, casefolded, with whitespace collapsed. Two passages that differ only in
    case, width forms, invisible characters or spacing get the same key.
    """
    return clean_text(text).casefold()


# Quote-like characters that are not Unicode punctuation (symbols, modifier letters, a combining
# accent left by NFKC of U+00B4): dropped like punctuation so "Chevron´s" = "Chevron's".
_QUOTE_LIKE = "`\u00b4\u02b9\u02bb\u02bc\u02bd\u02c8\u02ca\u02cb\u0301\u2032\u2033\u2035\u2212"


@lru_cache(maxsize=1)
def _equiv_drop_table() -> tuple[bytes, np.ndarray]:
    """What :func:`equivalence_key` drops: ASCII bytes to delete, and a BMP lookup table (True = drop)."""
    drop = np.zeros(0x10000, dtype=bool)
    for cp in range(0x10000):
        c = chr(cp)
        drop[cp] = unicodedata.category(c)[0] in "PZ" or c.isspace()
    for c in _QUOTE_LIKE:
        drop[ord(c)] = True
    ascii_drop = bytes(cp for cp in range(128) if drop[cp])
    return ascii_drop, drop


def equivalence_key(text: str) -> str:
    """Key deciding that two passages are "the same passage" for splits, negatives and the eval corpus.

    Stricter than nothing, looser than :func:`match_key`: clean text (NFKC, so full-/half-width
    forms agree), casefolded, with every punctuation mark (quotes, apostrophes, dashes,
    brackets, CJK punctuation), quote-like symbol and whitespace removed. "ITEM 6. [RESERVED]",
    "Item 6—Reserved" and "item 6 reserved" share one key; so do "Chevron’s" and "Chevron's",
    and "营业收入（2023年）" and "营业收入(2023 年)". A text made only of punctuation keeps its
    :func:`match_key`.
    """
    base = match_key(text)
    ascii_drop, drop = _equiv_drop_table()
    if base.isascii():
        key = base.encode("ascii").translate(None, ascii_drop).decode("ascii")
    else:
        codes = np.frombuffer(base.encode("utf-32-le"), dtype=np.uint32)
        bmp = codes < 0x10000
        keep = ~drop[np.where(bmp, codes, 0)] | ~bmp
        if not bmp.all():  # punctuation outside the BMP (rare): ask unicodedata
            keep &= np.array([unicodedata.category(chr(c))[0] not in "PZ" for c in codes.tolist()])
        key = codes[keep].tobytes().decode("utf-32-le")
    return key or base


def text_hash(text: str) -> str:
    """Stable sha1 hex digest of the exact (already cleaned) text, used as a cache/dedup key."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


_CJK_RE = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")


def cjk_ratio(text: str) -> float:
    """Fraction of non-space characters that are CJK ideographs (0.0 for empty text)."""
    if text.isascii():
        return 0.0
    n = len("".join(text.split()))
    if not n:
        return 0.0
    return len(_CJK_RE.findall(text)) / n
