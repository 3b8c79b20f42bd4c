"""Queries for chunks written by an LLM, through the OpenAI-compatible client of :mod:`embcore.augment.llm`.

N queries per chunk, in the chunk's language, in several styles (a short keyword query, a natural
question, a long specific question), from one editable prompt template. The template's fields
are ``{passage}``, ``{title}``, ``{n}``, ``{language}`` and ``{styles}`` (plain replacement: other
braces are left alone). Answers are parsed leniently (JSON, fenced JSON, numbered lists, chatty
preambles; :func:`embcore.augment.parse.parse_items`); an answer that gives nothing usable is
counted, and only a run where *no* answer was usable is an error. Every answer is cached in DuckDB
(keyed without the API key), so a rerun costs no request. There is no default endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embcore.augment.llm import SYSTEM_PROMPT, ChatClient, ChatRequest, _clip, _snippet, language_name
from embcore.augment.parse import parse_items
from embcore.errors import EmbcoreError
from embcore.ingest.chunking import Chunk
from embcore.ingest.pseudo_queries import PseudoQuery
from embcore.progress import ProgressFn
from embcore.text import match_key

log = logging.getLogger(__name__)

STYLES: dict[str, str] = {
    "keyword": "a short keyword query (2-6 words, no question mark)",
    "question": "a natural question, as a person would ask it",
    "long": "a long, specific question (15-30 words) that names the context it is about",
}
"""Query styles and how the prompt describes each."""

DEFAULT_PROMPT = (
    'Passage:\n"""\n{passage}\n"""\n'
    "Document: {title}\n\n"
    "Write {n} diverse questions or search queries in {language} that a user could type into a search "
    "engine and that this passage answers. Write them in this order of styles, repeating the list when "
    "needed: {styles}. Use only information in the passage, make each one understandable without the "
    "passage, and do not copy long phrases from it. "
    'Return JSON: {"items": [...]} with exactly {n} strings.'
)
"""The default prompt template (shown and editable on the Data page)."""

FIELDS = ("{passage}", "{title}", "{n}", "{language}", "{styles}")


@dataclass
class LLMQueryConfig:
    """Settings of LLM query generation.

    Attributes:
        n: queries per chunk.
        styles: style names from :data:`STYLES`, assigned in order to the n queries (round robin).
        prompt: the template (:data:`DEFAULT_PROMPT` when empty).
        max_chars: chunks are clipped to this many characters in the prompt.
    """

    n: int = 3
    styles: tuple[str, ...] = ("keyword", "question", "long")
    prompt: str = ""
    max_chars: int = 3000

    def validate(self) -> LLMQueryConfig:
        """Raises EmbcoreError on n < 1, an unknown style or a template without ``{passage}``."""
        if self.n < 1:
            raise EmbcoreError(f"queries per chunk must be >= 1, got {self.n}")
        unknown = [s for s in self.styles if s not in STYLES]
        if unknown or not self.styles:
            raise EmbcoreError(
                f"unknown query style {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(STYLES)}"
            )
        if self.prompt and "{passage}" not in self.prompt:
            raise EmbcoreError("the LLM prompt template must contain {passage} (where the chunk goes)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "styles": list(self.styles),
            "prompt": self.prompt or DEFAULT_PROMPT,
            "max_chars": self.max_chars,
        }


def style_of(i: int, cfg: LLMQueryConfig) -> str:
    """The style asked for the i-th query of a chunk."""
    return cfg.styles[i % len(cfg.styles)]


def render_prompt(chunk: Chunk, cfg: LLMQueryConfig) -> str:
    """The user prompt for one chunk."""
    template = cfg.prompt or DEFAULT_PROMPT
    styles = "; ".join(f"{i + 1}. {STYLES[style_of(i, cfg)]}" for i in range(cfg.n))
    title = (
        " > ".join([chunk.title, *chunk.heading_path]) if chunk.title or chunk.heading_path else "(untitled)"
    )
    values = {
        "{passage}": _clip(chunk.text, cfg.max_chars),
        "{title}": title,
        "{n}": str(cfg.n),
        "{language}": language_name(chunk.text),
        "{styles}": styles,
    }
    out = template
    for k in FIELDS:
        out = out.replace(k, values[k])
    return out


def llm_queries(
    chunks: Sequence[Chunk],
    client: ChatClient,
    cfg: LLMQueryConfig | None = None,
    *,
    progress: ProgressFn | None = None,
) -> tuple[list[PseudoQuery], dict[str, Any]]:
    """Ask the LLM for ``cfg.n`` queries per chunk.

    Returns:
        (queries with method ``llm:<style>``, stats: requests, answers without a usable item, queries,
        client statistics).

    Raises:
        EmbcoreError: endpoint errors (one line, redacted), or no answer at all gave a usable query.
    """
    cfg = (cfg or LLMQueryConfig()).validate()
    reqs = [ChatRequest.of(SYSTEM_PROMPT, render_prompt(c, cfg)) for c in chunks]
    answers = client.complete_many(reqs, progress=progress, stage="llm queries")
    out: list[PseudoQuery] = []
    unusable = 0
    first_bad: str | None = None
    for c, ans in zip(chunks, answers, strict=True):
        items = parse_items(ans, max_items=cfg.n)
        seen = {match_key(c.text)}
        kept = 0
        for i, text in enumerate(items):
            k = match_key(text)
            if not text or k in seen:
                continue
            seen.add(k)
            style = style_of(i, cfg)
            out.append(
                PseudoQuery(
                    [c.key], f"llm:{style}", text, [c.text], c.doc_id, extra={"model": client.config.model}
                )
            )
            kept += 1
        if not kept:
            unusable += 1
            first_bad = first_bad if first_bad is not None else ans
    stats = {
        "requests": len(reqs),
        "unusable_answers": unusable,
        "queries": len(out),
        "model": client.config.model,
        "client": dict(client.stats),
    }
    if reqs and not out:
        raise EmbcoreError(
            f"the LLM at {client.config.endpoint} (model {client.config.model}) returned no usable query for "
            f"{len(reqs)} chunks; first answer: '{_snippet(first_bad or '')}'"
        )
    if unusable:
        log.warning("LLM queries: %d of %d answers gave no usable query", unusable, len(reqs))
    return out, stats


JUDGE_PROMPT = (
    'Query:\n{query}\n\nPassage:\n"""\n{passage}\n"""\n\n'
    "How well does the passage answer the query? Score 1 (not at all) to 5 (fully and specifically). "
    'Return JSON: {"score": <1-5>}.'
)


def judge_scores(
    pairs: Sequence[tuple[str, str]],
    client: ChatClient,
    *,
    max_chars: int = 3000,
    progress: ProgressFn | None = None,
) -> list[float | None]:
    """LLM judge: a 1-5 score per (query, passage) pair (None where the answer held no score)."""
    import json
    import re

    reqs = [
        ChatRequest.of(
            SYSTEM_PROMPT,
            JUDGE_PROMPT.replace("{query}", q).replace("{passage}", _clip(p, max_chars)),
            temperature=0.0,
        )
        for q, p in pairs
    ]
    answers = client.complete_many(reqs, progress=progress, stage="llm judge")
    out: list[float | None] = []
    for ans in answers:
        score = None
        try:
            obj = json.loads(ans)
            if isinstance(obj, dict) and isinstance(obj.get("score"), int | float):
                score = float(obj["score"])
        except ValueError:
            m = re.search(r"\b([1-5](?:\.\d+)?)\b", ans or "")
            score = float(m.group(1)) if m else None
        out.append(score if score is None or 1 <= score <= 5 else None)
    return out
