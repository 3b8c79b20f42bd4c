"""financial-qa-10K exported in every format and read back by each real consumer (integration;
skipped where ../shared/data is absent). BM25 mining with the score filters off: no model runs."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from support.export_formats import flag_dataset, read_jsonl

from embcore.export.exporter import ExportConfig
from embcore.export.verify import verify_export
from embcore.ingest.mapping import FieldMapping
from embcore.mining.config import MiningConfig
from embcore.workflow import build

_NAME = Path("financial-qa-10k") / "Financial-QA-10k.csv"
_CANDIDATES = [
    Path("/work/shared/data") / _NAME,
    Path(__file__).resolve().parents[3] / "shared" / "data" / _NAME,
]
SHARED = next((p for p in _CANDIDATES if p.is_file()), None)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        SHARED is None, reason="financial-qa-10K not present (../shared/data/financial-qa-10k/)"
    ),
]


def test_financial_qa_every_format_reads_with_its_consumer(tmp_path: Path) -> None:
    from beir.datasets.data_loader import GenericDataLoader

    assert SHARED is not None
    out = tmp_path / "out"
    res = build(
        SHARED,
        out,
        mapping=FieldMapping("question", ["context"], ["ticker", "filing"]),
        mining=MiningConfig(strategies=["bm25"], num_negatives=7, score_filters="off", seed=1),
        export=ExportConfig(seed=1),
    ).export
    assert verify_export(out)[0] == []
    # FlagEmbedding: every train row, group size 8
    records = read_jsonl(out / "train.jsonl")
    ds = flag_dataset(out / "train.jsonl", tmp_path / "flag-cache", train_group_size=8)
    assert len(ds) == len(records) == res.counts["train"]["samples"] > 5000
    for i, rec in enumerate(records):
        query, passages, _ = ds[i]
        assert query == rec["query"] and len(passages) == 8 and passages[0] in rec["pos"], i
    # datasets
    dd = datasets.load_from_disk(str(out / "hf"))
    assert {s: len(dd[s]) for s in dd} == {s: c["samples"] for s, c in res.counts.items()}
    assert dd["test"].to_list() == read_jsonl(out / "test.jsonl")
    # sentence-transformers layout: one row per positive
    for s in ("train", "val", "test"):
        assert pq.read_metadata(out / "st" / f"{s}.parquet").num_rows == res.counts[s]["positives"]
    # BEIR
    for split in ("val", "test"):
        corpus, queries, qrels = GenericDataLoader(data_folder=str(out / "eval")).load(split=split)
        assert len(corpus) > 6000 and len(queries) == len(qrels) > 500
