"""The ``embcore`` command line, run as a real subprocess (``python -m embcore.cli``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import embcore
from embcore.text import match_key

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures"
SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"
# random + in-batch negatives with the embedding-based filters switched off: no model is loaded
FAST = ["--negatives", "random,inbatch", "--near-dup", "-2", "--relative-margin", "-1", "--no-progress"]
OUTPUT_FILES = [
    "train.jsonl", "val.jsonl", "test.jsonl", "manifest.json", "eval/corpus.jsonl", "eval/queries.jsonl",
    "eval/qrels/val.tsv", "eval/qrels/test.tsv",
]  # fmt: skip
DETERMINISTIC_FILES = [f for f in OUTPUT_FILES if f != "manifest.json"]


def run_cli(
    *args: str | Path, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
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

    from embcore.cli.parser import build_parser

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
    proc = run_cli("inspect", SAMPLE, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["encoding"] == "utf-8" and info["delimiter"] == ","
    assert info["columns"] == ["question", "answer", "context", "ticker", "filing"]
    assert info["mapping"]["query_col"] == "question"
    assert info["cleaning"]["rows_dropped"] == 4
    proc = run_cli("inspect", FIX / "zh_gbk.csv", "--json")
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


# --------------------------------------------------------------------------- issue 9 / 10: inputs that slipped through


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = _stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("embcore: error: ") and "Traceback" not in proc.stderr
    return lines[0]


def _unfamiliar_csv(path: Path) -> Path:
    codes = ["AAA", "CCC", "BBB", "DDD"]
    rows = [
        f"{codes[i % 4]},What was the revenue of unit {i} in 2023?,Unit {i} had revenue of {3 * i} million dollars in 2023."
        for i in range(40)
    ]
    path.write_text("col_c,col_a,col_b\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_build_stops_on_unfamiliar_column_names_and_shows_the_guess(tmp_path: Path) -> None:
    # issue 9.8: the CLI used to pick the code column as the query and build "AAA", "CCC" queries, exit 0
    data = _unfamiliar_csv(tmp_path / "plain.csv")
    out = tmp_path / "out"
    line = _one_error_line(run_cli("build", data, "--out", out, *FAST))
    for needle in ("columns: col_c, col_a, col_b", "query=col_a pos=col_b", "--query-col col_a --pos-col col_b",
                   "--accept-suggested-mapping"):  # fmt: skip
        assert needle in line, (needle, line)
    assert not out.exists()
    inspect = run_cli("inspect", data)
    assert inspect.returncode == 0, inspect.stderr
    assert "query=col_a pos=col_b" in inspect.stdout and "guessed from the content" in inspect.stdout
    for args in (["--accept-suggested-mapping"], ["--query-col", "col_a", "--pos-col", "col_b"]):
        proc = run_cli("build", data, "--out", tmp_path / args[0], *args, *FAST)
        assert proc.returncode == 0, proc.stderr
        queries = [r["query"] for rows in _records(tmp_path / args[0]).values() for r in rows]
        assert len(queries) == 40 and all(q.startswith("What was the revenue") for q in queries)


@pytest.mark.parametrize("kind", ["the input csv", "an empty file", "a text file"])
def test_db_that_is_not_a_duckdb_file_is_refused(tmp_path: Path, kind: str) -> None:
    # issue 9.11: --db input.csv used to open an in-memory database: exit 0, nothing saved
    data = tmp_path / "input.csv"
    data.write_bytes(SAMPLE.read_bytes())
    db = {
        "the input csv": data,
        "an empty file": tmp_path / "e.duckdb",
        "a text file": tmp_path / "notes.txt",
    }[kind]
    if db != data:
        db.write_text("" if kind == "an empty file" else "my notes\n", encoding="utf-8")
    before = db.read_bytes()
    out = tmp_path / "out"
    line = _one_error_line(run_cli("build", data, "--out", out, "--db", db, *FAST))
    assert str(db) in line and "DuckDB" in line
    assert db.read_bytes() == before and not out.exists()
    # the same through EMBCORE_DB (the app's and `projects`' database)
    line = _one_error_line(run_cli("projects", env={"EMBCORE_DB": str(db)}))
    assert str(db) in line


def test_failed_build_removes_the_new_db_and_keeps_an_existing_one(tmp_path: Path) -> None:
    # issue 9.11: a build that fails (here: the model cannot load) left a half-made new database behind
    out = tmp_path / "new"
    bad_model = ["--negatives", "dense", "--model", str(tmp_path / "no_such_model"), "--no-progress"]
    proc = run_cli("build", SAMPLE, "--out", out, *bad_model)
    assert proc.returncode == 2, proc.stderr
    assert not (out / "embcore.duckdb").exists() and not (out / "embcore.duckdb.wal").exists()
    # an existing database is never removed: its project survives the failed build
    db = tmp_path / "keep.duckdb"
    assert run_cli("build", SAMPLE, "--out", tmp_path / "first", "--db", db, *FAST).returncode == 0
    proc = run_cli(
        "build", SAMPLE, "--out", tmp_path / "second", "--db", db, "--project", "other", *bad_model
    )
    assert proc.returncode == 2, proc.stderr
    listing = run_cli("projects", "--db", db)
    assert listing.returncode == 0 and "sample_qa" in listing.stdout


def test_out_that_is_a_file_is_a_user_error(tmp_path: Path) -> None:
    # issue 9.10: "internal error: FileExistsError", exit 1
    target = tmp_path / "taken"
    target.write_text("keep me", encoding="utf-8")
    line = _one_error_line(run_cli("build", SAMPLE, "--out", target, *FAST))
    assert str(target) in line and "is a file" in line
    line = _one_error_line(run_cli("build", SAMPLE, "--out", target / "sub", *FAST))
    assert f"{target} is a file" in line
    assert target.read_text(encoding="utf-8") == "keep me"


def _refuses_writes(folder: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


def _unwritable_dirs(tmp_path: Path) -> list[tuple[Path, Path]]:
    """(out, the folder that refuses writes): sysfs refuses even root; a 0555 folder refuses other users."""
    cases = []
    if Path("/sys/fs").is_dir() and _refuses_writes(Path("/sys")) and _refuses_writes(Path("/sys/fs")):
        cases += [(Path("/sys/embcore-out"), Path("/sys")), (Path("/sys/fs"), Path("/sys/fs"))]
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        cases += [(ro, ro), (ro / "out", ro)]
    return cases


def test_unwritable_out_is_a_user_error_checked_before_any_work(tmp_path: Path) -> None:
    # issue 9.10: "internal error: PermissionError", exit 1, after ingest and mining
    cases = _unwritable_dirs(tmp_path)
    if not cases:
        pytest.skip("no folder refuses writes here")
    for out, refusing in cases:
        line = _one_error_line(run_cli("build", SAMPLE, "--out", out, *FAST))
        assert str(out) in line and "cannot write" in line and str(refusing) in line, line


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl"])
def test_deep_json_is_a_user_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    body = "[" * 1000 + "]" * 1000
    path.write_text(body if name.endswith(".json") else '{"question": "q?", "context": ' + body + "}\n")
    for cmd in ("build", "inspect"):
        extra = ["--out", tmp_path / "o", *FAST] if cmd == "build" else []
        line = _one_error_line(run_cli(cmd, path, *extra))
        assert name in line and "nested too deeply" in line


def test_inspect_prints_a_bounded_summary(tmp_path: Path) -> None:
    # issue 9.12: inspect printed every dropped row as JSON (74 MB on a 200 MB file)
    rows = [f"What is item {i}?,Item {i} is a thing.,T{i % 7}" if i % 3 else f"NaN,Item {i} is a thing.,T1"
            for i in range(3000)]  # fmt: skip
    data = tmp_path / "many.csv"
    data.write_text("question,context,ticker\n" + "\n".join(rows) + "\n", encoding="utf-8")
    proc = run_cli("inspect", data)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) < 40 and len(proc.stdout) < 4000
    assert any(ln.startswith("dropped:   1,000 rows (missing_query 1000)") for ln in lines), proc.stdout
    assert "row 1: missing query ('NaN' counts as missing) [question]" in proc.stdout
    assert "990 more" in proc.stdout
    info = json.loads(run_cli("inspect", data, "--json", "--show", "5").stdout)
    assert info["cleaning"]["rows_dropped"] == 1000 and len(info["cleaning"]["dropped"]) == 5


def test_thousands_of_columns_stay_short_on_the_terminal(tmp_path: Path) -> None:
    header = ["question", "context", *[f"c{j}" for j in range(5000)]]
    rows = [
        [f"What is item {i}?", f"Item {i} is a thing.", *[str(j % 3) for j in range(5000)]] for i in range(12)
    ]
    data = tmp_path / "wide.csv"
    data.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    proc = run_cli("build", data, "--out", tmp_path / "o", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert max(len(ln) for ln in proc.stderr.splitlines()) < 1000, max(map(len, proc.stderr.splitlines()))
    assert "metadata: the first 20 of 5000 candidate columns kept" in proc.stderr
    m = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert len(m["config"]["mapping"]["meta_cols"]) == 20
    inspect = run_cli("inspect", data)
    assert inspect.returncode == 0 and max(len(ln) for ln in inspect.stdout.splitlines()) < 1000


def test_mixed_encoding_build_reports_the_fallback_rows(tmp_path: Path) -> None:
    data = tmp_path / "mixed.csv"
    good = [
        "question,context",
        *[f"Wie hoch war der Umsatz von Müller {i}?,Der Umsatz lag bei {i} Mio. €." for i in range(12)],
    ]
    data.write_bytes(
        "\n".join(good).encode()
        + b"\n"
        + "Où est la crème brûlée?,Au café près de la gare.\n".encode("cp1252")
    )
    out = tmp_path / "out"
    proc = run_cli("build", data, "--out", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "1 line(s) were not UTF-8 and were decoded as cp1252: lines 14 (data rows 13)" in proc.stderr
    queries = {r["query"] for rows in _records(out).values() for r in rows}
    assert "Où est la crème brûlée?" in queries and "Wie hoch war der Umsatz von Müller 0?" in queries
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["cleaning"]["decoding"]["fallback"]["cp1252"]["rows"] == [13]


def test_null_values_and_merge_policy_flags(tmp_path: Path) -> None:
    rows = [
        f"What was the revenue of {t} in 2023?,{t} revenue was {i} billion.,{t}"
        for i, t in enumerate(["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"])
    ]
    rows += [
        f"How much net cash came from operations?,{t} generated {i} billion from operations.,{t}"
        for i, t in enumerate(["AAA", "BBB", "CCC"])
    ]
    rows += ["NaN,An orphan passage.,AAA", "nan,Another orphan passage.,BBB", "NA,The NA row.,NA"]
    data = tmp_path / "d.csv"
    data.write_text("question,context,ticker\n" + "\n".join(rows) + "\n", encoding="utf-8")

    def total(out: Path) -> int:
        return sum(len(v) for v in _records(out).values())

    proc = run_cli("build", data, "--out", tmp_path / "a", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert total(tmp_path / "a") == 12  # 8 + 3 kept apart by ticker + "NA" (kept as text); NaN / nan missing
    assert "1 query texts occur with different metadata and stay 3 separate samples" in proc.stderr
    proc = run_cli(
        "build",
        data,
        "--out",
        tmp_path / "b",
        "--merge-queries",
        "text",
        "--null-values",
        "default,NA",
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    assert total(tmp_path / "b") == 9
    m = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert m["config"]["mapping"]["merge_queries"] == "text" and "NA" in m["config"]["mapping"]["null_values"]
    assert m["cleaning"]["merging"]["merged_across_metadata"] == 1


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_unreadable_input_is_a_user_error() -> None:
    # the kernel refuses to read /proc/self/mem from offset 0 (EIO), even for root
    line = _one_error_line(run_cli("inspect", "/proc/self/mem", "--format", "csv"))
    assert "/proc/self/mem: cannot read the file" in line


def test_os_errors_on_user_paths_exit_2_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # the last-resort handler: an OSError naming a path is the user's environment, not a bug
    import embcore.cli.commands as cli

    def refuse(args: object) -> int:
        raise PermissionError(13, "Permission denied", "/data/out/train.jsonl")

    monkeypatch.setattr(cli, "cmd_inspect", refuse)
    assert cli.main(["inspect", "x.csv"]) == 2
    assert capsys.readouterr().err == "embcore: error: /data/out/train.jsonl: Permission denied\n"

    def full(args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "cmd_inspect", full)
    assert cli.main(["inspect", "x.csv"]) == 2
    assert capsys.readouterr().err == "embcore: error: No space left on device\n"


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
    proc = run_cli(
        "build", SAMPLE, "--out", out, "--empty-negatives", "drop", "--split-near-dup", "off", *FAST
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["config"]["export"]["empty_negatives"] == "drop"
    assert m["config"]["export"]["near_duplicates"] is None
    assert m["leakage"]["thresholds"]["near_duplicates"] is None
