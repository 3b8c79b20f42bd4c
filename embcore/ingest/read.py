"""Read CSV / TSV / JSON / JSONL / Parquet into a :class:`RawTable`: detect the format, the text
encoding (with per-line fallbacks) and the delimiter, and tidy the column names.

The ingest flow is :func:`read_table` -> :func:`embcore.ingest.mapping.suggest_mapping` (or a
user mapping) -> :func:`embcore.ingest.samples.build_samples`.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.text import clean_text

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
            log.info(
                "%s: %d line(s) not UTF-8, decoded as %s (first: line %d)", name, len(lines), codec, lines[0]
            )
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
_CJK_CODECS = {
    "gb18030",
    "big5",
    "big5hkscs",
    "cp950",
    "shift_jis",
    "cp932",
    "euc_jp",
    "euc_kr",
    "cp949",
    "johab",
}


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
                raise EmbcoreError(
                    f"{name}: has a {enc} byte-order mark but invalid bytes at offset {exc.start}"
                ) from exc
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


def _rows_of_lines(
    text: str, fmt: str, delimiter: str | None, lines: dict[str, list[int]]
) -> dict[str, list[int]]:
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
        raise EmbcoreError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
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
            raise EmbcoreError(
                f"{name}: record {i} is a {type(rec).__name__}, expected an object with named fields"
            )
    return pd.DataFrame.from_records(obj)


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EmbcoreError(
                f"{name}: line {lineno} is not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
        except RecursionError as exc:
            raise EmbcoreError(
                f"{name}: line {lineno}: JSON nested too deeply to read (hundreds of levels)"
            ) from exc
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


def columns_text(columns: Sequence[str], limit: int = 20) -> str:
    """Column names for a message: the first ``limit`` and how many more (a file may have thousands)."""
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns) - limit} more)" if len(columns) > limit else "")
