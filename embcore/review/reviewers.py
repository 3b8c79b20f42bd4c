"""Reviewer names: what counts as one (the app asks for it at first visit; a login supplies it)."""

from __future__ import annotations

import re
import unicodedata

from embcore.errors import EmbcoreError

MAX_NAME = 60
_SPACE = re.compile(r"\s+")


def clean_name(name: str | None) -> str:
    """A reviewer name as stored: NFKC, control characters removed, spaces collapsed, at most 60 characters.

    Returns:
        The cleaned name ("" for an empty input).

    Raises:
        EmbcoreError: a name longer than 60 characters.
    """
    text = unicodedata.normalize("NFKC", str(name or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in " \t")
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_NAME:
        raise EmbcoreError(f"a reviewer name has at most {MAX_NAME} characters, got {len(text)}")
    return text
