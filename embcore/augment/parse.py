"""Robust parsing of LLM answers into clean items.

Models asked for ``{"items": [...]}`` answer in many shapes: the JSON itself, JSON inside a
```` ```json ```` fence or after a sentence, a bare array, numbered or bulleted lists with a
preamble ("Here are three questions:", "Sure!") and trailing commentary ("I hope this helps",
"Note: ..."), bold labels ("**Question 1:** ..."), quotes, reasoning blocks
(``<think>...</think>``). :func:`parse_items` turns all of them into a list of clean,
deduplicated strings, and never lets a preamble or commentary line become data.
:func:`parse_single` does the same for one-text answers (translations, rewrites).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from embcore.text import clean_text, match_key

#: JSON keys that usually hold the list of generated items, in preference order.
ITEM_KEYS: tuple[str, ...] = (
    "items",
    "questions",
    "queries",
    "paraphrases",
    "passages",
    "negatives",
    "hard_negatives",
    "positives",
    "texts",
    "results",
    "outputs",
    "data",
    "answers",
    "rewrites",
    "translations",
)
#: keys of one item when items are objects ({"question": "..."}), or of a single-text answer.
TEXT_KEYS: tuple[str, ...] = (
    "text",
    "question",
    "query",
    "paraphrase",
    "passage",
    "negative",
    "positive",
    "content",
    "translation",
    "rewrite",
    "rewritten",
    "output",
    "result",
    "answer",
    "value",
)

_THINK_RE = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_UNCLOSED_THINK_RE = re.compile(r"^\s*<(think|thinking|reasoning)>.*", re.S | re.I)
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.S)
# "1." "1)" "(1)" "1-" "#1" "Q1:" "Question 1:" "Paraphrase 2 -" "- " "* " "• " "+ " "– "
_LIST_MARKER_RE = re.compile(
    r"^\s*(?:"
    r"\(?\d{1,3}[.)\]:：、]|\d{1,3}\s+[-–—]|#\d{1,3}[.:)]?"
    r"|[-*•+–—·▪►]"
    r"|(?:q|question|query|paraphrase|passage|negative|positive|item|example|option|variant|text|rewrite)"
    r"\s*#?\d{1,3}\s*[.:)：\-–—]"
    r")\s*",
    re.I,
)
_LABEL_RE = re.compile(
    r"^\s*(?:q|a|question|query|paraphrase|paraphrased query|passage|negative|hard negative|positive"
    r"|answer|text|translation|translated text|rewrite|rewritten text|rewritten|output|result)"
    r"\s*\d{0,3}\s*[:：]\s*",
    re.I,
)
# interjections that open a chatty answer: "Sure!", "Certainly, here you go."
_INTERJECTION_RE = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|absolutely|alright|great|no problem|here you go|happy to help)\b",
    re.I,
)
# lead-ins: "Here are three questions:", "Below are 5 paraphrases of the query."
_LEADIN_RE = re.compile(
    r"^\s*(?:here\s+(?:are|is|'s)|below\s+(?:are|is)|the following|as requested|i(?:'ve| have| will|'ll)\s+"
    r"(?:generated|written|created|come up|produced|provided|made)|based on the (?:passage|text|context|query))\b",
    re.I,
)
_LEADIN_TOPIC_RE = re.compile(
    r"question|quer|paraphras|passage|negative|positive|version|rewrit|translat|variation|option|example|item|result",
    re.I,
)
_COMMENTARY_RE = re.compile(
    r"^\s*(?:\(?(?:note|notes|nb)\b|i hope|hope (?:this|these|that|it)|let me know|feel free|would you like"
    r"|if you (?:need|want|would|'d)|i can (?:also|provide|generate|write)|explanation:"
    r"|these (?:questions|queries|paraphrases|passages|negatives|hard negatives|variations|options|rewrites|examples)\b"
    r"|each (?:of these|question|query|paraphrase)\b"
    r"|this (?:negative|hard negative|rewrite|translation|paraphrase)\b)",
    re.I,
)
_QUOTES = "\"'“”‘’「」『』«»`"


def strip_reasoning(text: str) -> str:
    """Remove ``<think>...</think>`` blocks (and an unclosed leading one)."""
    text = _THINK_RE.sub("", text)
    return _UNCLOSED_THINK_RE.sub("", text) if "</" not in text else text


def extract_json(text: str) -> Any | None:
    """The first JSON object or array in ``text`` (fenced or inline), or None.

    Tries, in order: the whole text, the content of each code fence, then every ``{`` / ``[``
    position with :meth:`json.JSONDecoder.raw_decode` (so ``Sure! {"items": [...]} Hope it
    helps`` works). Scalars (a bare number or string) do not count.
    """
    text = strip_reasoning(text).strip()
    candidates = [text] + [m.group(2) for m in _FENCE_RE.finditer(text)]
    for cand in candidates:
        cand = cand.strip()
        if cand[:1] in "{[":
            try:
                value = json.loads(cand)
            except ValueError:
                continue
            if isinstance(value, dict | list):
                return value
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            if isinstance(value, dict) or (
                isinstance(value, list) and value and all(isinstance(v, str | dict) for v in value)
            ):
                return value
    return None


_JSON_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?')


def _salvage_json_strings(text: str) -> list[str] | None:
    """String values of JSON that does not parse (an answer cut off at ``max_tokens``), or None.

    Only for an answer that starts like JSON (``{`` / ``[``, possibly in a fence); keys (strings
    followed by ``:``) are skipped.
    """
    body = text.strip()
    fence = _FENCE_RE.search(body)
    if fence and body.startswith("```"):
        body = fence.group(2).strip()
    if body[:1] not in "{[":
        return None
    out = []
    for m in _JSON_STRING_RE.finditer(body):
        if m.group(2):
            continue
        try:
            out.append(json.loads(f'"{m.group(1)}"'))
        except ValueError:
            out.append(m.group(1))
    return out


def _strings_from_json(value: Any, depth: int = 0) -> list[str] | None:
    """Item strings from a parsed JSON value, or None when it holds no recognisable list."""
    if depth > 3:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, dict):
                s = _text_of(v)
                if s is not None:
                    out.append(s)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                continue
        return out
    if isinstance(value, dict):
        low = {str(k).lower(): v for k, v in value.items()}
        for key in ITEM_KEYS:
            if key in low:
                return _strings_from_json(low[key], depth + 1)
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return _strings_from_json(lists[0], depth + 1)
        single = _text_of(value)
        if single is not None:
            return [single]
        if value and all(isinstance(v, str) for v in value.values()):  # {"1": "...", "2": "..."}
            return list(value.values())
    return None


def _text_of(obj: dict) -> str | None:
    low = {str(k).lower(): v for k, v in obj.items()}
    for key in TEXT_KEYS:
        v = low.get(key)
        if isinstance(v, str):
            return v
    strings = [v for v in obj.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def clean_item(text: str) -> str:
    """Strip list markers, bold/italics, labels ("Question 1:"), wrapping quotes; clean spaces."""
    s = clean_text(text)
    for _ in range(3):
        before = s
        s = _LIST_MARKER_RE.sub("", s, count=1) if _LIST_MARKER_RE.match(s) else s
        s = re.sub(r"^(\*\*|__)(.+?)\1\s*", lambda m: m.group(2) + " ", s)  # **Question 1:** text
        s = _LIST_MARKER_RE.sub("", s, count=1) if _LIST_MARKER_RE.match(s) else s
        s = _LABEL_RE.sub("", s, count=1)
        s = s.strip()
        if len(s) >= 2 and s[0] in _QUOTES and s[-1] in _QUOTES:
            s = s[1:-1].strip()
        s = s.strip("*_ ").strip()
        if s.endswith(",") and not s.endswith("\\,"):  # item copied from a JSON-ish list: "text",
            s = s[:-1].rstrip()
            if len(s) >= 2 and s[0] in _QUOTES and s[-1] in _QUOTES:
                s = s[1:-1].strip()
        if s == before:
            break
    return clean_text(s)


def _usable(item: str) -> bool:
    return any(c.isalnum() for c in item)


def dedupe(items: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Clean items, drop empty / symbol-only ones and duplicates (by ``match_key``), keep order."""
    seen = {match_key(e) for e in exclude}
    out = []
    for it in items:
        s = clean_text(it)
        k = match_key(s)
        if s and _usable(s) and k not in seen:
            seen.add(k)
            out.append(s)
    return out


def _is_preamble(line: str) -> bool:
    s = line.strip().strip("*_#").strip()
    if not s:
        return True
    if _LIST_MARKER_RE.match(line):
        return False
    if _INTERJECTION_RE.match(s) and len(s) < 120:
        return True
    if _LEADIN_RE.match(s) and (s.endswith((":", "：")) or (len(s) < 160 and _LEADIN_TOPIC_RE.search(s))):
        return True
    # a short lead-in that introduces what follows: "Questions:", "Paraphrased queries:"
    return s.endswith((":", "：")) and len(s.split()) <= 12


_LEADING_INTERJECTION_RE = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|absolutely|alright|no problem)\s*[!.,]+\s*"
    r"(?:here(?:'s| is| are| you go)\b[^:.!]*[:.!]\s*)?",
    re.I,
)


def _strip_interjection(line: str) -> str:
    """ "Sure! What did X invent?" -> "What did X invent?" (the line is kept when nothing follows)."""
    rest = _LEADING_INTERJECTION_RE.sub("", line, count=1)
    return rest if rest.strip() else line


def _is_heading(line: str) -> bool:
    return bool(re.match(r"^\s*#{1,6}\s", line))


def _lines_to_items(text: str) -> list[str]:
    lines = [_strip_interjection(ln.rstrip()) for ln in text.splitlines()]
    lines = [ln for ln in lines if not ln.strip().startswith("```")]
    has_list = (
        sum(
            1
            for ln in lines
            if ln.strip() and _LIST_MARKER_RE.match(ln) and not re.match(r"^\s*-{3,}\s*$", ln)
        )
        >= 1
    )
    if has_list:
        # 1. take list items; a non-blank, non-marker line right after an item continues it;
        #    a blank line ends the item; anything outside items is preamble or commentary
        items: list[str] = []
        current: list[str] | None = None
        for ln in lines:
            if not ln.strip():
                if current is not None:
                    items.append(" ".join(current))
                    current = None
                continue
            if _LIST_MARKER_RE.match(ln) and not re.match(r"^\s*-{3,}\s*$", ln):
                if current is not None:
                    items.append(" ".join(current))
                current = [ln]
            elif current is not None and not _COMMENTARY_RE.match(ln) and not _is_heading(ln):
                current.append(ln.strip())
            elif current is not None:
                items.append(" ".join(current))
                current = None
        if current is not None:
            items.append(" ".join(current))
        return items
    # 2. no list markers: paragraphs (blank-line separated) if several, else one item per line
    blocks: list[list[str]] = []
    cur: list[str] = []
    for ln in lines:
        if ln.strip():
            cur.append(ln.strip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    blocks = [
        b
        for b in blocks
        if not (len(b) == 1 and (_is_preamble(b[0]) or _COMMENTARY_RE.match(b[0]) or _is_heading(b[0])))
    ]
    if len(blocks) > 1:
        return [" ".join(b) for b in blocks]
    raw = blocks[0] if blocks else []
    return [ln for ln in raw if not _is_preamble(ln) and not _COMMENTARY_RE.match(ln) and not _is_heading(ln)]


def parse_items(text: str | None, max_items: int | None = None, exclude: Sequence[str] = ()) -> list[str]:
    """Parse a model answer that should hold several items into clean strings.

    Steps: 1. drop reasoning blocks. 2. JSON anywhere in the answer (object with an
    ``items``-like key, array of strings or of objects): use it. 3. otherwise list lines
    (numbered / bulleted, with continuation lines), or paragraphs, or plain lines, dropping
    preamble ("Here are three questions:", "Sure!") and trailing commentary. 4. clean each
    item (markers, labels, quotes), drop empty ones and duplicates (by ``match_key``) and any
    item equal to one in ``exclude`` (e.g. the source text).

    Args:
        text: The raw answer (None or "" gives []).
        max_items: Keep at most this many (None = all).
        exclude: Texts that must not come back as items.

    Returns:
        The items, in the model's order.
    """
    if not text or not text.strip():
        return []
    body = strip_reasoning(text)
    value = extract_json(body)
    raw: list[str] | None = _strings_from_json(value) if value is not None else _salvage_json_strings(body)
    if raw is None:
        raw = _lines_to_items(body)
        raw = [clean_item(r) for r in raw]
        raw = [r for r in raw if not _is_preamble(r) and not _COMMENTARY_RE.match(r)]
    else:
        raw = [clean_item(r) for r in raw]
    items = dedupe(raw, exclude)
    return items[:max_items] if max_items is not None else items


def parse_single(text: str | None) -> str:
    """Parse an answer that should hold exactly one text (translation, rewrite); "" if none.

    JSON (``{"text": ...}``, ``{"translation": ...}``, a one-element list) wins; otherwise the
    answer minus code fences, preamble lines ("Here is the translation:"), labels
    ("Translation: ...") and trailing commentary blocks ("Note: ...").
    """
    if not text or not text.strip():
        return ""
    body = strip_reasoning(text)
    value = extract_json(body)
    if value is not None:
        strings = _strings_from_json(value)
        if strings:
            return clean_item(strings[0])
    fences = [m.group(2) for m in _FENCE_RE.finditer(body)]
    if fences and fences[0].strip():
        body = fences[0]
    blocks: list[list[str]] = []
    cur: list[str] = []
    for ln in body.splitlines():
        ln = _strip_interjection(ln)
        if ln.strip() and not ln.strip().startswith("```"):
            cur.append(ln.strip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    kept: list[str] = []
    for i, b in enumerate(blocks):
        lines = list(b)
        while lines and (_is_preamble(lines[0]) and not _LABEL_RE.match(lines[0]) or _is_heading(lines[0])):
            lines.pop(0)
        if not lines:
            continue
        if kept and (_COMMENTARY_RE.match(lines[0]) or lines[0].startswith("(")):
            break  # trailing commentary: drop it and everything after
        if not kept and i > 0 and _COMMENTARY_RE.match(lines[0]):
            continue
        kept.append(" ".join(lines))
    return clean_item(" ".join(kept)) if kept else ""
