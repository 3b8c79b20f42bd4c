"""Fine-tuning the bundled model for a few steps on a tiny export (CPU, well under a minute each)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.exports import write_export

from embcore.cli import main
from embcore.errors import CancelledError
from embcore.store import Store
from embcore.training.defaults import DEFAULTS
from embcore.training.finetune import FinetuneConfig, finetune
from embcore.training.report import load_report

pytestmark = pytest.mark.integration

REPORT_KEYS = {
    "kind",
    "base_model",
    "output_dir",
    "settings",
    "data",
    "base",
    "finetuned",
    "comparison",
    "by_dim",
    "val_history",
    "loss_curve",
    "steps",
    "timing",
    "peak_memory_mb",
    "environment",
    "created_at",
    "report_path",
}


def test_mnrl_with_matryoshka_saves_a_loadable_model_and_a_complete_report(
    export_dir: Path, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    stages: set[str] = set()
    out = tmp_path / "model"
    rep = finetune(
        export_dir,
        None,
        out,
        FinetuneConfig(batch_size=8, max_steps=3, loss="mnrl", matryoshka_dims=[384, 128], eval_val=True),
        progress=lambda s, d, t: stages.add(s),
    )
    assert {"evaluate base", "train", "save", "evaluate fine-tuned"} <= stages
    data = json.loads((out / "report.json").read_text())
    assert set(data) == REPORT_KEYS
    assert data == load_report(out)
    assert data["kind"] == "finetune" and data["steps"] == 3 == rep.steps
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["settings"]["loss"] == "mnrl" and data["settings"]["matryoshka_dims"] == [384, 128]
    assert data["settings"]["num_negatives"] == 2 and data["settings"]["batch_sampler"] == "no_duplicates"
    assert data["data"]["train_rows"] == 16 and len(data["data"]["train_file_sha256"]) == 64
    assert set(data["comparison"]["ndcg@10"]) == {"base", "finetuned", "delta"}
    assert data["base"]["n_queries"] == 16 and data["finetuned"]["split"] == "test"
    assert set(data["by_dim"]) == {"384", "128"} and set(data["by_dim"]["128"]) == {"base", "finetuned"}
    assert data["loss_curve"] and all(p["loss"] >= 0 for p in data["loss_curve"])
    assert data["val_history"] and "ndcg@10" in data["val_history"][-1]
    assert {"eval_base", "train", "eval_finetuned", "total"} <= set(data["timing"])
    assert data["peak_memory_mb"]["rss"] > 100
    assert (out / "loss_curve.svg").read_text().startswith("<svg")
    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["hello"]).shape == (1, 384)


def test_training_changes_the_model_and_lowers_the_loss(export_dir: Path, tmp_path: Path) -> None:
    # issue 11.6: not only the report's keys: the saved weights and embeddings moved, the loss fell
    from safetensors.numpy import load_file

    from embcore.models.encoders import default_model_path, load_sentence_transformer

    out = tmp_path / "trained"
    rep = finetune(
        export_dir, None, out,
        FinetuneConfig(batch_size=8, max_steps=12, loss="mnrl", lr=2e-4, warmup_ratio=0.0, eval_test=False,
                       eval_val=False),
    )  # fmt: skip
    before = load_file(str(Path(default_model_path()) / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    weights = set(before) & set(after)
    assert len(weights) > 50
    moved = [k for k in weights if not np.array_equal(before[k], after[k])]
    assert len(moved) > len(weights) // 2, f"only {len(moved)} of {len(weights)} weight tensors changed"
    texts = ["How much did revenue grow?", "Which organ produces insulin?"]
    base_emb = load_sentence_transformer(None, "cpu").encode(texts, normalize_embeddings=True)
    tuned_emb = load_sentence_transformer(str(out), "cpu").encode(texts, normalize_embeddings=True)
    assert not np.allclose(base_emb, tuned_emb, atol=1e-4)
    losses = [p["loss"] for p in rep.loss_curve]
    assert rep.steps == 12 and len(losses) >= 8
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < first, f"the loss did not go down: {losses}"


def test_distill_and_cached_mnrl_without_val(tmp_path: Path) -> None:
    root = write_export(tmp_path / "scored", with_scores=True, with_val=False, query_prompt="query: ")
    rep = finetune(
        root, None, tmp_path / "d", FinetuneConfig(batch_size=8, max_steps=2, loss="distill", eval_test=False)
    )
    assert rep.settings["loss"] == "distill" and rep.settings["teacher_temperature"] == 0.05
    assert rep.val_history == [] and rep.base is None and rep.comparison == {}
    assert rep.data["query_prompt"] == "query: " and rep.data["splits"] == ["test"]
    rep2 = finetune(
        root,
        None,
        tmp_path / "c",
        FinetuneConfig(batch_size=8, max_steps=2, loss="cached-mnrl", eval_test=False, num_negatives=1),
    )
    assert (
        rep2.settings["mini_batch_size"] == DEFAULTS.mini_batch_size and rep2.settings["num_negatives"] == 1
    )
    assert (tmp_path / "c" / "model.safetensors").is_file()


def test_report_counts_the_max_samples_subset_it_trained_on(export_dir: Path, tmp_path: Path) -> None:
    # train_rows is what the trainer got (the max_samples draw), train_records what train.jsonl holds
    rep = finetune(
        export_dir,
        None,
        tmp_path / "model",
        FinetuneConfig(batch_size=4, max_steps=1, max_samples=5, eval_test=False, eval_val=False),
    )
    data = json.loads((tmp_path / "model" / "report.json").read_text())["data"]
    assert data["train_rows"] == 5 == rep.data["train_rows"] and data["train_records"] == 16
    assert rep.settings["max_samples"] == 5


def test_cancel_saves_nothing(export_dir: Path, tmp_path: Path) -> None:
    def stop_in_training(stage: str, done: int, total: int) -> bool:
        return not (stage == "train" and done >= 1)

    with pytest.raises(CancelledError):
        finetune(
            export_dir,
            None,
            tmp_path / "m",
            FinetuneConfig(batch_size=8, max_steps=3, eval_test=False),
            progress=stop_in_training,
        )
    assert not (tmp_path / "m" / "report.json").exists()


def test_cli_finetune_prints_summary(
    export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, db = tmp_path / "cli-model", tmp_path / "runs.duckdb"
    code = main(
        [
            "finetune",
            "--db",
            str(db),
            "--data",
            str(export_dir),
            "--out",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--no-val",
            "--quiet",
            "--eval-max-queries",
            "8",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["steps"] == 2 and summary["loss"] == "cached-mnrl"  # the default
    assert set(summary["metrics"]) >= {"ndcg@10", "mrr@10", "recall@10"}
    assert Path(summary["report"]).is_file()
    with Store(db) as store:  # recorded (issue 11.2: `embcore finetune` recorded nothing)
        [run] = store.runs(kind="finetune").to_dict("records")
        assert run["status"] == "done" and store.get_run(run["id"])["stats"]["steps"] == 2
    bad = main(["finetune", "--data", str(export_dir), "--out", str(out), "--matryoshka", "999", "--quiet"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (transformers prints its loading bar before)
    assert bad == 2 and last.startswith("embcore: error: ") and "exceeds" in last


def _sample_train_export(root: Path, rows: int = 48, negatives: int = 4) -> Path:
    """train.jsonl from the bundled sample (finance questions: not trivially easy), seeded negatives."""
    import csv
    import random

    sample = Path(__file__).resolve().parents[2] / "embcore" / "data" / "sample_qa.csv"
    with sample.open(encoding="utf-8") as f:
        data = [(r["question"], r["context"]) for r in csv.DictReader(f)][:rows]
    contexts = sorted({c for _, c in data})
    rng = random.Random(0)
    root.mkdir(parents=True)
    with (root / "train.jsonl").open("w", encoding="utf-8") as f:
        for q, c in data:
            negs = rng.sample([x for x in contexts if x != c], negatives)
            f.write(json.dumps({"query": q, "pos": [c], "neg": negs}) + "\n")
    return root


def test_the_product_defaults_train_and_report_their_speed_settings(tmp_path: Path) -> None:
    """Every default (loss, lr, negatives, GradCache chunk, fitted length, precision, validation) trains:
    the second epoch's mean loss is below the first's on the same rows."""
    root = _sample_train_export(tmp_path / "export")
    rep = finetune(root, None, tmp_path / "m", FinetuneConfig(batch_size=8, epochs=2, eval_test=False))
    s = rep.settings
    assert (
        s["loss"] == DEFAULTS.loss
        and s["lr"] == DEFAULTS.lr
        and s["mini_batch_size"] == DEFAULTS.mini_batch_size
    )
    assert s["num_negatives"] == DEFAULTS.max_negatives == 3  # the export has 4 a row
    assert 8 <= s["max_seq_length"] <= 256 and s["max_seq_length"] % 8 == 0
    assert set(s["max_seq_length_info"]["fitted_p99"]) == {"query", "passage"}
    assert s["precision"] in ("fp32", "bf16") and s["threads"] >= 1
    curve = rep.loss_curve
    first = [p["loss"] for p in curve if p["epoch"] <= 1.0]
    second = [p["loss"] for p in curve if p["epoch"] > 1.0]
    assert len(first) >= 5 and len(second) >= 5
    assert sum(second) / len(second) < sum(first) / len(first), curve
