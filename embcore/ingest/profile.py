"""A first look at a data file: per-column profile, duplicates, and why N rows became M samples.

The Data page shows it before a project is created (the "preliminary understanding of the data"
step). Everything is computed from a :class:`~embcore.ingest.read.RawTable` and the
:class:`~embcore.ingest.samples.IngestResult` of the chosen mapping; the work is bounded (the first
``max_rows`` rows, the first ``max_columns`` columns, fixed-size histograms) so a 100k-row file
profiles in about a second.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from embcore.ingest.read import RawTable
from embcore.ingest.samples import IngestResult
from embcore.text import clean_text, match_key

log = logging.getLogger(__name__)

# Plain-language names of the drop reasons (codes in embcore.ingest.samples.DroppedRow.code).
REASONS = {
    "missing_query": "query missing (empty, NaN or null)",
    "empty_query": "query empty after cleaning",
    "missing_positive": "positive missing (empty, NaN or null)",
    "empty_positive": "positive empty after cleaning",
    "query_equals_positive": "query equal to its positive",
    "duplicate": "duplicate (query, positive) pair",
    "bad_score": "score not a number",
    "between_thresholds": "score between the thresholds",
    "no_positive": "query with only negative pairs",
}


@dataclass
class ColumnProfile:
    """One column: its role in the mapping, missing share, distinct values, text lengths.

    Attributes:
        name: column name.
        role: "query", "positive", "metadata", "negatives", "score" or "" (unused).
        missing: cells that are empty, NaN or a null-like text of the mapping.
        missing_share: ``missing / rows``.
        distinct: distinct non-missing values.
        len_mean, len_p50, len_p90, len_max: characters per non-missing cell.
        hist_edges, hist_counts: a histogram of the lengths (``len(hist_edges) == len(hist_counts) + 1``).
    """

    name: str
    role: str
    missing: int
    missing_share: float
    distinct: int
    len_mean: float
    len_p50: float
    len_p90: float
    len_max: int
    hist_edges: list[float] = field(default_factory=list)
    hist_counts: list[int] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "column": self.name,
            "role": self.role,
            "missing": self.missing,
            "missing %": round(100 * self.missing_share, 1),
            "distinct": self.distinct,
            "mean length": round(self.len_mean, 1),
            "median length": self.len_p50,
            "p90 length": self.len_p90,
            "max length": self.len_max,
        }


@dataclass
class DataProfile:
    """Profile of a file under a mapping.

    Attributes:
        rows: data rows in the file.
        profiled_rows: rows the column statistics were computed on (the first ``max_rows``).
        columns: per-column profiles (mapped columns first, at most ``max_columns``).
        columns_total: columns in the file.
        duplicates: duplicate queries / passages and multi-positive counts (see :func:`profile_data`).
        waterfall: ``(step, rows)`` from the rows read to the samples: each drop reason and the
            rows merged into an earlier sample are negative steps; the last step is the total.
    """

    rows: int
    profiled_rows: int
    columns: list[ColumnProfile]
    columns_total: int
    duplicates: dict[str, int]
    waterfall: list[tuple[str, int]]

    def table(self) -> list[dict[str, Any]]:
        """One row per profiled column, for a table."""
        return [c.row() for c in self.columns]


def profile_data(
    raw: RawTable, result: IngestResult, *, max_rows: int = 100_000, max_columns: int = 50
) -> DataProfile:
    """Profile ``raw`` under the mapping of ``result``.

    Steps: 1. order the columns (query, positives, metadata, the rest) and keep ``max_columns``.
    2. per column on the first ``max_rows`` rows: missing (empty / NaN / null-like), distinct
    values, length quantiles and a 30-bin histogram. 3. duplicates: rows repeating an earlier
    query text (normalised), passages that are the positive of several samples, samples with
    several positives. 4. the waterfall from rows read to samples.

    Args:
        raw: the table as read.
        result: ``build_samples(raw, mapping)``.
        max_rows: rows used for the column statistics (the counts of step 3-4 use every row).
        max_columns: columns profiled at most (a file may have thousands).
    """
    m = result.mapping
    roles: dict[str, str] = {m.query_col: "query"}
    roles.update({c: "positive" for c in m.pos_cols})
    roles.update({c: "metadata" for c in m.meta_cols})
    if m.neg_col:
        roles[m.neg_col] = "negatives"
    if m.score_col:
        roles[m.score_col] = "score"
    order = list(roles) + [c for c in raw.columns if c not in roles]
    df = raw.df.head(max_rows)
    nulls = m.nulls()
    columns = [_column(df[c], c, roles.get(c, ""), nulls) for c in order[:max_columns]]
    return DataProfile(
        rows=len(raw.df),
        profiled_rows=len(df),
        columns=columns,
        columns_total=len(raw.columns),
        duplicates=_duplicates(raw, result),
        waterfall=waterfall(result),
    )


def _column(s: pd.Series, name: str, role: str, nulls: frozenset[str]) -> ColumnProfile:
    n = len(s)
    present = s[s.notna()]
    text = present.map(
        lambda v: " ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else str(v)
    )
    stripped = text.str.strip()
    keep = ~stripped.isin(nulls)
    text = text[keep]
    missing = n - len(text)
    lengths = text.str.len().to_numpy(dtype=np.int64) if len(text) else np.zeros(0, dtype=np.int64)
    if len(lengths):
        counts, edges = np.histogram(lengths, bins=min(30, max(1, int(lengths.max() - lengths.min()) + 1)))
        p50, p90 = (float(x) for x in np.percentile(lengths, [50, 90]))
        stats = (float(lengths.mean()), p50, p90, int(lengths.max()))
    else:
        counts, edges = np.zeros(0, dtype=np.int64), np.zeros(0)
        stats = (0.0, 0.0, 0.0, 0)
    return ColumnProfile(
        name=name,
        role=role,
        missing=int(missing),
        missing_share=missing / n if n else 0.0,
        distinct=int(text.nunique()),
        len_mean=stats[0],
        len_p50=stats[1],
        len_p90=stats[2],
        len_max=stats[3],
        hist_edges=[float(e) for e in edges],
        hist_counts=[int(c) for c in counts],
    )


def _duplicates(raw: RawTable, result: IngestResult) -> dict[str, int]:
    m = result.mapping
    nulls = m.nulls()
    texts = (
        clean_text(v) for v in raw.df[m.query_col].dropna() if not isinstance(v, list | tuple | np.ndarray)
    )
    per_query = Counter(match_key(t) for t in texts if t not in nulls)
    per_passage = Counter(p for s in result.samples for p in dict.fromkeys(s.positives))
    by_text = Counter(match_key(s.query) for s in result.samples)
    return {
        "rows_repeating_a_query": sum(c - 1 for c in per_query.values()),
        "queries_on_several_rows": sum(1 for c in per_query.values() if c > 1),
        "passages_of_several_samples": sum(1 for c in per_passage.values() if c > 1),
        "queries_with_several_positives": sum(1 for s in result.samples if len(s.positives) > 1),
        "texts_in_several_samples": sum(1 for c in by_text.values() if c > 1),
    }


def waterfall(result: IngestResult) -> list[tuple[str, int]]:
    """Why N rows became M samples: ``[("rows read", N), (reason, -k), ..., ("samples", M)]``.

    A row dropped for several reasons counts under its first one, so the steps add up.
    """
    steps: list[tuple[str, int]] = [("rows read", result.n_rows)]
    first = Counter(d.code.split("+")[0] for d in result.dropped)
    for code, k in sorted(first.items(), key=lambda kv: -kv[1]):
        steps.append((REASONS.get(code, code), -k))
    merged = sum(len(s.source_rows) - 1 for s in result.samples)
    if merged:
        steps.append((f"merged into another row's sample ({result.mapping.merge_queries})", -merged))
    steps.append(("samples", len(result.samples)))
    if sum(v for _, v in steps[:-1]) != len(result.samples):  # pragma: no cover - a bookkeeping bug
        log.warning("profile waterfall does not add up: %s", steps)
    return steps
