"""Augmentation of a stored project: linkage, review, export without leakage, DuckDB LLM cache, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.fake_openai import FakeOpenAI

from embcore.augment.llm import ChatClient, LLMConfig
from embcore.augment.project import AugmentConfig, StoreResponseCache, augment_project
from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.ingest.samples import Sample
from embcore.store import Store

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "embcore" / "data" / "sample_qa.csv"


def _samples(n: int = 24) -> list[Sample]:
    return [
        Sample(
            f"What was the operating margin of company {i} in fiscal 2024?",
            [
                f"Company {i} reported an operating margin of {10 + i}% in fiscal 2024, up from {8 + i}% a year earlier."
            ],
        )
        for i in range(n)
    ]


def _records(out: Path) -> dict[str, tuple[str, dict]]:
    recs = {}
    for split in ("train", "val", "test"):
        for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            recs[r["query"]] = (split, r)
    return recs


def test_eda_copies_are_linked_and_exported_with_their_source(tmp_path: Path) -> None:
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("aug", _samples())
        stats = augment_project(store, pid, AugmentConfig(ops=["swap", "delete"], n=2, rate=0.3, seed=7))
        assert stats["added"]["queries"] > 20
        q = store.queries(pid)
        derived = q[q["origin"] != "data"]
        assert len(derived) == stats["added"]["queries"]
        assert derived["origin"].str.startswith("augment:").all()
        assert derived["parent_id"].notna().all()
        # every copy keeps its source's positive (same passage id)
        pos = store.positives(pid)
        by_q = pos.groupby("query_id")["passage_id"].apply(set).to_dict()
        for qid, parent in zip(derived["id"], derived["parent_id"], strict=True):
            assert by_q[int(qid)] == by_q[int(parent)]
        # idempotent: the same seed adds nothing more
        again = augment_project(store, pid, AugmentConfig(ops=["swap", "delete"], n=2, rate=0.3, seed=7))
        assert again["added"]["queries"] == 0
        text_of = dict(zip(q["id"], q["text"], strict=True))
        parent_text = {
            text_of[int(c)]: text_of[int(p)] for c, p in zip(derived["id"], derived["parent_id"], strict=True)
        }
        res = export_project(store, pid, tmp_path / "out", ExportConfig(ratios=(0.5, 0.25, 0.25), seed=3))
        recs = _records(res.out_dir)
        for child, parent in parent_text.items():
            assert recs[child][0] == recs[parent][0], "an augmented copy left its source's split"
        # the evaluation set holds real queries only
        eval_queries = [
            json.loads(x)["text"] for x in (res.out_dir / "eval" / "queries.jsonl").read_text().splitlines()
        ]
        assert eval_queries and not set(eval_queries) & set(parent_text)


def test_llm_generations_are_stored_reviewable_cached_and_keyless(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    key = "sk-test-secret-123"
    fake_openai.api_key = key
    cfg = LLMConfig(base_url=fake_openai.url, model="fake-model", api_key=key, max_retries=1)
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("llm", _samples(6))
        client = ChatClient(cfg, cache=StoreResponseCache(store, cfg.model))
        stats = augment_project(
            store, pid, AugmentConfig(llm_tasks=["query-gen", "pos-gen", "neg-gen"], llm_n=2), client=client
        )
        added = stats["added"]
        assert added["queries"] > 0 and added["positives"] > 0 and added["negatives"] > 0
        n_requests = len(fake_openai.requests)
        assert n_requests > 0
        # the generated negatives are review candidates with their origin
        with store.recorded_run(pid, "mine", {}) as run:
            run_id = run.id
        cands = store.candidates(run_id, include_given=True)
        given = cands[cands["status"] == "given"]
        assert len(given) == added["negatives"]
        assert given["sources"].str.startswith("llm:neg-gen").all()
        # a rejected generated negative is not exported, the others are
        qid, ppid = int(given["query_id"].iloc[0]), int(given["passage_id"].iloc[0])
        rejected_text = str(given["text"].iloc[0])
        store.set_decision(pid, qid, ppid, "reject")
        # "drop": samples without any negative are left out instead of getting random ones
        res = export_project(
            store, pid, tmp_path / "out", ExportConfig(ratios=(1.0, 0.0, 0.0), empty_negatives="drop")
        )
        all_negs = [n for _, r in _records(res.out_dir).values() for n in r["neg"]]
        assert rejected_text not in all_negs
        assert len(all_negs) == added["negatives"] - 1
        # rerun: every answer comes from DuckDB, no request is sent
        client2 = ChatClient(cfg, cache=StoreResponseCache(store, cfg.model))
        augment_project(
            store, pid, AugmentConfig(llm_tasks=["query-gen", "pos-gen", "neg-gen"], llm_n=2), client=client2
        )
        assert len(fake_openai.requests) == n_requests
        assert key not in " ".join(store.all_values())


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embcore.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )


def test_cli_build_with_llm_and_eda(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    env = dict(os.environ, OPENAI_BASE_URL=fake_openai.url, OPENAI_API_KEY="sk-cli-key")
    out = tmp_path / "out"
    proc = _run_cli(
        [
            "build", str(SAMPLE), "--out", str(out), "--negatives", "random", "--num-neg", "2", "--no-progress",
            "--near-dup", "-2", "--relative-margin", "-1", "--augment", "swap", "--augment-max-samples", "5",
            "--llm", "paraphrase,neg-gen", "--llm-model", "fake-model", "--llm-n", "2",
        ],
        env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["augment"]["llm_tasks"] == ["paraphrase", "neg-gen"]
    assert "sk-cli-key" not in (out / "manifest.json").read_text()
    with Store(out / "embcore.duckdb") as store:
        q = store.queries(1)
        assert (q["origin"].str.startswith("llm:paraphrase")).any()
        assert (q["origin"].str.startswith("augment:")).any()


def test_cli_unreachable_llm_endpoint_is_one_clear_line(tmp_path: Path) -> None:
    env = dict(os.environ, OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="x")
    proc = _run_cli(
        ["build", str(SAMPLE), "--out", str(tmp_path / "o"), "--negatives", "random", "--near-dup", "-2",
         "--relative-margin", "-1", "--llm", "paraphrase", "--llm-model", "m", "--no-progress"],
        env,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach LLM endpoint" in lines[0], proc.stderr


@pytest.mark.parametrize(
    "bad", [["--augment", "shuffle"], ["--llm", "summarise"], ["--augment-n", "0", "--augment", "swap"]]
)
def test_cli_bad_augmentation_options(tmp_path: Path, bad: list[str]) -> None:
    proc = _run_cli(["build", str(SAMPLE), "--out", str(tmp_path / "o"), *bad], dict(os.environ))
    assert proc.returncode == 2
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1, proc.stderr
    assert not (tmp_path / "o").exists()
