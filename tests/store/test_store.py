"""embcore.store: migrations, persistence, decisions, concurrency, process lock, caches, listing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import embcore
from embcore.errors import EmbcoreError, StoreBusyError
from embcore.ingest.mapping import FieldMapping
from embcore.ingest.read import read_table
from embcore.ingest.samples import Sample, build_samples
from embcore.store import Store
from embcore.text import text_hash

REPO = Path(__file__).resolve().parents[2]
SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("embcore.store") / "migrations"
    out = [
        (int(e.name[:3]), e.name[:-4], e.read_text(encoding="utf-8"))
        for e in folder.iterdir()
        if e.name.endswith(".sql") and e.name[:3].isdigit()
    ]
    return sorted(out)  # read here, not through the store: the test checks what the store applies


@pytest.fixture(scope="module")
def samples() -> list:
    raw = read_table(SAMPLE)
    return build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"])).samples


@pytest.fixture
def store_with_project(tmp_path: Path, samples: list) -> tuple[Store, int]:
    store = Store(tmp_path / "db.duckdb")
    pid = store.create_project(
        "sample", samples, source_name="sample_qa.csv", source_sha256="abc", source_format="csv"
    )
    yield store, pid
    store.close()


def _other_passage(store: Store, pid: int, qid: int, k: int = 0) -> int:
    """The k-th passage id that is not a positive of query qid."""
    pos = set(store.positives(pid).query("query_id == @qid")["passage_id"])
    ids = [int(i) for i in store.passages(pid)["id"] if int(i) not in pos]
    return ids[k]


# --------------------------------------------------------------------------- migrations


def test_migrations_recorded(tmp_path: Path) -> None:
    files = _migration_files()
    assert [v for v, _, _ in files][:2] == [1, 2]
    with Store(tmp_path / "a.duckdb") as store:
        assert store.applied_migrations() == [(v, n) for v, n, _ in files]
        assert store.schema_version() == files[-1][0]
        assert store.migrate() == []  # nothing left to apply


def test_memory_store_is_migrated() -> None:
    with Store() as store:
        tables = store.table_names()
        for t in ("projects", "passages", "queries", "positives", "candidates", "decisions", "decision_log", "runs",
                  "exports", "embeddings", "teacher_scores", "llm_cache", "schema_migrations"):  # fmt: skip
            assert t in tables


def test_file_survives_close_and_reopen(tmp_path: Path, samples: list) -> None:
    path = tmp_path / "persist.duckdb"
    with Store(path) as store:
        pid = store.create_project(
            "sample", samples, mapping={"query_col": "question"}, cleaning={"rows_read": 100}
        )
        q = int(store.queries(pid)["id"].iloc[0])
        p = _other_passage(store, pid, q)
        store.set_decision(pid, q, p, "accept")
        before = (
            store.queries(pid)[["id", "text"]],
            store.passages(pid)[["id", "text"]],
            store.decisions(pid),
        )
    with Store(path) as store:
        assert store.migrate() == []
        assert store.project_id("sample") == pid
        proj = store.get_project(pid)
        assert proj["mapping"] == {"query_col": "question"}
        assert proj["cleaning"] == {"rows_read": 100}
        pd.testing.assert_frame_equal(store.queries(pid)[["id", "text"]], before[0])
        pd.testing.assert_frame_equal(store.passages(pid)[["id", "text"]], before[1])
        assert store.decisions(pid)[["query_id", "passage_id", "decision"]].values.tolist() == [
            [q, p, "accept"]
        ]
        # sequences continue after reopen: a new project does not reuse ids
        pid2 = store.create_project("second", samples[:3])
        assert pid2 > pid


def test_older_file_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    (v1, name1, sql1) = _migration_files()[0]
    assert v1 == 1
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    for stmt in sql1.split(";"):
        body = "\n".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--")).strip()
        if body:
            con.execute(body)
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [1, name1])
    con.execute("INSERT INTO projects (name, source_name) VALUES ('legacy', 'old.csv')")
    con.close()

    with Store(path) as store:
        assert [v for v, _ in store.applied_migrations()] == [v for v, _, _ in _migration_files()]
        tables = store.table_names()
        assert {"embeddings", "teacher_scores", "llm_cache"} <= tables
        assert store.project_id("legacy") == 1  # data written before the upgrade is still there
        store.put_embeddings("m", "", ["h1"], np.ones((1, 3), dtype=np.float32))
        assert set(store.get_embeddings("m", "", ["h1"])) == {"h1"}
    with Store(path) as store:
        assert store.migrate() == []


def test_not_a_duckdb_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EmbcoreError, match="bad.duckdb"):
        Store(bad)


# --------------------------------------------------------------------------- projects


def test_create_project_tables(store_with_project: tuple[Store, int], samples: list) -> None:
    store, pid = store_with_project
    q = store.queries(pid)
    assert len(q) == len(samples)
    assert list(q["text"]) == [s.query for s in samples]
    assert q["meta"].iloc[0] == samples[0].meta and set(samples[0].meta) == {"ticker", "filing"}
    assert list(q["source_rows"].iloc[0]) == samples[0].source_rows
    p = store.passages(pid)
    assert len(p) == len({t for s in samples for t in s.positives})
    assert all(h == text_hash(t) for t, h in zip(p["text"], p["text_hash"], strict=True))
    pos = store.positives(pid)
    assert len(pos) == sum(len(s.positives) for s in samples)
    assert set(pos["origin"]) == {"data"}


def test_project_name_conflict_and_replace(store_with_project: tuple[Store, int], samples: list) -> None:
    store, pid = store_with_project
    with pytest.raises(EmbcoreError, match="'sample' already exists"):
        store.create_project("sample", samples[:2])
    with pytest.raises(EmbcoreError, match="non-empty name"):
        store.create_project("  ", samples[:2])
    pid2 = store.create_project("sample", samples[:2], replace=True)
    assert len(store.queries(pid2)) == 2
    assert store.corpus_counts(pid) == {"queries": 0, "passages": 0, "positives": 0}


def test_project_listing(tmp_path: Path, samples: list) -> None:
    with Store(tmp_path / "list.duckdb") as store:
        assert store.list_projects().empty
        a = store.create_project("alpha", samples, source_name="sample_qa.csv")
        b = store.create_project("beta", samples[:5])
        q = int(store.queries(a)["id"].iloc[0])
        store.apply_decisions(
            a, [(q, _other_passage(store, a, q, 0)), (q, _other_passage(store, a, q, 1))], "reject"
        )
        store.set_done(a, q)  # decisions alone do not make a query reviewed (no mining run here)
        df = store.list_projects()
        assert list(df["name"]) == ["alpha", "beta"]
        assert list(df["id"]) == [a, b]
        ra, rb = df.iloc[0], df.iloc[1]
        assert ra["queries"] == len(samples) and rb["queries"] == 5
        assert ra["passages"] == len({t for s in samples for t in s.positives})
        assert ra["decisions"] == 2 and ra["reviewed"] == 1
        assert rb["decisions"] == 0 and rb["exports"] == 0
        assert store.project_id("beta") == b
        assert store.project_id(str(b)) == b
        with pytest.raises(EmbcoreError, match="no project 'gamma'; existing projects: alpha, beta"):
            store.project_id("gamma")
        store.delete_project(a)
        assert list(store.list_projects()["name"]) == ["beta"]


# --------------------------------------------------------------------------- decisions


def test_decisions_set_and_clear(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    q = int(store.queries(pid)["id"].iloc[3])
    p1, p2 = _other_passage(store, pid, q, 0), _other_passage(store, pid, q, 1)
    store.set_decision(pid, q, p1, "accept")
    store.set_decision(pid, q, p2, "reject")
    d = store.decisions(pid)
    assert d[["query_id", "passage_id", "decision"]].values.tolist() == sorted(
        [[q, p1, "accept"], [q, p2, "reject"]]
    )
    assert store.reviewed_query_ids(pid).size == 0, "a decision does not mark the query reviewed"
    store.set_decision(pid, q, p1, "reject")  # change
    assert store.decisions(pid, q).set_index("passage_id")["decision"].to_dict() == {
        p1: "reject",
        p2: "reject",
    }
    store.set_decision(pid, q, p1, None)  # clear
    assert store.decisions(pid, q)["passage_id"].tolist() == [p2]
    with pytest.raises(EmbcoreError, match="unknown decision 'maybe'; allowed: accept, reject, positive"):
        store.set_decision(pid, q, p1, "maybe")
    assert store.apply_decisions(pid, [], "accept").pairs == 0


def test_positive_relabelling_adds_and_removes_review_positive(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    q = int(store.queries(pid)["id"].iloc[5])
    p = _other_passage(store, pid, q, 2)
    n_before = len(store.positives(pid))

    def review_positives() -> list[tuple[int, int]]:
        pos = store.positives(pid)
        sub = pos[pos["origin"] == "review"]
        return list(zip(sub["query_id"].astype(int), sub["passage_id"].astype(int), strict=True))

    store.set_decision(pid, q, p, "positive")
    assert review_positives() == [(q, p)]
    assert len(store.positives(pid)) == n_before + 1
    store.set_decision(pid, q, p, "positive")  # idempotent
    assert review_positives() == [(q, p)]
    store.set_decision(pid, q, p, "reject")
    assert review_positives() == []
    store.set_decision(pid, q, p, "positive")
    assert review_positives() == [(q, p)]
    store.set_decision(pid, q, p, None)
    assert review_positives() == []
    assert len(store.positives(pid)) == n_before


def test_decision_on_a_data_positive_never_deletes_it(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    pos = store.positives(pid)
    q, p = int(pos["query_id"].iloc[0]), int(pos["passage_id"].iloc[0])
    for d in ("positive", "reject", None):
        store.set_decision(pid, q, p, d)
        row = store.positives(pid).query("query_id == @q and passage_id == @p")
        assert row["origin"].tolist() == ["data"]


def test_decision_log_is_append_only(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    q = int(store.queries(pid)["id"].iloc[7])
    p = _other_passage(store, pid, q)
    for d in ("accept", "reject", "positive", None, "accept"):
        store.set_decision(pid, q, p, d)
    log = store.decision_log(pid, (q, p))
    assert [None if pd.isna(x) else x for x in log["decision"]] == [
        "accept",
        "reject",
        "positive",
        None,
        "accept",
    ]
    assert store.decisions(pid, q)["decision"].tolist() == ["accept"]


def test_concurrent_set_decisions_lose_nothing(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    qids = [int(x) for x in store.queries(pid)["id"]]
    pids = [int(x) for x in store.passages(pid)["id"]]
    n_threads, per_thread = 6, 25
    choices = ("accept", "reject", "positive")
    errors: list[BaseException] = []
    plan: dict[int, list[tuple[int, int, str]]] = {}
    for t in range(n_threads):
        plan[t] = []
        for i in range(per_thread):
            q = qids[(t * per_thread + i) % len(qids)]
            p = pids[(t * 7 + i * 3 + 11) % len(pids)]
            plan[t].append((q, p, choices[(t + i) % 3]))
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for q, p, d in plan[t]:
                store.apply_decisions(pid, [(q, p)], d)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    total = n_threads * per_thread
    log = store.decision_log(pid)
    assert len(log) == total
    # every (query, passage) pair that was written has exactly one current decision
    pairs = {(q, p) for steps in plan.values() for q, p, _ in steps}
    d = store.decisions(pid)
    assert len(d) == len(pairs)
    assert set(zip(d["query_id"].astype(int), d["passage_id"].astype(int), strict=True)) == pairs
    # and the decision is the last one the log holds for that pair
    last = (
        log.sort_values("id")
        .groupby(["query_id", "passage_id"])
        .tail(1)[["query_id", "passage_id", "decision"]]
    )
    merged = d.merge(last, on=["query_id", "passage_id"], suffixes=("", "_log"))
    assert (merged["decision"] == merged["decision_log"]).all()
    # review positives exist exactly for the 'positive' decisions on non-data pairs
    pos = store.positives(pid)
    review = set(
        zip(
            pos[pos["origin"] == "review"]["query_id"],
            pos[pos["origin"] == "review"]["passage_id"],
            strict=True,
        )
    )
    data = set(
        zip(pos[pos["origin"] == "data"]["query_id"], pos[pos["origin"] == "data"]["passage_id"], strict=True)
    )
    want = {
        (q, p)
        for q, p, dec in zip(d["query_id"], d["passage_id"], d["decision"], strict=True)
        if dec == "positive"
    }
    assert review == want - data


_BUSY_SCRIPT = """
import sys
from embcore.errors import StoreBusyError
from embcore.store import Store
try:
    Store(sys.argv[1])
except StoreBusyError as exc:
    print("BUSY", exc)
    sys.exit(3)
print("OPENED")
"""


def test_second_process_gets_store_busy_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with Store(path):
        proc = subprocess.run(
            [sys.executable, "-c", _BUSY_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "BUSY" in proc.stdout
    assert str(path) in proc.stdout
    assert "another process" in proc.stdout
    assert issubclass(StoreBusyError, EmbcoreError)
    # once the first process lets go, the file opens again
    proc = subprocess.run(
        [sys.executable, "-c", _BUSY_SCRIPT, str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0 and "OPENED" in proc.stdout, proc.stderr


# --------------------------------------------------------------------------- runs + candidates


def test_runs_and_candidates(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    q = int(store.queries(pid)["id"].iloc[0])
    p1, p2 = _other_passage(store, pid, q, 0), _other_passage(store, pid, q, 1)
    assert store.latest_run(pid) is None
    with store.recorded_run(
        pid, "mine", {"strategies": ["random"]}, seed=7, model_id="none", data_hash="abc"
    ) as rec:
        run = rec.id
        frame = pd.DataFrame(
            {
                "query_id": [q, q, q], "passage_id": [p1, p2, p1], "sources": ["random", "random", "random"],
                "score": [0.5, 0.4, 0.5], "rank": [1, 2, 1], "bm25_rank": [None] * 3, "bm25_score": [None] * 3,
                "dense_rank": [None] * 3, "dense_score": [None] * 3, "pos_sim": [None] * 3,
                "status": ["selected", "kept", "selected"],
            }
        )  # fmt: skip
        store.save_candidates(pid, run, frame)
        assert store.latest_run(pid) is None  # still running
        assert store.get_run(run)["status"] == "running"
        rec.counts["candidates"] = 2
    assert store.latest_run(pid) == run
    row = store.get_run(run)
    assert row["status"] == "done" and row["seed"] == 7 and row["config"] == {"strategies": ["random"]}
    assert row["counts"] == {"candidates": 2} and row["timings"]["total_s"] >= 0
    c = store.candidates(run)
    assert c[["passage_id", "status"]].values.tolist() == [
        [p1, "selected"],
        [p2, "kept"],
    ]  # duplicate row dropped
    assert c["decision"].isna().all()
    assert store.candidates(run, statuses=["kept"])["passage_id"].tolist() == [p2]
    with pytest.raises(EmbcoreError, match="no run with id"):
        store.get_run(99999)


# --------------------------------------------------------------------------- caches


def test_embeddings_cache_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((4, 8)).astype(np.float32)
    hashes = [text_hash(f"text {i}") for i in range(4)]
    with Store(tmp_path / "cache.duckdb") as store:
        store.put_embeddings("model-a", "query: ", hashes, vecs)
        store.put_embeddings(
            "model-a", "query: ", hashes[:1], np.zeros((1, 8), dtype=np.float32)
        )  # no overwrite
        assert store.get_embeddings("model-a", "query: ", []) == {}
        got = store.get_embeddings("model-a", "query: ", [*hashes, "missing"])
        assert set(got) == set(hashes)
        for h, v in zip(hashes, vecs, strict=True):
            assert got[h].dtype == np.float32
            np.testing.assert_array_equal(got[h], v)
        assert store.get_embeddings("model-a", "", hashes) == {}  # other prompt
        assert store.get_embeddings("model-b", "query: ", hashes) == {}  # other model


def test_embeddings_cache_survives_reopen(tmp_path: Path) -> None:
    # the first call on a freshly opened existing file is a cache read (e.g. re-mining with cached vectors)
    path = tmp_path / "cache.duckdb"
    vecs = np.arange(6, dtype=np.float32).reshape(2, 3)
    with Store(path) as store:
        store.put_embeddings("m", "", ["h1", "h2"], vecs)
    with Store(path) as store:
        got = store.get_embeddings("m", "", ["h1", "h2"])
        np.testing.assert_array_equal(np.stack([got["h1"], got["h2"]]), vecs)


def test_cache_reads_after_a_single_row_query(store_with_project: tuple[Store, int]) -> None:
    # any fetchone() before a cache read (latest_run, project_id, ...) must not break the read
    store, pid = store_with_project
    store.put_embeddings("m", "", ["h1"], np.ones((1, 3), dtype=np.float32))
    store.put_teacher_scores("ce", {("q", "p"): 1.0})
    assert store.latest_run(pid) is None
    assert set(store.get_embeddings("m", "", ["h1"])) == {"h1"}
    assert store.project_id("sample") == pid
    assert store.get_teacher_scores("ce", [("q", "p")]) == {("q", "p"): 1.0}


def test_edit_positive(store_with_project: tuple[Store, int]) -> None:
    store, pid = store_with_project
    pos = store.positives(pid)
    q, p = int(pos["query_id"].iloc[0]), int(pos["passage_id"].iloc[0])
    new_id, _ = store.edit_positive(pid, q, p, "  An   edited\u200b positive.  ")
    assert new_id != p
    now = store.positives(pid).query("query_id == @q")
    assert now["passage_id"].tolist() == [new_id]
    assert now["text"].tolist() == ["An edited positive."]
    assert now["origin"].tolist() == ["edit"]
    log = store.decision_log(pid, (q, p))
    assert log["decision"].tolist() == [f"edited->{new_id}"]
    assert q not in store.reviewed_query_ids(pid), "an edit does not mark the query reviewed"
    with pytest.raises(EmbcoreError, match="cannot be empty"):
        store.edit_positive(pid, q, new_id, " \u200b ")


def test_teacher_and_llm_cache_round_trip() -> None:
    with Store() as store:
        store.put_teacher_scores("ce", {("q1", "p1"): 0.75, ("q1", "p2"): -1.5})
        assert store.get_teacher_scores("ce", [("q1", "p1"), ("q1", "p2"), ("q9", "p9")]) == {
            ("q1", "p1"): 0.75,
            ("q1", "p2"): -1.5,
        }
        assert store.get_teacher_scores("other", [("q1", "p1")]) == {}
        assert store.llm_cache_get("k") is None
        store.llm_cache_put("k", {"prompt": "hi"}, "hello", model="m")
        assert store.llm_cache_get("k") == "hello"


def test_mining_input_carries_per_query_prompts() -> None:
    with Store() as store:
        pid = store.create_project(
            "p", [Sample("q one?", ["passage one."]), Sample("q two?", ["passage two."])]
        )
        assert store.mining_input(pid).query_prompts == ["", ""]
        first = int(store.queries(pid)["id"].iloc[0])
        store.set_sample_fields(pid, prompt="Represent this question: ", query_ids=[first])
        assert store.mining_input(pid).query_prompts == ["Represent this question: ", ""]


# --------------------------------------------------------------------------- issue 9.11: not a DuckDB file


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("input.csv", None, "CSV data file"),  # DuckDB used to open this as an in-memory database
        ("data.json", b'[{"question": "q?", "context": "c."}]', "JSON data file"),
        ("empty.duckdb", b"", "empty file"),
        ("notes.txt", b"some notes\n", "text file"),
    ],
)
def test_existing_non_duckdb_file_is_refused(
    tmp_path: Path, name: str, content: bytes | None, why: str
) -> None:
    path = tmp_path / name
    path.write_bytes(SAMPLE.read_bytes() if content is None else content)
    before = path.read_bytes()
    with pytest.raises(EmbcoreError, match=rf"{name}: .*{why}"):
        Store(path)
    assert path.read_bytes() == before
    assert not (tmp_path / (name + ".wal")).exists()


def test_new_path_with_a_data_extension_becomes_a_real_database(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    with Store(path) as store:
        store.create_project("p", [Sample("q one?", ["passage one."])])
    with Store(path) as store:  # written to the file, not to an in-memory database
        assert store.project_id("p") == 1


def test_folder_as_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbcoreError, match="is a folder"):
        Store(tmp_path)


# --------------------------------------------------------------------------- migration 005: sample_key


def test_migration_005_keeps_queries_and_allows_same_text_samples(tmp_path: Path) -> None:
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    for version, name, sql in _migration_files()[:2]:
        for stmt in sql.split(";"):
            body = "\n".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--")).strip()
            if body:
                con.execute(body)
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
    con.execute("INSERT INTO projects (name) VALUES ('old')")
    con.execute(
        "INSERT INTO queries (project_id, text, text_hash, prompt, origin) VALUES (1, 'q?', ?, 'p: ', 'data')",
        [text_hash("q?")],
    )
    con.close()
    with Store(path) as store:
        q = store.queries(1)
        assert q[["id", "text", "prompt", "origin"]].values.tolist() == [[1, "q?", "p: ", "data"]]
        assert q["sample_key"].tolist() == [text_hash("q?")]
        same = [Sample("Same question?", ["A."], meta={"t": "A"}, key="k1"),
                Sample("Same question?", ["B."], meta={"t": "B"}, key="k2")]  # fmt: skip
        pid = store.create_project("new", same)
        assert store.queries(pid)["text"].tolist() == ["Same question?", "Same question?"]
        assert int(store.queries(pid)["id"].min()) > 1  # the id sequence continues


def test_a_lower_numbered_migration_added_later_is_still_applied(tmp_path: Path, monkeypatch) -> None:
    # branches merged in any order: 003 may arrive after 005 was applied to a database
    from embcore.store import connection

    path = tmp_path / "m.duckdb"
    files = connection.migration_files()
    late = [m for m in files if m[0] == 3]
    assert late and max(v for v, _, _ in files) > 3
    # 010 (several reviewers) builds on 003's tables: it arrives with it
    left_out = {3, 10}
    monkeypatch.setattr(connection, "migration_files", lambda: [m for m in files if m[0] not in left_out])
    Store(path).close()
    with Store(path) as store:
        assert not left_out & {v for v, _ in store.applied_migrations()}
    monkeypatch.setattr(connection, "migration_files", lambda: files)
    with Store(path) as store:
        assert {v for v, _ in store.applied_migrations()} >= {3, 5, 10}
