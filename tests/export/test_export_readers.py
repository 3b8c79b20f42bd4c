"""Each export format read by its real consumer, not by a re-implementation.

- sentence-transformers' ``SentenceTransformerTrainer`` trains the bundled model a few steps on
  ``st/`` loaded the way the dataset card says (``datasets.load_dataset(OUT, "sentence-transformers")``);
- ``datasets.load_from_disk`` over ``hf/``;
- BEIR's ``GenericDataLoader`` over ``eval/``;
- FlagEmbedding's collator (with the bundled tokenizer) over batches of its training dataset;
- ``huggingface_hub.DatasetCard`` over ``README.md``.
(FlagEmbedding's dataset over every line of train.jsonl: test_flag_jsonl_reader.py.)
"""

from __future__ import annotations

import json
import os
from typing import Any

import datasets
import pytest
from support.export_formats import export_sample, flag_dataset, flag_embedder, read_jsonl

from embcore.export.exporter import ExportConfig
from embcore.export.publish import resolve_export

# On a busy 2-core machine, spinning OpenMP threads made a training step ~8x slower; this only
# takes effect when torch has not been imported yet in this process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled sample mined with BM25 and exported in every format (query prompt set)."""
    tmp = tmp_path_factory.mktemp("readers")
    res, store, _ = export_sample(tmp, ExportConfig(seed=7, query_prompt="query: "))
    store.close()
    return {"out": tmp / "out", "folder": resolve_export(tmp / "out"), "result": res, "tmp": tmp}


def test_beir_generic_data_loader_reads_the_eval_set(export: dict[str, Any]) -> None:
    from beir.datasets.data_loader import GenericDataLoader

    out = export["out"]
    corpus_lines = read_jsonl(out / "eval" / "corpus.jsonl")
    for split in ("val", "test"):
        corpus, queries, qrels = GenericDataLoader(data_folder=str(out / "eval")).load(split=split)
        assert len(corpus) == len(corpus_lines) == 91
        assert all(set(doc) == {"text", "title"} for doc in corpus.values())
        records = read_jsonl(out / f"{split}.jsonl")
        assert set(queries.values()) == {r["query"] for r in records}
        assert set(qrels) == set(queries)
        want = {(r["query"], p) for r in records for p in r["pos"]}
        got = {
            (queries[q], corpus[d]["text"])
            for q, docs in qrels.items()
            for d, score in docs.items()
            if score == 1
        }
        assert got == want


def test_load_from_disk_and_the_cards_config(export: dict[str, Any]) -> None:
    out, tmp = export["out"], export["tmp"]
    dd = datasets.load_from_disk(str(out / "hf"))
    for split in ("train", "val", "test"):
        records = read_jsonl(out / f"{split}.jsonl")
        assert dd[split].to_list() == records
        assert all(r["prompt"] == "query: " for r in records)
    # the card's YAML config, as the Hub and load_dataset read it (through the OUT/st link)
    st = datasets.load_dataset(str(out), "sentence-transformers", cache_dir=str(tmp / "hf-cache"))
    assert list(st) == ["train", "val", "test"]
    n = export["result"].manifest["formats"]["st"]["negative_columns"]
    assert st["train"].column_names == ["anchor", "positive", *(f"negative_{j + 1}" for j in range(n))]
    assert len(st["train"]) == sum(len(r["pos"]) for r in read_jsonl(out / "train.jsonl"))


def test_dataset_card_reads_with_huggingface_hub(export: dict[str, Any]) -> None:
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(export["out"] / "README.md")
    assert card.data.license == "unknown"
    assert card.data.task_categories == ["sentence-similarity", "text-retrieval"]
    assert card.data.size_categories == ["n<1K"]
    assert "## Leakage report" in card.text


@pytest.mark.integration
def test_sentence_transformers_trainer_runs_on_the_st_layout(export: dict[str, Any]) -> None:
    import numpy as np
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    from embcore.models.encoders import default_model_path

    out, tmp = export["out"], export["tmp"]
    data = datasets.load_dataset(str(out), "sentence-transformers", cache_dir=str(tmp / "hf-cache-st"))
    model = SentenceTransformer(default_model_path(), device="cpu")
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp / "st-model"),
        max_steps=3,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-4,
        batch_sampler="no_duplicates",
        prompts={"anchor": "query: "},
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        seed=1,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["val"],
        loss=losses.MultipleNegativesRankingLoss(model),
    )
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss) and result.training_loss > 0
    metrics = trainer.evaluate()
    assert np.isfinite(metrics["eval_loss"])
    changed = [k for k, v in model.state_dict().items() if not bool((v == before[k]).all())]
    assert changed, "training left every weight unchanged"


@pytest.mark.integration
def test_flagembedding_collator_batches_the_training_dataset(export: dict[str, Any]) -> None:
    from transformers import AutoTokenizer

    from embcore.models.encoders import default_model_path

    _, ds_mod = flag_embedder()
    out, tmp = export["out"], export["tmp"]
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    ds = flag_dataset(
        out / "train.jsonl", tmp / "flag-cache", train_group_size=8, query_instruction_for_retrieval="query: "
    )
    collator = ds_mod.AbsEmbedderCollator(tokenizer=tokenizer, query_max_len=32, passage_max_len=128)
    batch = collator([ds[i] for i in range(4)])
    assert tuple(batch["queries"]["input_ids"].shape)[0] == 4
    assert tuple(batch["passages"]["input_ids"].shape)[0] == 4 * 8
    assert batch["teacher_scores"] is None
    # the records' own prompt ("query: ") is used, the row is never formatted with None
    first = read_jsonl(out / "train.jsonl")[0]
    assert ds[0][0] == "query: " + first["query"]
    assert json.dumps(first).count('"prompt"') == 1
