"""train.jsonl read by FlagEmbedding's own training dataset classes (not a re-implementation).

The dataset modules come from the installed ``flagembedding`` package (see ``support.export_formats``);
the JSONL files come from a real export of the bundled sample (DuckDB file, BM25 mining).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.export_formats import export_sample, flag_dataset, flag_embedder, read_jsonl, sample_project

from embcore.export.exporter import ExportConfig, export_project


def _teacher(queries: list[str], texts: list[list[str]], prompts: list[str]) -> list[list[float]]:
    """A deterministic teacher (a scorer the export takes as input): decreasing scores per sample."""
    return [[round(1.0 - 0.05 * j, 4) for j in range(len(t))] for t in texts]


def test_every_train_row_reads_with_group_size_8(tmp_path: Path) -> None:
    res, store, _ = export_sample(tmp_path)
    store.close()
    train = tmp_path / "out" / "train.jsonl"
    records = read_jsonl(train)
    ds = flag_dataset(train, tmp_path / "cache", train_group_size=8)
    assert len(ds) == len(records) == res.counts["train"]["samples"] > 50
    for i, rec in enumerate(records):
        query, passages, scores = ds[i]
        assert query == rec["query"]
        assert len(passages) == 8, i
        assert passages[0] in rec["pos"]
        assert set(passages[1:]) <= set(rec["neg"])
        assert scores is None


def test_teacher_scores_read_with_knowledge_distillation(tmp_path: Path) -> None:
    _, store, _ = export_sample(tmp_path, teacher=_teacher, teacher_info={"model": "test"})
    store.close()
    train = tmp_path / "out" / "train.jsonl"
    records = read_jsonl(train)
    ds = flag_dataset(train, tmp_path / "cache", train_group_size=8, knowledge_distillation=True)
    for i, rec in enumerate(records):
        query, passages, scores = ds[i]
        assert len(passages) == len(scores) == 8
        pos_i = rec["pos"].index(passages[0])
        assert scores[0] == pytest.approx(rec["pos_scores"][pos_i])
        by_text = dict(zip(rec["neg"], rec["neg_scores"], strict=True))
        assert scores[1:] == pytest.approx([by_text[p] for p in passages[1:]])


def test_a_prompt_on_some_queries_only_never_reads_as_none(tmp_path: Path) -> None:
    """Regression: rows without 'prompt' beside rows with one made FlagEmbedding prepend 'None'.

    ``datasets.load_dataset('json')`` gives every row the union of the keys (None where missing),
    and FlagEmbedding formats ``data['prompt']`` whenever the column exists; past the first 10 MB
    chunk the missing key even stops the load. Every line now has the same keys.
    """
    store, pid, run = sample_project(tmp_path / "db.duckdb")
    some = store.queries(pid)["id"].astype(int).tolist()[::3]
    store.set_sample_fields(pid, prompt="Represent this question: ", type_="symmetric_class", query_ids=some)
    export_project(store, pid, tmp_path / "out", ExportConfig(seed=7), run_id=run)
    store.close()
    train = tmp_path / "out" / "train.jsonl"
    records = read_jsonl(train)
    assert {tuple(r) for r in records} == {("query", "pos", "neg", "prompt", "type")}
    with_prompt = [r for r in records if r["prompt"]]
    assert 0 < len(with_prompt) < len(records)
    assert {r["type"] for r in records} == {"symmetric_class", "normal"}
    ds = flag_dataset(
        train, tmp_path / "cache", train_group_size=8, query_instruction_for_retrieval="Default: "
    )
    for i, rec in enumerate(records):
        query, _, _ = ds[i]
        assert not query.startswith("None"), query
        assert query == (rec["prompt"] + rec["query"] if rec["prompt"] else rec["query"])


def test_same_dataset_batches_read_a_type_set_on_some_queries(tmp_path: Path) -> None:
    """Regression: a 'type' missing on the first line made FlagEmbedding's same-dataset reader fail
    (``'symmetric' in None``)."""
    store, pid, run = sample_project(tmp_path / "db.duckdb")
    last = store.queries(pid)["id"].astype(int).tolist()[-5:]
    store.set_sample_fields(pid, type_="normal", query_ids=last)
    export_project(store, pid, tmp_path / "out", ExportConfig(seed=7), run_id=run)
    store.close()
    args_mod, ds_mod = flag_embedder()
    train = tmp_path / "out" / "train.jsonl"
    args = args_mod.AbsEmbedderDataArguments(
        train_data=[str(train)],
        cache_path=str(tmp_path / "cache"),
        train_group_size=8,
        same_dataset_within_batch=True,
    )
    ds = ds_mod.AbsEmbedderSameDatasetTrainDataset(args, default_batch_size=4, seed=1, tokenizer=None)
    assert len(ds) == len(read_jsonl(train)) // 4
    queries, passages, scores, _ = ds[0]
    assert len(queries) == 4 and len(passages) == 4 * 8 and scores is None
