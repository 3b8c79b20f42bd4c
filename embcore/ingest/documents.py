"""Read documents: a folder or a zip of .txt / .md / .html / .pdf / .docx files, or a table with a text column.

Every document becomes a :class:`Document`: its extracted text (normalised: NFKC, invisible
characters dropped, spaces collapsed within lines, paragraphs separated by one blank line), a
title and its headings with their character offsets (Markdown ``#``, HTML ``h1``-``h6``, DOCX
heading styles, the PDF outline), so that every chunk can name its heading path. A file that
cannot be read (encrypted PDF, corrupt file, unknown extension, no text, unsafe or oversized zip
member) is reported as a :class:`FileProblem` with the reason, and the others are read.

Parsers (all permissive licences, pure Python or wheels, maintained): ``pypdf`` (BSD) for PDF:
text per page, the outline, encryption detection; ``python-docx`` (MIT) for DOCX: paragraph
styles give the headings; ``beautifulsoup4`` (MIT) over ``lxml`` (BSD, already required by
python-docx) for HTML: lenient with broken markup. PyMuPDF (AGPL) is avoided on purpose.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.ingest.read import RawTable, decode_text, read_table
from embcore.text import clean_text

log = logging.getLogger(__name__)

DOC_EXTENSIONS: tuple[str, ...] = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
"""File types read as documents."""
TABLE_EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet")
"""File types read as a table of documents (one row = one document)."""

MAX_FILE_BYTES = 64 * 1024 * 1024
"""A file (or zip member) larger than this is skipped and reported."""
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
"""A zip whose members would unpack to more than this in all is read only up to it (zip bomb guard)."""
MAX_RATIO = 200
"""A zip member compressed more than this many times is skipped (zip bomb guard)."""
MAX_MEMBERS = 100_000
"""At most this many zip members are looked at."""

TEXT_COLUMN_NAMES = (
    "text",
    "content",
    "body",
    "document",
    "doc",
    "passage",
    "context",
    "article",
    "正文",
    "内容",
)
ID_COLUMN_NAMES = ("id", "_id", "doc_id", "docid", "document_id", "passage_id", "pid", "corpus_id", "编号")
TITLE_COLUMN_NAMES = ("title", "name", "heading", "subject", "标题")


@dataclass
class Heading:
    """A heading of a document: level 1 (top) to 6, its text, and where it starts / ends in the text."""

    level: int
    text: str
    start: int
    end: int


@dataclass
class Document:
    """One document with its extracted text.

    Attributes:
        doc_id: stable id: the path inside the folder / zip, or the table's id column (or ``row N``).
        title: the document's title (metadata, first heading or first line, else the file name).
        text: the extracted, normalised text; chunk offsets are offsets into it.
        source: where it was read from (path, ``zip:member`` or ``table row N``).
        format: txt, md, html, pdf, docx or table.
        headings: headings in text order.
        meta: extra metadata (table columns).
        sha256: digest of the source bytes (or of the text for table rows).
    """

    doc_id: str
    title: str
    text: str
    source: str
    format: str
    headings: list[Heading] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    sha256: str = ""
    _paths: list[tuple[int, tuple[str, ...]]] | None = field(default=None, repr=False)

    def heading_path(self, offset: int) -> tuple[str, ...]:
        """The headings in force at a character offset (outermost first), e.g. ("Item 7", "Liquidity")."""
        if self._paths is None:
            paths: list[tuple[int, tuple[str, ...]]] = []
            stack: list[Heading] = []
            for h in self.headings:
                while stack and stack[-1].level >= h.level:
                    stack.pop()
                stack.append(h)
                paths.append((h.start, tuple(x.text for x in stack)))
            self._paths = paths
        starts = [p[0] for p in self._paths]
        i = bisect.bisect_right(starts, offset) - 1
        return self._paths[i][1] if i >= 0 else ()

    def heading_spans(self) -> list[tuple[int, int]]:
        """[start, end) of every heading line (chunkers keep headings out of chunk texts)."""
        return [(h.start, h.end) for h in self.headings]


@dataclass
class FileProblem:
    """A file that could not be read, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class DocumentSet:
    """Documents read from one input, the files that could not be read, and a digest of the input."""

    name: str
    documents: list[Document]
    problems: list[FileProblem]
    sha256: str
    format: str
    files_seen: int = 0

    def report(self) -> dict[str, Any]:
        """JSON-able summary for the manifest, the CLI and the app."""
        by_format: dict[str, int] = {}
        for d in self.documents:
            by_format[d.format] = by_format.get(d.format, 0) + 1
        return {
            "input": self.name,
            "files_seen": self.files_seen,
            "documents": len(self.documents),
            "by_format": by_format,
            "characters": sum(len(d.text) for d in self.documents),
            "unreadable": [p.to_dict() for p in self.problems],
        }

    def check_usable(self) -> None:
        """Raises EmbcoreError when nothing was readable (naming the first problems)."""
        if self.documents:
            return
        shown = "; ".join(f"{p.path}: {p.reason}" for p in self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        raise EmbcoreError(f"{self.name}: no readable document" + (f" ({shown}{more})" if shown else ""))


# --------------------------------------------------------------------------- text normalisation

_INVISIBLE_RE = re.compile(
    "[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES_RE = re.compile(r"[ \t\u00a0\u3000]+")
_BLANKS_RE = re.compile(r"\n{3,}")


def normalise_block(text: str) -> str:
    """One block of text normalised like the rest of embcore (NFKC, no invisible / control
    characters) but keeping line breaks: spaces collapse within lines, blank runs to one blank line."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL_RE.sub("", _INVISIBLE_RE.sub("", text))
    lines = [_SPACES_RE.sub(" ", ln).strip() for ln in text.split("\n")]
    return _BLANKS_RE.sub("\n\n", "\n".join(lines)).strip()


class _Builder:
    """Assembles a document's text from blocks, recording heading offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[Heading] = []

    def add(self, text: str, heading_level: int = 0) -> None:
        block = normalise_block(text)
        if not block:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        if heading_level:
            block = " ".join(block.split())
            self.headings.append(Heading(heading_level, block, self.length, self.length + len(block)))
        self.parts.append(block)
        self.length += len(block)

    @property
    def text(self) -> str:
        return "".join(self.parts)


# --------------------------------------------------------------------------- one file per format


def _title_from_name(path: str) -> str:
    stem = PurePosixPath(path).stem
    return " ".join(re.sub(r"[_\-]+", " ", stem).split()) or stem


def read_txt(data: bytes, path: str) -> tuple[str, list[Heading], str]:
    """Plain text: (text, no headings, title = a short first line without final punctuation, else the file name)."""
    text = normalise_block(decode_text(data, path).text)
    first, _, rest = text.partition("\n")
    first = first.strip()
    if (
        first
        and len(first) <= 120
        and rest.startswith("\n")
        and not first.endswith((".", "!", "?", "。", ":", ";"))
    ):
        # a short first line standing alone is the title: a heading, kept out of the chunks
        b = _Builder()
        b.add(first, heading_level=1)
        b.add(rest)
        return b.text, b.headings, first
    return text, [], _title_from_name(path)


_MD_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT_RE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPH_RE = re.compile(r"(\*\*|__|\*|`)")
_MD_FENCE_RE = re.compile(r"^\s*(```|~~~)")


def _md_inline(line: str) -> str:
    return _MD_EMPH_RE.sub("", _MD_LINK_RE.sub(r"\1", line))


def read_md(data: bytes, path: str) -> tuple[str, list[Heading], str]:
    """Markdown: ATX (``#``) and setext headings; links keep their text, emphasis marks are dropped."""
    raw = decode_text(data, path).text.replace("\r\n", "\n").replace("\r", "\n")
    b = _Builder()
    para: list[str] = []
    lines = raw.split("\n")
    in_fence = False

    def flush() -> None:
        if para:
            b.add("\n".join(para))
            para.clear()

    for i, line in enumerate(lines):
        if _MD_FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            para.append(line)
            continue
        m = _MD_HEADING_RE.match(line)
        if m:
            flush()
            b.add(_md_inline(m.group(2)), heading_level=len(m.group(1)))
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _MD_SETEXT_RE.match(nxt) and len(para) == 0:
            b.add(_md_inline(line), heading_level=1 if nxt.strip().startswith("=") else 2)
            continue
        if _MD_SETEXT_RE.match(line) and b.headings and not para:
            continue  # the underline of a setext heading
        if not line.strip():
            flush()
            continue
        para.append(_md_inline(re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)))
    flush()
    title = next((h.text for h in b.headings if h.level == 1), "") or _title_from_name(path)
    return b.text, b.headings, title


_HTML_SKIP = {"script", "style", "noscript", "template", "head", "nav", "svg", "iframe", "form", "button"}
_HTML_BLOCK = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "li", "ul", "ol", "table", "tr",
    "td", "th", "pre", "blockquote", "dt", "dd", "dl", "figure", "figcaption", "br", "hr", "caption",
    "tbody", "thead", "address", "details", "summary",
}  # fmt: skip


def read_html(data: bytes, path: str) -> tuple[str, list[Heading], str]:
    """HTML: text of the body in document order; ``h1``-``h6`` are headings; scripts, styles and navigation skipped."""
    try:
        from bs4 import BeautifulSoup, Comment, NavigableString, Tag
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbcoreError("reading HTML needs beautifulsoup4: pip install beautifulsoup4 lxml") from exc
    text = decode_text(data, path).text
    try:
        soup = BeautifulSoup(text, "lxml")
    except Exception:  # noqa: BLE001 - lxml missing: the standard library parser
        soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    b = _Builder()
    buf: list[str] = []

    def flush() -> None:
        if buf:
            b.add(" ".join(buf))
            buf.clear()

    def walk(node: Any) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                s = str(child)
                if s.strip():
                    buf.append(s.strip())
                continue
            if not isinstance(child, Tag):
                continue
            name = (child.name or "").lower()
            if name in _HTML_SKIP:
                continue
            if re.fullmatch(r"h[1-6]", name):
                flush()
                b.add(child.get_text(" ", strip=True), heading_level=int(name[1]))
                continue
            block = name in _HTML_BLOCK
            if block:
                flush()
            walk(child)
            if block:
                flush()

    walk(soup.body or soup)
    flush()
    title = (title_tag.get_text(" ", strip=True) if title_tag else "") or next(
        (h.text for h in b.headings if h.level == 1), ""
    )
    return b.text, b.headings, clean_text(title) or _title_from_name(path)


def read_pdf(data: bytes, path: str) -> tuple[str, list[Heading], str]:
    """PDF: text of every page; the outline (bookmarks) gives headings at the start of their page.

    Raises:
        EmbcoreError: encrypted with a password, not a readable PDF, or no extractable text (scans).
    """
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbcoreError("reading PDF needs pypdf: pip install pypdf") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001 - e.g. an unsupported cipher
                ok = 0
            if not ok:
                raise EmbcoreError("encrypted PDF (a password is needed)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except EmbcoreError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise EmbcoreError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    outline = _pdf_outline(reader)
    b = _Builder()
    for i, page in enumerate(pages):
        for level, title in outline.get(i, []):
            b.add(title, heading_level=level)
            # the heading printed at the top of its page is not body text
            head = page.lstrip()
            if head[: len(title)].casefold() == title.casefold() and head[len(title) : len(title) + 1] in (
                "",
                "\n",
            ):
                page = head[len(title) :]
        b.add(page)
    if not any(p.strip() for p in pages):
        raise EmbcoreError("no extractable text (a scanned image PDF? OCR it first)")
    meta_title = ""
    try:
        meta_title = clean_text((reader.metadata or {}).get("/Title") or "")
    except Exception:  # noqa: BLE001 - broken metadata is not worth losing the document
        pass
    title = meta_title or next((h.text for h in b.headings if h.level == 1), "") or _title_from_name(path)
    return b.text, b.headings, title


def _pdf_outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    """page index -> [(level, title)] from the PDF outline (empty when it has none or is broken)."""
    out: dict[int, list[tuple[int, str]]] = {}

    def walk(items: Sequence[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = clean_text(item.title)
            except Exception:  # noqa: BLE001 - a broken destination: skip it
                continue
            if title and page is not None and page >= 0:
                out.setdefault(int(page), []).append((min(level, 6), title))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001 - an unreadable outline: no headings
        return {}
    return out


def read_docx(data: bytes, path: str) -> tuple[str, list[Heading], str]:
    """DOCX: paragraphs and tables in body order; "Heading N" styles are headings, "Title" the title."""
    try:
        import docx
        from docx.table import Table
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbcoreError("reading DOCX needs python-docx: pip install python-docx") from exc
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many types on a broken package
        raise EmbcoreError(f"not a readable DOCX file ({type(exc).__name__}: {str(exc)[:120]})") from exc
    b = _Builder()
    title = ""
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                b.add(" | ".join(cells))
            continue
        style = (block.style.name if block.style is not None else "") or ""
        text = block.text
        if style == "Title" and not title:
            title = clean_text(text)
            b.add(text, heading_level=1)
            continue
        m = re.match(r"Heading\s*(\d)", style)
        # the Title is the top level; "Heading 1" sits below it
        b.add(text, heading_level=min(int(m.group(1)) + 1, 6) if m else 0)
    try:
        title = title or clean_text(document.core_properties.title or "")
    except Exception:  # noqa: BLE001
        pass
    title = title or next((h.text for h in b.headings if h.level == 1), "") or _title_from_name(path)
    return b.text, b.headings, title


_READERS = {
    ".txt": ("txt", read_txt),
    ".md": ("md", read_md),
    ".markdown": ("md", read_md),
    ".html": ("html", read_html),
    ".htm": ("html", read_html),
    ".pdf": ("pdf", read_pdf),
    ".docx": ("docx", read_docx),
}


def read_document(data: bytes, path: str, *, source: str | None = None) -> Document:
    """Read one file's bytes as a document (the format from the extension).

    Raises:
        EmbcoreError: unknown extension, unreadable content or no text (the reason, without the path).
    """
    ext = PurePosixPath(path).suffix.lower()
    if ext not in _READERS:
        raise EmbcoreError(f"unknown extension {ext or '(none)'!r}; readable: {', '.join(DOC_EXTENSIONS)}")
    if not data.strip():
        raise EmbcoreError("empty file")
    fmt, reader = _READERS[ext]
    try:
        text, headings, title = reader(data, path)
    except EmbcoreError as exc:
        msg = str(exc)
        raise EmbcoreError(msg.split(": ", 1)[1] if msg.startswith(f"{path}: ") else msg) from exc
    if not text.strip():
        raise EmbcoreError("no text in the file")
    return Document(
        doc_id=path,
        title=title,
        text=text,
        source=source or path,
        format=fmt,
        headings=headings,
        sha256=hashlib.sha256(data).hexdigest(),
    )


# --------------------------------------------------------------------------- folders and zips


def _hidden(rel: PurePosixPath) -> bool:
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX" for part in rel.parts)


def _folder_files(root: Path) -> Iterator[tuple[str, Path]]:
    for p in sorted(root.rglob("*")):
        rel = PurePosixPath(p.relative_to(root).as_posix())
        if p.is_file() and not _hidden(rel):
            yield str(rel), p


def _unsafe_member(name: str) -> str | None:
    """Why a zip member's path is refused (absolute, a drive, ``..``), or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "unsafe path in the zip (absolute); skipped"
    if ".." in PurePosixPath(norm).parts:
        return "unsafe path in the zip (leads outside the archive with '..'); skipped"
    return None


def _zip_documents(data: bytes, name: str, docs: list[Document], problems: list[FileProblem]) -> int:
    """Read every document of a zip held in memory (nothing is extracted to disk). Returns files seen."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise EmbcoreError(f"{name}: not a readable zip file ({exc})") from exc
    seen = 0
    total = 0
    with zf:
        for info in infos[:MAX_MEMBERS]:
            if info.is_dir():
                continue
            member = info.filename
            rel = PurePosixPath(member.replace("\\", "/"))
            if _hidden(rel):
                continue
            seen += 1
            where = f"{name}:{member}"
            unsafe = _unsafe_member(member)
            if unsafe:
                problems.append(FileProblem(where, unsafe))
                continue
            if info.flag_bits & 0x1:
                problems.append(FileProblem(where, "encrypted zip member (a password is needed)"))
                continue
            if info.file_size > MAX_FILE_BYTES:
                problems.append(
                    FileProblem(
                        where, f"too large ({info.file_size:,} bytes unpacked; limit {MAX_FILE_BYTES:,})"
                    )
                )
                continue
            if (
                info.compress_size
                and info.file_size / info.compress_size > MAX_RATIO
                and info.file_size > 1 << 20
            ):
                problems.append(
                    FileProblem(
                        where,
                        f"suspicious compression ratio {info.file_size // info.compress_size}:1 (zip bomb?); skipped",
                    )
                )
                continue
            if total + info.file_size > MAX_TOTAL_BYTES:
                problems.append(
                    FileProblem(
                        where, f"the zip unpacks to more than {MAX_TOTAL_BYTES:,} bytes; the rest is skipped"
                    )
                )
                break
            ext = rel.suffix.lower()
            if ext not in _READERS:
                problems.append(
                    FileProblem(
                        where, f"unknown extension {ext or '(none)'!r}; readable: {', '.join(DOC_EXTENSIONS)}"
                    )
                )
                continue
            try:
                with zf.open(info) as fh:
                    content = fh.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError) as exc:
                problems.append(FileProblem(where, f"corrupt zip member ({exc})"))
                continue
            total += len(content)
            _read_one(content, str(rel), where, docs, problems)
        if len(infos) > MAX_MEMBERS:
            problems.append(FileProblem(name, f"more than {MAX_MEMBERS:,} members; the rest is skipped"))
    return seen


def _read_one(data: bytes, rel: str, where: str, docs: list[Document], problems: list[FileProblem]) -> None:
    try:
        docs.append(read_document(data, rel, source=where))
    except EmbcoreError as exc:
        problems.append(FileProblem(where, str(exc)))
    except RecursionError:
        problems.append(FileProblem(where, "nested too deeply to read"))


def read_documents(source: str | Path | Any, *, name: str | None = None) -> DocumentSet:
    """Read a folder, a zip, or one document file (path or uploaded file object).

    Files that cannot be read are reported in ``problems`` (the others are still read); files whose
    name starts with a dot and ``__MACOSX`` folders are ignored.

    Raises:
        EmbcoreError: the path does not exist, the zip itself is unreadable, or a table file was given
            (use :func:`documents_from_table`).
    """
    docs: list[Document] = []
    problems: list[FileProblem] = []
    digest = hashlib.sha256()
    if isinstance(source, str | Path):
        path = Path(source)
        label = name or str(path)
        if not path.exists():
            raise EmbcoreError(f"{path}: no such file or folder")
        if path.is_dir():
            seen = 0
            for rel, p in _folder_files(path):
                seen += 1
                try:
                    data = p.read_bytes() if p.stat().st_size <= MAX_FILE_BYTES else None
                except OSError as exc:
                    problems.append(FileProblem(rel, f"cannot read ({exc.strerror or exc})"))
                    continue
                if data is None:
                    problems.append(FileProblem(rel, f"too large (limit {MAX_FILE_BYTES:,} bytes)"))
                    continue
                digest.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
                if p.suffix.lower() == ".zip":
                    try:
                        seen += _zip_documents(data, rel, docs, problems) - 1
                    except EmbcoreError as exc:
                        problems.append(FileProblem(rel, str(exc).split(": ", 1)[-1]))
                    continue
                _read_one(data, rel, rel, docs, problems)
            return DocumentSet(label, docs, problems, digest.hexdigest(), "folder", seen)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EmbcoreError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        file_name = path.name
    else:
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        label = name or str(getattr(source, "name", "uploaded file"))
        file_name = PurePosixPath(label).name
    digest.update(data)
    ext = PurePosixPath(file_name).suffix.lower()
    if ext in TABLE_EXTENSIONS:
        raise EmbcoreError(
            f"{label}: a table file; read it with documents_from_table (choose its text column)"
        )
    if ext == ".zip" or data[:4] == b"PK\x03\x04" and ext not in _READERS:
        seen = _zip_documents(data, label, docs, problems)
        return DocumentSet(label, docs, problems, digest.hexdigest(), "zip", seen)
    _read_one(data, file_name, label, docs, problems)
    return DocumentSet(label, docs, problems, digest.hexdigest(), _READERS.get(ext, ("file",))[0], 1)


# --------------------------------------------------------------------------- a table of documents


@dataclass
class TableColumns:
    """Which columns of a document table hold the text, the id and the title; the rest (chosen) is metadata."""

    text_col: str
    id_col: str | None = None
    title_col: str | None = None
    meta_cols: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text_col": self.text_col,
            "id_col": self.id_col,
            "title_col": self.title_col,
            "meta_cols": self.meta_cols,
        }


def _norm(c: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(c).strip().lower())


def _pick(columns: Sequence[str], names: Sequence[str], exclude: set[str]) -> str | None:
    wanted = [_norm(n) for n in names]
    for n in wanted:
        for c in columns:
            if c not in exclude and _norm(c) == n:
                return c
    return None


def suggest_table_columns(raw: RawTable | pd.DataFrame) -> TableColumns:
    """Guess the text / id / title columns of a document table: familiar names first, else the
    column with the longest texts.

    Raises:
        EmbcoreError: no column holds text.
    """
    df = raw.df if isinstance(raw, RawTable) else raw
    cols = [str(c) for c in df.columns]
    text_col = _pick(cols, TEXT_COLUMN_NAMES, set())
    if text_col is None:
        lengths = {}
        for c in cols:
            s = df[c].dropna().head(500)
            if len(s) and s.map(lambda v: isinstance(v, str)).mean() > 0.8:
                lengths[c] = s.astype(str).str.len().mean()
        if not lengths:
            raise EmbcoreError(f"no text column found; columns: {', '.join(cols[:20])}; pass --text-col")
        text_col = max(lengths, key=lambda c: lengths[c])
    id_col = _pick(cols, ID_COLUMN_NAMES, {text_col})
    title_col = _pick(cols, TITLE_COLUMN_NAMES, {text_col, id_col or ""})
    return TableColumns(text_col, id_col, title_col)


def documents_from_table(raw: RawTable, columns: TableColumns | None = None) -> DocumentSet:
    """One document per row of a table (rows with an empty text are reported and skipped).

    Ids come from ``id_col`` (a repeated id is reported and the row skipped) or are ``row N``
    (1-based data rows). Texts are normalised like files; identical texts stay separate documents.

    Raises:
        EmbcoreError: an unknown column name (listing the columns).
    """
    columns = columns or suggest_table_columns(raw)
    for c in [columns.text_col, columns.id_col, columns.title_col, *columns.meta_cols]:
        if c is not None and c not in raw.df.columns:
            raise EmbcoreError(f"{raw.name}: unknown column {c!r}; columns: {', '.join(raw.columns[:20])}")
    docs: list[Document] = []
    problems: list[FileProblem] = []
    seen_ids: dict[str, int] = {}
    texts = raw.df[columns.text_col].tolist()
    ids = raw.df[columns.id_col].tolist() if columns.id_col else None
    titles = raw.df[columns.title_col].tolist() if columns.title_col else None
    metas = {c: raw.df[c].tolist() for c in columns.meta_cols}
    for i, value in enumerate(texts):
        row = i + 1
        where = f"{raw.name} row {row}"
        text = normalise_block(value) if isinstance(value, str) else clean_text(value)
        if not text:
            problems.append(FileProblem(where, f"empty text in column {columns.text_col!r}"))
            continue
        doc_id = clean_text(ids[i]) if ids is not None else f"row {row}"
        if not doc_id:
            problems.append(FileProblem(where, f"empty id in column {columns.id_col!r}"))
            continue
        if doc_id in seen_ids:
            problems.append(FileProblem(where, f"id {doc_id!r} repeats row {seen_ids[doc_id]}; skipped"))
            continue
        seen_ids[doc_id] = row
        meta = {c: clean_text(metas[c][i]) for c in columns.meta_cols if clean_text(metas[c][i])}
        docs.append(
            Document(
                doc_id=doc_id,
                title=clean_text(titles[i]) if titles is not None else "",
                text=text,
                source=where,
                format="table",
                meta=meta,
                sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )
    return DocumentSet(raw.name, docs, problems, raw.sha256, raw.format, len(texts))


def read_document_input(
    source: str | Path | Any,
    *,
    name: str | None = None,
    columns: TableColumns | None = None,
) -> DocumentSet:
    """A folder, a zip or a document file (:func:`read_documents`), or a table of documents
    (:func:`documents_from_table`, by extension)."""
    label = name or (str(source) if isinstance(source, str | Path) else str(getattr(source, "name", "")))
    if PurePosixPath(label).suffix.lower() in TABLE_EXTENSIONS:
        raw = read_table(source, name=name)
        return documents_from_table(raw, columns)
    return read_documents(source, name=name)


def read_uploaded(files: Sequence[Any]) -> DocumentSet:
    """Documents from several uploaded files (documents or zips; tables go through :func:`documents_from_table`).

    Raises:
        EmbcoreError: no file, or a table file among them.
    """
    if not files:
        raise EmbcoreError("no file uploaded")
    docs: list[Document] = []
    problems: list[FileProblem] = []
    digest = hashlib.sha256()
    seen = 0
    names = []
    for f in files:
        name = str(getattr(f, "name", "uploaded file"))
        names.append(name)
        try:
            part = read_documents(f, name=name)
        except EmbcoreError as exc:
            problems.append(FileProblem(name, str(exc).split(": ", 1)[-1]))
            seen += 1
            continue
        docs.extend(part.documents)
        problems.extend(part.problems)
        seen += part.files_seen
        digest.update(part.sha256.encode())
    label = names[0] if len(names) == 1 else f"{len(names)} uploaded files"
    return DocumentSet(label, docs, problems, digest.hexdigest(), "upload", seen)
