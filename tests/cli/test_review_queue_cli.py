"""``embcore review-queue`` (JSON / TSV for scripts) and ``embcore app``'s address guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.review import mine_sample

from embcore import netguard
from embcore.cli import commands
from embcore.cli.commands import main
from embcore.review import model as review
from embcore.review import queues
from embcore.store import Store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "q.duckdb"
    with Store(path) as store:
        mine_sample(store)
    return path


def test_review_queue_json(db: Path, capsys) -> None:
    assert (
        main(["review-queue", "--db", str(db), "--project", "sample", "--threshold", "0.5", "--limit", "5"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    with Store(db) as store:
        q = queues.compute(store, 1, None, "false_negatives", threshold=0.5)
    assert (
        out["queue"] == "false_negatives" and out["queries"] == len(q.order) and out["items"] == len(q.items)
    )
    assert len(out["rows"]) == 5
    first = out["rows"][0]
    assert first["query_id"] == int(q.order[0]) and first["passage_id"] == int(q.items.iloc[0]["passage_id"])
    assert first["why"] == q.items.iloc[0]["why"] and first["query"] and first["passage"]


def test_review_queue_tsv_and_progress(db: Path, capsys) -> None:
    with Store(db) as store:
        qid = int(review.query_order(store, 1, None)[0])
        review.mark_done(store, 1, qid, reviewer="bob")
    assert (
        main(["review-queue", "--db", str(db), "--project", "1", "--queue", "data", "--format", "tsv"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == [
        "position",
        "query_id",
        "passage_id",
        "signal",
        "value",
        "why",
        "query",
        "passage",
    ]
    assert all(len(line.split("\t")) == 8 for line in lines[1:])
    assert (
        main(["review-queue", "--db", str(db), "--project", "sample", "--queue", "data", "--reviewer", "bob"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["progress"]["queries_done"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--project", "nope"], "no project 'nope'"),
        (["--project", "sample", "--run", "99"], "run 99 is not a finished mining run"),
        (["--project", "sample", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_review_queue_errors(db: Path, capsys, args: list[str], message: str) -> None:
    assert main(["review-queue", "--db", str(db), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("embcore: error:") and message in err[0]


def test_review_queue_missing_db(tmp_path: Path, capsys) -> None:
    assert main(["review-queue", "--db", str(tmp_path / "none.duckdb"), "--project", "x"]) == 2
    assert "no such database" in capsys.readouterr().err


def test_app_binds_loopback_and_refuses_a_public_address(monkeypatch, capsys, tmp_path: Path) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(commands.subprocess, "call", lambda cmd, cwd, env: calls.append((cmd, env)) or 0)
    monkeypatch.setattr(netguard, "secrets_files", lambda app_dir: [tmp_path / "none.toml"])
    monkeypatch.delenv(netguard.PUBLIC_ENV, raising=False)
    assert main(["app", "--port", "8765"]) == 0
    [(cmd, env)] = calls
    assert Path(cmd[cmd.index("run") + 1]).is_file(), "app.py is found (it sits at the repository root)"
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1" and netguard.PUBLIC_ENV not in env
    calls.clear()
    assert main(["app", "--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert not calls and len(err) == 1 and "refusing to serve on 0.0.0.0" in err[0]
    assert main(["app", "--address", "0.0.0.0", "--i-know-this-is-public"]) == 0
    [(cmd, env)] = calls
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0" and env[netguard.PUBLIC_ENV] == "1"
    assert "WITHOUT a login" in capsys.readouterr().err
