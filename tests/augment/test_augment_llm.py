"""LLM augmentation over real HTTP against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from support.fake_openai import FakeOpenAI, Reply, SleepRecorder, free_port

from embcore.augment.llm import (
    TASKS,
    ChatClient,
    ChatRequest,
    LLMConfig,
    MemoryResponseCache,
    generate,
    merge_generated,
    parse_tasks,
)
from embcore.errors import CancelledError, EmbcoreError
from embcore.text import match_key

KEY = "sk-test-SECRET-0123456789"
SAMPLES = [
    {
        "id": "q1",
        "query": "What significant invention did NVIDIA create in 1999?",
        "pos": [
            "Our invention of the GPU in 1999 defined modern computer graphics and established NVIDIA as the leader."
        ],
        "neg": ["NVIDIA sells networking products."],
    },
    {
        "query": "How did the board return cash to shareholders in 2023?",
        "pos": ["In 2023 the board approved a $10 billion share repurchase program and raised the dividend."],
    },
]


def make_client(server: FakeOpenAI, sleep: SleepRecorder | None = None, cache=None, **kw) -> ChatClient:
    cfg = LLMConfig(
        base_url=server.url, model=kw.pop("model", "fake-7b"), api_key=kw.pop("api_key", KEY), **kw
    )
    return ChatClient(cfg, cache=cache, sleep=sleep or SleepRecorder())


def req(text: str) -> ChatRequest:
    return ChatRequest.of("system", text)


# ------------------------------------------------------------------ config


def test_config_from_env_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    cfg = LLMConfig.from_env(model="m")
    assert (cfg.base_url, cfg.model, cfg.api_key) == ("http://127.0.0.1:9/v1", "m", KEY)
    assert cfg.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    assert KEY not in repr(cfg) and KEY not in json.dumps(cfg.public_dict())
    assert LLMConfig.from_env(model="m", base_url="http://h:1", api_key="").api_key is None
    assert LLMConfig(base_url="http://h:1", model="m").endpoint == "http://h:1/v1/chat/completions"
    assert LLMConfig(base_url="http://h:1/v1/", model="m").endpoint == "http://h:1/v1/chat/completions"
    with pytest.raises(EmbcoreError, match="no LLM model name given: enter the name"):
        LLMConfig.from_env()
    with pytest.raises(EmbcoreError, match="LLM base URL must look like"):
        LLMConfig(base_url="localhost:8000", model="m")


def test_parse_tasks() -> None:
    assert parse_tasks("paraphrase,query_gen, neg-gen") == ["paraphrase", "query-gen", "neg-gen"]
    with pytest.raises(EmbcoreError, match="unknown LLM task 'summarise': choose from paraphrase, query-gen"):
        parse_tasks("summarise")


# ------------------------------------------------------------------ tasks end to end


def test_all_tasks_json_mode(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    res = generate(SAMPLES, list(TASKS), client, n=3, pivot="German")
    by_task: dict[str, list] = {}
    for it in res.items:
        by_task.setdefault(it.task, []).append(it)
    assert set(by_task) == set(TASKS)
    for it in res.items:
        assert it.origin == f"llm:{it.task}:fake-7b"
        assert it.parent in ("q1", 1)
        assert it.text and it.text == it.text.strip()
    assert {it.kind for it in by_task["paraphrase"]} == {"query"}
    assert {it.kind for it in by_task["pos-gen"]} == {"pos"}
    assert {it.kind for it in by_task["neg-gen"]} == {"neg"}
    assert len([i for i in by_task["query-gen"] if i.parent == "q1"]) == 3
    assert all(i.passage == SAMPLES[0]["pos"][0] for i in by_task["query-gen"] if i.parent == "q1")
    # hard negatives: same topic, changed detail, never the positive itself
    for it in by_task["neg-gen"]:
        src = SAMPLES[0] if it.parent == "q1" else SAMPLES[1]
        assert match_key(it.text) != match_key(src["pos"][0])
    # every request is a real OpenAI-style chat call with the key in the header only
    for r in fake_openai.requests:
        assert r["path"] == "/v1/chat/completions"
        assert r["headers"]["Authorization"] == f"Bearer {KEY}"
        assert r["body"]["model"] == "fake-7b"
        assert r["body"]["response_format"] == {"type": "json_object"}
        assert KEY not in json.dumps(r["body"])
    # 2 samples x 5 single-round tasks + 2 back-translations x 2 legs
    assert fake_openai.count == 2 * 5 + 2 * 2
    assert res.stats["requests"] == fake_openai.count


def test_back_translation_goes_through_the_pivot(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    res = generate(SAMPLES[:1], ["back-translate"], client, pivot="German")
    prompts = [r["body"]["messages"][-1]["content"] for r in fake_openai.requests]
    assert prompts[0].startswith("Translate the text into German.")
    assert prompts[1].startswith("Translate the text into English.") and "[GE] What significant" in prompts[1]
    assert len(res.items) == 1
    assert res.items[0].text == "Which thing significant invention has NVIDIA make in 1999?"
    # Chinese queries pivot through English by default
    generate([{"query": "英伟达在1999年发明了什么？"}], ["back-translate"], client)
    assert fake_openai.requests[2]["body"]["messages"][-1]["content"].startswith(
        "Translate the text into English."
    )
    assert fake_openai.requests[3]["body"]["messages"][-1]["content"].startswith(
        "Translate the text into Chinese."
    )


def test_rewrite_instruction_and_target(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    res = generate(SAMPLES, ["rewrite"], client, instruction="shorten", rewrite_target="pos")
    assert [it.kind for it in res.items] == ["pos", "pos"]
    assert "much shorter" in fake_openai.requests[0]["body"]["messages"][-1]["content"]
    res = generate(SAMPLES[:1], ["rewrite"], client, instruction="Write it as a tweet.")
    assert res.items[0].kind == "query"
    assert fake_openai.requests[-1]["body"]["messages"][-1]["content"].startswith("Write it as a tweet.")


@pytest.mark.parametrize("style", ["preamble", "bullets", "numbered", "fenced", "plain", "think", "bold"])
def test_json_mode_refused_falls_back_and_text_answers_parse(style: str) -> None:
    with FakeOpenAI(style=style, json_mode_supported=False) as server:
        client = make_client(server, max_workers=1)  # one at a time: exactly one 400
        res = generate(SAMPLES, ["paraphrase", "query-gen", "neg-gen"], client, n=3)
        first = server.requests[0]
        assert first["body"]["response_format"] == {"type": "json_object"}
        # one 400, then never again: the client remembers the server has no JSON mode
        assert sum("response_format" in r["body"] for r in server.requests) == 1
        assert client.stats["json_mode_fallbacks"] == 1
        assert server.count == 1 + 6
    with FakeOpenAI() as server:
        expected = generate(SAMPLES, ["paraphrase", "query-gen", "neg-gen"], make_client(server), n=3)
    assert [(i.parent, i.task, i.text) for i in res.items] == [
        (i.parent, i.task, i.text) for i in expected.items
    ]
    for it in res.items:
        low = it.text.lower()
        assert not low.startswith(("here are", "sure", "i hope", "note:", "<think>", "**")), it.text


def test_json_mode_fallback_under_concurrency() -> None:
    with FakeOpenAI(json_mode_supported=False, delay=0.05) as server:
        client = make_client(server, max_workers=3)
        answers = client.complete_many(
            [req(f"Write 2 paraphrases of this search query\nq{i}") for i in range(9)]
        )
        assert all(answers)
        with_json = sum("response_format" in r["body"] for r in server.requests)
        assert 1 <= with_json <= 3  # only the requests already in flight when the first 400 came
        assert server.count == 9 + with_json


def test_bad_request_without_json_mode_is_a_clear_error(
    fake_openai: FakeOpenAI, no_sleep: SleepRecorder
) -> None:
    fake_openai.enqueue(Reply(status=400), Reply(status=400))
    client = make_client(fake_openai, no_sleep)
    with pytest.raises(EmbcoreError, match=r"answered HTTP 400: scripted error 400"):
        client.complete(req("hi"))
    assert fake_openai.count == 2 and no_sleep.delays == []


# ------------------------------------------------------------------ retries and timeouts


def test_retry_with_exponential_backoff_then_success(
    fake_openai: FakeOpenAI, no_sleep: SleepRecorder
) -> None:
    fake_openai.enqueue(Reply(status=429), Reply(status=500), Reply(status=503))
    client = make_client(fake_openai, no_sleep, backoff_base=1.0, backoff_max=30.0)
    res = generate(SAMPLES[:1], ["paraphrase"], client, n=2)
    assert len(res.items) == 2
    assert fake_openai.count == 4
    assert client.stats["retries"] == 3
    assert len(no_sleep.delays) == 3
    for i, d in enumerate(no_sleep.delays):  # equal jitter: in [base*2^i / 2, base*2^i]
        assert 2**i / 2 <= d <= 2**i
    # seeded jitter: the same run again sleeps the same
    again = SleepRecorder()
    fake_openai.enqueue(Reply(status=429), Reply(status=500), Reply(status=503))
    make_client(fake_openai, again, backoff_base=1.0).complete(req("other"))
    assert again.delays == no_sleep.delays


def test_retry_after_header_is_honoured(fake_openai: FakeOpenAI, no_sleep: SleepRecorder) -> None:
    fake_openai.enqueue(Reply(status=429, headers={"Retry-After": "7"}))
    client = make_client(fake_openai, no_sleep, backoff_base=0.1, backoff_max=20)
    assert client.complete(req("Write 2 paraphrases of this search query"))
    assert no_sleep.delays == [7.0]


def test_retries_exhausted(fake_openai: FakeOpenAI, no_sleep: SleepRecorder) -> None:
    fake_openai.enqueue(*[Reply(status=502)] * 5)
    client = make_client(fake_openai, no_sleep, max_retries=2)
    with pytest.raises(EmbcoreError, match=r"failed after 3 attempts: HTTP 502"):
        client.complete(req("hi"))
    assert fake_openai.count == 3


def test_timeout_then_success(fake_openai: FakeOpenAI, no_sleep: SleepRecorder) -> None:
    fake_openai.enqueue(Reply(delay=1.5, content="too late"))
    client = make_client(fake_openai, no_sleep, timeout=0.3)
    t0 = time.monotonic()
    answer = client.complete(req("Write 3 paraphrases of this search query"))
    assert answer != "too late" and answer
    assert client.stats["retries"] == 1
    assert time.monotonic() - t0 < 1.4  # it did not wait for the slow answer


def test_timeout_exhausted(no_sleep: SleepRecorder) -> None:
    with FakeOpenAI(delay=1.0) as server:
        client = make_client(server, no_sleep, timeout=0.2, max_retries=1)
        with pytest.raises(EmbcoreError, match=r"failed after 2 attempts: timed out after 0.2s"):
            client.complete(req("hi"))
        assert server.count == 2


def test_dropped_connection_is_retried(fake_openai: FakeOpenAI, no_sleep: SleepRecorder) -> None:
    # a body shorter than its Content-Length: the client sees an incomplete read
    fake_openai.enqueue(Reply(body=b'{"choices": [', headers={"Content-Length": "999"}))
    client = make_client(fake_openai, no_sleep, timeout=2)
    assert client.complete(req("Write 2 paraphrases of this search query"))
    assert client.stats["retries"] == 1


# ------------------------------------------------------------------ concurrency and batching


@pytest.mark.parametrize("workers", [1, 3])
def test_concurrency_limit_is_honoured(workers: int) -> None:
    with FakeOpenAI(delay=0.25) as server:
        client = make_client(server, max_workers=workers)
        t0 = time.monotonic()
        answers = client.complete_many([req(f"question {i}") for i in range(9)])
        elapsed = time.monotonic() - t0
        assert len(answers) == 9 and all(answers)
        assert server.max_concurrent == workers
        assert server.count == 9
        assert elapsed >= 0.25 * 9 / workers * 0.9


def test_identical_requests_are_sent_once(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    answers = client.complete_many([req("same"), req("same"), req("other"), req("same")])
    assert fake_openai.count == 2
    assert answers[0] == answers[1] == answers[3]


def test_progress_and_cancel(fake_openai: FakeOpenAI) -> None:
    seen: list[tuple[str, int, int]] = []
    client = make_client(fake_openai, max_workers=1, cache=MemoryResponseCache())
    client.complete_many([req(f"q{i}") for i in range(4)], progress=lambda s, d, t: seen.append((s, d, t)))
    assert seen[0] == ("llm", 0, 4) and seen[-1] == ("llm", 4, 4)

    def stop_after_two(stage: str, done: int, total: int) -> bool:
        return done < 2

    with pytest.raises(CancelledError):
        client.complete_many([req(f"r{i}") for i in range(6)], progress=stop_after_two)
    time.sleep(0.1)
    assert fake_openai.count < 4 + 6  # the rest was cancelled
    assert len(client.cache) >= 4 + 2  # what arrived is cached


# ------------------------------------------------------------------ cache and key hygiene


def test_cache_hit_means_zero_requests_on_rerun(fake_openai: FakeOpenAI) -> None:
    cache = MemoryResponseCache()
    first = generate(
        SAMPLES, ["paraphrase", "query-gen", "back-translate"], make_client(fake_openai, cache=cache)
    )
    sent = fake_openai.count
    assert sent > 0 and len(cache) == sent
    rerun_client = make_client(fake_openai, cache=cache)
    second = generate(SAMPLES, ["paraphrase", "query-gen", "back-translate"], rerun_client)
    assert fake_openai.count == sent  # not one more request
    assert rerun_client.stats["cache_hits"] == sent
    assert second.items == first.items
    # another model or temperature is another request
    make_client(fake_openai, cache=cache, model="other-model").complete(
        req("Write 2 paraphrases of this search query")
    )
    assert fake_openai.count == sent + 1


def test_api_key_never_in_cache_keys_rows_or_logs(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    cache = MemoryResponseCache()
    fake_openai.enqueue(Reply(status=500))
    with caplog.at_level(logging.DEBUG):
        generate(SAMPLES, ["paraphrase", "neg-gen"], make_client(fake_openai, cache=cache))
    assert len(cache) > 0
    for key, (request_json, response) in cache.rows.items():
        assert KEY not in key and KEY not in request_json and KEY not in response
        record = json.loads(request_json)
        assert set(record) == {"endpoint", "model", "messages", "temperature", "params"}
    assert KEY not in caplog.text
    # the key does not change the cache key: a rerun with a rotated key is still free
    r = ChatRequest.of("s", "u")
    a = make_client(fake_openai, api_key="key-one").cache_key(r)
    b = make_client(fake_openai, api_key="key-two").cache_key(r)
    assert a == b
    assert make_client(fake_openai, temperature=0.1).cache_key(r) != a
    assert KEY not in repr(make_client(fake_openai))


def test_wrong_api_key_is_a_clear_error_without_the_key(no_sleep: SleepRecorder) -> None:
    with FakeOpenAI(api_key="the-right-key") as server:
        client = make_client(server, no_sleep)
        with pytest.raises(EmbcoreError) as exc:
            client.complete(req("hi"))
        assert "rejected the request (401): check the API key" in str(exc.value)
        assert KEY not in str(exc.value)
        assert server.count == 1  # not retried
        ok = make_client(server, no_sleep, api_key="the-right-key").complete(
            req("Write 2 paraphrases of this search query")
        )
        assert ok


@pytest.mark.parametrize("status", [401, 200, 503])
def test_key_echoed_by_a_server_is_redacted(
    fake_openai: FakeOpenAI, no_sleep: SleepRecorder, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    echo = json.dumps({"error": {"message": f"bad key {KEY} for this org"}})
    fake_openai.enqueue(*[Reply(status=status, body=echo)] * 3)
    with caplog.at_level(logging.DEBUG), pytest.raises(EmbcoreError) as exc:
        make_client(fake_openai, no_sleep, max_retries=2).complete(req("hi"))
    assert "bad key *** for this org" in str(exc.value)
    assert KEY not in str(exc.value) and KEY not in caplog.text


# ------------------------------------------------------------------ unreachable and garbage


def test_unreachable_endpoint(no_sleep: SleepRecorder) -> None:
    port = free_port()
    cfg = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key=KEY)
    client = ChatClient(cfg, sleep=no_sleep)
    with pytest.raises(EmbcoreError) as exc:
        generate(SAMPLES, ["paraphrase"], client)
    assert (
        str(exc.value)
        == f"cannot reach LLM endpoint http://127.0.0.1:{port}/v1/chat/completions : connection refused"
    )
    assert KEY not in str(exc.value)
    assert "\n" not in str(exc.value)


def test_wrong_path_is_a_404_hint(fake_openai: FakeOpenAI, no_sleep: SleepRecorder) -> None:
    cfg = LLMConfig(base_url=f"http://127.0.0.1:{fake_openai.port}/api", model="m")
    with pytest.raises(EmbcoreError, match="answered 404: check the base URL"):
        ChatClient(cfg, sleep=no_sleep).complete(req("hi"))
    # a base URL without a path gets /v1
    cfg = LLMConfig(base_url=f"http://127.0.0.1:{fake_openai.port}", model="m")
    assert ChatClient(cfg, sleep=no_sleep).complete(req("Write 2 paraphrases of this search query"))


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (
            Reply(body="<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
            "non-JSON response \\(text/html\\): '<html>",
        ),
        (Reply(body="this is not json at all"), "non-JSON response"),
        (Reply(body='{"object": "list", "data": []}'), "without choices\\[0\\].message"),
        (Reply(body='{"error": {"message": "model overloaded"}}'), "returned an error: model overloaded"),
        (Reply(body='{"choices": []}'), "without choices"),
    ],
)
def test_garbage_responses(fake_openai: FakeOpenAI, reply: Reply, match: str) -> None:
    fake_openai.enqueue(reply)
    with pytest.raises(EmbcoreError, match=match):
        generate(SAMPLES[:1], ["paraphrase"], make_client(fake_openai))


@pytest.mark.parametrize(
    "content", ["", None, "Sure!", "Here are three questions:", "```\n```", '{"items": []}']
)
def test_nothing_usable_is_an_error(fake_openai: FakeOpenAI, content: str | None) -> None:
    fake_openai.enqueue(Reply(content=content), Reply(content=content))
    with pytest.raises(EmbcoreError, match="returned nothing usable for 2 requests"):
        generate(SAMPLES, ["paraphrase"], make_client(fake_openai))


def test_some_unusable_answers_are_counted_not_fatal(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Reply(content="I'm sorry, I can't help with that:"))
    cache = MemoryResponseCache()
    res = generate(SAMPLES, ["paraphrase"], make_client(fake_openai, max_workers=1, cache=cache), n=2)
    assert res.stats["tasks"]["paraphrase"] == {"requests": 2, "unusable": 1, "items": 2}
    assert {it.parent for it in res.items} == {1}


def test_source_texts_and_duplicates_are_dropped(fake_openai: FakeOpenAI) -> None:
    q = SAMPLES[0]["query"]
    fake_openai.enqueue(
        Reply(content=json.dumps({"items": [q, q.upper(), "Who made the GPU?", "who made the gpu?"]}))
    )
    res = generate(SAMPLES[:1], ["paraphrase"], make_client(fake_openai), n=4)
    assert [it.text for it in res.items] == ["Who made the GPU?"]


# ------------------------------------------------------------------ linkage


def test_merge_generated_links_everything_to_its_parent(fake_openai: FakeOpenAI) -> None:
    res = generate(SAMPLES, ["paraphrase", "query-gen", "pos-gen", "neg-gen"], make_client(fake_openai), n=2)
    merged = merge_generated(SAMPLES, res.items)
    head, new = merged[: len(SAMPLES)], merged[len(SAMPLES) :]
    assert head[0]["id"] == "q1" and head[0]["query"] == SAMPLES[0]["query"]
    assert head[0]["pos"][0] == SAMPLES[0]["pos"][0] and len(head[0]["pos"]) == 3
    assert head[0]["pos_origin"] == ["data", "llm:pos-gen:fake-7b", "llm:pos-gen:fake-7b"]
    assert head[0]["neg_origin"] == ["data", "llm:neg-gen:fake-7b", "llm:neg-gen:fake-7b"]
    assert SAMPLES[0]["pos"] == [SAMPLES[0]["pos"][0]]  # inputs not modified
    ids = {s.get("id", i) for i, s in enumerate(SAMPLES)}
    assert new and all(s["parent"] in ids for s in new)
    assert all(s["origin"].startswith(("llm:paraphrase:", "llm:query-gen:")) for s in new)
    for s in new:
        src = SAMPLES[0] if s["parent"] == "q1" else SAMPLES[1]
        assert s["pos"] == src["pos"]  # a paraphrase or a question about the same passage
        assert "id" not in s
    qg = [s for s in new if s["origin"].startswith("llm:query-gen") and s["parent"] == "q1"]
    assert qg and all(s["neg"] == [] for s in qg)
    para = [s for s in new if s["origin"].startswith("llm:paraphrase") and s["parent"] == "q1"]
    assert para and all(s["neg"] == SAMPLES[0]["neg"] for s in para)


def test_concurrent_generate_calls_share_a_client_safely() -> None:
    with FakeOpenAI(delay=0.05) as server:
        client = make_client(server, max_workers=2)
        results: list = []

        def run() -> None:
            results.append(generate(SAMPLES, ["paraphrase"], client, n=2))

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 3
        assert results[0].items == results[1].items == results[2].items
        assert client.stats["requests"] == server.count
