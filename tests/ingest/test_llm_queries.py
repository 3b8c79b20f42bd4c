"""LLM queries end to end over real HTTP against the fake OpenAI-compatible server (malformed answers too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.fake_openai import Reply, SleepRecorder
from support.sources import DOCS

from embcore.augment.llm import ChatClient, LLMConfig, MemoryResponseCache
from embcore.cli import main
from embcore.errors import EmbcoreError
from embcore.ingest.chunking import ChunkSpec, chunk_documents
from embcore.ingest.documents import read_documents
from embcore.ingest.llm_queries import (
    DEFAULT_PROMPT,
    LLMQueryConfig,
    judge_scores,
    llm_queries,
    render_prompt,
)


@pytest.fixture(scope="module")
def chunks():
    ds = read_documents(DOCS)
    return chunk_documents(ds.documents, ChunkSpec.parse("paragraph")).chunks


def client(server, cache=None) -> ChatClient:
    return ChatClient(
        LLMConfig(base_url=server.url, model="fake-7b", max_retries=1), cache=cache, sleep=SleepRecorder()
    )


def test_queries_per_chunk_in_styles_and_language(fake_openai, chunks) -> None:
    some = chunks[:3] + [c for c in chunks if c.doc_id == "delta_zh.txt"][:1]
    qs, stats = llm_queries(some, client(fake_openai), LLMQueryConfig(n=3))
    assert stats["requests"] == 4 and stats["unusable_answers"] == 0
    assert [q.method for q in qs[:3]] == ["llm:keyword", "llm:question", "llm:long"]
    assert all(q.positives == [next(c.text for c in some if c.key == q.chunk_keys[0])] for q in qs)
    sent = [r["body"]["messages"][-1]["content"] for r in fake_openai.requests]  # in any order (4 workers)
    prompts = [next(p for p in sent if c.text in p) for c in some]
    assert "in English" in prompts[0] and "in Chinese" in prompts[3]
    assert "a short keyword query" in prompts[0]
    assert "Acme Industrial Corp. Annual Report 2023 > Item 1. Business" in prompts[0]


def test_malformed_answers_are_counted_and_cached_answers_cost_nothing(fake_openai, chunks) -> None:
    fake_openai.enqueue(
        Reply(content="I'm sorry, I cannot help with that."),
        Reply(content='```json\n{"items": ["What does Acme make?", "Where does Acme sell?"]}\n```'),
        Reply(body="this is not json at all", content_type="text/plain"),
    )
    cache = MemoryResponseCache()
    with pytest.raises(EmbcoreError):  # a body that is not JSON is an endpoint error (one clear line)
        llm_queries(
            chunks[:3],
            ChatClient(
                LLMConfig(base_url=fake_openai.url, model="m", max_retries=0, max_workers=1),
                sleep=SleepRecorder(),
            ),
            LLMQueryConfig(n=2),
        )
    fake_openai.enqueue(
        Reply(content="Sure! Here you go:\n1. \n2. "),
        Reply(content='{"items": ["How many plants does Acme operate?"]}'),
    )
    cl = ChatClient(
        LLMConfig(base_url=fake_openai.url, model="m", max_workers=1), cache=cache, sleep=SleepRecorder()
    )
    qs, stats = llm_queries(chunks[:2], cl, LLMQueryConfig(n=2))
    assert stats["unusable_answers"] == 1 and [q.text for q in qs] == ["How many plants does Acme operate?"]
    before = fake_openai.count
    again, _ = llm_queries(
        chunks[:2], ChatClient(cl.config, cache=cache, sleep=SleepRecorder()), LLMQueryConfig(n=2)
    )
    assert fake_openai.count == before and [q.text for q in again] == [q.text for q in qs]


def test_nothing_usable_is_one_clear_error(fake_openai, chunks) -> None:
    fake_openai.enqueue(*[Reply(content="") for _ in range(2)])
    with pytest.raises(EmbcoreError, match="returned no usable query for 2 chunks"):
        llm_queries(
            chunks[:2],
            ChatClient(LLMConfig(base_url=fake_openai.url, model="m", max_workers=1), sleep=SleepRecorder()),
            LLMQueryConfig(n=2),
        )


def test_prompt_template_is_editable(fake_openai, chunks) -> None:
    cfg = LLMQueryConfig(
        n=2, prompt="Text: {passage}\nWrite {n} questions ({styles}) in {language}. Return JSON."
    )
    assert render_prompt(chunks[0], cfg).startswith("Text: " + chunks[0].text)
    llm_queries(chunks[:1], client(fake_openai), cfg)
    assert fake_openai.requests[-1]["body"]["messages"][-1]["content"].startswith("Text: ")
    with pytest.raises(EmbcoreError, match=r"\{passage\}"):
        LLMQueryConfig(prompt="no placeholder").validate()
    assert "{passage}" in DEFAULT_PROMPT


def test_judge_scores(fake_openai) -> None:
    fake_openai.enqueue(
        Reply(content='{"score": 4}'), Reply(content="I'd say 2 out of 5"), Reply(content="no idea")
    )
    cl = ChatClient(LLMConfig(base_url=fake_openai.url, model="m", max_workers=1), sleep=SleepRecorder())
    assert judge_scores([("q1", "p"), ("q2", "p"), ("q3", "p")], cl) == [4.0, 2.0, None]


def test_cli_builds_from_documents_with_llm_queries(fake_openai, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main([
        "build", "--docs", str(DOCS), "--out", str(out), "--queries", "llm", "--queries-per-chunk", "2",
        "--llm-base-url", fake_openai.url, "--llm-model", "fake-7b", "--negatives", "bm25", "--roundtrip", "bm25",
        "--roundtrip-k", "5", "--no-progress",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "quality gate kept" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"]["queries"]["llm"]["requests"] == manifest["sources"]["chunking"]["chunks"]
    assert set(manifest["sources"]["gate"]["by_method"]) == {"llm:keyword", "llm:question"}
    rows = [
        json.loads(x) for s in ("train", "val", "test") for x in (out / f"{s}.jsonl").read_text().splitlines()
    ]
    assert rows and all(r["query"].startswith(("What", "How", "Why", "Which", "When")) for r in rows)


def test_cli_llm_without_endpoint_is_refused_before_reading(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    rc = main(
        ["build", "--docs", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--queries", "ict,llm"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "need an endpoint" in err
    assert not (tmp_path / "o").exists()
