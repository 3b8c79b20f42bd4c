"""A small OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, one thread per request.

It speaks ``POST /v1/chat/completions`` (also without ``/v1``) and answers like a chat model
would, from the prompt it receives: paraphrases, questions, passages, hard negatives,
translations, rewrites. What the answers look like is configurable:

- ``style``: how text answers (no JSON mode) are written: ``"preamble"`` ("Here are three
  questions:" + numbered list + "I hope these help!"), ``"bullets"``, ``"numbered"``,
  ``"fenced"`` (JSON in a code fence after a sentence), ``"plain"`` (one per line),
  ``"think"`` (``<think>`` block first), ``"bold"`` (``**Question 1:** ...``);
- ``json_mode_supported``: with False, a request carrying ``response_format`` gets HTTP 400
  (like servers that do not implement it);
- ``enqueue(Reply(...))``: scripted replies consumed first-in first-out before the default
  behaviour (429 / 500 then success, garbage bodies, empty content, slow replies...);
- ``delay``: seconds every request sleeps (for timeout and concurrency tests);
- ``api_key``: when set, requests without ``Authorization: Bearer <key>`` get 401.

It records every request (``requests``: parsed body, headers, path) and counts requests in
flight (``max_concurrent``), so tests can check the client's concurrency limit.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

WORDS_RE = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")


@dataclass
class Reply:
    """A scripted reply. ``content`` is wrapped in a chat.completion; ``body`` is sent raw."""

    status: int = 200
    content: str | None = None
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


def _user_text(body: dict[str, Any]) -> str:
    msgs = body.get("messages") or []
    for m in reversed(msgs):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    i += len(start)
    j = text.find(end, i)
    return text[i : j if j >= 0 else None].strip()


def _count(prompt: str) -> int:
    m = re.search(r"Write (\d+)", prompt) or re.search(r"exactly (\d+) strings", prompt)
    return int(m.group(1)) if m else 3


def _keywords(text: str) -> list[str]:
    seen: list[str] = []
    for w in WORDS_RE.findall(text):
        lw = w.lower()
        if (
            lw not in {"what", "which", "does", "that", "with", "from", "this", "have", "were", "their"}
            and lw not in seen
        ):
            seen.append(lw)
    return seen or ["topic"]


def fake_items(prompt: str) -> tuple[str, list[str]]:
    """(kind, items) the fake model 'writes' for a list prompt; deterministic in the prompt."""
    n = _count(prompt)
    if "paraphrases of this search query" in prompt:
        q = _between(prompt, "Search query:\n", "\n\n").rstrip("?")
        base = q[0].lower() + q[1:] if q else "this"
        forms = [
            f"Could you tell me {base}?",
            f"{q} - details",
            f"I want to know: {base}?",
            f"Explain {base}",
            f"{q}, please?",
        ]
        return "paraphrases", forms[:n]
    if "diverse questions" in prompt:
        passage = _between(prompt, 'Passage:\n"""\n', '\n"""')
        kws = _keywords(passage)
        forms = [
            "What does the passage say about {}?",
            "How is {} described?",
            "Why does {} matter here?",
            "Which facts relate to {}?",
            "When is {} mentioned?",
        ]
        return "questions", [forms[i % len(forms)].format(kws[i % len(kws)]) for i in range(n)]
    if "passages that each correctly" in prompt:
        q = _between(prompt, "Query:\n", "\n").rstrip("?")
        return "passages", [
            f"Regarding '{q}': answer version {i + 1}, stated with supporting detail." for i in range(n)
        ]
    if "hard negative passages" in prompt:
        ref = _between(prompt, 'The relevant passage:\n"""\n', '\n"""') or _between(prompt, "Query:\n", "\n")
        years = ["1987", "2004", "2011", "2019", "1995"]
        out = []
        for i in range(n):
            changed = re.sub(r"\b(19|20)\d\d\b", years[i % len(years)], ref)
            out.append(
                changed
                if changed != ref
                else f"{ref} This applied only to the {years[i % len(years)]} fiscal year."
            )
        return "negatives", out
    return "items", [f"item {i + 1}" for i in range(n)]


_BACK_MAP = {
    "What": "Which thing",
    "did": "has",
    "How": "In what way",
    "create": "make",
    "invent": "come up with",
}


def fake_single(prompt: str) -> str | None:
    """Translation / rewrite answer text, or None when the prompt is not one of those."""
    m = re.match(r"Translate the text into ([A-Za-z]+)\.", prompt)
    if m:
        text = _between(prompt, "Text:\n", "\n\nReturn JSON")
        lang = m.group(1)
        if re.match(r"^\[[A-Z]{2}\] ", text):  # the way back: a slightly different wording
            src = text[5:]
            words = [_BACK_MAP.get(w, w) for w in src.split(" ")]
            back = " ".join(words)
            return back if back != src else src.rstrip("?") + " exactly?"
        return f"[{lang[:2].upper()}] {text}"
    if 'Return JSON: {"text": "<the rewritten text>"}' in prompt:
        text = _between(prompt, "Text:\n", "\n\nReturn JSON")
        words = text.split()
        return " ".join(words[: max(2, len(words) // 2)]) + "."
    return None


def render(kind: str, items: list[str], style: str) -> str:
    """Write items the way a chatty model does, in one of several styles."""
    n = len(items)
    number = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))
    if style == "preamble":
        body = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(items))
        return f"Here are {number} {kind}:\n\n{body}\n\nI hope these help! Let me know if you need more."
    if style == "bullets":
        return "Sure! Here you go:\n" + "\n".join(f"- {t}" for t in items)
    if style == "numbered":
        return "\n".join(f"{i + 1}) {t}" for i, t in enumerate(items))
    if style == "fenced":
        return f"Sure, here is the JSON you asked for:\n```json\n{json.dumps({'items': items}, indent=2)}\n```\nNote: {kind} vary in form."
    if style == "plain":
        return "\n".join(items)
    if style == "think":
        return (
            "<think>\nThe user wants "
            + kind
            + ". 1. I will list them.\n</think>\n"
            + "\n".join(f"{i + 1}. {t}" for i, t in enumerate(items))
        )
    if style == "bold":
        label = kind.rstrip("s").capitalize()
        return f"**{kind.capitalize()}:**\n\n" + "\n".join(
            f'**{label} {i + 1}:** "{t}"' for i, t in enumerate(items)
        )
    raise ValueError(f"unknown style {style}")


class FakeOpenAI:
    """The server. Use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        style: str = "preamble",
        json_mode_supported: bool = True,
        delay: float = 0.0,
        api_key: str | None = None,
        model_echo: bool = True,
    ) -> None:
        self.style = style
        self.json_mode_supported = json_mode_supported
        self.delay = delay
        self.api_key = api_key
        self.model_echo = model_echo
        self.queue: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.current = 0
        self.max_concurrent = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeOpenAI:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802
                server._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                self._send(404, b'{"error": {"message": "not found"}}')

            def _send(
                self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    headers = dict(headers or {})
                    # a scripted Content-Length may lie (longer than the body: a dropped connection)
                    self.send_header("Content-Length", headers.pop("Content-Length", str(len(body))))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._Handler = Handler
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL to give the client (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting

    def enqueue(self, *replies: Reply) -> None:
        """Scripted replies, used first-in first-out before the default behaviour."""
        with self.lock:
            self.queue.extend(replies)

    @property
    def count(self) -> int:
        """Requests received so far."""
        with self.lock:
            return len(self.requests)

    # -- handling

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        with self.lock:
            self.requests.append({"path": h.path, "headers": dict(h.headers.items()), "body": body})
            scripted = self.queue.popleft() if self.queue else None
            self.current += 1
            self.max_concurrent = max(self.max_concurrent, self.current)
        try:
            delay = scripted.delay if scripted is not None and scripted.delay else self.delay
            if delay:
                time.sleep(delay)
            status, payload, ctype, headers = self._respond(h, body, scripted)
        finally:
            # out of flight before the answer leaves: a client that sends its next request as soon
            # as it has this answer must not be counted twice (that race showed under CPU load)
            with self.lock:
                self.current -= 1
        h._send(status, payload, ctype, headers)  # type: ignore[attr-defined]

    def _respond(
        self, h: BaseHTTPRequestHandler, body: dict[str, Any], scripted: Reply | None
    ) -> tuple[int, bytes, str, dict]:
        if h.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return (
                404,
                b'{"error": {"message": "Not Found", "type": "invalid_request_error"}}',
                "application/json",
                {},
            )
        if self.api_key is not None and h.headers.get("Authorization") != f"Bearer {self.api_key}":
            return (
                401,
                json.dumps(
                    {
                        "error": {
                            "message": "Incorrect API key provided.",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    }
                ).encode(),
                "application/json",
                {},
            )
        if scripted is not None:
            if scripted.body is not None:
                payload = scripted.body.encode() if isinstance(scripted.body, str) else scripted.body
                return scripted.status, payload, scripted.content_type, scripted.headers
            if scripted.status != 200:
                err = {"error": {"message": f"scripted error {scripted.status}", "type": "server_error"}}
                return scripted.status, json.dumps(err).encode(), "application/json", scripted.headers
            return 200, self._completion(body, scripted.content), "application/json", scripted.headers
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        if json_mode and not self.json_mode_supported:
            err = {
                "error": {
                    "message": "'response_format' is not supported by this model",
                    "type": "invalid_request_error",
                    "param": "response_format",
                }
            }
            return 400, json.dumps(err).encode(), "application/json", {}
        prompt = _user_text(body)
        single = fake_single(prompt)
        if single is not None:
            content = (
                json.dumps({"text": single}, ensure_ascii=False)
                if json_mode
                else f"Here is the translation:\n\n{single}\n\nNote: names and numbers were kept."
                if prompt.startswith("Translate")
                else single
            )
        else:
            kind, items = fake_items(prompt)
            content = (
                json.dumps({"items": items}, ensure_ascii=False)
                if json_mode
                else render(kind, items, self.style)
            )
        return 200, self._completion(body, content), "application/json", {}

    def _completion(self, body: dict[str, Any], content: str | None) -> bytes:
        with self.lock:
            n = len(self.requests)
        obj = {
            "id": f"chatcmpl-fake{n}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model", "fake") if self.model_echo else "fake",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        }
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class SleepRecorder:
    """Injectable ``sleep`` that records delays instead of sleeping (fast backoff tests)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it (for 'unreachable endpoint' tests)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake OpenAI-compatible chat server on 127.0.0.1 (free port; ``.url`` = base URL),
    stopped afterwards. Conftests import this fixture to offer it."""
    with FakeOpenAI() as server:
        yield server
