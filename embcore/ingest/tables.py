"""Read CSV / TSV / JSON / JSONL / Parquet, detect encoding and delimiter, clean, map fields, group.

The flow is ``read_table`` -> ``suggest_mapping`` (or a user mapping) -> ``build_samples``.
Every row that does not make it into a sample is reported in ``IngestResult.dropped`` with its
1-based row number (data records, header excluded), the column involved and the reason.
"""

from __future__ import annotations

import bisect
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
from embcore.text import clean_text, match_key, text_hash

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
        fallback_lines: codec -> 1-based physical lines (header = line 1) that were not valid
            UTF-8 in an otherwise UTF-8 file and were decoded with that codec, line by line.
        fallback_rows: codec -> 1-based data records holding such a line (CSV/TSV/JSONL).
    """

    df: pd.DataFrame
    name: str
    sha256: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    fallback_lines: dict[str, list[int]] = field(default_factory=dict)
    fallback_rows: dict[str, list[int]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.df.columns]

    def decoding_report(self, limit: int = 100) -> dict[str, Any]:
        """How the bytes were decoded: the file's encoding and, per fallback codec, the lines / rows
        decoded with it (the first ``limit`` of each, plus their counts). Empty lists when none."""
        fallback = {
            codec: {
                "lines": lines[:limit],
                "n_lines": len(lines),
                "rows": self.fallback_rows.get(codec, [])[:limit],
                "n_rows": len(self.fallback_rows.get(codec, [])),
            }
            for codec, lines in self.fallback_lines.items()
        }
        return {"encoding": self.encoding, "fallback": fallback}


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
    decoded = decode_text(data, name, encoding)
    text, enc = decoded.text, decoded.encoding
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
    rows: dict[str, list[int]] = {}
    if decoded.fallback_lines:
        rows = _rows_of_lines(text, fmt, delim, decoded.fallback_lines)
        for codec, lines in decoded.fallback_lines.items():
            log.info("%s: %d line(s) not UTF-8, decoded as %s (first: line %d)", name, len(lines), codec, lines[0])
    return RawTable(_tidy_columns(df, name), name, sha, fmt, enc, delim, decoded.fallback_lines, rows)


def _read_bytes(source: Any, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise EmbcoreError(f"{path}: no such file")
        if path.is_dir():
            raise EmbcoreError(f"{path}: is a directory, not a data file")
        try:
            return path.read_bytes(), name or str(path)
        except OSError as exc:
            raise EmbcoreError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
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
        except (ValueError, UnicodeDecodeError, RecursionError):
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


@dataclass
class Decoded:
    """Text decoded from a file's bytes.

    Attributes:
        text: the decoded text.
        encoding: the file's encoding.
        fallback_lines: codec -> 1-based line numbers that were not valid in ``encoding``
            (UTF-8) and were decoded, each on its own, with that codec.
    """

    text: str
    encoding: str
    fallback_lines: dict[str, list[int]] = field(default_factory=dict)


# Legacy multi-byte codecs that a non-UTF-8 line may use (Chinese, Japanese, Korean); any other
# non-UTF-8 line is read as Windows-1252 (Latin-1 where cp1252 leaves a byte undefined).
_CJK_CODECS = {"gb18030", "big5", "big5hkscs", "cp950", "shift_jis", "cp932", "euc_jp", "euc_kr", "cp949", "johab"}


def decode_bytes(data: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode file bytes, detecting the encoding when not given; ``(text, encoding)``.

    See :func:`decode_text`, which also says which lines needed a fallback codec.
    """
    decoded = decode_text(data, name, encoding)
    return decoded.text, decoded.encoding


def decode_text(data: bytes, name: str, encoding: str | None = None) -> Decoded:
    """Decode file bytes, detecting the encoding when not given.

    Order: BOM (UTF-8/16/32) -> UTF-16 without BOM (NUL pattern) -> strict UTF-8 -> UTF-8
    line by line when most non-ASCII lines are UTF-8 (a few pasted Latin-1 / cp1252 / GBK
    lines are decoded on their own with a codec detected from those lines only, and reported;
    they never change how the UTF-8 lines read) -> charset detection of the whole file
    (GB18030 for GBK/GB2312 Chinese files, Big5, Shift-JIS, cp125x ...).

    Raises:
        EmbcoreError: the bytes are not text in any supported encoding (e.g. a binary file), or
            a forced ``encoding`` does not fit (the message lists the lines that do not decode).
    """
    if encoding:
        try:
            return Decoded(data.decode(encoding), encoding)
        except LookupError as exc:
            raise EmbcoreError(f"{name}: unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            bad = _bad_lines(data, encoding)
            if len(bad) == 1:
                where = f"line {bad[0]} is not {encoding}"
            elif bad:
                where = f"lines {_some(bad)} are not {encoding}"
            else:
                where = f"invalid bytes at offset {exc.start}"
            raise EmbcoreError(f"{name}: cannot decode as {encoding}: {where}") from exc
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(enc), enc)
            except UnicodeDecodeError as exc:
                raise EmbcoreError(f"{name}: has a {enc} byte-order mark but invalid bytes at offset {exc.start}") from exc
    # UTF-16 without BOM first: ASCII text in UTF-16 is also valid (NUL-ridden) UTF-8
    sample = data[:4096]
    if sample.count(b"\x00") > len(sample) // 4:
        enc = "utf-16-le" if sample[1::2].count(b"\x00") > sample[0::2].count(b"\x00") else "utf-16-be"
        try:
            return Decoded(_check_text(data.decode(enc), name, enc), enc)
        except (UnicodeDecodeError, EmbcoreError):
            pass
    try:
        return Decoded(_check_text(data.decode("utf-8"), name, "utf-8"), "utf-8")
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    mixed = _decode_mixed_utf8(data, name)
    if mixed is not None:
        return mixed
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        enc = "gb18030" if best.encoding.lower().replace("_", "") in _GB_FAMILY else best.encoding
        try:
            return Decoded(_check_text(data.decode(enc), name, enc), enc)
        except (UnicodeDecodeError, LookupError):
            pass
    raise EmbcoreError(
        f"{name}: cannot decode the bytes as text (not UTF-8: invalid byte 0x{data[first_bad]:02x} at offset "
        f"{first_bad}; no other encoding fits either); save the file as UTF-8 or pass --encoding"
    )


def _some(values: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _bad_lines(data: bytes, encoding: str) -> list[int]:
    """1-based numbers of the lines that do not decode in ``encoding`` (byte-oriented codecs only)."""
    if encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32")):
        return []
    bad = []
    for i, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad.append(i)
    return bad


def _decode_mixed_utf8(data: bytes, name: str) -> Decoded | None:
    """UTF-8 with some lines in a legacy codec: decode line by line, or None when not that case.

    Steps: 1. split on LF (no codec handled here uses that byte inside a character). 2. count
    non-ASCII lines that are valid UTF-8 and lines that are not. 3. a file is "mostly UTF-8"
    when some non-ASCII lines are UTF-8 and the bad ones are at most four times as many (a
    GBK or cp1252 file has no or only accidental UTF-8 lines: it is decoded whole, as before).
    4. the bad lines are decoded with one codec chosen from them alone: a CJK codec when
    charset detection on those lines finds one, else cp1252, else latin-1 (never fails).
    """
    lines = data.split(b"\n")
    good = 0
    bad: list[int] = []
    for i, line in enumerate(lines):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad.append(i)
    if not good or len(bad) > 4 * good:
        return None
    codec = _fallback_codec([lines[i] for i in bad])
    bad_set = set(bad)
    out = ["" if i in bad_set else line.decode("utf-8") for i, line in enumerate(lines)]
    used: dict[str, list[int]] = {}
    for i in bad:
        try:
            out[i] = lines[i].decode(codec)
            used.setdefault(codec, []).append(i + 1)
        except UnicodeDecodeError:
            out[i] = lines[i].decode("latin-1")
            used.setdefault("latin-1", []).append(i + 1)
    text = "\n".join(out)
    return Decoded(_check_text(text, name, "utf-8"), "utf-8", used)


def _fallback_codec(bad_lines: Sequence[bytes]) -> str:
    blob = b"\n".join(bad_lines)
    from charset_normalizer import from_bytes

    best = from_bytes(blob).best()
    if best is not None and best.encoding:
        enc = best.encoding.lower().replace("-", "_")
        enc = "gb18030" if enc.replace("_", "") in _GB_FAMILY else enc
        if enc in _CJK_CODECS:
            try:
                blob.decode(enc)
                return enc
            except (UnicodeDecodeError, LookupError):
                pass
    try:
        blob.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _rows_of_lines(text: str, fmt: str, delimiter: str | None, lines: dict[str, list[int]]) -> dict[str, list[int]]:
    """Map 1-based physical lines to 1-based data records (header excluded) for CSV/TSV and JSONL."""
    spans: list[tuple[int, int]] = []  # (first line, last line) of each data record
    if fmt == "jsonl":
        spans = [(i, i) for i, ln in enumerate(text.split("\n"), start=1) if ln.strip()]
    elif fmt in ("csv", "tsv") and delimiter:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        prev, header = 0, False
        try:
            for rec in reader:
                start, prev = prev + 1, reader.line_num
                if not rec or all(not c.strip() for c in rec) and len(rec) == 1:
                    continue
                if not header:
                    header = True
                    continue
                spans.append((start, prev))
        except csv.Error:
            return {}
    if not spans:
        return {}
    starts = [a for a, _ in spans]
    out: dict[str, list[int]] = {}
    for codec, nums in lines.items():
        rows = []
        for ln in nums:
            k = bisect.bisect_right(starts, ln) - 1
            if k >= 0 and spans[k][0] <= ln <= spans[k][1]:
                rows.append(k + 1)
        out[codec] = sorted(set(rows))
    return out


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
    except RecursionError as exc:
        raise EmbcoreError(f"{name}: JSON nested too deeply to read (hundreds of levels of [ or {{)") from exc
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
        except RecursionError as exc:
            raise EmbcoreError(f"{name}: line {lineno}: JSON nested too deeply to read (hundreds of levels)") from exc
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
    pos = [c for c in _find(columns, _PASSAGE_FIRST, used) or _find(columns, POSITIVE_NAMES, used) if c in usable]
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
        why = f"; ID / code-like columns are never used as text: {_cols_text(skipped)}" if skipped else ""
        raise EmbcoreError(
            f"{name}: need at least two text columns (query and positive); columns: {_cols_text(columns)}{why}"
        )
    if guessed:
        codes = [c for c in columns if shape(c).code_like and c not in (query_col, pos_col)]
        if codes:
            notes.append(f"not used as text (ID / code-like values): {_cols_text(codes, 5)}")
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
    if len(meta) > MAX_AUTO_META:
        notes.append(
            f"metadata: the first {MAX_AUTO_META} of {len(meta)} candidate columns kept "
            f"({_cols_text(meta[:MAX_AUTO_META], 5)}); choose others with --meta-cols"
        )
        meta = meta[:MAX_AUTO_META]
    elif meta:
        notes.append(f"metadata: {', '.join(meta)}")
    return FieldMapping(
        query_col, [pos_col], meta, neg_col, score_col, sample_type=sample_type, notes=notes, guessed=guessed
    )


def _cols_text(columns: Sequence[str], limit: int = 20) -> str:
    """Column names for a message: the first ``limit`` and how many more (a file may have thousands)."""
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns) - limit} more)" if len(columns) > limit else "")


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
    texts = [" ".join(_cell_texts(v)) for v in vals]
    texts = [t for t in texts if t]
    if not texts:
        return _ColumnShape()
    lens = [len(t) for t in texts]
    mean_len = sum(lens) / len(lens)
    # words: whitespace tokens, or CJK characters / 2 (Chinese has no spaces)
    words = sum(max(len(t.split()), sum(1 for c in t if "\u4e00" <= c <= "\u9fff") / 2) for t in texts) / len(texts)
    distinct = len(set(texts))
    distinct_ratio = distinct / len(texts)
    questions = sum(1 for t in texts if t.endswith(("?", "？")) or _WH_START.match(t) or _ZH_QUESTION.search(t))
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
    return pd.to_numeric(vals.map(lambda v: v if not isinstance(v, list) else None), errors="coerce").notna().all()


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
            raise EmbcoreError(f"{raw.name}: unknown {what} {col!r}; columns in the file: {_cols_text(cols)}")
    if not mapping.pos_cols:
        raise EmbcoreError(f"{raw.name}: choose at least one positive column; columns in the file: {_cols_text(cols)}")
    if mapping.query_col in mapping.pos_cols:
        raise EmbcoreError(f"{raw.name}: column {mapping.query_col!r} cannot be both the query and a positive")
    mapping.validate()


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
    """One training sample: a query with its positives (and negatives given by the data).

    ``key`` identifies the sample within its project (the store's uniqueness key): the hash of
    the query text, or of the text plus the grouping metadata when rows with the same text but
    other metadata stay separate samples (``merge_queries="text+meta"``). Empty = text hash.
    """

    query: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    pos_labels: list[float | None] = field(default_factory=list)
    neg_labels: list[float | None] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    source_rows: list[int] = field(default_factory=list)
    type: str | None = None
    key: str = ""


# How many examples / row numbers a report lists at most (the counts are always complete).
REPORT_EXAMPLES = 5
REPORT_ROWS = 10


@dataclass
class IngestResult:
    """Samples built from a raw table plus the full cleaning report."""

    samples: list[Sample]
    dropped: list[DroppedRow]
    mapping: FieldMapping
    n_rows: int
    stats: dict[str, Any] = field(default_factory=dict)
    decoding: dict[str, Any] = field(default_factory=dict)

    def dropped_by_reason(self) -> dict[str, int]:
        """Dropped rows per reason code (a row missing query and positive counts under both)."""
        reasons: dict[str, int] = {}
        for d in self.dropped:
            for code in d.code.split("+"):
                reasons[code] = reasons.get(code, 0) + 1
        return reasons

    def report(self) -> dict[str, Any]:
        """JSON-able cleaning report (stored with the project and in the manifest)."""
        out = {
            "rows_read": self.n_rows,
            "rows_dropped": len(self.dropped),
            "dropped_by_reason": self.dropped_by_reason(),
            "dropped": [d.to_dict() for d in self.dropped],
            **self.stats,
        }
        if self.decoding.get("fallback"):
            out["decoding"] = self.decoding
        return out

    def check_usable(self, name: str) -> None:
        """Stop on data that cannot make a dataset.

        Raises:
            EmbcoreError: every row was dropped, or every row repeats one single (query, positive) pair.
        """
        reasons = self.dropped_by_reason()
        if not self.samples:
            top = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
            raise EmbcoreError(f"{name}: no usable rows (all {self.n_rows} rows were dropped; {top})")
        if len(self.samples) == 1 and self.n_rows > 1 and reasons.get("duplicate"):
            first = self.samples[0].source_rows[0]
            raise EmbcoreError(
                f"{name}: every row is a duplicate: the {self.n_rows} rows hold a single distinct (query, positive) "
                f"pair (row {first}; {reasons['duplicate']} duplicates); a dataset needs several distinct pairs"
            )


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


class _Cells:
    """Cleans cells, treating null-like texts ("NaN", "null", ...) as missing and counting them."""

    def __init__(self, nulls: frozenset[str]) -> None:
        self.nulls = nulls
        self.hits: dict[str, dict[str, int]] = {}  # column -> null-like text -> cells

    def texts(self, value: Any, column: str) -> list[str]:
        texts = _cell_texts(value)
        keep = [t for t in texts if t not in self.nulls]
        if len(keep) < len(texts):
            per = self.hits.setdefault(column, {})
            for t in texts:
                if t in self.nulls:
                    per[t] = per.get(t, 0) + 1
        return keep

    def missing(self, values: Sequence[Any]) -> bool:
        """True when every value is absent, empty or null-like (not merely empty after cleaning)."""
        for v in values:
            if _is_missing(v):
                continue
            texts = _cell_texts(v)
            if not texts or any(t not in self.nulls for t in texts):
                return False
        return True


def sample_key(query: str, group_meta: Sequence[str] | None) -> str:
    """The store key of a sample: hash of the query text (+ the grouping metadata values, if any)."""
    if not group_meta:
        return text_hash(query)
    return text_hash(query + "\x1f" + json.dumps(list(group_meta), ensure_ascii=False))


def build_samples(raw: RawTable, mapping: FieldMapping) -> IngestResult:
    """Clean every row, drop the unusable ones (with reasons) and group rows into samples.

    Steps: 1. validate the mapping. 2. per row: clean query, positives and metadata (NFKC,
    invisible characters, whitespace; null-like texts such as "NaN" or "null" are missing;
    passages equal after :func:`match_key` share the first-seen spelling, so they are stored,
    split and filtered as one passage); a positive equal to the query is removed; drop rows
    whose query or every positive is empty/missing. 3. pair data: the score decides positive /
    given negative / drop. 4. drop rows whose every (query, positive) pair was already seen.
    5. group rows sharing a query (by normalised text, and by the metadata values unless
    ``mapping.merge_queries == "text"``) into one sample with several positives.

    Raises:
        EmbcoreError: invalid mapping, or a cell too deeply nested to read.
    """
    validate_mapping(raw, mapping)
    try:
        return _build_samples(raw, mapping)
    except RecursionError as exc:
        raise EmbcoreError(f"{raw.name}: a cell is nested too deeply to read (hundreds of levels)") from exc


def _build_samples(raw: RawTable, mapping: FieldMapping) -> IngestResult:
    df = raw.df
    cells = _Cells(mapping.nulls())
    dropped: list[DroppedRow] = []
    samples: dict[str, Sample] = {}
    group_metas: dict[str, set[tuple[str, ...]]] = {}  # sample -> distinct metadata of its rows
    seen_pairs: dict[tuple[str, str], int] = {}
    # passages equal up to case / width / spacing are one passage (the first spelling wins)
    canonical: dict[str, str] = {}
    pos_threshold, neg_threshold = _thresholds(df, mapping)
    by_meta = mapping.merge_queries == "text+meta" and bool(mapping.meta_cols)
    q_vals = df[mapping.query_col].tolist()
    pos_vals = [df[c].tolist() for c in mapping.pos_cols]
    neg_vals = df[mapping.neg_col].tolist() if mapping.neg_col else None
    score_vals = df[mapping.score_col].tolist() if mapping.score_col else None
    meta_vals = {c: df[c].tolist() for c in mapping.meta_cols}
    pos_label = ",".join(mapping.pos_cols)
    n_pairs_pos = n_pairs_neg = 0
    same_as_query: list[int] = []  # rows that lost a positive equal to their query (and kept others)
    for i in range(len(df)):
        row = i + 1
        # 2. query and positives (a row missing both is reported with both reasons)
        q_raw = q_vals[i]
        query = " ".join(cells.texts(q_raw, mapping.query_col))
        texts: list[str] = []
        for col, col_vals in zip(mapping.pos_cols, pos_vals, strict=True):
            texts.extend(cells.texts(col_vals[i], col))
        texts = list(dict.fromkeys(canonical.setdefault(match_key(t), t) for t in texts))
        key = match_key(query)
        n_before = len(texts)
        if query:
            texts = [t for t in texts if match_key(t) != key]
        problems: list[tuple[str, str, str]] = []
        if not query:
            if cells.missing([q_raw]):
                problems.append(("missing_query", f"missing query ({_missing_what(q_raw)})", mapping.query_col))
            else:
                problems.append(("empty_query", "empty query after cleaning", mapping.query_col))
        if not texts:
            if n_before and query:
                problems.append(("query_equals_positive", "the query equals its positive (after normalisation)", pos_label))
            elif cells.missing([v[i] for v in pos_vals]):
                what = _missing_what(pos_vals[0][i]) if len(pos_vals) == 1 else "empty, NaN or null"
                problems.append(("missing_positive", f"missing positive ({what})", pos_label))
            else:
                problems.append(("empty_positive", "empty positive after cleaning", pos_label))
        if problems:
            dropped.append(
                DroppedRow(row, "; ".join(p[1] for p in problems), ",".join(p[2] for p in problems), "+".join(p[0] for p in problems))
            )
            continue
        if len(texts) < n_before:
            same_as_query.append(row)
        negatives = (
            [canonical.setdefault(match_key(t), t) for t in cells.texts(neg_vals[i], mapping.neg_col or "")]
            if neg_vals is not None
            else []
        )
        negatives = [t for t in negatives if match_key(t) != key]
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
        meta: dict[str, str] = {}
        for c in mapping.meta_cols:
            vals = cells.texts(meta_vals[c][i], c)
            if vals:
                meta[c] = " ".join(vals)
        meta_tuple = tuple(meta.get(c, "") for c in mapping.meta_cols)
        group = key + "\x1f" + json.dumps(meta_tuple, ensure_ascii=False) if by_meta else key
        # 4. exact duplicates (within the group: the same pair under other metadata is another sample)
        kind = "neg" if as_negative else "pos"
        new = [t for t in texts if (group, kind + match_key(t)) not in seen_pairs]
        if not new and not negatives:
            first = seen_pairs[(group, kind + match_key(texts[0]))]
            dropped.append(
                DroppedRow(row, f"duplicate (query, positive) pair of row {first}", mapping.query_col, "duplicate")
            )
            continue
        for t in new:
            seen_pairs[(group, kind + match_key(t))] = row
        # 5. group by query (and metadata)
        sample = samples.get(group)
        if sample is None:
            sample = samples[group] = Sample(
                query=query,
                positives=[],
                meta=meta,
                type=mapping.sample_type,
                key=sample_key(query, meta_tuple if by_meta else None),
            )
        group_metas.setdefault(group, set()).add(meta_tuple)
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
    stats: dict[str, Any] = {
        "samples": len(result),
        "unique_passages": len(passages),
        "positives": sum(len(s.positives) for s in result),
        "queries_with_several_positives": sum(1 for s in result if len(s.positives) > 1),
        "merging": _merge_report(mapping, samples, group_metas),
    }
    if score_vals is not None:
        stats.update(pairs_positive=n_pairs_pos, pairs_negative=n_pairs_neg)
    if cells.hits:
        stats["null_like"] = cells.hits
    if same_as_query:
        stats["positive_equal_to_query_removed"] = {"rows": same_as_query[:REPORT_ROWS], "count": len(same_as_query)}
    decoding = raw.decoding_report() if raw.fallback_lines else {}
    log.info("ingest %s: %d rows -> %d samples, %d dropped", raw.name, len(df), len(result), len(dropped))
    return IngestResult(result, dropped, mapping, len(df), stats, decoding)


def _missing_what(value: Any) -> str:
    if _is_missing(value):
        return "empty cell"
    texts = _cell_texts(value)
    return f"{texts[0]!r} counts as missing" if texts else "empty cell"


def _merge_report(
    mapping: FieldMapping, samples: dict[str, Sample], group_metas: dict[str, set[tuple[str, ...]]]
) -> dict[str, Any]:
    """How rows were merged into samples: counts plus a few examples (bounded in size)."""
    kept = [(g, s) for g, s in samples.items() if s.positives]
    merged = [s for _, s in kept if len(s.source_rows) > 1]
    out: dict[str, Any] = {
        "policy": mapping.merge_queries,
        "group_columns": list(mapping.meta_cols) if mapping.merge_queries == "text+meta" else [],
        "merged_samples": len(merged),
        "merged_rows": sum(len(s.source_rows) for s in merged),
        "examples": [
            {"query": s.query, "rows": s.source_rows[:REPORT_ROWS], "n_rows": len(s.source_rows), "positives": len(s.positives)}
            for s in merged[:REPORT_EXAMPLES]
        ],
    }
    cols = list(mapping.meta_cols)
    if mapping.merge_queries == "text" and cols:
        mixed = [(g, s) for g, s in kept if len(group_metas.get(g, ())) > 1]
        out["merged_across_metadata"] = len(mixed)
        out["merged_across_metadata_examples"] = [
            {"query": s.query, "rows": s.source_rows[:REPORT_ROWS], "meta": [dict(zip(cols, m, strict=True)) for m in sorted(group_metas[g])[:REPORT_EXAMPLES]]}
            for g, s in mixed[:REPORT_EXAMPLES]
        ]
    elif cols:
        by_text: dict[str, list[Sample]] = {}
        for _, s in kept:
            by_text.setdefault(match_key(s.query), []).append(s)
        split = [group for group in by_text.values() if len(group) > 1]
        out["texts_kept_apart"] = len(split)
        out["samples_kept_apart"] = sum(len(g) for g in split)
        out["kept_apart_examples"] = [
            {"query": g[0].query, "samples": len(g), "meta": [s.meta for s in g[:REPORT_EXAMPLES]]}
            for g in split[:REPORT_EXAMPLES]
        ]
    return out


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
