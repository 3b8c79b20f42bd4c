"""The real financial-qa-10K file, where this machine has it (integration; skipped elsewhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from embcore.ingest.mapping import FieldMapping
from embcore.ingest.read import read_table
from embcore.ingest.samples import build_samples
from embcore.text import clean_text, equivalence_key, match_key

REPO = Path(__file__).resolve().parents[1]
_NAME = Path("financial-qa-10k") / "Financial-QA-10k.csv"
_CANDIDATES = [Path("/work/shared/data") / _NAME, REPO.parent / "shared" / "data" / _NAME]
SHARED = next((p for p in _CANDIDATES if p.is_file()), None)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        SHARED is None, reason="financial-qa-10K not present (../shared/data/financial-qa-10k/)"
    ),
]

# random + in-batch negatives; the embedding-based filters are switched off so that no model runs
NEG = ["--negatives", "random,inbatch", "--near-dup", "-2", "--relative-margin", "-1", "--no-progress"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    assert SHARED is not None
    return pd.read_csv(SHARED)


def test_dropped_rows_report_nan_questions_and_context(frame: pd.DataFrame) -> None:
    raw = read_table(SHARED)
    assert raw.columns == ["question", "answer", "context", "ticker", "filing"]
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"]))
    nan_q = [int(i) + 1 for i in frame.index[frame["question"].isna()]]
    nan_c = [int(i) + 1 for i in frame.index[frame["context"].isna()]]
    assert len(nan_q) == 2 and len(nan_c) == 1
    by_row = {d.row: d for d in res.dropped}
    for r in nan_q:
        assert (
            r in by_row
            and "missing_query" in by_row[r].code
            and by_row[r].column
            and "question" in by_row[r].column
        )
    for r in nan_c:
        assert r in by_row and "missing_positive" in by_row[r].code
    rep = res.report()
    assert rep["rows_read"] == len(frame)
    assert rep["dropped_by_reason"]["missing_query"] == 2
    assert rep["dropped_by_reason"]["missing_positive"] == 1
    # every exact duplicate (question, context) pair is reported too
    clean = frame.dropna(subset=["question", "context"])
    n_dup = int(clean.duplicated(subset=["question", "context"]).sum())
    assert rep["dropped_by_reason"].get("duplicate", 0) >= n_dup
    used = {r for s in res.samples for r in s.source_rows}
    assert used.isdisjoint(by_row) and len(used) + len(by_row) == len(frame)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("fin") / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "embcore.cli", "build", str(SHARED), "--out", str(out), "--query-col", "question",
           "--pos-col", "context", "--meta-cols", "ticker,filing", *NEG]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return out, proc


def test_build_produces_valid_files(
    built: tuple[Path, subprocess.CompletedProcess[str]], frame: pd.DataFrame
) -> None:
    out, proc = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rel in ("train.jsonl", "val.jsonl", "test.jsonl", "manifest.json", "eval/corpus.jsonl",
                "eval/queries.jsonl", "eval/qrels/val.tsv", "eval/qrels/test.tsv"):  # fmt: skip
        assert (out / rel).is_file(), rel
    total = 0
    for s in ("train", "val", "test"):
        rows = _jsonl(out / f"{s}.jsonl")
        assert rows, s
        total += len(rows)
        for r in rows:
            assert set(r) <= {"query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"}
            assert isinstance(r["query"], str) and r["query"]
            assert r["pos"] and all(isinstance(t, str) and t for t in r["pos"])
            assert all(isinstance(t, str) and t for t in r["neg"])
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sum(c["samples"] for c in m["counts"].values()) == total
    rows = {d["row"] for d in m["dropped_rows"]}
    nan_rows = {int(i) + 1 for i in frame.index[frame["question"].isna() | frame["context"].isna()]}
    assert nan_rows <= rows
    corpus = _jsonl(out / "eval" / "corpus.jsonl")
    # every unique context, unique up to equivalence_key ("ITEM 6. [RESERVED]" = "Item 6—Reserved")
    assert len(corpus) == len(
        {equivalence_key(clean_text(c)) for c in frame.dropna(subset=["question", "context"])["context"]}
    )
    assert all(r["neg"] for s in ("train", "val", "test") for r in _jsonl(out / f"{s}.jsonl"))


def _split_owner(out: Path, key: Any) -> list[str]:
    owner: dict[str, str] = {}
    clashes = []
    for s in ("train", "val", "test"):
        for r in _jsonl(out / f"{s}.jsonl"):
            for t in r["pos"]:
                if owner.setdefault(key(t), s) != s:
                    clashes.append(f"{t[:60]!r} in {owner[key(t)]} and {s}")
    return clashes


def test_no_split_shares_a_passage(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _split_owner(out, lambda t: t) == []


def test_no_split_shares_a_passage_up_to_case(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    # financial-qa-10K has contexts that differ only by case ("ITEM 6. [RESERVED]" / "Item 6. [Reserved]"):
    # embcore itself treats them as the same text (match_key), so they must not straddle splits either.
    out, proc = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _split_owner(out, match_key) == []


def test_no_split_shares_a_passage_up_to_punctuation_or_near_duplicates(
    built: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    # Issue 16: "ITEM 6. [RESERVED]" (train) vs "Item 6—Reserved" (test), "Chevron’s" vs "Chevron's"...
    out, proc = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _split_owner(out, equivalence_key) == []
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    leak = m["leakage"]
    assert leak["positive_pairs_across_splits"] == {"exact": 0, "normalised": 0, "near_duplicate": 0}
    assert leak["queries_in_another_split"] == 0
    assert m["near_duplicates"]["near_duplicate_groups"] > 0  # the step ran and found real ones
    verify = subprocess.run(
        [sys.executable, "-m", "embcore.cli", "verify", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert verify.returncode == 0, verify.stderr[-3000:]


def test_no_negative_equals_a_positive(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    n_neg = 0
    for s in ("train", "val", "test"):
        for r in _jsonl(out / f"{s}.jsonl"):
            pos = {equivalence_key(t) for t in r["pos"]}
            for t in r["neg"]:
                n_neg += 1
                assert equivalence_key(t) not in pos, (r["query"], t[:80])
    assert n_neg > 0
