"""Safe LLM defaults: no endpoint means no LLM (never a public API), and credentials written
into the endpoint URL (``http://user:pw@host/v1``) never reach a log, stderr, a run record, the
LLM cache or a manifest."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from support.fake_openai import FakeOpenAI, SleepRecorder, free_port

from embcore.augment.llm import NO_ENDPOINT, ChatClient, ChatRequest, LLMConfig, resolve_base_url
from embcore.augment.project import AugmentConfig, StoreResponseCache, augment_project, generate_augmentations
from embcore.errors import EmbcoreError
from embcore.ingest.samples import Sample
from embcore.redact import redact_text, redact_url, split_credentials
from embcore.store import Store

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "embcore" / "data" / "sample_qa.csv"
PASSWORD = "Pa55-w0rd-7b1e"
USER = "alice"


def _samples(n: int = 4) -> list[Sample]:
    return [
        Sample(f"What did company {i} earn in 2024?", [f"Company {i} earned {i} million in 2024."])
        for i in range(n)
    ]


def _dump(store: Store) -> str:
    """Every value of every table (what a user would find in the DuckDB file)."""
    return "\n".join(store.all_values())


def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every HTTP request urllib would make."""
    calls: list[str] = []

    def _open(self, req, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(req.full_url if hasattr(req, "full_url") else str(req))
        raise AssertionError(f"unexpected HTTP request to {calls[-1]}")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", _open)
    return calls


# ------------------------------------------------------------------ no endpoint: no LLM


def test_no_endpoint_means_no_llm_and_no_public_api(
    monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    _no_env(monkeypatch)
    assert resolve_base_url(None) == "" and resolve_base_url("  ") == ""
    for make in (
        lambda: LLMConfig(model="m"),
        lambda: LLMConfig(base_url="", model="m"),
        lambda: LLMConfig.from_env(model="m"),
        lambda: LLMConfig.from_env(model="m", base_url="", env={}),
    ):
        with pytest.raises(EmbcoreError) as exc:
            make()
        assert str(exc.value) == NO_ENDPOINT
    assert "--" not in NO_ENDPOINT, "app language: no CLI flag in the message"
    with pytest.raises(EmbcoreError, match="LLM generation is off: no endpoint is set"):
        AugmentConfig(llm_tasks=["paraphrase"], llm_model="m").validate()
    with Store() as store:
        pid = store.create_project("p", _samples())
        with pytest.raises(EmbcoreError, match="no endpoint is set"):
            generate_augmentations(store, pid, AugmentConfig(llm_tasks=["neg-gen"], llm_model="m"))
        assert store.runs(pid).empty, "refused before anything was recorded"
    # a public API is used only when its URL is given explicitly
    explicit = LLMConfig(base_url="https://api.openai.com/v1", model="m")
    assert explicit.endpoint == "https://api.openai.com/v1/chat/completions"
    assert no_network == []


def test_cli_llm_without_endpoint_stops_before_anything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "embcore.cli", "build", str(SAMPLE), "--out", str(out), "--negatives", "random",
         "--llm", "paraphrase", "--llm-model", "m", "--no-progress"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("embcore: error: --llm needs an endpoint"), proc.stderr
    assert "--llm-base-url" in lines[0] and "api.openai.com" not in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------ redaction helpers


def test_redact_url_and_text() -> None:
    url = f"http://{USER}:{PASSWORD}@llm.local:8000/v1"
    assert redact_url(url) == "http://***@llm.local:8000/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("https://h/v1?api_key=abc123&x=1") == "https://h/v1?api_key=***&x=1"
    assert redact_url(None) is None and redact_url("") == ""
    assert redact_url(f"http://{USER}:a/b#{PASSWORD}@h:1/v1") == "http://***@h:1/v1"
    msg = f"cannot reach {url} (nonnumeric port: '{PASSWORD}@llm.local')"
    red = redact_text(msg, [PASSWORD])
    assert PASSWORD not in red and USER not in red and "llm.local" in red
    assert split_credentials(url) == ("http://llm.local:8000/v1", USER, PASSWORD)
    cfg = LLMConfig(base_url=url, model="m", api_key="sk-abcdef")
    for shown in (
        repr(cfg),
        str(cfg.public_dict()),
        cfg.endpoint,
        str(AugmentConfig(llm_base_url=url).to_dict()),
    ):
        assert PASSWORD not in shown and "sk-abcdef" not in shown


# ------------------------------------------------------------------ credentials in the URL


def _with_creds(server: FakeOpenAI) -> str:
    return f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/v1"


def test_url_credentials_are_sent_as_basic_auth_and_stored_nowhere(
    tmp_path: Path, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = LLMConfig(base_url=_with_creds(fake_openai), model="fake-model", max_retries=0)
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples())
        client = ChatClient(cfg, cache=StoreResponseCache(store, cfg.model))
        stats = augment_project(
            store,
            pid,
            AugmentConfig(llm_tasks=["paraphrase"], llm_n=2, llm_base_url=cfg.base_url),
            client=client,
        )
        assert stats["added"]["queries"] > 0
        dump = _dump(store)
        assert store.llm_cache_size() > 0
    # the server got the credentials in the Authorization header only, never in the URL
    auth = fake_openai.requests[0]["headers"]["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == f"{USER}:{PASSWORD}"
    assert all(PASSWORD not in r["path"] for r in fake_openai.requests)
    assert PASSWORD not in dump and "***@127.0.0.1" in dump  # runs.config keeps the redacted URL
    assert PASSWORD.encode() not in (tmp_path / "p.duckdb").read_bytes()
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("case", ["401", "unreachable", "bad-port"])
def test_errors_with_url_credentials_never_show_them(
    tmp_path: Path, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.DEBUG)
    if case == "401":
        fake_openai.api_key = "sk-the-right-key"  # basic auth is not enough: 401
        url = _with_creds(fake_openai)
    elif case == "unreachable":
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/v1"
    else:
        url = f"http://{USER}:x/{PASSWORD}@127.0.0.1:{free_port()}/v1"  # "/" in a password fools urlsplit
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples())
        cfg = AugmentConfig(llm_tasks=["paraphrase"], llm_model="m", llm_base_url=url)
        with pytest.raises(EmbcoreError) as exc:
            generate_augmentations(store, pid, cfg)
        dump = _dump(store)
        runs = store.runs(pid, "augment")
    assert PASSWORD not in str(exc.value)
    assert {"401": "rejected the request (401)", "unreachable": "cannot reach", "bad-port": "invalid port"}[
        case
    ] in str(exc.value)
    if case != "bad-port":
        assert runs["status"].tolist() == ["failed"] and runs["error"].iloc[0]
    assert PASSWORD not in dump
    assert PASSWORD.encode() not in (tmp_path / "p.duckdb").read_bytes()
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)


def test_a_server_echoing_credentials_is_redacted(fake_openai: FakeOpenAI) -> None:
    from support.fake_openai import Reply

    fake_openai.enqueue(
        Reply(status=403, body=f'{{"error": {{"message": "user {USER}:{PASSWORD} denied"}}}}')
    )
    client = ChatClient(
        LLMConfig(base_url=_with_creds(fake_openai), model="m", max_retries=0), sleep=SleepRecorder()
    )
    with pytest.raises(EmbcoreError) as exc:
        client.complete(ChatRequest.of(None, "hi"))
    assert PASSWORD not in str(exc.value) and "denied" in str(exc.value)


def test_cli_stderr_and_database_never_show_url_credentials(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_BASE_URL"] = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/v1"
    proc = subprocess.run(
        [sys.executable, "-m", "embcore.cli", "build", str(SAMPLE), "--out", str(out), "--negatives", "random",
         "--near-dup", "-2", "--relative-margin", "-1", "--llm", "paraphrase", "--llm-model", "m", "--no-progress"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "cannot reach LLM endpoint http://127.0.0.1:" in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stderr + proc.stdout
    # a build that fails removes the database it created (issue 9.11): no file of it keeps the password
    assert not (out / "embcore.duckdb").exists()
    for f in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert PASSWORD.encode() not in f.read_bytes(), f


def test_cli_llm_base_url_flag_with_credentials_leaves_no_trace(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """The endpoint typed explicitly (--llm-base-url) is used; its password is in no file of the build."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.run(
        [sys.executable, "-m", "embcore.cli", "build", str(SAMPLE), "--out", str(out), "--negatives", "random",
         "--near-dup", "-2", "--relative-margin", "-1", "--llm", "paraphrase", "--llm-model", "fake-model",
         "--llm-n", "2", "--augment-max-samples", "3", "--llm-base-url", _with_creds(fake_openai), "--no-progress"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert fake_openai.requests and fake_openai.requests[0]["headers"]["Authorization"].startswith("Basic ")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["augment"]["llm_base_url"] == f"http://***@127.0.0.1:{fake_openai.port}/v1"
    assert PASSWORD not in proc.stderr + proc.stdout
    for path in out.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    with Store(out / "embcore.duckdb") as store:
        assert PASSWORD not in _dump(store)
        assert (store.queries(1)["origin"].str.startswith("llm:paraphrase")).any()
