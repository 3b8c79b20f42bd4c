"""Training rows from an export's ``train.jsonl``: one (anchor, positive, negative_1..n[, label]) row
per (query, positive), negatives filled at random when a row has too few."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from embcore.errors import EmbcoreError
from embcore.training.defaults import LOSSES

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Training rows as columns for a ``datasets.Dataset``.

    Attributes:
        columns: ``{"anchor": [...], "positive": [...], "negative_1": [...], ..., ["label": [[...]]]}``;
            ``label`` (n_rows, 1 + num_negatives) teacher scores, only for the ``distill`` loss.
        num_negatives: negative columns per row.
        source_records: lines read from ``train.jsonl``.
        filled_negatives: negatives drawn at random from the pool because a row had too few.
        dropped: rows left out, by reason.
    """

    columns: dict[str, list[Any]]
    num_negatives: int
    source_records: int
    filled_negatives: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of training rows."""
        return len(self.columns.get("anchor", []))


def build_training_data(
    records: Sequence[dict[str, Any]],
    *,
    loss: str = "mnrl",
    num_negatives: int | None = None,
    query_prompt: str | None = None,
    passage_prompt: str | None = None,
    max_samples: int | None = None,
    seed: int = 42,
    max_negatives: int | None = None,
) -> TrainingData:
    """Turn FlagEmbedding records into (anchor, positive, negative_1..n[, label]) columns.

    Args:
        records: parsed ``train.jsonl`` lines.
        loss: one of :data:`LOSSES`; ``distill`` keeps only rows with teacher scores.
        num_negatives: negatives per row; ``None`` = the largest count in the data (0 for pairs).
            Rows with fewer get random passages from the pool of every passage in the file
            (never one of the row's positives); for ``distill`` they are dropped instead, since a
            random passage has no teacher score.
        query_prompt: prepended to queries whose record has no ``prompt`` of its own.
        passage_prompt: prepended to positives and negatives.
        max_samples: keep a random subset of at most this many rows.
        seed: seed for filling and subsampling.
        max_negatives: with ``num_negatives=None``, use at most this many (``None`` = no cap).

    Returns:
        The :class:`TrainingData`.

    Raises:
        EmbcoreError: malformed records, no usable rows, ``distill`` without teacher scores.
    """
    if loss not in LOSSES:
        raise EmbcoreError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if num_negatives is not None and num_negatives < 0:
        raise EmbcoreError(f"num_negatives must be >= 0, got {num_negatives}")
    rng = np.random.default_rng(seed)
    distill = loss == "distill"
    dropped: dict[str, int] = {}
    # 1. Validate records and normalise their fields.
    parsed = _parse_records(records, query_prompt, dropped)
    # 2. The number of negative columns, and the pool for filling short rows.
    max_negs = max(len(r.negatives) for r in parsed)
    if num_negatives is not None:
        n_neg = num_negatives
    else:
        n_neg = max_negs if max_negatives is None else min(max_negs, max_negatives)
    if distill and n_neg == 0:
        raise EmbcoreError("loss 'distill' needs negatives with neg_scores in train.jsonl")
    pool = sorted({t for r in parsed for t in (*r.positives, *r.negatives)})
    # 3. One row per (query, positive); negatives: the row's own first, then random fill.
    rows = _Rows()
    for rec in parsed:
        rows.add(rec, n_neg, pool, rng, distill, passage_prompt or "", dropped)
    if not rows.anchors:
        reasons = ", ".join(f"{k}: {v}" for k, v in dropped.items())
        raise EmbcoreError(
            f"no training rows left for loss {loss!r} ({reasons}); 'distill' needs pos_scores and "
            "neg_scores in train.jsonl"
        )
    # 4. Optional random subset (order kept, so the result does not depend on the sampler).
    columns = rows.columns(n_neg, distill, _subset(len(rows.anchors), max_samples, rng))
    if rows.filled:
        log.warning("filled %d missing negatives with random passages (to %d per row)", rows.filled, n_neg)
    return TrainingData(columns, n_neg, len(records), rows.filled, dropped)


@dataclass
class _Record:
    """One usable ``train.jsonl`` line: prompted query, positives, negatives, teacher scores."""

    query: str
    positives: list[str]
    negatives: list[str]
    pos_scores: list[float] | None
    neg_scores: list[float] | None


def _parse_records(
    records: Sequence[dict[str, Any]], query_prompt: str | None, dropped: dict[str, int]
) -> list[_Record]:
    """Check every line and keep the usable ones (lines without a query or positive are counted in ``dropped``).

    Raises:
        EmbcoreError: a line without a 'query' string and a 'pos' list, or no usable line at all.
    """
    parsed: list[_Record] = []
    for i, rec in enumerate(records, 1):
        query, pos = rec.get("query"), rec.get("pos")
        if not isinstance(query, str) or not isinstance(pos, list):
            raise EmbcoreError(f"train.jsonl line {i}: needs a 'query' string and a 'pos' list")
        negs = [str(n) for n in (rec.get("neg") or [])]
        pos = [str(p) for p in pos if str(p).strip()]
        if not query.strip() or not pos:
            dropped["empty query or no positive"] = dropped.get("empty query or no positive", 0) + 1
            continue
        prompt = rec.get("prompt") or query_prompt or ""
        ps, ns = rec.get("pos_scores"), rec.get("neg_scores")
        pos_scores = [float(x) for x in ps] if isinstance(ps, list) and len(ps) == len(rec["pos"]) else None
        neg_scores = [float(x) for x in ns] if isinstance(ns, list) and len(ns) == len(negs) else None
        parsed.append(_Record(prompt + query, pos, negs, pos_scores, neg_scores))
    if not parsed:
        raise EmbcoreError("train.jsonl has no usable (query, positive) row")
    return parsed


class _Rows:
    """Training rows being built: anchors, positives, negatives per row, teacher labels."""

    def __init__(self) -> None:
        self.anchors: list[str] = []
        self.positives: list[str] = []
        self.negatives: list[list[str]] = []
        self.labels: list[list[float]] = []
        self.filled = 0

    def add(
        self,
        rec: _Record,
        n_neg: int,
        pool: list[str],
        rng: np.random.Generator,
        distill: bool,
        pprompt: str,
        dropped: dict[str, int],
    ) -> None:
        """One row per positive of ``rec``, or count why it is dropped (``distill`` without scores)."""
        pos_set = set(rec.positives)
        keep = [(n, j) for j, n in enumerate(dict.fromkeys(rec.negatives)) if n not in pos_set and n.strip()]
        if distill and (rec.pos_scores is None or rec.neg_scores is None):
            dropped["no teacher scores"] = dropped.get("no teacher scores", 0) + len(rec.positives)
            return
        if distill and len(keep) < n_neg:
            dropped["too few scored negatives"] = dropped.get("too few scored negatives", 0) + len(
                rec.positives
            )
            return
        chosen = [n for n, _ in keep[:n_neg]]
        chosen += self._fill(n_neg - len(chosen), pool, pos_set | set(chosen), rng, n_neg)
        for pi, p in enumerate(rec.positives):
            self.anchors.append(rec.query)
            self.positives.append(pprompt + p)
            self.negatives.append([pprompt + n for n in chosen])
            if distill:
                assert rec.pos_scores is not None and rec.neg_scores is not None
                self.labels.append([rec.pos_scores[pi], *[rec.neg_scores[j] for _, j in keep[:n_neg]]])

    def _fill(
        self, need: int, pool: list[str], taken: set[str], rng: np.random.Generator, n_neg: int
    ) -> list[str]:
        """``need`` random passages of the pool not in ``taken``.

        Raises:
            EmbcoreError: the pool has too few distinct passages.
        """
        if need <= 0:
            return []
        if len(pool) - len(taken) < need:
            raise EmbcoreError(f"not enough distinct passages to give every row {n_neg} negatives")
        out: list[str] = []
        while len(out) < need:
            cand = pool[int(rng.integers(len(pool)))]
            if cand not in taken:
                taken.add(cand)
                out.append(cand)
        self.filled += len(out)
        return out

    def columns(self, n_neg: int, distill: bool, idx: np.ndarray) -> dict[str, list[Any]]:
        """The rows ``idx`` as ``anchor, positive, negative_1..n[, label]`` columns."""
        columns: dict[str, list[Any]] = {
            "anchor": [self.anchors[i] for i in idx],
            "positive": [self.positives[i] for i in idx],
        }
        for j in range(n_neg):
            columns[f"negative_{j + 1}"] = [self.negatives[i][j] for i in idx]
        if distill:
            columns["label"] = [self.labels[i] for i in idx]
        return columns


def _subset(n: int, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of the rows kept: all, or a sorted random subset of ``max_samples``."""
    if max_samples is None:
        return np.arange(n)
    if max_samples < 1:
        raise EmbcoreError(f"max_samples must be at least 1, got {max_samples}")
    return np.sort(rng.choice(n, size=max_samples, replace=False)) if max_samples < n else np.arange(n)
