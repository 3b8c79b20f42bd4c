"""Read CSV / TSV / JSON / JSONL / Parquet, detect encoding and delimiter, clean, map fields, group.

The flow is ``read_table`` -> ``suggest_mapping`` (or a user mapping) -> ``build_samples``.
Every row that does not make it into a sample is reported in ``IngestResult.dropped`` with its
1-based row number (data records, header excluded), the column involved and the reason.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.text import clean_text, match_key

log = logging.getLogger(__name__)

Format = Literal["csv", "tsv", "json", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "tsv", "json", "jsonl", "parquet")
_EXT_FORMAT = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


# --------------------------------------------------------------------------- reading


@dataclass
class RawTable:
    """A file read into a DataFrame of raw cells (strings, numbers, lists), before cleaning.

    Attributes:
        df: one row per data record, original column names (stripped).
        name: file name shown in messages.
        sha256: hex digest of the file bytes.
        format: detected format.
        encoding: detected text encoding (None for parquet).
        delimiter: detected delimiter for CSV/TSV (None otherwise).
    """

    df: pd.DataFrame
    name: str
    sha256: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.df.columns]


def read_table(
    source: str | Path | BinaryIO | Any,
    *,
    name: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> RawTable:
    """Read a data file from a path or an uploaded file object.

    Args:
        source: a path, or a binary file-like object (e.g. Streamlit's ``UploadedFile``).
        name: display name (defaults to the path or ``source.name``).
        fmt: force the format (one of :data:`FORMATS`); detected from the extension/content otherwise.
        encoding: force the text encoding; detected otherwise (UTF-8, UTF-8-BOM, UTF-16, GB18030, ...).
        delimiter: force the CSV delimiter; sniffed otherwise.

    Returns:
        The raw table.

    Raises:
        EmbcoreError: missing/empty file, unknown format, undecodable bytes, malformed rows.
    """
    data, name = _read_bytes(source, name)
    if not data.strip():
        raise EmbcoreError(f"{name}: the file is empty")
    sha = hashlib.sha256(data).hexdigest()
    fmt = _detect_format(data, name, fmt)
    if fmt == "parquet":
        try:
            df = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001
            raise EmbcoreError(f"{name}: not a readable Parquet file ({exc})") from exc
        return RawTable(_tidy_columns(df, name), name, sha, fmt)
    text, enc = decode_bytes(data, name, encoding)
    if fmt == "json":
        df = _read_json(text, name)
        delim = None
    elif fmt == "jsonl":
        df = _read_jsonl(text, name)
        delim = None
    else:
        delim = delimiter or ("\t" if fmt == "tsv" else sniff_delimiter(text))
        df = _read_csv(text, name, delim)
        fmt = "tsv" if delim == "\t" else "csv"
    if df.shape[0] == 0:
        raise EmbcoreError(f"{name}: the file has a header but no data rows")
    return RawTable(_tidy_columns(df, name), name, sha, fmt, enc, delim)


def _read_bytes(source: Any, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise EmbcoreError(f"{path}: no such file")
        if path.is_dir():
            raise EmbcoreError(f"{path}: is a directory, not a data file")
        return path.read_bytes(), name or str(path)
    if hasattr(source, "getvalue"):
        data = source.getvalue()
    elif hasattr(source, "read"):
        data = source.read()
    else:
        raise EmbcoreError(f"cannot read data from a {type(source).__name__}")
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data), name or str(getattr(source, "name", "uploaded file"))


def _detect_format(data: bytes, name: str, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise EmbcoreError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
        return fmt
    if data[:4] == b"PAR1":
        return "parquet"
    ext = Path(name.lower()).suffix
    if ext in _EXT_FORMAT:
        return _EXT_FORMAT[ext]
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        first = data.lstrip().split(b"\n", 1)[0].strip()
        try:
            json.loads(first.decode("utf-8-sig"))
            return "jsonl"
        except (ValueError, UnicodeDecodeError):
            return "json"
    return "csv"


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936"}


def decode_bytes(data: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode file bytes, detecting the encoding when not given.

    Order: BOM (UTF-8/16/32) -> UTF-16 without BOM (NUL pattern) -> strict UTF-8 ->
    charset detection (GB18030 for GBK/GB2312 Chinese files, Big5, Shift-JIS, cp125x ...).

    Returns:
        (text, encoding name).

    Raises:
        EmbcoreError: the bytes are not text in any supported encoding (e.g. a binary file).
    """
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise EmbcoreError(f"{name}: cannot decode as {encoding}: {exc}") from exc
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise EmbcoreError(f"{name}: has a {enc} byte-order mark but invalid bytes at offset {exc.start}") from exc
    # UTF-16 without BOM first: ASCII text in UTF-16 is also valid (NUL-ridden) UTF-8
    sample = data[:4096]
    if sample.count(b"\x00") > len(sample) // 4:
        enc = "utf-16-le" if sample[1::2].count(b"\x00") > sample[0::2].count(b"\x00") else "utf-16-be"
        try:
            return _check_text(data.decode(enc), name, enc), enc
        except (UnicodeDecodeError, EmbcoreError):
            pass
    try:
        return _check_text(data.decode("utf-8"), name, "utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        enc = "gb18030" if best.encoding.lower().replace("_", "") in _GB_FAMILY else best.encoding
        try:
            return _check_text(data.decode(enc), name, enc), enc
        except (UnicodeDecodeError, LookupError):
            pass
    raise EmbcoreError(
        f"{name}: cannot decode the bytes as text (not UTF-8: invalid byte 0x{data[first_bad]:02x} at offset "
        f"{first_bad}; no other encoding fits either); save the file as UTF-8 or pass --encoding"
    )


def _check_text(text: str, name: str, enc: str) -> str:
    sample = text[:20000]
    if not sample:
        return text
    bad = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\n\r\x0c") or c == "\ufffd")
    if bad > max(3, len(sample) // 100):
        raise EmbcoreError(
            f"{name}: looks like binary data, not text ({bad} control bytes in the first {len(sample)} characters as {enc})"
        )
    return text


def sniff_delimiter(text: str) -> str:
    """Guess the delimiter of a delimited text file among ``, \\t ; |``."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in ",\t;|"}
        best = max(counts, key=counts.get)
        return best if counts[best] > 0 else ","


def _read_csv(text: str, name: str, delimiter: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.EmptyDataError as exc:
        raise EmbcoreError(f"{name}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise EmbcoreError(f"{name}: malformed delimited text ({_first_line(exc)})") from exc


def _read_json(text: str, name: str) -> pd.DataFrame:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmbcoreError(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if isinstance(obj, dict):
        lists = [v for v in obj.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            obj = lists[0]  # {"data": [{...}, ...]}
        elif all(isinstance(v, list) for v in obj.values()) and obj:
            try:
                return pd.DataFrame(obj)  # column-oriented {"question": [...], "context": [...]}
            except ValueError as exc:
                raise EmbcoreError(f"{name}: column lists have different lengths ({exc})") from exc
        else:
            obj = [obj]
    if not isinstance(obj, list):
        raise EmbcoreError(f"{name}: expected a JSON array of records, got {type(obj).__name__}")
    for i, rec in enumerate(obj, start=1):
        if not isinstance(rec, dict):
            raise EmbcoreError(f"{name}: record {i} is a {type(rec).__name__}, expected an object with named fields")
    return pd.DataFrame.from_records(obj)


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EmbcoreError(f"{name}: line {lineno} is not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(rec, dict):
            raise EmbcoreError(f"{name}: line {lineno} is a JSON {type(rec).__name__}, expected an object")
        records.append(rec)
    return pd.DataFrame.from_records(records)


def _tidy_columns(df: pd.DataFrame, name: str) -> pd.DataFrame:
    cols = [clean_text(c) or f"column_{i + 1}" for i, c in enumerate(df.columns)]
    seen: dict[str, int] = {}
    unique = []
    for c in cols:
        if c in seen:
            seen[c] += 1
            unique.append(f"{c}.{seen[c]}")
        else:
            seen[c] = 0
            unique.append(c)
    df = df.copy()
    df.columns = unique
    return df.reset_index(drop=True)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


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
SCORE_NAMES = ("score", "label", "similarity", "relevance", "rating", "gold_label", "分数", "标签", "相似度", "得分")


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
        notes: human-readable reasons behind a suggested mapping.
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
            parts.append(f"meta={','.join(self.meta_cols)}")
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

    Raises:
        EmbcoreError: the table has fewer than two usable columns.
    """
    df = raw.df if isinstance(raw, RawTable) else raw
    columns = [str(c) for c in df.columns]
    notes: list[str] = []
    query = _find(columns, QUERY_NAMES, set())
    query_col = query[0] if query else None
    used = {query_col} if query_col else set()
    pos = _find(columns, _PASSAGE_FIRST, used) or _find(columns, POSITIVE_NAMES, used)
    pos_col = pos[0] if pos else None
    text_cols = [c for c in columns if c not in used and _looks_textual(df[c])]
    if query_col is None or pos_col is None:
        ranked = sorted(text_cols, key=lambda c: _mean_len(df[c]))
        if query_col is None and pos_col is None and len(ranked) >= 2:
            query_col, pos_col = ranked[0], ranked[-1]
            notes.append(f"no familiar column names: shortest text column {query_col!r} as query, longest {pos_col!r} as positive")
        elif query_col is None and pos_col is not None:
            rest = [c for c in ranked if c != pos_col]
            query_col = rest[0] if rest else None
            notes.append(f"no query-like column name: using the shortest text column {query_col!r}")
        elif pos_col is None:
            rest = [c for c in ranked if c != query_col]
            pos_col = rest[-1] if rest else None
            notes.append(f"no positive-like column name: using the longest text column {pos_col!r}")
    if query_col is None or pos_col is None:
        raise EmbcoreError(
            f"{getattr(raw, 'name', 'input')}: need at least two text columns (query and positive); columns: {', '.join(columns)}"
        )
    used = {query_col, pos_col}
    others = _find(columns, POSITIVE_NAMES, used)
    if others:
        notes.append(f"{pos_col!r} used as positive; {', '.join(map(repr, others))} could be used too (--pos-col {pos_col},{others[0]})")
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
    if meta:
        notes.append(f"metadata: {', '.join(meta)}")
    return FieldMapping(query_col, [pos_col], meta, neg_col, score_col, sample_type=sample_type, notes=notes)


def _mean_len(s: pd.Series) -> float:
    vals = s.dropna().head(500)
    return float(vals.map(lambda v: len(str(v))).mean()) if len(vals) else 0.0


def _looks_textual(s: pd.Series) -> bool:
    vals = s.dropna().head(200)
    return len(vals) > 0 and all(isinstance(v, str | list) for v in vals) and not _looks_numeric(s)


def _looks_numeric(s: pd.Series) -> bool:
    vals = s.dropna().head(500)
    if len(vals) == 0:
        return False
    return pd.to_numeric(vals.map(lambda v: v if not isinstance(v, list) else None), errors="coerce").notna().all()


def _looks_like_meta(s: pd.Series) -> bool:
    vals = s.dropna()
    if len(vals) == 0 or any(isinstance(v, list | dict) for v in vals.head(100)):
        return False
    n_unique = vals.astype(str).nunique()
    return _mean_len(s) <= 40 and (n_unique <= max(2, int(0.5 * len(vals))) or n_unique <= 100)


def validate_mapping(raw: RawTable, mapping: FieldMapping) -> None:
    """Raise :class:`EmbcoreError` naming the existing columns if the mapping uses an unknown one."""
    cols = raw.columns
    wanted = [("query column", mapping.query_col)]
    wanted += [("positive column", c) for c in mapping.pos_cols]
    wanted += [("metadata column", c) for c in mapping.meta_cols]
    wanted += [("negative column", mapping.neg_col), ("score column", mapping.score_col)]
    for what, col in wanted:
        if col is not None and col not in cols:
            raise EmbcoreError(f"{raw.name}: unknown {what} {col!r}; columns in the file: {', '.join(cols)}")
    if not mapping.pos_cols:
        raise EmbcoreError(f"{raw.name}: choose at least one positive column; columns in the file: {', '.join(cols)}")
    if mapping.query_col in mapping.pos_cols:
        raise EmbcoreError(f"{raw.name}: column {mapping.query_col!r} cannot be both the query and a positive")


# --------------------------------------------------------------------------- cleaning + grouping


@dataclass
class DroppedRow:
    """A row that did not become (part of) a sample. ``row`` is 1-based over data records."""

    row: int
    reason: str
    column: str | None = None
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sample:
    """One training sample: a query with its positives (and negatives given by the data)."""

    query: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    pos_labels: list[float | None] = field(default_factory=list)
    neg_labels: list[float | None] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    source_rows: list[int] = field(default_factory=list)
    type: str | None = None


@dataclass
class IngestResult:
    """Samples built from a raw table plus the full cleaning report."""

    samples: list[Sample]
    dropped: list[DroppedRow]
    mapping: FieldMapping
    n_rows: int
    stats: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-able cleaning report (stored with the project and in the manifest)."""
        reasons: dict[str, int] = {}
        for d in self.dropped:
            for code in d.code.split("+"):
                reasons[code] = reasons.get(code, 0) + 1
        return {
            "rows_read": self.n_rows,
            "rows_dropped": len(self.dropped),
            "dropped_by_reason": reasons,
            "dropped": [d.to_dict() for d in self.dropped],
            **self.stats,
        }


def _cell_texts(value: Any) -> list[str]:
    """Clean one cell; list-valued cells (JSON arrays, Parquet lists) give several texts."""
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list | tuple):
        out = []
        for v in value:
            out.extend(_cell_texts(v))
        return out
    if isinstance(value, dict):
        value = value.get("text", json.dumps(value, ensure_ascii=False))
    text = clean_text(value)
    return [text] if text else []


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def build_samples(raw: RawTable, mapping: FieldMapping) -> IngestResult:
    """Clean every row, drop the unusable ones (with reasons) and group rows into samples.

    Steps: 1. validate the mapping. 2. per row: clean query and positives (NFKC, invisible
    characters, whitespace; passages equal after :func:`match_key` share the first-seen
    spelling, so they are stored, split and filtered as one passage); drop rows whose query or every positive is empty/missing.
    3. pair data: the score decides positive / given negative / drop. 4. drop rows whose
    every (query, positive) pair was already seen. 5. group rows sharing a query (by
    normalised text) into one sample with several positives.
    """
    validate_mapping(raw, mapping)
    df = raw.df
    dropped: list[DroppedRow] = []
    samples: dict[str, Sample] = {}
    seen_pairs: dict[tuple[str, str], int] = {}
    # passages equal up to case / width / spacing are one passage (the first spelling wins)
    canonical: dict[str, str] = {}
    pos_threshold, neg_threshold = _thresholds(df, mapping)
    q_vals = df[mapping.query_col].tolist()
    pos_vals = [df[c].tolist() for c in mapping.pos_cols]
    neg_vals = df[mapping.neg_col].tolist() if mapping.neg_col else None
    score_vals = df[mapping.score_col].tolist() if mapping.score_col else None
    meta_vals = {c: df[c].tolist() for c in mapping.meta_cols}
    n_pairs_pos = n_pairs_neg = 0
    for i in range(len(df)):
        row = i + 1
        # 2. query and positives (a row missing both is reported with both reasons)
        q_raw = q_vals[i]
        query = clean_text(q_raw) if not isinstance(q_raw, list | tuple) else " ".join(_cell_texts(q_raw))
        texts: list[str] = []
        for col_vals in pos_vals:
            texts.extend(_cell_texts(col_vals[i]))
        texts = list(dict.fromkeys(canonical.setdefault(match_key(t), t) for t in texts))
        problems: list[tuple[str, str, str]] = []
        if not query:
            if _is_missing(q_raw):
                problems.append(("missing_query", "missing query (NaN/null)", mapping.query_col))
            else:
                problems.append(("empty_query", "empty query after cleaning", mapping.query_col))
        if not texts:
            pos_cols = ",".join(mapping.pos_cols)
            if all(_is_missing(col_vals[i]) for col_vals in pos_vals):
                problems.append(("missing_positive", "missing positive (NaN/null)", pos_cols))
            else:
                problems.append(("empty_positive", "empty positive after cleaning", pos_cols))
        if problems:
            dropped.append(
                DroppedRow(row, "; ".join(p[1] for p in problems), ",".join(p[2] for p in problems), "+".join(p[0] for p in problems))
            )
            continue
        negatives = [canonical.setdefault(match_key(t), t) for t in _cell_texts(neg_vals[i])] if neg_vals is not None else []
        label: float | None = None
        as_negative = False
        # 3. pair data: the score decides
        if score_vals is not None:
            label = _to_float(score_vals[i])
            if label is None:
                dropped.append(
                    DroppedRow(row, f"score is not a number ({score_vals[i]!r})", mapping.score_col, "bad_score")
                )
                continue
            if label >= pos_threshold:
                n_pairs_pos += 1
            elif neg_threshold is not None and label <= neg_threshold:
                as_negative = True
                n_pairs_neg += 1
            else:
                why = f"score {label:g} below the positive threshold {pos_threshold:g}"
                if neg_threshold is not None:
                    why = f"score {label:g} between thresholds {neg_threshold:g} and {pos_threshold:g}"
                dropped.append(DroppedRow(row, why, mapping.score_col, "between_thresholds"))
                continue
        # 4. exact duplicates
        key = match_key(query)
        kind = "neg" if as_negative else "pos"
        new = [t for t in texts if (key, kind + match_key(t)) not in seen_pairs]
        if not new and not negatives:
            first = seen_pairs[(key, kind + match_key(texts[0]))]
            dropped.append(
                DroppedRow(row, f"duplicate (query, positive) pair of row {first}", mapping.query_col, "duplicate")
            )
            continue
        for t in new:
            seen_pairs[(key, kind + match_key(t))] = row
        # 5. group by query
        sample = samples.get(key)
        if sample is None:
            meta = {c: clean_text(meta_vals[c][i]) for c in mapping.meta_cols if clean_text(meta_vals[c][i])}
            sample = samples[key] = Sample(query=query, positives=[], meta=meta, type=mapping.sample_type)
        sample.source_rows.append(row)
        if as_negative:
            sample.negatives.extend(new)
            sample.neg_labels.extend([label] * len(new))
        else:
            sample.positives.extend(new)
            sample.pos_labels.extend([label] * len(new))
        for t in negatives:
            if t not in sample.negatives:
                sample.negatives.append(t)
                sample.neg_labels.append(None)
    result = [s for s in samples.values() if s.positives]
    for s in samples.values():
        if not s.positives:
            for r in s.source_rows:
                dropped.append(
                    DroppedRow(r, "query has only negative pairs (no positive)", mapping.score_col, "no_positive")
                )
    dropped.sort(key=lambda d: d.row)
    passages = {t for s in result for t in s.positives + s.negatives}
    stats = {
        "samples": len(result),
        "unique_passages": len(passages),
        "positives": sum(len(s.positives) for s in result),
        "queries_with_several_positives": sum(1 for s in result if len(s.positives) > 1),
    }
    if score_vals is not None:
        stats.update(pairs_positive=n_pairs_pos, pairs_negative=n_pairs_neg)
    log.info("ingest %s: %d rows -> %d samples, %d dropped", raw.name, len(df), len(result), len(dropped))
    return IngestResult(result, dropped, mapping, len(df), stats)


def _to_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _thresholds(df: pd.DataFrame, mapping: FieldMapping) -> tuple[float, float | None]:
    if mapping.score_col is None:
        return 0.0, None
    if mapping.pos_threshold is not None:
        return mapping.pos_threshold, mapping.neg_threshold
    scores = pd.to_numeric(df[mapping.score_col], errors="coerce").dropna()
    top = float(scores.max()) if len(scores) else 1.0
    # labels 0/1 (or probabilities) -> 0.5; STS 0..5 -> 4.0 (80% of the scale)
    return (0.5 if top <= 1.0 else 0.8 * top), mapping.neg_threshold


def ingest(
    source: str | Path | BinaryIO | Any,
    mapping: FieldMapping | None = None,
    *,
    name: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
) -> tuple[RawTable, IngestResult]:
    """Read, map (suggested when ``mapping`` is None) and clean in one call."""
    raw = read_table(source, name=name, fmt=fmt, encoding=encoding)
    mapping = mapping or suggest_mapping(raw)
    return raw, build_samples(raw, mapping)
