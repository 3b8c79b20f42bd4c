"""LLM-based augmentation through any OpenAI-compatible chat endpoint.

Two layers:

- :class:`ChatClient`: ``POST {base_url}/chat/completions`` with the standard library
  (``urllib``), JSON mode (``response_format={"type": "json_object"}``) with an automatic
  fallback when the server refuses it (HTTP 400), retries with exponential backoff and jitter
  on 429 / 5xx / timeouts / dropped connections (``Retry-After`` honoured), a concurrency limit
  (a thread pool of ``max_workers``), and a :class:`ResponseCache` keyed by a hash of
  ``(endpoint, model, messages, temperature, params)``: a rerun costs no request. The API key
  goes only into the ``Authorization`` header: never into a cache key, a cached row, a log line,
  an error message or ``repr(config)``.
- :func:`generate`: the augmentation tasks over samples (``{"query": str, "pos": [str], ...}``):

  ==============  ===========================================================  ===========
  task            what it makes                                                kind
  ==============  ===========================================================  ===========
  paraphrase      same-meaning rewordings of the query                         query
  query-gen       diverse questions a positive passage answers (InPars idea)   query
  pos-gen         new passages that answer the query (diversified positives)  pos
  neg-gen         hard negatives: same topic and style, a wrong key detail     neg
  back-translate  query -> pivot language -> back (two calls)                  query
  rewrite         instruction-driven rewrite (simplify, shorten, ...)          query / pos
  ==============  ===========================================================  ===========

  Every :class:`Generated` item carries ``parent`` (the source sample's id or index) and
  ``origin`` (``"llm:<task>:<model>"``); :func:`merge_generated` turns them into samples.

Errors a user can cause (unreachable endpoint, wrong key or URL, garbage answers, nothing
usable) raise :class:`~embcore.errors.EmbcoreError` with one clear line.

Safe defaults: there is no default endpoint. Without a base URL (given, or ``OPENAI_BASE_URL``)
:class:`LLMConfig` refuses to exist, so nothing is ever sent to a public API unless its URL was
typed on purpose. Credentials inside the base URL (``http://user:pw@host/v1``) are sent as HTTP
basic auth and never appear in a log line, an error, a run record or a cache row
(:mod:`embcore.redact`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from embcore import __version__
from embcore.augment.eda import sample_parent
from embcore.augment.lexicon import has_cjk
from embcore.augment.parse import parse_items, parse_single
from embcore.errors import EmbcoreError
from embcore.progress import ProgressFn, report
from embcore.redact import redact_text, redact_url, split_credentials, url_secrets
from embcore.text import clean_text, match_key

logger = logging.getLogger(__name__)

Task = Literal["paraphrase", "query-gen", "pos-gen", "neg-gen", "back-translate", "rewrite"]
TASKS: tuple[Task, ...] = get_args(Task)
Kind = Literal["query", "pos", "neg"]
BASE_URL_ENV = "OPENAI_BASE_URL"
#: Why LLM features are off when no endpoint is configured (one line, no CLI flag: the app shows it too).
NO_ENDPOINT = (
    "LLM generation is off: no endpoint is set. Nothing is sent to a public API by default; give the "
    "address of your own OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1) to turn it on."
)
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

#: Preset instructions for the ``rewrite`` task; any other string is used as the instruction.
REWRITE_PRESETS: dict[str, str] = {
    "simplify": "Rewrite the text in plain, simple words for a non-expert. Keep every fact, number and name.",
    "shorten": "Rewrite the text much shorter (about half the length). Keep the key facts, numbers and names.",
    "formal": "Rewrite the text in a formal, professional register. Keep every fact, number and name.",
    "casual": "Rewrite the text the way a person would type it casually into a search box. Keep the meaning.",
    "keywords": "Rewrite the text as a short keyword-style search query (no full sentence). Keep the meaning.",
}


def resolve_base_url(base_url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The endpoint to use: ``base_url`` when given, else ``$OPENAI_BASE_URL``, else ``""`` (LLM off).

    There is deliberately no fallback to a public API.
    """
    env = os.environ if env is None else env
    return (base_url or "").strip() or (env.get(BASE_URL_ENV) or "").strip()


# ---------------------------------------------------------------- cache


class ResponseCache(Protocol):
    """Cache of raw answers, keyed by :meth:`ChatClient.cache_key` (no API key in it).

    Called only from the thread that called :meth:`ChatClient.complete_many`, so an
    implementation on a single DuckDB connection is safe.
    """

    def get(self, key: str) -> str | None:
        """The cached answer text, or None."""
        ...

    def put(self, key: str, request_json: str, response: str) -> None:
        """Store ``response`` (the answer text) for ``key``; ``request_json`` is the keyed request."""
        ...


class MemoryResponseCache:
    """In-memory :class:`ResponseCache` (tests, one-off scripts). ``rows[key] = (request_json, response)``."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str]] = {}
        self.gets = 0
        self.puts = 0

    def get(self, key: str) -> str | None:
        self.gets += 1
        row = self.rows.get(key)
        return None if row is None else row[1]

    def put(self, key: str, request_json: str, response: str) -> None:
        self.puts += 1
        self.rows[key] = (request_json, response)

    def __len__(self) -> int:
        return len(self.rows)


# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to call the chat endpoint.

    Attributes:
        base_url: OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8000/v1`` (a URL with no
            path gets ``/v1``); requests go to ``{base_url}/chat/completions``. Required: there
            is no default (a public API is only called when its URL is given explicitly).
            ``user:password@`` in it is sent as basic auth and redacted everywhere.
        model: Model name sent in each request.
        api_key: Bearer token (None for servers without auth). Not shown by ``repr``.
        temperature: Sampling temperature for generation tasks.
        max_tokens: ``max_tokens`` per answer (None = server default).
        timeout: Seconds per HTTP attempt (connect + read).
        max_retries: Retries after the first attempt on 429 / 5xx / timeouts / dropped connections.
        backoff_base: First backoff delay in seconds; doubles each retry (with jitter).
        backoff_max: Cap on one backoff delay (also on a server's ``Retry-After``).
        max_workers: Requests in flight at once.
        json_mode: Ask for ``response_format={"type": "json_object"}``; dropped for the rest
            of the run when the server answers 400 to it.
        seed: Sent as the ``seed`` parameter when set (servers that honour it are reproducible).
    """

    base_url: str = ""
    model: str = ""
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.7
    max_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_workers: int = 4
    json_mode: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        if not (self.base_url or "").strip():
            raise EmbcoreError(NO_ENDPOINT)
        object.__setattr__(self, "base_url", self.base_url.strip())
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise EmbcoreError(
                f"LLM base URL must look like http://host:port/v1, got '{redact_url(self.base_url)}'"
            )
        try:
            parsed.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise EmbcoreError(f"LLM base URL has an invalid port: '{redact_url(self.base_url)}'") from None
        if not self.model:
            raise EmbcoreError("no LLM model name given: enter the name of a model your server serves")
        if self.max_workers < 1 or self.max_retries < 0 or self.timeout <= 0:
            raise EmbcoreError("LLM settings: max_workers must be >= 1, max_retries >= 0 and timeout > 0")

    @classmethod
    def from_env(
        cls,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> LLMConfig:
        """Explicit arguments first, then ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``OPENAI_MODEL``.

        Args:
            model: Model name (``--llm-model``).
            base_url: Base URL (default: ``OPENAI_BASE_URL``; there is no built-in default: with
                neither, :class:`~embcore.errors.EmbcoreError` with :data:`NO_ENDPOINT`).
            api_key: API key (default: env, else none; "" means no key even when the env has one).
            env: Environment to read (default ``os.environ``).
            **kwargs: Any other :class:`LLMConfig` field.
        """
        env = os.environ if env is None else env
        return cls(
            base_url=resolve_base_url(base_url, env),
            model=model or env.get("OPENAI_MODEL") or "",
            api_key=(api_key if api_key is not None else env.get("OPENAI_API_KEY")) or None,
            **kwargs,
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.public_dict().items() if k != "has_api_key")
        return f"LLMConfig({fields})"

    @property
    def credentials(self) -> tuple[str | None, str | None]:
        """``(user, password)`` written into the base URL (None when there are none)."""
        _, user, password = split_credentials(self.base_url)
        return user, password

    def secrets(self) -> list[str]:
        """Every secret this config holds (API key, URL credentials), for masking messages."""
        return [s for s in (self.api_key, *url_secrets(self.base_url)) if s]

    @property
    def endpoint(self) -> str:
        """The chat completions URL, without credentials (safe to log, show and key caches on)."""
        parts = urllib.parse.urlsplit(split_credentials(self.base_url)[0])
        path = parts.path.rstrip("/")
        if not path:
            path = "/v1"
        if not path.endswith("/chat/completions"):
            path += "/chat/completions"
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def public_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict for run records: everything but the API key."""
        return {
            "base_url": redact_url(self.base_url),
            "model": self.model,
            "has_api_key": bool(self.api_key),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "max_workers": self.max_workers,
            "json_mode": self.json_mode,
            "seed": self.seed,
        }


# ---------------------------------------------------------------- client


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request (what varies between calls; the rest is in :class:`LLMConfig`)."""

    messages: tuple[tuple[str, str], ...]  # ((role, content), ...)
    temperature: float | None = None  # None = config.temperature
    max_tokens: int | None = None  # None = config.max_tokens
    json_mode: bool | None = None  # None = config.json_mode

    @classmethod
    def of(cls, system: str | None, user: str, **kwargs: Any) -> ChatRequest:
        """A request with an optional system message and one user message."""
        msgs = ((("system", system),) if system else ()) + (("user", user),)
        return cls(messages=msgs, **kwargs)


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _HTTPStatus(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _snippet(data: bytes | str, limit: int = 120) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _error_message(body: bytes) -> str:
    try:
        obj = json.loads(body)
        err = obj.get("error", obj) if isinstance(obj, dict) else obj
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:300]
        return str(err)[:300]
    except (ValueError, AttributeError):
        return _snippet(body, 200)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ChatClient:
    """Calls an OpenAI-compatible ``/chat/completions`` endpoint; thread-safe.

    Args:
        config: Endpoint, model, key, retry and concurrency settings.
        cache: Optional :class:`ResponseCache`; hits cost no request.
        sleep: Called with each backoff delay (inject a fake in tests).
        rng: Source of backoff jitter (default ``random.Random(0)``: reproducible).
    """

    def __init__(
        self,
        config: LLMConfig,
        cache: ResponseCache | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self._sleep = sleep
        self._rng = rng or random.Random(0)
        self._lock = threading.Lock()
        self._json_ok = True
        host = urllib.parse.urlsplit(config.endpoint).hostname or ""
        # loopback servers are never reached through an HTTP(S)_PROXY from the environment
        handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
        self._opener = urllib.request.build_opener(*handlers)
        self.stats: dict[str, int] = {
            "requests": 0,
            "http_attempts": 0,
            "cache_hits": 0,
            "retries": 0,
            "json_mode_fallbacks": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }

    def __repr__(self) -> str:
        return f"ChatClient({self.config!r})"

    # -- keys and records (never contain the API key)

    def request_record(self, req: ChatRequest) -> dict[str, Any]:
        """The canonical request that is hashed and stored in the cache (no API key)."""
        return {
            "endpoint": self.config.endpoint,
            "model": self.config.model,
            "messages": [{"role": r, "content": c} for r, c in req.messages],
            "temperature": self.config.temperature if req.temperature is None else req.temperature,
            "params": {
                "max_tokens": self.config.max_tokens if req.max_tokens is None else req.max_tokens,
                "json_mode": self.config.json_mode if req.json_mode is None else req.json_mode,
                "seed": self.config.seed,
            },
        }

    @staticmethod
    def _canonical(record: Mapping[str, Any]) -> str:
        return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def cache_key(self, req: ChatRequest) -> str:
        """sha256 of the canonical request record (endpoint, model, messages, temperature, params)."""
        return hashlib.sha256(self._canonical(self.request_record(req)).encode("utf-8")).hexdigest()

    # -- one request

    def complete(self, req: ChatRequest) -> str:
        """One answer (from the cache when present). See :meth:`complete_many`."""
        return self.complete_many([req])[0]

    def complete_many(
        self, reqs: Sequence[ChatRequest], progress: ProgressFn | None = None, stage: str = "llm"
    ) -> list[str]:
        """Answers for many requests: cache first, the rest over at most ``max_workers`` threads.

        Identical requests are sent once. Answers are cached as they arrive (empty answers are
        not cached), so a run stopped halfway still saves what it got.

        Returns:
            ``answers[i]`` is the assistant message text for ``reqs[i]`` ("" when it had none).

        Raises:
            EmbcoreError: endpoint unreachable, auth/URL rejected, non-JSON or malformed
                responses, or retries exhausted. Requests not yet sent are cancelled.
            CancelledError: the progress callback asked to stop.
        """
        try:
            return self._complete_many(reqs, progress, stage)
        except EmbcoreError as exc:  # last line of defence: no secret in any message (type kept)
            exc.args = (self._redact(str(exc)),)
            raise

    def _complete_many(
        self, reqs: Sequence[ChatRequest], progress: ProgressFn | None, stage: str
    ) -> list[str]:
        total = len(reqs)
        results: list[str | None] = [None] * total
        pending: dict[str, list[int]] = {}
        records: dict[str, str] = {}
        for i, req in enumerate(reqs):
            record = self.request_record(req)
            canonical = self._canonical(record)
            key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            if key in pending:
                pending[key].append(i)
                continue
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                results[i] = hit
                self.stats["cache_hits"] += 1
                continue
            pending[key] = [i]
            records[key] = canonical
        done = sum(1 for r in results if r is not None)
        report(progress, stage, done, total)
        if pending:
            pool = ThreadPoolExecutor(
                max_workers=min(self.config.max_workers, len(pending)), thread_name_prefix="llm"
            )
            futures: dict[Future[str], str] = {
                pool.submit(self._call, reqs[idx[0]]): key for key, idx in pending.items()
            }
            ok = False
            try:
                not_done = set(futures)
                while not_done:
                    finished, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        key = futures[fut]
                        content = fut.result()
                        for i in pending[key]:
                            results[i] = content
                        if self.cache is not None and content.strip():
                            self.cache.put(key, records[key], content)
                        done += len(pending[key])
                        report(progress, stage, done, total)
                ok = True
            finally:
                pool.shutdown(wait=ok, cancel_futures=not ok)
        return [r if r is not None else "" for r in results]

    def _payload(self, req: ChatRequest, json_mode: bool) -> dict[str, Any]:
        rec = self.request_record(req)
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": rec["messages"],
            "temperature": rec["temperature"],
            "stream": False,
        }
        if rec["params"]["max_tokens"] is not None:
            payload["max_tokens"] = rec["params"]["max_tokens"]
        if self.config.seed is not None:
            payload["seed"] = self.config.seed
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        return payload

    def _call(self, req: ChatRequest) -> str:
        """One request with retries; returns the answer text."""
        cfg = self.config
        with self._lock:
            self.stats["requests"] += 1
        want_json = cfg.json_mode if req.json_mode is None else req.json_mode
        attempt = 0
        while True:
            use_json = bool(want_json and self._json_ok)
            try:
                return self._post(self._payload(req, use_json))
            except _HTTPStatus as exc:
                if exc.status == 400 and use_json:
                    logger.info(
                        "LLM endpoint refused JSON mode (%s); retrying without response_format", exc.message
                    )
                    with self._lock:
                        self._json_ok = False
                        self.stats["json_mode_fallbacks"] += 1
                    continue
                if exc.status not in RETRY_STATUSES:
                    raise self._fatal_status(exc) from None
                reason, retry_after = str(exc), exc.retry_after
            except _Retryable as exc:
                reason, retry_after = str(exc), exc.retry_after
            if attempt >= cfg.max_retries:
                raise EmbcoreError(
                    f"LLM endpoint {cfg.endpoint} failed after {attempt + 1} attempts: {reason}"
                ) from None
            delay = min(cfg.backoff_max, cfg.backoff_base * (2**attempt))
            with self._lock:
                delay = delay / 2 + self._rng.uniform(0, delay / 2)  # "equal jitter"
                self.stats["retries"] += 1
            if retry_after is not None:
                delay = min(cfg.backoff_max, max(delay, retry_after))
            logger.warning(
                "LLM request failed (%s); retry %d/%d in %.2fs",
                self._redact(reason),
                attempt + 1,
                cfg.max_retries,
                delay,
            )
            self._sleep(delay)
            attempt += 1

    def _redact(self, text: str) -> str:
        """Hide URL credentials and the API key (should a server echo it back in an error body)."""
        return redact_text(text, self.config.secrets())

    def _fatal_status(self, exc: _HTTPStatus) -> EmbcoreError:
        url = self.config.endpoint
        if exc.status in (401, 403):
            return EmbcoreError(
                f"LLM endpoint {url} rejected the request ({exc.status}): check the API key ({exc.message})"
            )
        if exc.status == 404:
            return EmbcoreError(
                f"LLM endpoint {url} answered 404: check the base URL (usually ending in /v1) "
                f"and the model name '{self.config.model}' ({exc.message})"
            )
        return EmbcoreError(f"LLM endpoint {url} answered HTTP {exc.status}: {exc.message}")

    def _post(self, payload: dict[str, Any]) -> str:
        cfg = self.config
        url = cfg.endpoint
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"embcore/{__version__}",
        }
        user, password = cfg.credentials
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        elif user is not None or password is not None:  # http://user:pw@host/v1: basic auth
            token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode("utf-8"), headers=headers, method="POST"
        )
        with self._lock:
            self.stats["http_attempts"] += 1
        try:
            with self._opener.open(request, timeout=cfg.timeout) as resp:
                body = resp.read()
                content_type = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            try:
                err_body = exc.read()
            except (OSError, http.client.HTTPException):
                err_body = b""
            raise _HTTPStatus(
                exc.code, self._redact(_error_message(err_body)), _retry_after(exc.headers)
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                raise _Retryable(f"timed out after {cfg.timeout:g}s") from None
            if isinstance(reason, ConnectionResetError | ConnectionAbortedError):
                raise _Retryable(f"connection dropped ({reason})") from None
            raise EmbcoreError(f"cannot reach LLM endpoint {url} : {_describe(reason)}") from None
        except TimeoutError:
            raise _Retryable(f"timed out after {cfg.timeout:g}s") from None
        except ConnectionRefusedError as exc:
            raise EmbcoreError(f"cannot reach LLM endpoint {url} : {_describe(exc)}") from None
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionError) as exc:
            raise _Retryable(f"connection dropped ({type(exc).__name__})") from None
        except (http.client.HTTPException, OSError) as exc:
            raise EmbcoreError(f"cannot reach LLM endpoint {url} : {_describe(exc)}") from None
        return self._content(body, content_type)

    def _content(self, body: bytes, content_type: str) -> str:
        url = self.config.endpoint
        try:
            obj = json.loads(body)
        except ValueError:
            raise EmbcoreError(
                f"LLM endpoint {url} returned a non-JSON response ({content_type or 'no content type'}): "
                f"'{self._redact(_snippet(body))}'"
            ) from None
        if isinstance(obj, dict) and obj.get("error") and not obj.get("choices"):
            raise EmbcoreError(f"LLM endpoint {url} returned an error: {self._redact(_error_message(body))}")
        try:
            message = obj["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise EmbcoreError(
                f"LLM endpoint {url} returned JSON without choices[0].message: '{_snippet(body)}'"
            ) from None
        usage = obj.get("usage") if isinstance(obj, dict) else None
        if isinstance(usage, dict):
            with self._lock:
                self.stats["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
                self.stats["completion_tokens"] += int(usage.get("completion_tokens") or 0)
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content if isinstance(content, str) else ""


def _describe(reason: Any) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason)


# ---------------------------------------------------------------- tasks

SYSTEM_PROMPT = (
    "You write training data for a text retrieval (embedding) model. Follow the instructions exactly. "
    "Write in the language of the given text. Reply with one JSON object and nothing else."
)


def _clip(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit(" ", 1)[0]
    return cut + " …"


def _items_format(n: int) -> str:
    return f'Return JSON: {{"items": [...]}} with exactly {n} strings.'


def paraphrase_prompt(query: str, n: int) -> str:
    """User prompt of the ``paraphrase`` task."""
    return (
        f"Search query:\n{query}\n\n"
        f"Write {n} paraphrases of this search query. Each must ask for exactly the same information "
        "(same entities, numbers, time period and intent) but use different words or sentence structure. "
        "Vary them: a question, a shorter keyword-like query, a more explicit phrasing. " + _items_format(n)
    )


def query_gen_prompt(passage: str, n: int, example: str | None = None) -> str:
    """User prompt of the ``query-gen`` task (several diverse questions per passage)."""
    ex = (
        f"\nAn existing question for this passage, for style only (do not repeat it): {example}\n"
        if example
        else ""
    )
    return (
        f'Passage:\n"""\n{passage}\n"""\n{ex}\n'
        f"Write {n} diverse questions that a user could type into a search engine and that this passage "
        "answers. Use only information in the passage. Cover different facts or aspects of the passage, vary "
        "the question type (what / how / why / which / when, yes-no, keyword query), and do not copy long "
        "phrases from the passage. " + _items_format(n)
    )


def pos_gen_prompt(query: str, n: int, reference: str | None = None) -> str:
    """User prompt of the ``pos-gen`` task (diversified positives)."""
    ref = (
        f'\nA relevant passage from the collection, for style and length:\n"""\n{reference}\n"""\n'
        if reference
        else ""
    )
    return (
        f"Query:\n{query}\n{ref}\n"
        f"Write {n} different passages that each correctly and fully answer the query, in the style of a "
        "document in the same collection. Vary wording, structure and which supporting details are given. "
        "Do not invent facts that contradict the reference passage. " + _items_format(n)
    )


def neg_gen_prompt(query: str, n: int, positive: str | None = None) -> str:
    """User prompt of the ``neg-gen`` task (hard negatives: same topic, wrong detail)."""
    ref = f'\nThe relevant passage:\n"""\n{positive}\n"""\n' if positive else ""
    return (
        f"Query:\n{query}\n{ref}\n"
        f"Write {n} hard negative passages for this query: each on the same topic and in the same style and "
        "length as the relevant passage, sharing many of its words, but with a key detail changed (another "
        "year, figure, company, product, place or condition) so that it does NOT answer the query correctly. "
        "Write them as plain statements; do not say that anything is wrong or changed. " + _items_format(n)
    )


def translate_prompt(text: str, target_language: str) -> str:
    """User prompt of one back-translation leg."""
    return (
        f"Translate the text into {target_language}. Keep names, numbers, tickers and units unchanged and "
        f'keep the meaning exact.\n\nText:\n{text}\n\nReturn JSON: {{"text": "<the translation>"}}.'
    )


def rewrite_prompt(text: str, instruction: str) -> str:
    """User prompt of the ``rewrite`` task (``instruction``: a preset name or free text)."""
    how = REWRITE_PRESETS.get(instruction.strip().lower(), instruction.strip())
    return f'{how}\n\nText:\n{text}\n\nReturn JSON: {{"text": "<the rewritten text>"}}.'


def language_name(text: str) -> str:
    """``"Chinese"`` for text with CJK ideographs, else ``"English"`` (for translation prompts)."""
    return "Chinese" if has_cjk(text) else "English"


@dataclass(frozen=True)
class Generated:
    """One LLM-generated text linked to its source sample.

    Attributes:
        parent: The source sample's id (``id_key``) or its index: a splitter keeps it with it.
        task: The task that made it.
        kind: What it is for the parent: a new ``query``, an extra ``pos`` or a ``neg`` candidate.
        text: The generated text (clean).
        origin: ``"llm:<task>:<model>"``, e.g. ``"llm:query-gen:qwen2.5-7b-instruct"``.
        source: The text it was generated from (query or passage).
        passage: For ``query-gen``: the positive passage the question was written for.
    """

    parent: Any
    task: Task
    kind: Kind
    text: str
    origin: str
    source: str
    passage: str | None = None


@dataclass
class LLMResult:
    """Output of :func:`generate`: the items and JSON-able stats (per-task counts, client stats)."""

    items: list[Generated]
    stats: dict[str, Any] = field(default_factory=dict)


def parse_tasks(spec: str | Sequence[str]) -> list[Task]:
    """Parse ``"paraphrase,query-gen,..."`` (``_`` works for ``-``).

    Raises:
        EmbcoreError: for an unknown task (naming the allowed ones) or an empty list.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    tasks: list[Task] = []
    for raw in items:
        name = raw.strip().lower().replace("_", "-")
        if not name:
            continue
        if name not in TASKS:
            raise EmbcoreError(f"unknown LLM task '{raw.strip()}': choose from {', '.join(TASKS)}")
        if name not in tasks:
            tasks.append(name)  # type: ignore[arg-type]
    if not tasks:
        raise EmbcoreError(f"no LLM task given: choose from {', '.join(TASKS)}")
    return tasks


@dataclass
class _Job:
    index: int
    parent: Any
    task: Task
    kind: Kind
    source: str
    request: ChatRequest
    single: bool
    exclude: tuple[str, ...] = ()
    passage: str | None = None
    pivot: str | None = None
    back_to: str | None = None


def _pos_list(sample: Mapping[str, Any]) -> list[str]:
    pos = sample.get("pos")
    if pos is None:
        return []
    items = [pos] if isinstance(pos, str) else list(pos)
    return [t for t in (clean_text(p) for p in items) if t]


@dataclass(frozen=True)
class _Source:
    """One sample as the task builders see it."""

    index: int
    parent: Any
    query: str
    pos: list[str]

    @property
    def same(self) -> tuple[str, ...]:
        """Texts a generated item must not repeat: the query and the positives."""
        return (self.query, *self.pos)


@dataclass(frozen=True)
class _Options:
    n: int
    pivot: str | None
    instruction: str
    rewrite_target: Kind
    max_chars: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise EmbcoreError(f"LLM items per input must be >= 1, got {self.n}")
        if self.rewrite_target not in ("query", "pos"):
            raise EmbcoreError(f"unknown rewrite target '{self.rewrite_target}': choose from query, pos")


JobBuilder = Callable[["_Source", "_Options"], list["_Job"]]
"""A task's request builder: one sample in, its requests out."""


def _ask(prompt: str) -> ChatRequest:
    return ChatRequest.of(SYSTEM_PROMPT, prompt)


def _paraphrase_jobs(s: _Source, o: _Options) -> list[_Job]:
    if not s.query:
        return []
    return [
        _Job(
            s.index,
            s.parent,
            "paraphrase",
            "query",
            s.query,
            _ask(paraphrase_prompt(s.query, o.n)),
            False,
            s.same,
        )
    ]


def _query_gen_jobs(s: _Source, o: _Options) -> list[_Job]:
    return [
        _Job(
            s.index,
            s.parent,
            "query-gen",
            "query",
            p,
            _ask(query_gen_prompt(_clip(p, o.max_chars), o.n, s.query or None)),
            False,
            s.same,
            passage=p,
        )  # fmt: skip
        for p in s.pos
    ]


def _passage_gen_jobs(task: Task, kind: Kind, prompt: Callable[[str, int, str | None], str]) -> JobBuilder:
    """The builder of a task that writes passages for the query (positives or negatives), the first
    positive given as a reference."""

    def build(s: _Source, o: _Options) -> list[_Job]:
        if not s.query:
            return []
        ref = _clip(s.pos[0], o.max_chars) if s.pos else None
        return [_Job(s.index, s.parent, task, kind, s.query, _ask(prompt(s.query, o.n, ref)), False, s.same)]

    return build


def _back_translate_jobs(s: _Source, o: _Options) -> list[_Job]:
    """The first leg (source -> pivot language); the second leg is built from its answer."""
    if not s.query:
        return []
    src_lang = language_name(s.query)
    piv = o.pivot or ("English" if src_lang == "Chinese" else "German")
    if piv.strip().lower() == src_lang.lower():
        return []
    req = _ask(translate_prompt(s.query, piv))
    return [
        _Job(
            s.index,
            s.parent,
            "back-translate",
            "query",
            s.query,
            req,
            True,
            s.same,
            pivot=piv,
            back_to=src_lang,
        )
    ]


def _rewrite_jobs(s: _Source, o: _Options) -> list[_Job]:
    texts = (
        [s.query] if o.rewrite_target == "query" and s.query else (s.pos if o.rewrite_target == "pos" else [])
    )
    return [
        _Job(
            s.index,
            s.parent,
            "rewrite",
            o.rewrite_target,
            t,
            _ask(rewrite_prompt(_clip(t, o.max_chars), o.instruction)),
            True,
            s.same,
        )  # fmt: skip
        for t in texts
    ]


_JOB_BUILDERS: dict[str, JobBuilder] = {
    "paraphrase": _paraphrase_jobs,
    "query-gen": _query_gen_jobs,
    "pos-gen": _passage_gen_jobs("pos-gen", "pos", pos_gen_prompt),
    "neg-gen": _passage_gen_jobs("neg-gen", "neg", neg_gen_prompt),
    "back-translate": _back_translate_jobs,
    "rewrite": _rewrite_jobs,
}
"""One request builder per task (see :data:`TASKS`): a sample in, its requests out."""


class _Tally:
    """Requests, unusable answers and kept items per task, and the first unusable answer."""

    def __init__(self, tasks: Sequence[str]) -> None:
        self.per_task: dict[str, dict[str, int]] = {
            t: {"requests": 0, "unusable": 0, "items": 0} for t in tasks
        }
        self.first_unusable: str | None = None

    def unusable(self, task: str, answer: str) -> None:
        self.per_task[task]["unusable"] += 1
        if self.first_unusable is None:
            self.first_unusable = answer

    def total_unusable(self) -> int:
        return sum(v["unusable"] for v in self.per_task.values())


def _second_legs(
    jobs: Sequence[_Job], answers: Sequence[str], tally: _Tally
) -> tuple[list[tuple[_Job, str]], list[_Job]]:
    """(answers to parse now, back-translation requests from the pivot language back to the source's)."""
    final: list[tuple[_Job, str]] = []
    back_jobs: list[_Job] = []
    for job, ans in zip(jobs, answers, strict=True):
        tally.per_task[job.task]["requests"] += 1
        if job.task != "back-translate":
            final.append((job, ans))
            continue
        mid = parse_single(ans)
        if mid and match_key(mid) != match_key(job.source):
            req = _ask(translate_prompt(mid, job.back_to or "English"))
            back_jobs.append(
                _Job(job.index, job.parent, job.task, job.kind, job.source, req, True, job.exclude)
            )
        else:
            tally.unusable(job.task, ans)
    return final, back_jobs


def _parse_answers(final: Sequence[tuple[_Job, str]], n: int, model: str, tally: _Tally) -> list[Generated]:
    """Parse every answer; drop items equal to their source, the sample's query or positives, or an
    earlier item of the same parent and kind."""
    seen: dict[tuple[Any, Kind], set[str]] = {}
    items: list[Generated] = []
    for job, ans in final:
        texts = [parse_single(ans)] if job.single else parse_items(ans, max_items=n)
        bucket = seen.setdefault((job.parent, job.kind), {match_key(t) for t in job.exclude})
        kept = 0
        for t in texts:
            k = match_key(t)
            if not t or k in bucket or k == match_key(job.source):
                continue
            bucket.add(k)
            items.append(
                Generated(
                    job.parent, job.task, job.kind, t, f"llm:{job.task}:{model}", job.source, job.passage
                )
            )
            kept += 1
        tally.per_task[job.task]["items"] += kept
        if not kept:
            tally.unusable(job.task, ans)
    return items


def generate(
    samples: Sequence[Mapping[str, Any]],
    tasks: Sequence[Task] | str,
    client: ChatClient,
    *,
    n: int = 3,
    pivot: str | None = None,
    instruction: str = "simplify",
    rewrite_target: Literal["query", "pos"] = "query",
    max_chars: int = 3000,
    id_key: str = "id",
    progress: ProgressFn | None = None,
) -> LLMResult:
    """Run LLM augmentation tasks over samples.

    Steps: 1. build one request per (sample, task, input text) with the task's builder
    (:data:`_JOB_BUILDERS`); 2. send them all through :meth:`ChatClient.complete_many` (cache,
    concurrency, retries); 3. back-translate: a second round from the pivot-language texts back
    to the source language; 4. parse every answer (:func:`~embcore.augment.parse.parse_items` /
    ``parse_single``), drop items equal to their source, to the sample's query or positives (by
    ``match_key``) or to an earlier item of the same parent and kind.

    Args:
        samples: Dicts with ``query`` and ``pos`` (list or string); ``id_key`` optional.
        tasks: Tasks to run (see :data:`TASKS`), or a comma string.
        client: The chat client (holds the endpoint, model, cache).
        n: Items asked for per input for the list tasks (paraphrase, query-gen, pos-gen, neg-gen).
        pivot: Back-translation pivot language name (default: German, or English for Chinese text).
        instruction: ``rewrite`` instruction: a preset (:data:`REWRITE_PRESETS`) or free text.
        rewrite_target: Rewrite the ``query`` (new query) or each positive (extra positive).
        max_chars: Passages are clipped to this many characters in prompts.
        id_key: Key holding a sample's id (else its index is the parent).
        progress: Progress callback, stages ``"llm"`` and ``"llm back-translate"``.

    Returns:
        An :class:`LLMResult`.

    Raises:
        EmbcoreError: unknown task, n < 1, endpoint errors, or when no answer at all gave a usable item.
    """
    task_list = parse_tasks(tasks)
    options = _Options(n, pivot, instruction, rewrite_target, max_chars)
    # 1. one request per (sample, task, input text)
    jobs: list[_Job] = []
    for i, s in enumerate(samples):
        source = _Source(i, sample_parent(s, i, id_key), clean_text(s.get("query")), _pos_list(s))
        for task in task_list:
            jobs += _JOB_BUILDERS[task](source, options)
    # 2. send (cache first, bounded concurrency, retries)
    answers = client.complete_many([j.request for j in jobs], progress=progress, stage="llm")
    # 3. back-translation, second leg: pivot text -> source language
    tally = _Tally(task_list)
    final, back_jobs = _second_legs(jobs, answers, tally)
    back_answers = client.complete_many(
        [j.request for j in back_jobs], progress=progress, stage="llm back-translate"
    )
    for job, ans in zip(back_jobs, back_answers, strict=True):
        tally.per_task[job.task]["requests"] += 1
        final.append((job, ans))
    # 4. parse, drop sources and duplicates (per parent and kind)
    items = _parse_answers(final, n, client.config.model, tally)
    return _result(client, items, tally, len(jobs) + len(back_jobs), answers)


def _result(
    client: ChatClient, items: list[Generated], tally: _Tally, n_requests: int, answers: list[str]
) -> LLMResult:
    """The result with its statistics; an error when requests were sent and nothing was usable."""
    if n_requests and not items:
        first = tally.first_unusable if tally.first_unusable is not None else answers[0]
        raise EmbcoreError(
            f"the LLM at {client.config.endpoint} (model {client.config.model}) returned nothing usable for "
            f"{n_requests} requests; first answer: '{_snippet(first)}'"
        )
    if tally.total_unusable():
        logger.warning("LLM: %d of %d answers gave no usable item", tally.total_unusable(), n_requests)
    stats = {
        "tasks": tally.per_task,
        "requests": n_requests,
        "items": len(items),
        "client": dict(client.stats),
    }
    return LLMResult(items=items, stats=stats)


def merge_generated(
    samples: Sequence[Mapping[str, Any]], items: Sequence[Generated], id_key: str = "id"
) -> list[dict[str, Any]]:
    """Samples with generated positives/negatives attached, followed by new query samples.

    - ``pos`` / ``neg`` items are appended to their parent's ``pos`` / ``neg`` (copies of the
      input samples, same order), and ``pos_origin`` / ``neg_origin`` lists (``"data"`` for the
      existing entries) say where each entry came from. ``pos_scores`` / ``neg_scores`` of a
      changed sample are dropped (stale).
    - ``query`` items become new samples ``{"query", "pos", "neg", "parent", "origin"}``:
      ``pos`` is the passage a ``query-gen`` question was written for, else the parent's
      original positives; ``neg`` is [] for ``query-gen`` and the parent's original negatives
      otherwise. Other keys (``prompt``, ``type``, ...) are copied from the parent.

    Args:
        samples: The samples :func:`generate` ran on.
        items: Its items.
        id_key: As given to :func:`generate`.
    """
    index = {sample_parent(s, i, id_key): i for i, s in enumerate(samples)}
    out = [copy.deepcopy(dict(s)) for s in samples]
    new: list[dict[str, Any]] = []
    for it in items:
        if it.parent not in index:
            raise EmbcoreError(f"generated item points to unknown parent {it.parent!r}")
        src = samples[index[it.parent]]
        if it.kind in ("pos", "neg"):
            tgt = out[index[it.parent]]
            field_name, origin_name = it.kind, f"{it.kind}_origin"
            current = tgt.get(field_name)
            current = [] if current is None else ([current] if isinstance(current, str) else list(current))
            if origin_name not in tgt:
                tgt[origin_name] = ["data"] * len(current)
            tgt[field_name] = current + [it.text]
            tgt[origin_name].append(it.origin)
            tgt.pop(f"{it.kind}_scores", None)
            continue
        base = {
            k: copy.deepcopy(v)
            for k, v in src.items()
            if k
            not in (
                "query",
                "pos",
                "neg",
                "pos_scores",
                "neg_scores",
                "pos_origin",
                "neg_origin",
                id_key,
                "parent",
                "origin",
            )
        }
        base["query"] = it.text
        base["pos"] = [it.passage] if it.passage is not None else _pos_list(src)
        neg = src.get("neg")
        base["neg"] = (
            [] if it.task == "query-gen" or neg is None else ([neg] if isinstance(neg, str) else list(neg))
        )
        base["parent"] = it.parent
        base["origin"] = it.origin
        new.append(base)
    return out + new
