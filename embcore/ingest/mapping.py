"""Field mapping: which columns hold the query, the positives, metadata, negatives and scores.

:func:`suggest_mapping` guesses one from column names (English and Chinese), then from the
content; :func:`validate_mapping` checks a mapping against a file's columns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.ingest.cells import cell_texts
from embcore.ingest.read import RawTable, columns_text
from embcore.text import clean_text

# --------------------------------------------------------------------------- mapping


QUERY_NAMES = (
    "query", "queries", "question", "questions", "anchor", "prompt", "q", "sentence1", "sentence_1",
    "text1", "text_a", "premise", "title", "instruction", "input", "search_query", "user_query",
    "问题", "查询", "问句", "提问", "问", "句子1", "文本1", "标题", "質問", "질문",
)  # fmt: skip
POSITIVE_NAMES = (
    "positive", "positives", "pos", "context", "contexts", "passage", "passages", "document", "documents",
    "doc", "answer", "answers", "response", "content", "text", "body", "sentence2", "sentence_2", "text2",
    "text_b", "hypothesis", "output", "target", "paragraph", "chunk",
    "答案", "回答", "答", "文档", "文本", "段落", "上下文", "正例", "内容", "句子2", "文本2", "回复", "正文",
)  # fmt: skip
# Passage-like names come before answers: a context makes a better retrieval target than a short answer.
_PASSAGE_FIRST = (
    "positive", "positives", "pos", "context", "contexts", "passage", "passages", "document", "documents", "doc",
    "paragraph", "chunk", "content", "body", "text", "正例", "文档", "段落", "上下文", "正文", "内容", "文本",
)  # fmt: skip
NEGATIVE_NAMES = ("negative", "negatives", "neg", "hard_negative", "hard_negatives", "负例", "负样本")
SCORE_NAMES = (
    "score",
    "label",
    "similarity",
    "relevance",
    "rating",
    "gold_label",
    "分数",
    "标签",
    "相似度",
    "得分",
)

# Cell texts that mean "no value" in files written by pandas / numpy ("nan", "NaN", "<NA>", "NaT"),
# Python ("None"), JSON / SQL ("null", "NULL") and spreadsheets ("N/A", "#N/A"). Not "NA" / "na":
# in real data that is a ticker, a country code (Namibia) or "North America", and pandas' habit
# of reading it as missing silently loses such rows; add it with --null-values default,NA.
DEFAULT_NULL_VALUES: tuple[str, ...] = (
    "nan", "NaN", "NAN", "-nan", "None", "null", "NULL", "Null", "N/A", "n/a", "#N/A", "<NA>", "NaT",
)  # fmt: skip
MERGE_POLICIES: tuple[str, ...] = ("text+meta", "text")
# Metadata columns chosen automatically at most (a 5,000-column file does not get 4,998).
MAX_AUTO_META = 20


def parse_null_values(spec: str | None) -> list[str] | None:
    """``--null-values``: comma-separated texts; ``default`` stands for :data:`DEFAULT_NULL_VALUES`.

    ``None`` (flag not given) keeps the default; ``""`` means only empty cells are missing.
    """
    if spec is None:
        return None
    out: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if part == "default":
            out.extend(v for v in DEFAULT_NULL_VALUES if v not in out)
        elif part and part not in out:
            out.append(part)
    return out


@dataclass
class FieldMapping:
    """How input columns map onto samples.

    Attributes:
        query_col: column holding the query / anchor.
        pos_cols: one or more columns whose values become positives (several = several positives).
        meta_cols: columns kept as metadata (for rules, filters, grouping).
        neg_col: optional column of given negatives (text or list of texts).
        score_col: optional score/label column: turns the data into pair data (STS-style).
        pos_threshold: pair data: score >= this makes a positive (None = automatic).
        neg_threshold: pair data: score <= this makes a given negative (None = low pairs are dropped).
        sample_type: the ``type`` written to every sample (pair data defaults to "symmetric").
        null_values: cell texts that count as missing (None = :data:`DEFAULT_NULL_VALUES`);
            an empty cell is always missing.
        merge_queries: rows sharing a query are merged into one sample when their query text
            and every metadata column agree (``"text+meta"``, default) or on the text alone
            (``"text"``).
        notes: human-readable reasons behind a suggested mapping.
        guessed: the query or positive column was guessed from the content (no familiar
            column name): a person should confirm it before it is used.
    """

    query_col: str
    pos_cols: list[str]
    meta_cols: list[str] = field(default_factory=list)
    neg_col: str | None = None
    score_col: str | None = None
    pos_threshold: float | None = None
    neg_threshold: float | None = None
    sample_type: str | None = None
    notes: list[str] = field(default_factory=list)
    null_values: list[str] | None = None
    merge_queries: str = "text+meta"
    guessed: bool = False

    def nulls(self) -> frozenset[str]:
        """The cell texts treated as missing (always including the empty string)."""
        values = DEFAULT_NULL_VALUES if self.null_values is None else tuple(self.null_values)
        return frozenset((*values, ""))

    def validate(self) -> FieldMapping:
        """Check the options that do not depend on the file.

        Raises:
            EmbcoreError: unknown ``merge_queries`` policy.
        """
        if self.merge_queries not in MERGE_POLICIES:
            raise EmbcoreError(
                f"unknown query merge policy {self.merge_queries!r}; allowed: {', '.join(MERGE_POLICIES)}"
            )
        return self

    @property
    def is_pairs(self) -> bool:
        return self.score_col is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FieldMapping:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def describe(self) -> str:
        parts = [f"query={self.query_col}", f"pos={','.join(self.pos_cols)}"]
        if self.meta_cols:
            shown = self.meta_cols[:MAX_AUTO_META]
            more = f",...(+{len(self.meta_cols) - len(shown)})" if len(self.meta_cols) > len(shown) else ""
            parts.append(f"meta={','.join(shown)}{more}")
        if self.neg_col:
            parts.append(f"neg={self.neg_col}")
        if self.score_col:
            parts.append(f"score={self.score_col}")
        return " ".join(parts)


def _norm_col(c: str) -> str:
    return re.sub(r"[\s\-]+", "_", clean_text(c).casefold())


def _find(columns: Sequence[str], names: Sequence[str], exclude: set[str]) -> list[str]:
    by_norm = {}
    for c in columns:
        if c not in exclude:
            by_norm.setdefault(_norm_col(c), c)
    return [by_norm[n] for n in names if n in by_norm]


def suggest_mapping(raw: RawTable | pd.DataFrame) -> FieldMapping:
    """Suggest a field mapping from column names (English and Chinese), falling back to content.

    Steps: 1. a query column by name, then a positive by name (passages before answers); an
    ID / code-like column (numeric ids, short upper-case codes, few distinct values) is never
    taken, whatever its name. 2. what names did not give is guessed from content: the query is
    the most question-like text column (ends with "?", starts with a wh-word or a Chinese
    question word, several words, mostly distinct values), the positive the longest remaining
    text column; such a mapping is marked ``guessed`` for a person to confirm. 3. given
    negatives, a numeric score column (pair data), and at most :data:`MAX_AUTO_META` short
    low-cardinality metadata columns.

    Raises:
        EmbcoreError: the table has fewer than two usable text columns.
    """
    df = raw.df if isinstance(raw, RawTable) else raw
    name = getattr(raw, "name", "input")
    columns = [str(c) for c in df.columns]
    notes: list[str] = []
    profiles: dict[str, _ColumnShape] = {}

    def shape(c: str) -> _ColumnShape:
        if c not in profiles:
            profiles[c] = _column_shape(df[c])
        return profiles[c]

    usable = [c for c in columns if shape(c).textual and not shape(c).code_like]
    query = [c for c in _find(columns, QUERY_NAMES, set()) if c in usable]
    query_col = query[0] if query else None
    used = {query_col} if query_col else set()
    pos = [
        c for c in _find(columns, _PASSAGE_FIRST, used) or _find(columns, POSITIVE_NAMES, used) if c in usable
    ]
    pos_col = pos[0] if pos else None
    guessed = query_col is None or pos_col is None
    if query_col is None:
        rest = [c for c in usable if c != pos_col and shape(c).words >= 1.5]
        ranked = sorted(rest, key=lambda c: (-shape(c).query_score, shape(c).mean_len, columns.index(c)))
        if pos_col is None and len(ranked) >= 2:
            # keep the longest column for the positive unless it is also the only question-like one
            longest = max(ranked, key=lambda c: shape(c).mean_len)
            if ranked[0] == longest and shape(ranked[1]).query_score >= shape(longest).query_score - 0.5:
                ranked = [c for c in ranked if c != longest]
        query_col = ranked[0] if ranked else None
        if query_col is not None:
            sh = shape(query_col)
            notes.append(
                f"no query-like column name: guessed {query_col!r} from its content "
                f"({sh.question_share:.0%} look like questions, {sh.words:.1f} words on average)"
            )
    if pos_col is None and query_col is not None:
        rest = [c for c in usable if c != query_col and shape(c).words >= 1.5]
        if rest:
            pos_col = max(rest, key=lambda c: (shape(c).mean_len, -columns.index(c)))
            notes.append(
                f"no positive-like column name: guessed {pos_col!r}, the longest text column "
                f"({shape(pos_col).mean_len:.0f} characters on average)"
            )
    if query_col is None or pos_col is None:
        skipped = [c for c in columns if shape(c).code_like]
        why = f"; ID / code-like columns are never used as text: {columns_text(skipped)}" if skipped else ""
        raise EmbcoreError(
            f"{name}: need at least two text columns (query and positive); columns: {columns_text(columns)}{why}"
        )
    if guessed:
        codes = [c for c in columns if shape(c).code_like and c not in (query_col, pos_col)]
        if codes:
            notes.append(f"not used as text (ID / code-like values): {columns_text(codes, 5)}")
    used = {query_col, pos_col}
    others = _find(columns, POSITIVE_NAMES, used)
    if others:
        notes.append(
            f"{pos_col!r} used as positive; {', '.join(map(repr, others))} could be used too (--pos-col {pos_col},{others[0]})"
        )
    neg = _find(columns, NEGATIVE_NAMES, used)
    neg_col = neg[0] if neg else None
    score = _find(columns, SCORE_NAMES, used | ({neg_col} if neg_col else set()))
    score_col = next((c for c in score if _looks_numeric(df[c])), None)
    sample_type = None
    if score_col:
        sample_type = "symmetric"
        notes.append(f"numeric {score_col!r} column: pair data, high scores become positives")
    used |= {c for c in (neg_col, score_col) if c}
    meta = [c for c in columns if c not in used and c not in others and _looks_like_meta(df[c])]
    if len(meta) > MAX_AUTO_META:
        notes.append(
            f"metadata: the first {MAX_AUTO_META} of {len(meta)} candidate columns kept "
            f"({columns_text(meta[:MAX_AUTO_META], 5)}); choose others with --meta-cols"
        )
        meta = meta[:MAX_AUTO_META]
    elif meta:
        notes.append(f"metadata: {', '.join(meta)}")
    return FieldMapping(
        query_col, [pos_col], meta, neg_col, score_col, sample_type=sample_type, notes=notes, guessed=guessed
    )


_WH_START = re.compile(
    r"^(what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|should|would|will|"
    r"has|have|had|may|might|must|shall|list|name|describe|explain)\b",
    re.IGNORECASE,
)
_ZH_QUESTION = re.compile(r"(什么|怎么|怎样|如何|为什么|为何|哪|谁|多少|几|是否|能否|可否|吗|呢)")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_.\-/:#]*$")


@dataclass
class _ColumnShape:
    """What a column's values look like (from the first non-empty values)."""

    textual: bool = False
    code_like: bool = False
    mean_len: float = 0.0
    words: float = 0.0
    question_share: float = 0.0
    distinct_ratio: float = 0.0

    @property
    def query_score(self) -> float:
        # questions first; then several words and mostly distinct values; very long cells are passages
        long_penalty = 1.0 if self.mean_len > 300 else 0.0
        return 3 * self.question_share + self.distinct_ratio + min(self.words, 12) / 12 - long_penalty


def _column_shape(s: pd.Series, n: int = 2000) -> _ColumnShape:
    vals = [v.tolist() if hasattr(v, "tolist") and not isinstance(v, str) else v for v in s.dropna().head(n)]
    if not vals:
        return _ColumnShape()
    if not all(isinstance(v, str | list | tuple | dict) for v in vals[:200]) or _looks_numeric(s):
        return _ColumnShape(textual=False, code_like=bool(_looks_numeric(s)))
    texts = [" ".join(cell_texts(v)) for v in vals]
    texts = [t for t in texts if t]
    if not texts:
        return _ColumnShape()
    lens = [len(t) for t in texts]
    mean_len = sum(lens) / len(lens)
    # words: whitespace tokens, or CJK characters / 2 (Chinese has no spaces)
    words = sum(max(len(t.split()), sum(1 for c in t if "\u4e00" <= c <= "\u9fff") / 2) for t in texts) / len(
        texts
    )
    distinct = len(set(texts))
    distinct_ratio = distinct / len(texts)
    questions = sum(
        1 for t in texts if t.endswith(("?", "？")) or _WH_START.match(t) or _ZH_QUESTION.search(t)
    )
    codes = sum(1 for t in texts if len(t) <= 16 and _CODE.match(t))
    n = len(texts)
    code_like = questions < 0.5 * n and (
        codes >= 0.8 * n  # AAA, CCC, SKU-123, 2023_10K
        or (words < 1.5 and distinct <= max(3, 0.05 * n) and n >= 20)  # a handful of labels
        or (words < 1.5 and mean_len <= 12 and distinct_ratio >= 0.95 and n >= 20)  # ids
    )
    return _ColumnShape(True, code_like, mean_len, words, questions / n, distinct_ratio)


def _mean_len(s: pd.Series) -> float:
    vals = s.dropna().head(500)
    return float(vals.map(lambda v: len(str(v))).mean()) if len(vals) else 0.0


def _looks_numeric(s: pd.Series) -> bool:
    vals = s.dropna().head(500)
    if len(vals) == 0:
        return False
    return (
        pd.to_numeric(vals.map(lambda v: v if not isinstance(v, list) else None), errors="coerce")
        .notna()
        .all()
    )


def _looks_like_meta(s: pd.Series) -> bool:
    vals = s.dropna()
    if len(vals) == 0 or any(isinstance(v, list | dict) for v in vals.head(100)):
        return False
    if _mean_len(s) > 40:
        return False
    n_unique = vals.astype(str).nunique()
    if n_unique == len(vals) and len(vals) > 10:
        return False  # one value per row: a row id, useless for rules and it would keep every row apart
    return n_unique <= max(2, int(0.5 * len(vals))) or n_unique <= 100


def validate_mapping(raw: RawTable, mapping: FieldMapping) -> None:
    """Raise :class:`EmbcoreError` naming the existing columns if the mapping uses an unknown one."""
    cols = raw.columns
    wanted = [("query column", mapping.query_col)]
    wanted += [("positive column", c) for c in mapping.pos_cols]
    wanted += [("metadata column", c) for c in mapping.meta_cols]
    wanted += [("negative column", mapping.neg_col), ("score column", mapping.score_col)]
    for what, col in wanted:
        if col is not None and col not in cols:
            raise EmbcoreError(
                f"{raw.name}: unknown {what} {col!r}; columns in the file: {columns_text(cols)}"
            )
    if not mapping.pos_cols:
        raise EmbcoreError(
            f"{raw.name}: choose at least one positive column; columns in the file: {columns_text(cols)}"
        )
    if mapping.query_col in mapping.pos_cols:
        raise EmbcoreError(
            f"{raw.name}: column {mapping.query_col!r} cannot be both the query and a positive"
        )
    mapping.validate()
