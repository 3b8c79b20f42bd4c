"""Tokenisers for lexical (BM25) mining: Unicode words, jieba for Chinese, plain whitespace.

``word`` lower-cases (casefold) and keeps runs of word characters; CJK ideographs are emitted
one character at a time so that Chinese text without spaces still matches partially. ``jieba``
segments Chinese into words (search mode, so compounds also yield their parts) and keeps
English words whole, which handles mixed Chinese/English text. ``auto`` picks jieba when a
sample of the corpus is largely CJK.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from embcore.errors import EmbcoreError
from embcore.mining.config import STOPWORDS, TOKENIZERS
from embcore.text import cjk_ratio

log = logging.getLogger(__name__)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_HAS_WORD_RE = re.compile(r"\w")

AUTO_CJK_THRESHOLD = 0.2
"""``auto`` picks jieba when at least this fraction of the sampled non-space characters is CJK."""

ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t
    """.split()
)

CHINESE_STOPWORDS = frozenset(
    """
    的 了 是 在 和 与 及 或 也 都 而 就 对 从 把 被 让 向 这 那 这个 那个 这些 那些 之 其 于 以 等 为 由 中 上 下
    个 着 过 吗 呢 吧 啊 我 你 他 她 它 我们 你们 他们 什么 哪 哪些 如何 怎么 多少 是否 有 没有 一个 一些
    """.split()
)


def stopword_set(name: str | None) -> frozenset[str]:
    """The stopword set for ``name`` (``english``, ``chinese``, ``both``; None = empty)."""
    if name is None:
        return frozenset()
    if name not in STOPWORDS:
        raise EmbcoreError(
            f"stopwords={name!r} is not allowed; choose one of: {', '.join(STOPWORDS)} (or none)"
        )
    if name == "english":
        return ENGLISH_STOPWORDS
    if name == "chinese":
        return CHINESE_STOPWORDS
    return ENGLISH_STOPWORDS | CHINESE_STOPWORDS


def word_tokens(text: str) -> list[str]:
    """Casefolded Unicode word runs; each CJK ideograph is its own token."""
    return _WORD_RE.findall(text.casefold())


def whitespace_tokens(text: str) -> list[str]:
    """Casefolded whitespace-separated chunks (the naive baseline; useless for Chinese)."""
    return text.casefold().split()


@lru_cache(maxsize=1)
def load_jieba():  # noqa: ANN201 - the jieba module
    """The jieba module, imported once, with its log chatter silenced."""
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbcoreError("the jieba tokenizer needs jieba: pip install jieba") from exc
    jieba.setLogLevel(logging.WARNING)
    return jieba


def jieba_tokens(text: str) -> list[str]:
    """jieba search-mode segmentation, casefolded, punctuation and spaces dropped."""
    return [t for t in load_jieba().lcut_for_search(text.casefold()) if _HAS_WORD_RE.search(t)]


_TOKENIZER_FNS: dict[str, Callable[[str], list[str]]] = {
    "word": word_tokens,
    "whitespace": whitespace_tokens,
    "jieba": jieba_tokens,
}


def resolve_tokenizer(name: str, texts: Sequence[str], sample: int = 2000) -> str:
    """Turn ``auto`` into a concrete tokenizer name by looking at (a sample of) the texts.

    Args:
        name: One of ``auto``, ``word``, ``jieba``, ``whitespace``.
        texts: The corpus (queries and passages) to inspect.
        sample: How many texts, spread evenly over the corpus, to inspect.

    Returns:
        ``name`` itself unless it is ``auto``; then ``jieba`` or ``word``.
    """
    if name not in TOKENIZERS:
        raise EmbcoreError(f"tokenizer={name!r} is not allowed; choose one of: {', '.join(TOKENIZERS)}")
    if name != "auto":
        return name
    # 1. an even sample, 2. CJK share of its characters, weighted by length
    step = max(1, len(texts) // sample)
    picked = [t for t in texts[::step] if t]
    total = sum(len(t) for t in picked)
    if total == 0:
        return "word"
    share = sum(cjk_ratio(t) * len(t) for t in picked) / total
    chosen = "jieba" if share >= AUTO_CJK_THRESHOLD else "word"
    log.info("tokenizer auto -> %s (CJK share %.2f)", chosen, share)
    return chosen


def tokenize(texts: Sequence[str], tokenizer: str = "word", stopwords: str | None = None) -> list[list[str]]:
    """Tokenise every text with one concrete tokenizer and drop stopwords.

    Args:
        texts: Texts to tokenise.
        tokenizer: ``word``, ``jieba`` or ``whitespace`` (resolve ``auto`` first).
        stopwords: Stopword list name or None.

    Returns:
        One token list per text.
    """
    fn = _TOKENIZER_FNS.get(tokenizer)
    if fn is None:
        allowed = ", ".join(_TOKENIZER_FNS)
        raise EmbcoreError(
            f"tokenizer={tokenizer!r} is not allowed here; choose one of: {allowed} (resolve 'auto' first)"
        )
    stop = stopword_set(stopwords)
    if not stop:
        return [fn(t) for t in texts]
    return [[tok for tok in fn(t) if tok not in stop] for t in texts]


def token_spans(text: str, tokenizer: str = "word") -> list[tuple[int, int, str]]:
    """Where the tokens of :func:`tokenize` sit in ``text``: ``(start, end, casefolded token)``.

    The same tokenisers as BM25 mining (``word``; ``jieba`` in search mode, whose compounds and
    their parts may overlap; ``whitespace``), with offsets into the original text so that a
    view can highlight the terms two texts share.
    """
    if tokenizer == "jieba":
        return [
            (int(s), int(e), w.casefold())
            for w, s, e in load_jieba().tokenize(text, mode="search")
            if _HAS_WORD_RE.search(w)
        ]
    if tokenizer == "word":
        return [(m.start(), m.end(), m.group().casefold()) for m in _WORD_RE.finditer(text)]
    if tokenizer == "whitespace":
        return [(m.start(), m.end(), m.group().casefold()) for m in re.finditer(r"\S+", text)]
    raise EmbcoreError(
        f"tokenizer={tokenizer!r} is not allowed here; choose one of: {', '.join(_TOKENIZER_FNS)}"
    )
