"""Reading documents: formats, titles and headings, unreadable files with reasons, zips, tables."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from support.sources import DOCS, DOCS_BAD

from embcore.errors import EmbcoreError
from embcore.ingest.documents import (
    TableColumns,
    documents_from_table,
    read_document,
    read_document_input,
    read_documents,
)
from embcore.ingest.read import RawTable


def by_id(docset):
    return {d.doc_id: d for d in docset.documents}


def test_folder_reads_every_format_with_titles_and_headings() -> None:
    ds = read_documents(DOCS)
    docs = by_id(ds)
    assert not ds.problems
    assert {d.format for d in ds.documents} == {"md", "html", "txt", "pdf", "docx"}
    md = docs["acme_10k_2023.md"]
    assert md.title == "Acme Industrial Corp. Annual Report 2023"
    at = md.text.index("We use forward contracts")
    assert md.heading_path(at) == (
        "Acme Industrial Corp. Annual Report 2023",
        "Item 1A. Risk Factors",
        "Currency",
    )
    html = docs["beta_10k_2023.html"]
    assert html.title == "Beta Networks Inc. Form 10-K 2023"
    assert "tracking" not in html.text and "Home" not in html.text and "comment" not in html.text
    assert html.heading_path(html.text.index("Cash and short-term")) == (
        "Beta Networks Inc.",
        "Item 7. Management's Discussion and Analysis",
        "Liquidity",
    )
    pdf = docs["epsilon_10k_2023.pdf"]
    assert pdf.title == "Epsilon Energy Partners 10-K 2023"
    assert [h.text for h in pdf.headings] == [
        "Item 1. Business",
        "Item 7. Management's Discussion and Analysis",
    ]
    assert pdf.heading_path(pdf.text.index("Adjusted EBITDA")) == (
        "Item 7. Management's Discussion and Analysis",
    )
    docx = docs["zeta_10k_2023.docx"]
    assert docx.title == "Zeta Pharmaceuticals Annual Report 2023"
    assert docx.heading_path(docx.text.index("Clinical trials")) == (
        "Zeta Pharmaceuticals Annual Report 2023",
        "Item 1A. Risk Factors",
    )
    assert "Revenue 2023 | $3.6 billion" in docx.text  # tables are read too
    zh = docs["delta_zh.txt"]
    assert zh.title == "德尔塔科技公司年度报告摘要"
    gamma = docs["gamma_risk_factors.txt"]
    assert gamma.title == "Gamma Foods Risk Factors"


def test_every_unreadable_file_is_reported_with_its_reason_and_the_rest_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in list(DOCS_BAD.iterdir()) + [DOCS / "gamma_risk_factors.txt"]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / ".hidden.txt").write_text("ignored")
    ds = read_documents(folder)
    assert [d.doc_id for d in ds.documents] == ["gamma_risk_factors.txt"]
    reasons = {p.path: p.reason for p in ds.problems}
    assert reasons["encrypted.pdf"] == "encrypted PDF (a password is needed)"
    assert reasons["empty.txt"] == "empty file"
    assert "not a readable DOCX" in reasons["broken.docx"]
    assert "unknown extension '.xyz'" in reasons["notes.xyz"]
    assert "no extractable text" in reasons["scanned.pdf"]
    assert ".hidden.txt" not in reasons
    assert ds.report()["unreadable"] and ds.files_seen == 6


def test_nothing_readable_is_one_clear_error() -> None:
    ds = read_documents(DOCS_BAD)
    with pytest.raises(EmbcoreError, match="no readable document .*encrypted PDF"):
        ds.check_usable()


def _zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_guards_path_traversal_bombs_and_reads_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embcore.ingest import documents as mod

    good = (DOCS / "acme_10k_2023.md").read_bytes()
    data = _zip(
        {
            "filings/acme.md": good,
            "../../etc/evil.txt": b"escape attempt. It must never be read.",
            "/abs/path.txt": b"absolute path. It must never be read.",
            "bomb.txt": b"A" * (3 << 20),
            "__MACOSX/._acme.md": b"resource fork",
        }
    )
    path = tmp_path / "docs.zip"
    path.write_bytes(data)
    monkeypatch.setattr(mod, "MAX_RATIO", 100)
    ds = read_documents(path)
    assert [d.doc_id for d in ds.documents] == ["filings/acme.md"]
    assert ds.documents[0].source == f"{path}:filings/acme.md"
    reasons = {p.path.split(":", 1)[1]: p.reason for p in ds.problems}
    assert "leads outside the archive" in reasons["../../etc/evil.txt"]
    assert "absolute" in reasons["/abs/path.txt"]
    assert "zip bomb" in reasons["bomb.txt"]
    assert not (tmp_path / "etc").exists()  # nothing is extracted


def test_zip_total_size_limit_stops_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from embcore.ingest import documents as mod

    monkeypatch.setattr(mod, "MAX_TOTAL_BYTES", 1000)
    text = b"Revenue grew strongly in 2023 thanks to new products. " * 12
    data = _zip({"a.txt": text, "b.txt": text}, compression=zipfile.ZIP_STORED)
    ds = read_documents(io.BytesIO(data), name="upload.zip")
    assert len(ds.documents) == 1
    assert "unpacks to more than 1,000 bytes" in ds.problems[0].reason


def test_corrupt_zip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(EmbcoreError, match="broken.zip: not a readable zip file"):
        read_documents(path)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EmbcoreError, match="no such file or folder"):
        read_documents(tmp_path / "nope")


def test_single_file_and_unknown_extension() -> None:
    doc = read_document(b"Title line\n\nA paragraph. Another sentence here.", "notes/readme.txt")
    assert doc.title == "Title line" and doc.format == "txt" and doc.text.startswith("Title line")
    with pytest.raises(EmbcoreError, match="unknown extension '.rtf'"):
        read_document(b"{\\rtf1}", "a.rtf")


def test_table_of_documents(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "doc_id": ["a", "b", "a", "c"],
            "title": ["Alpha", "Beta", "Again", "Gamma"],
            "body": ["First document. It has two sentences.", "Second document text.", "dup id", None],
            "ticker": ["AAA", "BBB", "AAA", "CCC"],
        }
    )
    raw = RawTable(df, "docs.csv", "0" * 64, "csv")
    ds = documents_from_table(raw, TableColumns("body", "doc_id", "title", ["ticker"]))
    assert [(d.doc_id, d.title, d.meta) for d in ds.documents] == [
        ("a", "Alpha", {"ticker": "AAA"}),
        ("b", "Beta", {"ticker": "BBB"}),
    ]
    reasons = [p.reason for p in ds.problems]
    assert reasons == ["id 'a' repeats row 1; skipped", "empty text in column 'body'"]
    path = tmp_path / "docs.jsonl"
    path.write_text(
        '{"id": "x1", "text": "Some text of the first document."}\n{"id": "x2", "text": "More text here."}\n'
    )
    ds = read_document_input(path)
    assert [d.doc_id for d in ds.documents] == ["x1", "x2"]  # text / id columns guessed by name
    with pytest.raises(EmbcoreError, match="unknown column 'nope'"):
        documents_from_table(raw, TableColumns("nope"))
