"""Offline pseudo-queries for chunks that have none (no LLM).

- **Inverse Cloze Task** (Lee et al., 2019): one sentence of a chunk is the query and the chunk
  *without that sentence* is the positive, so the model must match a sentence to its context, not
  to a copy of itself. Sentences that are too short (fewer than ``min_words`` words / twice as many
  CJK characters) or too long are never picked, and the rest of the chunk must stay long enough.
- **Title / heading -> chunk**: the document title with the most specific heading is the query
  and the chunk the positive. Headings shared by more than ``max_title_positives`` chunks are
  skipped (the query would be too vague to have a few right answers); chunks under one heading
  become one query with several positives.

Both are seeded: which chunks get a query (``share`` of the eligible ones) and which sentence is
picked depend only on the seed and the chunk, not on the order of the documents.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from embcore.errors import EmbcoreError
from embcore.ingest.chunking import Chunk
from embcore.text import cjk_ratio, clean_text, match_key

log = logging.getLogger(__name__)

_CJK_RE = re.compile("[\u3400-\u9fff\uf900-\ufaff]")

QUERY_METHODS: tuple[str, ...] = ("ict", "title", "llm")
"""What ``--queries`` accepts (with optional shares: ``ict:0.7,title:0.3``)."""


@dataclass
class PseudoQuery:
    """A query made for a chunk.

    Attributes:
        chunk_keys: the chunk(s) whose text is the positive (several for a heading shared by chunks).
        method: ``ict``, ``title``, ``llm:<style>``.
        text: the query.
        positives: the positive passage texts (for ICT: the chunk without the sentence).
        removed: ICT: [start, end) of the removed sentence in the document's text.
        doc_id: the source document.
    """

    chunk_keys: list[str]
    method: str
    text: str
    positives: list[str]
    doc_id: str
    removed: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_query_methods(spec: str | Sequence[str] | None) -> dict[str, float]:
    """``"ict,title"`` or ``"ict:0.7,title:0.3,llm"`` -> ``{method: share}`` (share 1.0 when not given).

    Raises:
        EmbcoreError: unknown method, share outside (0, 1], or nothing given.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec or [])
    out: dict[str, float] = {}
    for raw in items:
        raw = raw.strip().lower()
        if not raw:
            continue
        name, _, share = raw.partition(":")
        if name not in QUERY_METHODS:
            raise EmbcoreError(
                f"unknown query method {name!r}; choose from {', '.join(QUERY_METHODS)} (e.g. ict:0.7,title)"
            )
        try:
            value = float(share) if share else 1.0
        except ValueError as exc:
            raise EmbcoreError(
                f"query method {raw!r}: the share must be a number in (0, 1], e.g. ict:0.5"
            ) from exc
        if not 0 < value <= 1:
            raise EmbcoreError(f"query method {raw!r}: the share must be in (0, 1]")
        out[name] = value
    if not out:
        raise EmbcoreError(f"no query method given; choose from {', '.join(QUERY_METHODS)}")
    return out


def _rng(seed: int, *parts: str) -> random.Random:
    h = hashlib.sha256("\x1f".join((str(seed), *parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(h[:8], "little"))


def _chosen(seed: int, method: str, key: str, share: float) -> bool:
    """Seeded, order-independent draw: does this chunk (or group) get a ``method`` query?"""
    return share >= 1.0 or _rng(seed, method, "share", key).random() < share


def text_units(text: str) -> int:
    """Length in words, two CJK characters counting as one word."""
    cjk = len(_CJK_RE.findall(text))
    return len(_CJK_RE.sub(" ", text).split()) + (cjk + 1) // 2


def ict_queries(
    chunks: Sequence[Chunk],
    doc_texts: Mapping[str, str],
    *,
    seed: int = 42,
    share: float = 1.0,
    per_chunk: int = 1,
    min_words: int = 5,
    max_words: int = 64,
    min_rest_chars: int = 40,
) -> tuple[list[PseudoQuery], dict[str, int]]:
    """Inverse Cloze Task queries: up to ``per_chunk`` sentences per chosen chunk.

    Returns:
        (queries, counts: ``chunks_chosen``, ``too_few_sentences``, ``no_usable_sentence``, ``queries``).
    """
    out: list[PseudoQuery] = []
    counts = {"chunks_chosen": 0, "too_few_sentences": 0, "no_usable_sentence": 0, "queries": 0}
    for c in chunks:
        if not _chosen(seed, "ict", c.key, share):
            continue
        counts["chunks_chosen"] += 1
        text = doc_texts[c.doc_id]
        sents = [(s, e) for s, e in c.sentences if c.start <= s and e <= c.end]
        if len(sents) < 2:
            counts["too_few_sentences"] += 1
            continue
        usable = []
        for s, e in sents:
            q = clean_text(text[s:e])
            if min_words <= text_units(q) <= max_words:
                usable.append((s, e, q))
        if not usable:
            counts["no_usable_sentence"] += 1
            continue
        rng = _rng(seed, "ict", c.key)
        picks = rng.sample(usable, min(per_chunk, len(usable)))
        for s, e, q in sorted(picks):
            rest = clean_text(text[c.start : s] + "\n" + text[e : c.end])
            if len(rest) < min_rest_chars or match_key(rest) == match_key(q):
                continue
            out.append(PseudoQuery([c.key], "ict", q, [rest], c.doc_id, removed=(s, e)))
    counts["queries"] = len(out)
    return out, counts


def title_queries(
    chunks: Sequence[Chunk],
    *,
    seed: int = 42,
    share: float = 1.0,
    max_title_positives: int = 3,
) -> tuple[list[PseudoQuery], dict[str, int]]:
    """Title / heading -> chunk queries, one per (document, heading path) group.

    The query is ``"<title>: <last heading>"`` (the title alone for chunks before any heading;
    the heading alone when the document has no title). Groups with more than
    ``max_title_positives`` chunks are skipped and counted.
    """
    groups: dict[tuple[str, tuple[str, ...]], list[Chunk]] = {}
    for c in chunks:
        groups.setdefault((c.doc_id, c.heading_path), []).append(c)
    out: list[PseudoQuery] = []
    counts = {"groups": len(groups), "too_many_chunks": 0, "no_title": 0, "queries": 0}
    for (doc_id, path), members in groups.items():
        key = f"{doc_id}#{'/'.join(path)}"
        if not _chosen(seed, "title", key, share):
            continue
        title = clean_text(members[0].title)
        heading = clean_text(path[-1]) if path else ""
        if heading and title and match_key(heading) != match_key(title):
            query = f"{title}: {heading}"
        else:
            query = heading or title
        if not query:
            counts["no_title"] += 1
            continue
        if len(members) > max_title_positives:
            counts["too_many_chunks"] += 1
            continue
        out.append(PseudoQuery([c.key for c in members], "title", query, [c.text for c in members], doc_id))
    counts["queries"] = len(out)
    return out, counts


def language_of(text: str) -> str:
    """``zh`` for mostly-CJK text, else ``en`` (the languages the quality gate compares)."""
    return "zh" if cjk_ratio(text) >= 0.3 else "en"
