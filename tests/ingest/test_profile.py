"""embcore.ingest.profile: the Data page's first look at a file (columns, lengths, duplicates, rows -> samples)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import pytest

import embcore
from embcore.ingest.mapping import FieldMapping
from embcore.ingest.profile import profile_data, waterfall
from embcore.ingest.read import RawTable, read_table
from embcore.ingest.samples import build_samples

SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"
FINANCIAL = Path("/work/shared/data/financial-qa-10k/Financial-QA-10k.csv")

TEXT = (
    "question,context,ticker,note\n"
    "What is X?,X is a letter.,AAA,n/a\n"
    "What is X?,X comes before Y.,AAA,ok\n"
    "What is Y?,X is a letter.,BBB,NaN\n"
    "NaN,Z is last.,CCC,\n"
    "What is Y?,X is a letter.,BBB,ok\n"
    "What is Q?,what is q?,DDD,ok\n"
)


def _result(mapping: FieldMapping):
    raw = read_table(io.BytesIO(TEXT.encode()), name="p.csv")
    return raw, build_samples(raw, mapping)


def test_column_profile_counts_missing_distinct_and_lengths() -> None:
    raw, res = _result(FieldMapping("question", ["context"], ["ticker"]))
    prof = profile_data(raw, res)
    cols = {c.name: c for c in prof.columns}
    assert [c.name for c in prof.columns] == ["question", "context", "ticker", "note"]  # mapped first
    assert [c.role for c in prof.columns] == ["query", "positive", "metadata", ""]
    q = cols["question"]
    assert (q.missing, q.distinct) == (1, 3)  # "NaN" counts as missing
    assert q.missing_share == pytest.approx(1 / 6)
    assert q.len_max == len("What is X?") and q.len_p50 == 10.0
    assert sum(q.hist_counts) == 5 and len(q.hist_edges) == len(q.hist_counts) + 1
    assert cols["note"].missing == 3  # empty, "NaN", "n/a"
    assert cols["context"].distinct == 4
    rows = prof.table()
    assert rows[0]["column"] == "question" and rows[0]["missing %"] == 16.7


def test_duplicates_and_waterfall_explain_rows_to_samples() -> None:
    raw, res = _result(FieldMapping("question", ["context"], ["ticker"]))
    prof = profile_data(raw, res)
    assert prof.duplicates == {
        "rows_repeating_a_query": 2,  # "What is X?" x2, "What is Y?" x2
        "queries_on_several_rows": 2,
        "passages_of_several_samples": 1,  # "X is a letter." for X and Y
        "queries_with_several_positives": 1,
        "texts_in_several_samples": 0,
    }
    assert prof.waterfall == [
        ("rows read", 6),
        ("query missing (empty, NaN or null)", -1),
        ("duplicate (query, positive) pair", -1),
        ("query equal to its positive", -1),
        ("merged into another row's sample (text+meta)", -1),
        ("samples", 2),
    ]
    assert sum(v for _, v in prof.waterfall[:-1]) == prof.waterfall[-1][1] == len(res.samples)


def test_profile_is_bounded_in_rows_and_columns() -> None:
    cols = {
        "question": [f"What is item {i}?" for i in range(300)],
        "context": [f"Item {i} is a thing." for i in range(300)],
    }
    cols |= {f"c{j}": ["v"] * 300 for j in range(500)}
    raw = RawTable(pd.DataFrame(cols), "wide.csv", "", "csv")
    res = build_samples(raw, FieldMapping("question", ["context"]))
    prof = profile_data(raw, res, max_rows=100, max_columns=10)
    assert prof.profiled_rows == 100 and prof.rows == 300
    assert len(prof.columns) == 10 and prof.columns_total == 502
    assert all(len(c.hist_counts) <= 30 for c in prof.columns)
    assert prof.waterfall[-1] == ("samples", 300)  # the counts use every row


def test_waterfall_of_the_bundled_sample() -> None:
    raw = read_table(SAMPLE)
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"]))
    steps = dict(waterfall(res))
    assert steps["rows read"] == 100 and steps["samples"] == 96


@pytest.mark.integration
@pytest.mark.skipif(not FINANCIAL.is_file(), reason="shared financial-qa-10K not present")
def test_profile_of_100k_rows_is_quick() -> None:
    raw = read_table(FINANCIAL)
    big = pd.concat([raw.df] * 15, ignore_index=True)
    big["question"] = big["question"] + " #" + big.index.astype(str)
    table = RawTable(big, "big.csv", "", "csv")
    res = build_samples(table, FieldMapping("question", ["context"], ["ticker", "filing"]))
    t0 = time.perf_counter()
    prof = profile_data(table, res)
    took = time.perf_counter() - t0
    assert prof.rows == 105_000 and prof.profiled_rows == 100_000
    assert took < 20, took  # about 1.5 s on a loaded 2-core machine
