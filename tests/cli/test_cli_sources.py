"""``embcore build --docs`` / ``--logs``: success lines and one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.sources import DOCS, DOCS_BAD

from embcore.cli import main


def run(args: list[str], capsys) -> tuple[int, str]:
    rc = main(args)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data.csv", "--docs", "x"], "give either INPUT"),
        (["--docs", "x", "--logs", "y"], "either --docs or --logs"),
        (["--logs", "log.csv"], "--logs needs --corpus"),
        (["--docs", str(DOCS), "--chunk", "lines"], "unknown chunking 'lines'"),
        (["--docs", str(DOCS), "--queries", "bm25"], "unknown query method 'bm25'"),
        (["--docs", str(DOCS), "--roundtrip-k", "0"], "--roundtrip-k must be >= 1"),
        (["--docs", str(DOCS_BAD)], "no readable document"),
        ([], "give an INPUT data file, --docs PATH or --logs LOG --corpus CORPUS"),
    ],
)
def test_user_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    rc, err = run(
        ["build", *args, "--out", str(tmp_path / "out"), "--negatives", "bm25", "--no-progress"], capsys
    )
    assert rc == 2
    last = [ln for ln in err.splitlines() if ln.startswith("embcore: error:")]
    assert len(last) == 1 and message in last[0], err


def test_unreadable_files_are_listed_and_the_build_goes_on(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for p in [*DOCS.iterdir(), *DOCS_BAD.iterdir()]:
        (folder / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    rc, err = run(
        [
            "build",
            "--docs",
            str(folder),
            "--out",
            str(out),
            "--negatives",
            "bm25",
            "--roundtrip",
            "bm25",
            "--no-progress",
        ],
        capsys,
    )
    assert rc == 0, err
    assert "could not read encrypted.pdf: encrypted PDF (a password is needed)" in err
    assert "6 documents read" in err and "5 unreadable" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p["path"] for p in manifest["sources"]["documents"]["unreadable"]} == {
        "broken.docx", "empty.txt", "encrypted.pdf", "notes.xyz", "scanned.pdf",
    }  # fmt: skip
    assert manifest["config"]["export"]["group_col"] == "doc_id"


def test_search_log_build(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": f"Passage number {i} about topic {i % 3} and more words."})
            + "\n"
            for i in range(8)
        )
    )
    log = tmp_path / "log.jsonl"
    log.write_text(
        "".join(
            json.dumps(
                {
                    "query": f"topic {i % 3} question {i}",
                    "shown": [f"d{(i + 1) % 8}", f"d{i}", "zz"],
                    "clicked": [f"d{i}"],
                    "session_id": f"s{i}",
                }
            )
            + "\n"
            for i in range(8)
        )
    )
    out = tmp_path / "out"
    rc, err = run(
        [
            "build",
            "--logs",
            str(log),
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            "--negatives",
            "bm25",
            "--no-progress",
        ],
        capsys,
    )
    assert rc == 0, err
    assert "search log: 8 rows, 8 distinct queries -> 8 samples, 8 skip-above negatives" in err
    assert "1 ids not in the corpus (e.g. zz)" in err
