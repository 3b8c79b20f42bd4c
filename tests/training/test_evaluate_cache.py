"""Evaluation reuses embeddings cached in DuckDB (by mining or an earlier evaluation) instead of
re-encoding the whole corpus; a model folder's cache key follows its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.encoders import HashingEncoder

from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.mining.config import MiningConfig
from embcore.models.encoders import SentenceTransformerEncoder
from embcore.store import Store
from embcore.training.evaluate import cache_model_key, evaluate, load_eval_set
from embcore.workflow import create_project, run_mining

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "embcore" / "data" / "sample_qa.csv"


def test_second_evaluation_encodes_nothing(export_dir: Path, tmp_path: Path) -> None:
    es = load_eval_set(export_dir, "test")
    n_texts = len(set(es.query_texts)) + len(set(es.corpus_texts))
    enc = HashingEncoder(dim=128)
    with Store(tmp_path / "cache.duckdb") as store:
        first = evaluate(enc, export_dir, "test", cache=store)
        assert enc.encoded == n_texts
        assert first.cache == {"model_key": "fake-hashing", "cached": 0, "encoded": n_texts}
        second = evaluate(enc, export_dir, "test", cache=store)
        assert enc.encoded == n_texts, "nothing encoded the second time"
        assert second.cache == {"model_key": "fake-hashing", "cached": n_texts, "encoded": 0}
        assert second.metrics == pytest.approx(first.metrics)
        # the other split shares the corpus: only its queries are new
        val = evaluate(enc, export_dir, "val", cache=store)
        assert val.cache["encoded"] == len(set(load_eval_set(export_dir, "val").query_texts))
    # without a cache (the old behaviour) everything is encoded again
    plain = evaluate(enc, export_dir, "test")
    assert plain.cache is None and plain.metrics == pytest.approx(first.metrics)


def test_evaluation_reuses_the_vectors_mining_stored(tmp_path: Path) -> None:
    enc = HashingEncoder(dim=128)
    with Store(tmp_path / "p.duckdb") as store:
        pid = create_project(store, SAMPLE, name="s").project_id
        cfg = MiningConfig(
            strategies=["dense"], num_negatives=2, relative_margin=None, near_duplicate_threshold=None
        )
        run_id = run_mining(store, pid, cfg, encoder=enc)
        res = export_project(
            store, pid, tmp_path / "out", ExportConfig(ratios=(0.6, 0.2, 0.2)), run_id=run_id
        )
        before = enc.encoded
        result = evaluate(enc, res.out_dir, "test", cache=store)
    corpus = load_eval_set(res.out_dir, "test").corpus_texts
    assert result.cache["cached"] >= len(set(corpus)), "every passage was encoded by mining already"
    assert enc.encoded - before == result.cache["encoded"] < len(set(corpus))


def test_cache_key_of_a_model_folder_follows_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    (folder / "model.safetensors").write_bytes(b"v1")
    enc = SentenceTransformerEncoder(str(folder))  # lazy: nothing is loaded
    key = cache_model_key(enc)
    assert key is not None and key.startswith(f"{folder}@")
    assert cache_model_key(SentenceTransformerEncoder(str(folder))) == key, "stable while the files are"
    (folder / "model.safetensors").write_bytes(b"v2 after fine-tuning")
    assert cache_model_key(SentenceTransformerEncoder(str(folder))) != key
    assert cache_model_key(SentenceTransformerEncoder(None)) == "sentence-transformers/all-MiniLM-L6-v2"
    assert cache_model_key(SentenceTransformerEncoder.from_model(object(), "in-memory")) is None
    assert cache_model_key(HashingEncoder()) == "fake-hashing"


@pytest.mark.integration
def test_cli_eval_with_db_reuses_the_cache(export_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "cache.duckdb"

    def run() -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "embcore.cli", "eval", "--data", str(export_dir), "--db", str(db), "--quiet"],
            capture_output=True, text=True, cwd=REPO, timeout=600,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first, second = run(), run()
    assert first["cache"]["encoded"] > 0 and first["cache"]["cached"] == 0
    assert second["cache"] == {
        "model_key": "sentence-transformers/all-MiniLM-L6-v2",
        "cached": first["cache"]["encoded"],
        "encoded": 0,
    }
    assert second["metrics"] == pytest.approx(first["metrics"], abs=1e-6)
    # both evaluations are recorded runs of that database (issue 11.2: `embcore eval` recorded nothing)
    with Store(db) as store:
        runs = store.runs(kind="eval")
        assert runs["status"].tolist() == ["done", "done"]
        stats = store.get_run(int(runs["id"].iloc[-1]))["stats"]
        assert stats["metrics"] == pytest.approx(second["metrics"], abs=1e-6)
