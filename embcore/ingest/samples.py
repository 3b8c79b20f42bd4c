"""Clean every row of a table, drop the unusable ones (with reasons) and group rows into samples.

Every row that does not make it into a sample is reported in ``IngestResult.dropped`` with its
1-based row number (data records, header excluded), the column involved and the reason.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.ingest.cells import Cells, missing_what
from embcore.ingest.mapping import FieldMapping, suggest_mapping, validate_mapping
from embcore.ingest.read import RawTable, read_table
from embcore.text import match_key, text_hash

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- cleaning + grouping


@dataclass
class DroppedRow:
    """A row that did not become (part of) a sample. ``row`` is 1-based over data records."""

    row: int
    reason: str
    column: str | None = None
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sample:
    """One training sample: a query with its positives (and negatives given by the data).

    ``key`` identifies the sample within its project (the store's uniqueness key): the hash of
    the query text, or of the text plus the grouping metadata when rows with the same text but
    other metadata stay separate samples (``merge_queries="text+meta"``). Empty = text hash.
    """

    query: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    pos_labels: list[float | None] = field(default_factory=list)
    neg_labels: list[float | None] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    source_rows: list[int] = field(default_factory=list)
    type: str | None = None
    key: str = ""


# How many examples / row numbers a report lists at most (the counts are always complete).
REPORT_EXAMPLES = 5
REPORT_ROWS = 10


@dataclass
class IngestResult:
    """Samples built from a raw table plus the full cleaning report."""

    samples: list[Sample]
    dropped: list[DroppedRow]
    mapping: FieldMapping
    n_rows: int
    stats: dict[str, Any] = field(default_factory=dict)
    decoding: dict[str, Any] = field(default_factory=dict)

    def dropped_by_reason(self) -> dict[str, int]:
        """Dropped rows per reason code (a row missing query and positive counts under both)."""
        reasons: dict[str, int] = {}
        for d in self.dropped:
            for code in d.code.split("+"):
                reasons[code] = reasons.get(code, 0) + 1
        return reasons

    def report(self) -> dict[str, Any]:
        """JSON-able cleaning report (stored with the project and in the manifest)."""
        out = {
            "rows_read": self.n_rows,
            "rows_dropped": len(self.dropped),
            "dropped_by_reason": self.dropped_by_reason(),
            "dropped": [d.to_dict() for d in self.dropped],
            **self.stats,
        }
        if self.decoding.get("fallback"):
            out["decoding"] = self.decoding
        return out

    def check_usable(self, name: str) -> None:
        """Stop on data that cannot make a dataset.

        Raises:
            EmbcoreError: every row was dropped, or every row repeats one single (query, positive) pair.
        """
        reasons = self.dropped_by_reason()
        if not self.samples:
            top = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
            raise EmbcoreError(f"{name}: no usable rows (all {self.n_rows} rows were dropped; {top})")
        if len(self.samples) == 1 and self.n_rows > 1 and reasons.get("duplicate"):
            first = self.samples[0].source_rows[0]
            raise EmbcoreError(
                f"{name}: every row is a duplicate: the {self.n_rows} rows hold a single distinct (query, positive) "
                f"pair (row {first}; {reasons['duplicate']} duplicates); a dataset needs several distinct pairs"
            )


def sample_key(query: str, group_meta: Sequence[str] | None) -> str:
    """The store key of a sample: hash of the query text (+ the grouping metadata values, if any)."""
    if not group_meta:
        return text_hash(query)
    return text_hash(query + "\x1f" + json.dumps(list(group_meta), ensure_ascii=False))


def build_samples(raw: RawTable, mapping: FieldMapping) -> IngestResult:
    """Clean every row, drop the unusable ones (with reasons) and group rows into samples.

    Steps: 1. validate the mapping. 2. per row: clean query, positives and metadata (NFKC,
    invisible characters, whitespace; null-like texts such as "NaN" or "null" are missing;
    passages equal after :func:`match_key` share the first-seen spelling, so they are stored,
    split and filtered as one passage); a positive equal to the query is removed; drop rows
    whose query or every positive is empty/missing. 3. pair data: the score decides positive /
    given negative / drop. 4. drop rows whose every (query, positive) pair was already seen.
    5. group rows sharing a query (by normalised text, and by the metadata values unless
    ``mapping.merge_queries == "text"``) into one sample with several positives.

    Raises:
        EmbcoreError: invalid mapping, or a cell too deeply nested to read.
    """
    validate_mapping(raw, mapping)
    try:
        return _build_samples(raw, mapping)
    except RecursionError as exc:
        raise EmbcoreError(f"{raw.name}: a cell is nested too deeply to read (hundreds of levels)") from exc


def _build_samples(raw: RawTable, mapping: FieldMapping) -> IngestResult:
    builder = _SampleBuilder(raw.df, mapping)
    for i in range(len(raw.df)):
        builder.add_row(i)
    return builder.result(raw)


class _SampleBuilder:
    """The steps of :func:`build_samples`, row by row, with what they share (seen pairs, samples)."""

    def __init__(self, df: pd.DataFrame, mapping: FieldMapping) -> None:
        self.mapping = mapping
        self.n_rows = len(df)
        self.cells = Cells(mapping.nulls())
        self.dropped: list[DroppedRow] = []
        self.samples: dict[str, Sample] = {}
        self.group_metas: dict[str, set[tuple[str, ...]]] = {}  # sample -> distinct metadata of its rows
        self.seen_pairs: dict[tuple[str, str], int] = {}
        # passages equal up to case / width / spacing are one passage (the first spelling wins)
        self.canonical: dict[str, str] = {}
        self.pos_threshold, self.neg_threshold = _thresholds(df, mapping)
        self.by_meta = mapping.merge_queries == "text+meta" and bool(mapping.meta_cols)
        self.q_vals = df[mapping.query_col].tolist()
        self.pos_vals = [df[c].tolist() for c in mapping.pos_cols]
        self.neg_vals = df[mapping.neg_col].tolist() if mapping.neg_col else None
        self.score_vals = df[mapping.score_col].tolist() if mapping.score_col else None
        self.meta_vals = {c: df[c].tolist() for c in mapping.meta_cols}
        self.pos_label = ",".join(mapping.pos_cols)
        self.n_pairs_pos = self.n_pairs_neg = 0
        self.same_as_query: list[int] = []  # rows that lost a positive equal to their query (and kept others)

    def _canonical(self, texts: Sequence[str]) -> list[str]:
        return [self.canonical.setdefault(match_key(t), t) for t in texts]

    def add_row(self, i: int) -> None:
        """Clean row ``i`` and add it to its sample, or record why it is dropped."""
        row = i + 1
        query, texts, n_before = self._query_and_positives(i)  # 2. clean
        if self._drop_unusable(i, query, texts, n_before):
            return
        if len(texts) < n_before:
            self.same_as_query.append(row)
        key = match_key(query)
        negatives = self._given_negatives(i, key)
        scored = self._pair_score(i)  # 3. pair data: the score decides
        if scored is None:
            return
        label, as_negative = scored
        meta, meta_tuple = self._meta(i)
        group = key + "\x1f" + json.dumps(meta_tuple, ensure_ascii=False) if self.by_meta else key
        new = self._new_pairs(row, group, "neg" if as_negative else "pos", texts, negatives)  # 4. duplicates
        if new is None:
            return
        sample = self._sample(group, query, meta, meta_tuple)  # 5. group by query (and metadata)
        sample.source_rows.append(row)
        target, labels = (
            (sample.negatives, sample.neg_labels) if as_negative else (sample.positives, sample.pos_labels)
        )
        target.extend(new)
        labels.extend([label] * len(new))
        for t in negatives:
            if t not in sample.negatives:
                sample.negatives.append(t)
                sample.neg_labels.append(None)

    def _query_and_positives(self, i: int) -> tuple[str, list[str], int]:
        """The cleaned query, its positives without one equal to the query, and how many there were before."""
        query = " ".join(self.cells.texts(self.q_vals[i], self.mapping.query_col))
        texts: list[str] = []
        for col, col_vals in zip(self.mapping.pos_cols, self.pos_vals, strict=True):
            texts.extend(self.cells.texts(col_vals[i], col))
        texts = list(dict.fromkeys(self._canonical(texts)))
        n_before = len(texts)
        if query:
            key = match_key(query)
            texts = [t for t in texts if match_key(t) != key]
        return query, texts, n_before

    def _drop_unusable(self, i: int, query: str, texts: list[str], n_before: int) -> bool:
        """Record a row without a query or a positive (a row missing both gets both reasons)."""
        mapping, q_raw = self.mapping, self.q_vals[i]
        problems: list[tuple[str, str, str]] = []
        if not query:
            if self.cells.missing([q_raw]):
                problems.append(
                    ("missing_query", f"missing query ({missing_what(q_raw)})", mapping.query_col)
                )
            else:
                problems.append(("empty_query", "empty query after cleaning", mapping.query_col))
        if not texts:
            if n_before and query:
                problems.append(
                    (
                        "query_equals_positive",
                        "the query equals its positive (after normalisation)",
                        self.pos_label,
                    )
                )
            elif self.cells.missing([v[i] for v in self.pos_vals]):
                what = missing_what(self.pos_vals[0][i]) if len(self.pos_vals) == 1 else "empty, NaN or null"
                problems.append(("missing_positive", f"missing positive ({what})", self.pos_label))
            else:
                problems.append(("empty_positive", "empty positive after cleaning", self.pos_label))
        if problems:
            self.dropped.append(
                DroppedRow(
                    i + 1,
                    "; ".join(p[1] for p in problems),
                    ",".join(p[2] for p in problems),
                    "+".join(p[0] for p in problems),
                )
            )
        return bool(problems)

    def _given_negatives(self, i: int, query_key: str) -> list[str]:
        """The row's negatives given by the data (none equal to the query)."""
        if self.neg_vals is None:
            return []
        negatives = self._canonical(self.cells.texts(self.neg_vals[i], self.mapping.neg_col or ""))
        return [t for t in negatives if match_key(t) != query_key]

    def _pair_score(self, i: int) -> tuple[float | None, bool] | None:
        """(label, whether the pair is a negative); None when the row is dropped for its score."""
        if self.score_vals is None:
            return None, False
        col = self.mapping.score_col
        label = _to_float(self.score_vals[i])
        if label is None:
            self.dropped.append(
                DroppedRow(i + 1, f"score is not a number ({self.score_vals[i]!r})", col, "bad_score")
            )
            return None
        if label >= self.pos_threshold:
            self.n_pairs_pos += 1
            return label, False
        if self.neg_threshold is not None and label <= self.neg_threshold:
            self.n_pairs_neg += 1
            return label, True
        why = f"score {label:g} below the positive threshold {self.pos_threshold:g}"
        if self.neg_threshold is not None:
            why = f"score {label:g} between thresholds {self.neg_threshold:g} and {self.pos_threshold:g}"
        self.dropped.append(DroppedRow(i + 1, why, col, "between_thresholds"))
        return None

    def _meta(self, i: int) -> tuple[dict[str, str], tuple[str, ...]]:
        """The row's metadata (non-empty values) and its values in column order ("" when empty)."""
        meta: dict[str, str] = {}
        for c in self.mapping.meta_cols:
            vals = self.cells.texts(self.meta_vals[c][i], c)
            if vals:
                meta[c] = " ".join(vals)
        return meta, tuple(meta.get(c, "") for c in self.mapping.meta_cols)

    def _new_pairs(
        self, row: int, group: str, kind: str, texts: list[str], negatives: list[str]
    ) -> list[str] | None:
        """The row's texts not yet seen in its group (None, and the row dropped, when nothing is new).

        Within the group only: the same pair under other metadata is another sample.
        """
        new = [t for t in texts if (group, kind + match_key(t)) not in self.seen_pairs]
        if not new and not negatives:
            first = self.seen_pairs[(group, kind + match_key(texts[0]))]
            self.dropped.append(
                DroppedRow(
                    row,
                    f"duplicate (query, positive) pair of row {first}",
                    self.mapping.query_col,
                    "duplicate",
                )
            )
            return None
        for t in new:
            self.seen_pairs[(group, kind + match_key(t))] = row
        return new

    def _sample(self, group: str, query: str, meta: dict[str, str], meta_tuple: tuple[str, ...]) -> Sample:
        """The sample of a group (created by its first row)."""
        sample = self.samples.get(group)
        if sample is None:
            sample = self.samples[group] = Sample(
                query=query,
                positives=[],
                meta=meta,
                type=self.mapping.sample_type,
                key=sample_key(query, meta_tuple if self.by_meta else None),
            )
        self.group_metas.setdefault(group, set()).add(meta_tuple)
        return sample

    def result(self, raw: RawTable) -> IngestResult:
        """The samples with a positive, every dropped row in row order, and the statistics."""
        result = [s for s in self.samples.values() if s.positives]
        for s in self.samples.values():
            if not s.positives:
                for r in s.source_rows:
                    self.dropped.append(
                        DroppedRow(
                            r,
                            "query has only negative pairs (no positive)",
                            self.mapping.score_col,
                            "no_positive",
                        )
                    )
        self.dropped.sort(key=lambda d: d.row)
        passages = {t for s in result for t in s.positives + s.negatives}
        stats: dict[str, Any] = {
            "samples": len(result),
            "unique_passages": len(passages),
            "positives": sum(len(s.positives) for s in result),
            "queries_with_several_positives": sum(1 for s in result if len(s.positives) > 1),
            "merging": _merge_report(self.mapping, self.samples, self.group_metas),
        }
        if self.score_vals is not None:
            stats.update(pairs_positive=self.n_pairs_pos, pairs_negative=self.n_pairs_neg)
        if self.cells.hits:
            stats["null_like"] = self.cells.hits
        if self.same_as_query:
            stats["positive_equal_to_query_removed"] = {
                "rows": self.same_as_query[:REPORT_ROWS],
                "count": len(self.same_as_query),
            }
        decoding = raw.decoding_report() if raw.fallback_lines else {}
        log.info(
            "ingest %s: %d rows -> %d samples, %d dropped",
            raw.name,
            self.n_rows,
            len(result),
            len(self.dropped),
        )
        return IngestResult(result, self.dropped, self.mapping, self.n_rows, stats, decoding)


def _merge_report(
    mapping: FieldMapping, samples: dict[str, Sample], group_metas: dict[str, set[tuple[str, ...]]]
) -> dict[str, Any]:
    """How rows were merged into samples: counts plus a few examples (bounded in size)."""
    kept = [(g, s) for g, s in samples.items() if s.positives]
    merged = [s for _, s in kept if len(s.source_rows) > 1]
    out: dict[str, Any] = {
        "policy": mapping.merge_queries,
        "group_columns": list(mapping.meta_cols) if mapping.merge_queries == "text+meta" else [],
        "merged_samples": len(merged),
        "merged_rows": sum(len(s.source_rows) for s in merged),
        "examples": [
            {
                "query": s.query,
                "rows": s.source_rows[:REPORT_ROWS],
                "n_rows": len(s.source_rows),
                "positives": len(s.positives),
            }
            for s in merged[:REPORT_EXAMPLES]
        ],
    }
    cols = list(mapping.meta_cols)
    if mapping.merge_queries == "text" and cols:
        mixed = [(g, s) for g, s in kept if len(group_metas.get(g, ())) > 1]
        out["merged_across_metadata"] = len(mixed)
        out["merged_across_metadata_examples"] = [
            {
                "query": s.query,
                "rows": s.source_rows[:REPORT_ROWS],
                "meta": [dict(zip(cols, m, strict=True)) for m in sorted(group_metas[g])[:REPORT_EXAMPLES]],
            }
            for g, s in mixed[:REPORT_EXAMPLES]
        ]
    elif cols:
        by_text: dict[str, list[Sample]] = {}
        for _, s in kept:
            by_text.setdefault(match_key(s.query), []).append(s)
        split = [group for group in by_text.values() if len(group) > 1]
        out["texts_kept_apart"] = len(split)
        out["samples_kept_apart"] = sum(len(g) for g in split)
        out["kept_apart_examples"] = [
            {"query": g[0].query, "samples": len(g), "meta": [s.meta for s in g[:REPORT_EXAMPLES]]}
            for g in split[:REPORT_EXAMPLES]
        ]
    return out


def _to_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _thresholds(df: pd.DataFrame, mapping: FieldMapping) -> tuple[float, float | None]:
    if mapping.score_col is None:
        return 0.0, None
    if mapping.pos_threshold is not None:
        return mapping.pos_threshold, mapping.neg_threshold
    scores = pd.to_numeric(df[mapping.score_col], errors="coerce").dropna()
    top = float(scores.max()) if len(scores) else 1.0
    # labels 0/1 (or probabilities) -> 0.5; STS 0..5 -> 4.0 (80% of the scale)
    return (0.5 if top <= 1.0 else 0.8 * top), mapping.neg_threshold


def ingest(
    source: str | Path | BinaryIO | Any,
    mapping: FieldMapping | None = None,
    *,
    name: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
) -> tuple[RawTable, IngestResult]:
    """Read, map (suggested when ``mapping`` is None) and clean in one call."""
    raw = read_table(source, name=name, fmt=fmt, encoding=encoding)
    mapping = mapping or suggest_mapping(raw)
    return raw, build_samples(raw, mapping)
