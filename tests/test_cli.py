"""The ``embcore`` command line, run as a real subprocess (``python -m embcore.cli``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import embcore
from embcore.text import match_key

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "fixtures"
SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"
# random + in-batch negatives with the embedding-based filters switched off: no model is loaded
FAST = ["--negatives", "random,inbatch", "--near-dup", "-2", "--relative-margin", "-1", "--no-progress"]
OUTPUT_FILES = [
    "train.jsonl", "val.jsonl", "test.jsonl", "manifest.json", "eval/corpus.jsonl", "eval/queries.jsonl",
    "eval/qrels/val.tsv", "eval/qrels/test.tsv",
]  # fmt: skip
DETERMINISTIC_FILES = [f for f in OUTPUT_FILES if f != "manifest.json"]


def run_cli(*args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "embcore.cli", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def _stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.strip()]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _records(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {s: _jsonl(out / f"{s}.jsonl") for s in ("train", "val", "test")}


def _subcommands() -> list[str]:
    import argparse

    from embcore.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


# --------------------------------------------------------------------------- help


def test_top_level_help_and_version() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: embcore" in proc.stdout
    for cmd in _subcommands():
        assert cmd in proc.stdout
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"embcore {embcore.__version__}"


def test_no_command_prints_help_and_fails() -> None:
    proc = run_cli()
    assert proc.returncode != 0
    assert "usage: embcore" in proc.stdout + proc.stderr


@pytest.mark.parametrize("cmd", _subcommands())
def test_subcommand_help(cmd: str) -> None:
    proc = run_cli(cmd, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"usage: embcore {cmd}" in proc.stdout
    assert len(proc.stdout.splitlines()) > 3


def test_build_help_covers_the_contract() -> None:
    assert {"build", "inspect", "projects"} <= set(_subcommands())
    out = run_cli("build", "--help").stdout
    for opt in ("INPUT", "--out", "--query-col", "--pos-col", "--meta-cols", "--negatives", "--num-neg", "--split",
                "--seed", "--db", "random", "inbatch", "0.8,0.1,0.1"):  # fmt: skip
        assert opt in out, opt


# --------------------------------------------------------------------------- build on the sample


@pytest.fixture(scope="module")
def sample_builds(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, list[subprocess.CompletedProcess[str]]]:
    base = tmp_path_factory.mktemp("cli")
    a, b = base / "a", base / "b"
    procs = [
        run_cli(
            "build",
            SAMPLE,
            "--out",
            out,
            "--query-col",
            "question",
            "--pos-col",
            "context",
            "--meta-cols",
            "ticker,filing",
            "--seed",
            "42",
            *FAST,
        )  # fmt: skip
        for out in (a, b)
    ]
    return a, b, procs


def test_build_writes_all_files(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, _, procs = sample_builds
    for p in procs:
        assert p.returncode == 0, p.stderr
    for rel in OUTPUT_FILES:
        assert (a / rel).is_file(), rel
    assert "wrote" in procs[0].stderr


def test_build_output_schema(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, _, procs = sample_builds
    assert procs[0].returncode == 0, procs[0].stderr
    recs = _records(a)
    assert sum(len(v) for v in recs.values()) == 96
    for split, rows in recs.items():
        assert rows, split
        for r in rows:
            assert list(r)[:3] == ["query", "pos", "neg"]
            assert set(r) <= {"query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"}
            assert r["query"] and r["pos"] and all(isinstance(t, str) and t for t in r["pos"] + r["neg"])
            assert not {match_key(t) for t in r["neg"]} & {match_key(t) for t in r["pos"]}
    assert any(r["neg"] for r in recs["train"])


def test_build_splits_disjoint_by_passage(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, _, procs = sample_builds
    assert procs[0].returncode == 0, procs[0].stderr
    owner: dict[str, str] = {}
    for split, rows in _records(a).items():
        for r in rows:
            for t in r["pos"]:
                assert owner.setdefault(match_key(t), split) == split, t
    queries = [r["query"] for rows in _records(a).values() for r in rows]
    assert len(queries) == len(set(queries))


def test_build_is_deterministic(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, b, procs = sample_builds
    assert all(p.returncode == 0 for p in procs), procs[0].stderr
    for rel in DETERMINISTIC_FILES:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_build_manifest(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, _, procs = sample_builds
    assert procs[0].returncode == 0, procs[0].stderr
    m = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    assert m["tool"] == "embcore" and m["version"] == embcore.__version__
    assert m["input"]["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert m["seed"] == 42
    for split, rows in _records(a).items():
        assert m["counts"][split]["samples"] == len(rows)
    rows = sorted((d["row"], d["code"]) for d in m["dropped_rows"])
    assert [c for _, c in rows].count("missing_query") == 2
    assert [c for _, c in rows].count("missing_positive") == 1
    assert [c for _, c in rows].count("duplicate") == 1
    assert all(isinstance(r, int) and r >= 1 for r, _ in rows)
    # the summary on stderr says rows were dropped and where the full list is
    assert f"embcore: {len(rows)} input rows dropped (row {rows[0][0]}: " in procs[0].stderr
    assert "dropped_rows in manifest.json" in procs[0].stderr
    assert m["config"]["mapping"]["query_col"] == "question"
    assert m["config"]["mapping"]["meta_cols"] == ["ticker", "filing"]
    assert m["config"]["mining"]["strategies"] == ["random", "inbatch"]
    assert m["timings"]
    for rel, digest in m["files"].items():
        assert hashlib.sha256((a / rel).read_bytes()).hexdigest() == digest


def test_build_eval_files(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, _, procs = sample_builds
    assert procs[0].returncode == 0, procs[0].stderr
    corpus = {d["_id"]: d["text"] for d in _jsonl(a / "eval" / "corpus.jsonl")}
    queries = {d["_id"]: d["text"] for d in _jsonl(a / "eval" / "queries.jsonl")}
    assert len(corpus) == 91
    recs = _records(a)
    assert set(queries.values()) == {r["query"] for s in ("val", "test") for r in recs[s]}
    for s in ("val", "test"):
        lines = (a / "eval" / "qrels" / f"{s}.tsv").read_text(encoding="utf-8").splitlines()
        assert lines[0] == "query-id\tcorpus-id\tscore"
        assert len(lines) - 1 == sum(len(r["pos"]) for r in recs[s])
        for ln in lines[1:]:
            q, d, _ = ln.split("\t")
            assert q in queries and d in corpus


def test_other_seed_gives_another_split(sample_builds: tuple[Path, Path, list[Any]], tmp_path: Path) -> None:
    a, _, _ = sample_builds
    proc = run_cli("build", SAMPLE, "--out", tmp_path / "c", "--seed", "7", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "using suggested mapping: query=question pos=context" in proc.stderr
    assert (tmp_path / "c" / "val.jsonl").read_bytes() != (a / "val.jsonl").read_bytes()


def test_rebuild_into_the_same_folder(tmp_path: Path) -> None:
    out = tmp_path / "same"
    first = run_cli("build", SAMPLE, "--out", out, *FAST)
    assert first.returncode == 0, first.stderr
    before = {rel: (out / rel).read_bytes() for rel in DETERMINISTIC_FILES}
    second = run_cli("build", SAMPLE, "--out", out, *FAST)
    assert second.returncode == 0, second.stderr
    assert {rel: (out / rel).read_bytes() for rel in DETERMINISTIC_FILES} == before
    proc = run_cli("projects", "--db", out / "embcore.duckdb")
    assert proc.returncode == 0, proc.stderr
    assert "sample_qa" in proc.stdout


# --------------------------------------------------------------------------- bad input


BAD_INPUTS = {
    "missing_file": (["build", FIX / "no_such_file.csv"], ["no_such_file.csv", "no such file"]),
    "empty_file": (["build", FIX / "empty.csv"], ["empty.csv", "empty"]),
    "header_only": (["build", FIX / "header_only.csv"], ["header_only.csv", "no data rows"]),
    "unknown_column": (
        ["build", SAMPLE, "--query-col", "questoin", "--pos-col", "context"],
        ["questoin", "question, answer, context, ticker, filing"],
    ),
    "unknown_pos_column": (
        ["build", SAMPLE, "--query-col", "question", "--pos-col", "context,passage"],
        ["passage", "question, answer, context, ticker, filing"],
    ),
    "undecodable": (["build", FIX / "garbage.csv"], ["garbage.csv"]),
    "bad_jsonl_line": (["build", FIX / "bad_line.jsonl"], ["bad_line.jsonl", "line 3"]),
    "ratios_sum": (["build", SAMPLE, "--split", "0.5,0.3,0.1"], ["0.5,0.3,0.1", "sum to 1"]),
    "ratios_not_numbers": (["build", SAMPLE, "--split", "eighty,ten,ten"], ["eighty"]),
    "unknown_group_column": (
        [
            "build",
            SAMPLE,
            "--query-col",
            "question",
            "--pos-col",
            "context",
            "--meta-cols",
            "ticker",
            "--group-col",
            "sector",
        ],
        ["sector"],
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_with_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    args, needles = BAD_INPUTS[case]
    out = tmp_path / "out"
    proc = run_cli(*args, "--out", out, *FAST)
    assert proc.returncode != 0
    lines = _stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("embcore: error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.rglob("*"))
    assert [p.name for p in tmp_path.iterdir()] in ([], ["out"])  # no staging folder beside it


# --------------------------------------------------------------------------- other inputs


def test_gbk_chinese_csv_builds(tmp_path: Path) -> None:
    out = tmp_path / "zh"
    proc = run_cli("build", FIX / "zh_gbk.csv", "--out", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "query=问题 pos=文档" in proc.stderr
    recs = _records(out)
    queries = {r["query"] for rows in recs.values() for r in rows}
    assert "青禾电动车的电池可以续航多少公里?" in queries  # NFKC folds the full-width question mark
    assert len(queries) == 16
    raw = (out / "train.jsonl").read_bytes().decode("utf-8")
    assert "电池" in raw and "\\u" not in raw  # written as UTF-8, not ASCII escapes
    corpus = _jsonl(out / "eval" / "corpus.jsonl")
    assert len(corpus) == 15


def test_sts_pair_file_builds_symmetric(tmp_path: Path) -> None:
    out = tmp_path / "sts"
    proc = run_cli("build", FIX / "sts_pairs.csv", "--out", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    recs = _records(out)
    rows = [r for v in recs.values() for r in v]
    assert len(rows) == 12  # pairs scored >= 4.0 (80% of the 0-5 scale)
    assert all(r["type"] == "symmetric" for r in rows)
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["config"]["mapping"]["score_col"] == "score"
    assert len(m["dropped_rows"]) == 12


def test_multi_column_positives_from_cli(tmp_path: Path) -> None:
    out = tmp_path / "two"
    proc = run_cli(
        "build", SAMPLE, "--out", out, "--query-col", "question", "--pos-col", "context,answer", *FAST
    )
    assert proc.returncode == 0, proc.stderr
    rows = [r for v in _records(out).values() for r in v]
    assert len(rows) == 97  # the row with an empty context keeps its answer
    assert sum(len(r["pos"]) == 2 for r in rows) == 96


def test_inspect_reports_mapping_and_dropped_rows() -> None:
    proc = run_cli("inspect", SAMPLE)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["encoding"] == "utf-8" and info["delimiter"] == ","
    assert info["columns"] == ["question", "answer", "context", "ticker", "filing"]
    assert info["mapping"]["query_col"] == "question"
    assert info["cleaning"]["rows_dropped"] == 4
    proc = run_cli("inspect", FIX / "zh_gbk.csv")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["encoding"] == "gb18030"


def test_projects_on_missing_db_fails_cleanly(tmp_path: Path) -> None:
    proc = run_cli("projects", "--db", tmp_path / "nope.duckdb")
    assert proc.returncode != 0
    assert len(_stderr_lines(proc)) == 1 and "no such database" in proc.stderr
    assert not (tmp_path / "nope.duckdb").exists()


def test_random_inbatch_build_needs_no_model(tmp_path: Path) -> None:
    # `--negatives random,inbatch` with the default filters: neither strategy needs embeddings,
    # so the build should not load or run the bi-encoder (fast on any machine).
    out = tmp_path / "plain"
    proc = run_cli("build", SAMPLE, "--out", out, "--negatives", "random,inbatch", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "encode" not in m["timings"]["mining"], m["timings"]


# --------------------------------------------------------------------------- split sizes, verify, policies


def test_too_few_samples_for_the_split_is_one_clear_line(tmp_path: Path) -> None:
    # Issue 9.9: one usable row wrote 1 train sample and empty val/test files, exit 0.
    src = tmp_path / "one.csv"
    src.write_text("question,context\nWhat is the margin?,The margin was 12% in 2023.\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli("build", src, "--out", out, *FAST)
    assert proc.returncode == 2, proc.stderr
    lines = _stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("embcore: error: cannot split 1 sample"), lines
    assert "--split 1,0,0" in lines[0]
    assert not out.exists(), "stopped before anything was written (no database, no files)"
    ok = run_cli("build", src, "--out", out, "--split", "1,0,0", *FAST)
    assert ok.returncode == 0, ok.stderr


def test_build_then_verify(sample_builds: tuple[Path, Path, list[Any]]) -> None:
    a, _, procs = sample_builds
    assert procs[0].returncode == 0, procs[0].stderr
    assert "leakage across splits: 0 passage pairs, 0 queries" in procs[0].stderr
    proc = run_cli("verify", a, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["positive_pairs_across_splits"] == {"exact": 0, "normalised": 0, "near_duplicate": 0}
    assert "verified" in proc.stderr
    m = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    assert m["leakage"]["positive_pairs_across_splits"] == report["positive_pairs_across_splits"]
    assert all(r["neg"] for rows in _records(a).values() for r in rows)


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("--empty-negatives", "never", "invalid choice: 'never'"),
    ("--split-near-dup", "1.5", "--split-near-dup '1.5': give a Jaccard similarity in (0, 1] or 'off'"),
])  # fmt: skip
def test_export_flags_are_checked(flag: str, value: str, needle: str, tmp_path: Path) -> None:
    proc = run_cli("build", SAMPLE, "--out", tmp_path / "o", flag, value, *FAST)
    assert proc.returncode == 2
    assert needle in proc.stderr


def test_empty_negatives_flag_and_near_dup_off(tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = run_cli("build", SAMPLE, "--out", out, "--empty-negatives", "drop", "--split-near-dup", "off", *FAST)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["config"]["export"]["empty_negatives"] == "drop"
    assert m["config"]["export"]["near_duplicates"] is None
    assert m["leakage"]["thresholds"]["near_duplicates"] is None
