"""Cut documents into chunks: sentences, paragraphs, whole documents or token windows.

Every :class:`Chunk` keeps its provenance: the document id and title, the heading path in force
where it starts, and ``[start, end)`` character offsets into the document's extracted text. Its
``text`` is that span cleaned (:func:`embcore.text.clean_text`), which is what becomes a passage.
Headings are kept out of sentence and paragraph chunks (they are in the heading path).

Sentences: English ends at ``.`` ``!`` ``?`` (plus closing quotes / brackets) followed by a space
and an upper-case letter, digit or opening quote, except after abbreviations (``Mr.``, ``Inc.``,
``e.g.``, ``U.S.``, month names, single initials) and inside numbers (``3.5``); Chinese / Japanese
end at ``。！？；`` (full and half width ``!?;`` after CJK) without a following space. A blank line
always ends a sentence.

Token windows are measured with the model's own tokenizer (offsets from a Hugging Face fast
tokenizer); the default window is the model's ``max_seq_length`` minus its special tokens, and a
window never ends inside a word when a word boundary is near.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from embcore.errors import EmbcoreError
from embcore.ingest.documents import Document
from embcore.text import clean_text

log = logging.getLogger(__name__)

ChunkMode = Literal["sentence", "paragraph", "document", "tokens"]
CHUNK_MODES: tuple[str, ...] = ("sentence", "paragraph", "document", "tokens")
MIN_CHUNK_CHARS = 20
"""Chunks shorter than this (after cleaning) are dropped and counted (page numbers, stray labels)."""

OffsetsFn = Callable[[str], list[tuple[int, int]]]
"""Token character offsets of a text (no special tokens)."""


@dataclass(frozen=True)
class ChunkSpec:
    """How to chunk: ``mode`` and, for token windows, ``size`` (None = the model's maximum) and ``overlap``."""

    mode: ChunkMode = "paragraph"
    size: int | None = None
    overlap: int | None = None
    min_chars: int = MIN_CHUNK_CHARS

    @classmethod
    def parse(cls, spec: str | None) -> ChunkSpec:
        """``sentence`` | ``paragraph`` | ``document`` | ``tokens`` | ``tokens:N`` | ``tokens:N:OVERLAP``.

        Raises:
            EmbcoreError: unknown mode or bad numbers (naming the allowed forms).
        """
        text = (spec or "paragraph").strip().lower()
        parts = text.split(":")
        mode = parts[0]
        allowed = "sentence, paragraph, document, tokens, tokens:N or tokens:N:OVERLAP"
        if mode not in CHUNK_MODES:
            raise EmbcoreError(f"unknown chunking {spec!r}; choose {allowed}")
        if mode != "tokens":
            if len(parts) > 1:
                raise EmbcoreError(f"chunking {spec!r}: only tokens takes numbers; choose {allowed}")
            return cls(mode)  # type: ignore[arg-type]
        if len(parts) > 3:
            raise EmbcoreError(f"chunking {spec!r}: choose {allowed}")
        try:
            size = int(parts[1]) if len(parts) > 1 and parts[1] else None
            overlap = int(parts[2]) if len(parts) > 2 and parts[2] else None
        except ValueError as exc:
            raise EmbcoreError(
                f"chunking {spec!r}: N and OVERLAP must be whole numbers, e.g. tokens:256:32"
            ) from exc
        if size is not None and size < 8:
            raise EmbcoreError(f"chunking {spec!r}: a token window needs at least 8 tokens")
        if overlap is not None and (overlap < 0 or (size is not None and overlap >= size)):
            raise EmbcoreError(f"chunking {spec!r}: the overlap must be >= 0 and smaller than the window")
        return cls("tokens", size, overlap)

    def label(self) -> str:
        if self.mode != "tokens":
            return self.mode
        return f"tokens:{self.size if self.size is not None else 'max'}:{self.overlap if self.overlap is not None else 'auto'}"


@dataclass
class Chunk:
    """A piece of a document.

    Attributes:
        key: ``doc_id#ordinal``, unique in a set of chunks.
        doc_id: the document's id.
        ordinal: 0-based position among the document's chunks.
        title: the document's title.
        heading_path: headings in force at ``start`` (outermost first).
        start: first character (offset into the document's extracted text).
        end: one past the last character.
        text: the span, cleaned: what becomes the passage.
        sentences: [start, end) spans (document offsets) of the chunk's sentences (for ICT).
    """

    key: str
    doc_id: str
    ordinal: int
    title: str
    heading_path: tuple[str, ...]
    start: int
    end: int
    text: str
    sentences: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class ChunkResult:
    """Chunks of a document set plus counts."""

    chunks: list[Chunk]
    spec: ChunkSpec
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- sentences

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt inc corp co ltd llc plc bros no nos vs etc al fig figs approx est
    dept univ assn govt jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    e.g i.e cf viz ca resp vol vols pp ed eds rev gen col lt sgt capt cmdr adm gov sen rep messrs
    u.s u.k u.n e.u u.s.a p.m a.m""".split()
)
_EN_END_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_CJK_END_RE = re.compile(r"[。！？；]+[”’」』）】]*|(?<=[\u3400-\u9fff])[!?;]+[”’」』）】]*")
_NEXT_START_RE = re.compile(r"\s+[\"'“‘(\[]*[A-Z0-9\u00c0-\u024f\u0400-\u04ff\u3400-\u9fff]")
_WORD_BEFORE_RE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the ``.`` at ``dot`` ends an abbreviation or an initial (no sentence end)."""
    m = _WORD_BEFORE_RE.search(text[max(0, dot - 12) : dot + 1])
    if not m:
        return False
    word = m.group(1).lower()
    if word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))  # U.S, e.g, i.e, N.Y


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of ``text[start:end]`` (offsets into ``text``), stripped."""
    end = len(text) if end is None else end
    cuts: set[int] = set()
    seg = text[start:end]
    for m in _CJK_END_RE.finditer(seg):
        cuts.add(start + m.end())
    for m in _EN_END_RE.finditer(seg):
        pos = start + m.end()
        if not _NEXT_START_RE.match(text, pos):
            continue
        if text[start + m.start()] == "." and m.end() - m.start() >= 1:
            dot = start + m.start()
            if text[dot : dot + 3] != "..." and _is_abbreviation(text, dot):
                continue
        cuts.add(pos)
    for m in re.finditer(r"\n\s*\n", seg):
        cuts.add(start + m.start())
    spans = []
    prev = start
    for cut in sorted(cuts) + [end]:
        if cut <= prev:
            continue
        s, e = _strip(text, prev, cut)
        if e > s:
            spans.append((s, e))
        prev = cut
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of a text, cleaned (English and Chinese rules; see the module docstring)."""
    return [clean_text(text[s:e]) for s, e in sentence_spans(text)]


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


# --------------------------------------------------------------------------- paragraphs and documents


def _body_spans(doc: Document) -> list[tuple[int, int]]:
    """Paragraph spans of a document, headings left out."""
    headings = set(doc.heading_spans())
    spans = []
    for m in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]*)*", doc.text):
        s, e = _strip(doc.text, m.start(), m.end())
        if e > s and (s, e) not in headings:
            spans.append((s, e))
    return spans


def _token_spans(text: str, offsets: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans of token windows of ``size`` tokens overlapping by ``overlap`` tokens."""
    toks = [(s, e) for s, e in offsets if e > s]
    n = len(toks)
    if n == 0:
        return []
    spans = []
    i = 0
    step_min = max(1, size - overlap)
    while i < n:
        j = min(n, i + size)
        # never end inside a word when a boundary is near (last quarter of the window)
        if j < n:
            k = j
            while k > i + size * 3 // 4 and toks[k - 1][1] == toks[k][0]:
                k -= 1
            if toks[k - 1][1] != toks[k][0]:
                j = k
        spans.append((toks[i][0], toks[j - 1][1]))
        if j >= n:
            break
        nxt = max(i + 1, j - overlap)
        # start the next window at a word start too
        while nxt < j and nxt > 0 and toks[nxt - 1][1] == toks[nxt][0]:
            nxt += 1
        i = nxt if nxt < j else i + step_min
    return spans


# --------------------------------------------------------------------------- the chunker


def chunk_documents(
    docs: Sequence[Document],
    spec: ChunkSpec,
    *,
    offsets: OffsetsFn | None = None,
    max_tokens: int | None = None,
) -> ChunkResult:
    """Chunk every document.

    Args:
        docs: the documents.
        spec: how to chunk.
        offsets: tokenizer offsets (``tokens`` mode; see :func:`model_tokenizer`).
        max_tokens: the model's window in tokens (default window size when ``spec.size`` is None).

    Raises:
        EmbcoreError: ``tokens`` mode without a tokenizer.
    """
    size = overlap = 0
    if spec.mode == "tokens":
        if offsets is None:
            raise EmbcoreError("token-window chunking needs the model's tokenizer")
        size = spec.size or max_tokens or 256
        overlap = spec.overlap if spec.overlap is not None else size // 8
        if overlap >= size:
            raise EmbcoreError(f"chunk overlap {overlap} must be smaller than the window {size}")
    chunks: list[Chunk] = []
    too_short = 0
    for doc in docs:
        text = doc.text
        if spec.mode == "document":
            spans = [_strip(text, 0, len(text))]
        elif spec.mode == "paragraph":
            spans = _body_spans(doc)
        elif spec.mode == "sentence":
            spans = [sp for s, e in _body_spans(doc) for sp in sentence_spans(text, s, e)]
        else:
            assert offsets is not None
            spans = _token_spans(text, offsets(text), size, overlap)
        ordinal = 0
        for s, e in spans:
            clean = clean_text(text[s:e])
            if len(clean) < spec.min_chars:
                too_short += 1
                continue
            sents = [sp for ps, pe in _paragraphs_in(text, s, e, doc) for sp in sentence_spans(text, ps, pe)]
            chunks.append(
                Chunk(
                    key=f"{doc.doc_id}#{ordinal}",
                    doc_id=doc.doc_id,
                    ordinal=ordinal,
                    title=doc.title,
                    heading_path=doc.heading_path(s),
                    start=s,
                    end=e,
                    text=clean,
                    sentences=sents,
                )
            )
            ordinal += 1
    per_doc: dict[str, int] = {}
    for c in chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    stats = {
        "mode": spec.label(),
        "chunks": len(chunks),
        "too_short_dropped": too_short,
        "documents_without_chunks": sum(1 for d in docs if d.doc_id not in per_doc),
        "mean_chars": round(sum(len(c.text) for c in chunks) / len(chunks), 1) if chunks else 0.0,
    }
    if spec.mode == "tokens":
        stats.update(window_tokens=size, overlap_tokens=overlap)
    return ChunkResult(chunks, spec, stats)


def _paragraphs_in(text: str, s: int, e: int, doc: Document) -> list[tuple[int, int]]:
    """Paragraph spans inside [s, e) (blank lines split; heading lines left out)."""
    headings = set(doc.heading_spans())
    out = []
    for m in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]*)*", text[s:e]):
        ps, pe = _strip(text, s + m.start(), s + m.end())
        if pe > ps and (ps, pe) not in headings:
            out.append((ps, pe))
    return out


def model_tokenizer(model: Any) -> tuple[OffsetsFn, int]:
    """Token offsets and window size (``max_seq_length`` minus special tokens) of a sentence-transformers model.

    Raises:
        EmbcoreError: the model has no fast (offset-giving) tokenizer.
    """
    tok = getattr(model, "tokenizer", None)
    if tok is None or not getattr(tok, "is_fast", False):
        raise EmbcoreError("token-window chunking needs a model with a fast Hugging Face tokenizer")
    max_len = int(getattr(model, "max_seq_length", None) or getattr(tok, "model_max_length", 512))
    special = (
        int(tok.num_special_tokens_to_add(pair=False)) if hasattr(tok, "num_special_tokens_to_add") else 2
    )

    def offsets(text: str) -> list[tuple[int, int]]:
        enc = tok(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(a), int(b)) for a, b in enc["offset_mapping"]]

    return offsets, max(8, max_len - special)
