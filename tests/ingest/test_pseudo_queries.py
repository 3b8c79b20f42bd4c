"""Offline pseudo-queries: ICT (sentence out of its chunk) and title / heading -> chunk; seeded shares."""

from __future__ import annotations

import pytest
from support.sources import DOCS

from embcore.errors import EmbcoreError
from embcore.ingest.chunking import ChunkSpec, chunk_documents
from embcore.ingest.documents import read_documents
from embcore.ingest.pseudo_queries import ict_queries, parse_query_methods, title_queries
from embcore.text import match_key


@pytest.fixture(scope="module")
def chunked():
    ds = read_documents(DOCS)
    return chunk_documents(ds.documents, ChunkSpec.parse("paragraph")).chunks, {
        d.doc_id: d.text for d in ds.documents
    }


def test_ict_query_is_a_sentence_and_the_positive_excludes_it(chunked) -> None:
    chunks, texts = chunked
    qs, counts = ict_queries(chunks, texts, seed=1)
    by_key = {c.key: c for c in chunks}
    assert counts["queries"] == len(qs) > 10 and counts["too_few_sentences"] >= 1
    for q in qs:
        chunk = by_key[q.chunk_keys[0]]
        assert match_key(q.text) in match_key(chunk.text)
        assert match_key(q.text) not in match_key(q.positives[0])
        s, e = q.removed
        assert texts[q.doc_id][s:e].strip().startswith(q.text[:10])
        assert len(q.text.split()) >= 5 or q.doc_id == "delta_zh.txt"


def test_ict_is_seeded_and_order_independent(chunked) -> None:
    chunks, texts = chunked
    a, _ = ict_queries(chunks, texts, seed=7)
    b, _ = ict_queries(list(reversed(chunks)), texts, seed=7)
    c, _ = ict_queries(chunks, texts, seed=8)
    assert sorted(q.text for q in a) == sorted(q.text for q in b)
    assert sorted(q.text for q in a) != sorted(q.text for q in c)


def test_shares_and_per_chunk(chunked) -> None:
    chunks, texts = chunked
    full, _ = ict_queries(chunks, texts, seed=3)
    half, counts = ict_queries(chunks, texts, seed=3, share=0.5)
    assert 0 < counts["chunks_chosen"] < len(chunks)
    assert {q.text for q in half} <= {q.text for q in full} | {
        q.text for q in ict_queries(chunks, texts, seed=3, per_chunk=5)[0]
    }
    two, _ = ict_queries(chunks, texts, seed=3, per_chunk=2)
    assert len(two) > len(full)


def test_short_sentences_are_never_ict_queries(chunked) -> None:
    chunks, texts = chunked
    qs, _ = ict_queries(chunks, texts, seed=1, min_words=12)
    assert all(len(q.text.split()) >= 12 for q in qs if q.doc_id != "delta_zh.txt")


def test_title_queries(chunked) -> None:
    chunks, _ = chunked
    qs, counts = title_queries(chunks, seed=1)
    texts = {q.text: q for q in qs}
    cur = texts["Acme Industrial Corp. Annual Report 2023: Currency"]
    assert cur.positives[0].startswith("Approximately 42%")
    md = texts["Acme Industrial Corp. Annual Report 2023: Item 7. Management's Discussion and Analysis"]
    assert len(md.positives) == 2  # both chunks under that heading
    few, counts = title_queries(chunks, seed=1, max_title_positives=1)
    assert counts["too_many_chunks"] >= 3 and all(len(q.positives) == 1 for q in few)


def test_parse_query_methods() -> None:
    assert parse_query_methods("ict:0.7, title") == {"ict": 0.7, "title": 1.0}
    for bad in ("bm25", "ict:2", "ict:x", ""):
        with pytest.raises(EmbcoreError):
            parse_query_methods(bad)
