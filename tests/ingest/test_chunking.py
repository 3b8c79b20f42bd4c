"""Chunking: sentence rules (English, Chinese), paragraphs without headings, offsets, token windows."""

from __future__ import annotations

import re

import pytest
from support.sources import DOCS

from embcore.errors import EmbcoreError
from embcore.ingest.chunking import ChunkSpec, chunk_documents, split_sentences
from embcore.ingest.documents import read_documents
from embcore.text import clean_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Revenue grew 3.5% in 2023. The U.S. Treasury raised rates. Mr. Smith of Acme Inc. resigned! Did it? Yes.",
            [
                "Revenue grew 3.5% in 2023.",
                "The U.S. Treasury raised rates.",
                "Mr. Smith of Acme Inc. resigned!",
                "Did it?",
                "Yes.",
            ],
        ),
        (
            "Sales fell in Jan. 2024, e.g. in Europe. J. Smith left.",
            ["Sales fell in Jan. 2024, e.g. in Europe.", "J. Smith left."],
        ),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("version 2.0.1 shipped. next", ["version 2.0.1 shipped. next"]),  # lower-case next word: no break
        (
            "公司收入增长了3.5%。我们在美国设有工厂！是否盈利？是的；下一句",
            ["公司收入增长了3.5%。", "我们在美国设有工厂!", "是否盈利?", "是的;", "下一句"],
        ),
        ("First paragraph without a stop\n\nSecond one.", ["First paragraph without a stop", "Second one."]),
    ],
)
def test_sentence_splitting(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_paragraph_chunks_keep_provenance_and_offsets() -> None:
    ds = read_documents(DOCS)
    res = chunk_documents(ds.documents, ChunkSpec.parse("paragraph"))
    docs = {d.doc_id: d for d in ds.documents}
    assert res.stats["chunks"] == len(res.chunks) > 15
    headings = {h.text for d in ds.documents for h in d.headings}
    for c in res.chunks:
        doc = docs[c.doc_id]
        assert clean_text(doc.text[c.start : c.end]) == c.text  # offsets point into the extracted text
        assert c.text not in headings  # headings are in the path, not in chunks
        assert c.heading_path == doc.heading_path(c.start)
        assert c.key == f"{c.doc_id}#{c.ordinal}"
    currency = next(c for c in res.chunks if c.text.startswith("Approximately 42%"))
    assert currency.heading_path[-1] == "Currency" and len(currency.sentences) == 3


def test_sentence_and_document_modes() -> None:
    ds = read_documents(DOCS)
    sent = chunk_documents(ds.documents, ChunkSpec.parse("sentence"))
    assert any(
        c.text
        == "Acme operates 14 manufacturing plants and employed approximately 12,400 people at the end of the fiscal year."
        for c in sent.chunks
    )
    assert sent.stats["too_short_dropped"] > 0  # e.g. "Revenue 2023 | $3.6 billion" stays, stubs go
    doc = chunk_documents(ds.documents, ChunkSpec.parse("document"))
    assert len(doc.chunks) == len(ds.documents)


def _ws_offsets(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def test_token_windows_with_overlap() -> None:
    ds = read_documents(DOCS)
    gamma = [d for d in ds.documents if d.doc_id == "gamma_risk_factors.txt"]
    res = chunk_documents(gamma, ChunkSpec.parse("tokens:20:5"), offsets=_ws_offsets)
    doc = gamma[0]
    words = [doc.text[s:e] for s, e in _ws_offsets(doc.text)]
    assert res.stats["window_tokens"] == 20 and res.stats["overlap_tokens"] == 5
    for a, b in zip(res.chunks, res.chunks[1:], strict=False):
        assert len(a.text.split()) <= 20
        assert b.start < a.end  # windows overlap
        assert a.text.split()[-5:] == b.text.split()[:5]
    assert " ".join(c.text for c in res.chunks).split()[-1] == words[-1]  # the end is covered


def test_token_window_default_is_the_models_maximum() -> None:
    ds = read_documents(DOCS)
    res = chunk_documents(ds.documents, ChunkSpec.parse("tokens"), offsets=_ws_offsets, max_tokens=50)
    assert res.stats["window_tokens"] == 50 and res.stats["overlap_tokens"] == 6


@pytest.mark.parametrize(
    "spec", ["lines", "paragraph:3", "tokens:abc", "tokens:4", "tokens:64:64", "tokens:1:2:3"]
)
def test_bad_chunk_specs(spec: str) -> None:
    with pytest.raises(EmbcoreError, match="chunking|choose"):
        ChunkSpec.parse(spec)


def test_tokens_mode_needs_a_tokenizer() -> None:
    ds = read_documents(DOCS)
    with pytest.raises(EmbcoreError, match="tokenizer"):
        chunk_documents(ds.documents, ChunkSpec.parse("tokens"))


@pytest.mark.integration
def test_token_windows_measured_with_the_bundled_models_tokenizer() -> None:
    from embcore.ingest.chunking import model_tokenizer
    from embcore.models.encoders import load_encoder

    model = load_encoder(None).model
    offsets, window = model_tokenizer(model)
    assert window == model.max_seq_length - 2
    ds = read_documents(DOCS)
    res = chunk_documents(ds.documents, ChunkSpec.parse("tokens:32:4"), offsets=offsets)
    for c in res.chunks:
        n = len(model.tokenizer(c.text, add_special_tokens=False)["input_ids"])
        assert n <= 32 + 2, (n, c.text)  # cleaning may merge a token or two
