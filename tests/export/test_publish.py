"""Crash-safe exports (issue 9.3): versioned folders, one pointer switch, kill -9 at chosen moments and at
random ones, stale staging cleaned, readers resolving OUT, ``embcore verify``; runs left 'running' by a
killed process become 'interrupted' (issue 9.4)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import embcore
from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.export.publish import resolve_export, versions
from embcore.export.verify import verify_export
from embcore.ingest.mapping import FieldMapping
from embcore.ingest.read import read_table
from embcore.ingest.samples import build_samples
from embcore.store import Store
from embcore.training.evaluate import load_eval_set

REPO = Path(__file__).resolve().parents[2]
SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"

EXPORT_SCRIPT = """
import sys
from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.store import Store
with Store(sys.argv[1]) as store:
    export_project(store, 1, sys.argv[2], ExportConfig(seed=int(sys.argv[3]), ratios=(0.5, 0.25, 0.25)))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("EMBCORE_EXPORT_TRACE", None)
    env.pop("EMBCORE_EXPORT_STEP_DELAY", None)
    return env | extra


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "p.duckdb"
    raw = read_table(SAMPLE)
    samples = build_samples(raw, FieldMapping("question", ["context"], ["ticker"])).samples
    with Store(path) as store:
        assert store.create_project("sample", samples) == 1
    return path


def _export_in_subprocess(db: Path, out: Path, seed: int, **env: str) -> subprocess.Popen[str]:
    script = db.parent / "export_once.py"
    script.write_text(EXPORT_SCRIPT, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(script), str(db), str(out), str(seed)],
        cwd=REPO,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _train_lines(out: Path) -> bytes:
    return (resolve_export(out) / "train.jsonl").read_bytes()


def _assert_complete(out: Path, allowed: set[bytes]) -> None:
    problems, _ = verify_export(out)
    assert problems == [], problems
    assert _train_lines(out) in allowed


KILL_STEPS = ["staged", "renamed", "switched", "pruned", "done"]


def _kill_at(db: Path, out: Path, seed: int, step: str, trace: Path) -> None:
    """Run an export in a subprocess and SIGKILL it once it reaches ``step`` (a step name prefix)."""
    trace.write_text("", encoding="utf-8")
    proc = _export_in_subprocess(
        db, out, seed, EMBCORE_EXPORT_TRACE=str(trace), EMBCORE_EXPORT_STEP_DELAY="0.3"
    )
    deadline = time.time() + 300
    while not any(ln.startswith(step) for ln in trace.read_text(encoding="utf-8").splitlines()):
        assert proc.poll() is None, (
            f"the export ended before step {step!r}: {proc.stderr.read() if proc.stderr else ''}"
        )
        assert time.time() < deadline, step
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def test_kill_9_at_every_publishing_step_leaves_a_complete_current_export(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    trace = tmp_path / "trace.txt"
    # the very first export, killed while it makes the convenience links: current is already complete
    _kill_at(db, out, 1, "linked train.jsonl", trace)
    old = _train_lines(out)
    _assert_complete(out, {old})
    seen_new = False
    for i, step in enumerate(KILL_STEPS * 2):
        _kill_at(db, out, 10 + i, step, trace)
        # what a reader sees now: the previous export or the new one, complete and verifiable
        cur = _train_lines(out)
        _assert_complete(out, {old, cur})
        if cur != old:
            assert step not in ("staged", "renamed"), "current switched before the switch step"
            seen_new = True
            old = cur
        else:
            assert step in ("staged", "renamed"), (
                f"killed after {step!r} but current still shows the old export"
            )
        assert (out / "train.jsonl").read_bytes() == cur  # the stable link follows current
    assert seen_new
    # the next run cleans what a killed one left behind and publishes normally
    _kill_at(db, out, 50, "staged", trace)
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers, "a kill during staging should have left a staging folder"
    final = _export_in_subprocess(db, out, 99)
    assert final.wait(timeout=300) == 0, final.stderr.read() if final.stderr else ""
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    _assert_complete(out, {_train_lines(out)})
    assert len(versions(out)) <= ExportConfig().keep_versions


@pytest.mark.slow
def test_kill_9_at_random_moments(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _export_in_subprocess(db, out, 1)
    assert first.wait(timeout=300) == 0
    t0 = time.time()
    timed = _export_in_subprocess(db, out, 2)
    assert timed.wait(timeout=300) == 0
    duration = time.time() - t0
    rng = random.Random(7)
    for k in range(6):
        proc = _export_in_subprocess(db, out, 3 + k)
        time.sleep(rng.uniform(0.2, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        problems, _ = verify_export(out)
        assert problems == [], (k, problems)


def test_stale_staging_of_dead_processes_and_older_versions_is_removed(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Store(db) as store:
        export_project(store, 1, out, ExportConfig(seed=1))
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        from embcore.export.publish import _HOST_TAG

        stale = out / f".out.tmp-{_HOST_TAG}-{dead.pid}-abcd1234"
        (stale / "eval").mkdir(parents=True)
        (stale / "train.jsonl").write_text("half", encoding="utf-8")
        legacy = tmp_path / ".out.tmp-x1y2z3"  # what older embcore (mkdtemp beside OUT) left behind
        legacy.mkdir()
        mine = out / f".out.tmp-{_HOST_TAG}-{os.getpid()}-live0000"  # this process: left alone
        mine.mkdir()
        export_project(store, 1, out, ExportConfig(seed=2))
    assert not stale.exists() and not legacy.exists() and mine.exists()


def test_readers_resolve_the_root_a_version_and_a_flat_export(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Store(db) as store:
        res = export_project(store, 1, out, ExportConfig(seed=4))
    assert res.version_dir is not None
    via_root = load_eval_set(out, "test")
    via_version = load_eval_set(res.version_dir, "test")
    assert via_root.query_ids == via_version.query_ids and via_root.corpus_ids == via_version.corpus_ids
    flat = tmp_path / "flat"
    import shutil

    shutil.copytree(res.version_dir, flat)
    assert resolve_export(flat) == flat
    assert load_eval_set(flat, "test").query_ids == via_root.query_ids
    assert verify_export(flat)[0] == []


# --------------------------------------------------------------------------- embcore verify


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embcore.cli", *map(str, args)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _rehash(folder: Path) -> None:
    """Make the manifest agree with edited files (so that only the schema / leakage checks can fail)."""
    import hashlib

    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for rel in m["files"]:
        m["files"][rel] = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def test_verify_cli(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Store(db) as store:
        export_project(store, 1, out, ExportConfig(seed=5))
    ok = _cli("verify", out)
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stderr and "no leakage" in ok.stderr
    cur = resolve_export(out)
    # 1. a changed file: its hash no longer matches
    lines = (cur / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (cur / "train.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    bad = _cli("verify", out)
    assert bad.returncode == 1
    err = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert any("train.jsonl: sha256 differs" in ln for ln in err), err
    assert any("records, the manifest says" in ln for ln in err), err
    # 2. schema: an empty neg list, misaligned scores, and a stray file
    recs = [json.loads(x) for x in lines]
    recs[0]["neg"] = []
    recs[1]["pos_scores"] = [0.5, 0.4]
    recs[1]["neg_scores"] = [0.1]
    (cur / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    (cur / "extra.txt").write_text("?", encoding="utf-8")
    _rehash(cur)
    bad = _cli("verify", out)
    err = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert bad.returncode == 1
    assert any("train.jsonl:1: 'neg' must be a non-empty list" in ln for ln in err), err
    assert any("train.jsonl:2:" in ln and "'pos_scores' has 2 values for 1" in ln for ln in err), err
    assert any("extra.txt: not listed in the manifest" in ln for ln in err), err
    assert all(ln.startswith("embcore: ") for ln in err)
    # 3. leakage: a test positive copied (re-punctuated) into a train record
    (cur / "extra.txt").unlink()
    test_rec = json.loads((cur / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    recs[0]["neg"] = ["a negative"]
    recs[1] = {"query": "A brand new question?", "pos": [test_rec["pos"][0].upper() + "!"], "neg": ["n"]}
    (cur / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    _rehash(cur)
    bad = _cli("verify", out)
    err = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert bad.returncode == 1
    assert any("leakage: 1 normalised positive passage pair(s) across splits" in ln for ln in err), err
    # 4. not an export
    assert _cli("verify", tmp_path / "nothing").returncode == 2


# --------------------------------------------------------------------------- interrupted runs (issue 9.4)

RUN_SCRIPT = """
import sys, time
from embcore.store import Store
store = Store(sys.argv[1])
with store.recorded_run(1, "mine", {"strategies": ["bm25"]}) as run:
    print(run.id, flush=True)
    time.sleep(600)
"""


def test_a_run_killed_mid_way_is_marked_interrupted(db: Path, tmp_path: Path) -> None:
    script = tmp_path / "run_forever.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        cwd=REPO,
        env=_env(EMBCORE_HEARTBEAT_S="0.2"),
        stdout=subprocess.PIPE,
        text=True,
    )
    run_id = int(proc.stdout.readline())  # type: ignore[union-attr]
    time.sleep(0.6)  # a few heartbeats
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    with Store(db) as store:
        run = store.get_run(run_id)
        assert run["status"] == "interrupted"
        assert f"process {proc.pid}" in run["error"] and "ended before the run finished" in run["error"]
        assert run["host"] == socket.gethostname() and run["heartbeat_at"] is not None
        assert store.interrupted_on_open == [run_id]
        # a run of this very process is left alone, and so is a finished one
        with store.recorded_run(1, "mine", {}):
            assert store.mark_interrupted_runs() == []
        assert store.mark_interrupted_runs() == []
    # a run of another host whose heartbeat went stale is interrupted too (no API writes such a row:
    # it is what another machine's embcore leaves behind, written here straight into the file)
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO runs (project_id, kind, pid, host, heartbeat_at) VALUES "
        "(1, 'mine', 1, 'elsewhere', current_timestamp::TIMESTAMP - INTERVAL 1 HOUR)"
    )
    con.close()
    with Store(db) as store:
        assert len(store.interrupted_on_open) == 1
    listing = _cli("projects", "--db", db)
    assert listing.returncode == 0, listing.stderr
    import io

    import pandas as pd

    table = pd.read_fwf(io.StringIO(listing.stdout))
    assert int(table["interrupted_runs"].iloc[0]) == 2 and int(table["running_runs"].iloc[0]) == 0
