"""Plan an export: one typed sample per query, passage classes, the split, the negatives, the
empty-negatives policy and the leakage report, decided before anything is written.

:func:`plan_export` decides everything; :func:`embcore.export.exporter.export_project` writes its
result and :func:`preview_export` summarises it without writing (the Export page shows it
before the click).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.export.config import ExportConfig
from embcore.export.dedup import PassageClasses, leakage_report, passage_classes
from embcore.export.split import SPLITS, SplitResult, assign_splits
from embcore.progress import ProgressFn, report
from embcore.store import RELEVANT_GRADE, Store
from embcore.text import equivalence_key

REAL_ORIGINS = frozenset({"data", "review", "edit"})
"""Positives that come from the data or a human; augmented / generated ones never enter the eval set."""

T = TypeVar("T")

Passage = tuple[int, str]
"""(passage id, text)."""


@dataclass
class ExportSample:
    """One query on its way to the files: positives, negative pool, chosen negatives, split.

    Attributes:
        query_id: the query's id in the store.
        query: its text.
        query_hash: hash of its text (seeds its random negatives).
        pos: its positives.
        pool: negatives it may take: (passage id, text, tier) in tier and rank order
            (tiers of :meth:`~embcore.store.Store.negative_pool`).
        target: how many mined negatives the run asked for.
        inherited: an EDA copy that uses its source's pool and target.
        excluded: passages a reviewer rejected, made a positive, or graded relevant (2-3).
        prompt: the instruction written with it.
        type: the ``type`` written with it.
        meta: its metadata.
        origin: ``data``, ``augment...``, ``llm...``.
        eval_pos: positives from the data or a human (the only ones in the eval set).
        parent_id: the query it was derived from.
        neg: the chosen negatives.
        split: train / val / test.
        left_out: why it is left out of its JSONL file (None = written).
        pos_scores: teacher scores of ``pos`` (None = no teacher).
        neg_scores: teacher scores of ``neg``.
    """

    query_id: int
    query: str
    query_hash: str
    pos: list[Passage]
    pool: list[tuple[int, str, int]]
    target: int
    inherited: bool
    excluded: set[int]
    prompt: str | None
    type: str | None
    meta: dict[str, Any]
    origin: str
    eval_pos: list[Passage]
    parent_id: int | None
    neg: list[Passage] = field(default_factory=list)
    split: str = ""
    left_out: str | None = None
    pos_scores: list[float] | None = None
    neg_scores: list[float] | None = None

    def to_flag(self) -> dict[str, Any]:
        """The FlagEmbedding JSON object (key order fixed for stable bytes)."""
        out: dict[str, Any] = {
            "query": self.query,
            "pos": [t for _, t in self.pos],
            "neg": [t for _, t in self.neg],
        }
        if self.pos_scores is not None:
            out["pos_scores"] = [float(s) for s in self.pos_scores]
            out["neg_scores"] = [float(s) for s in (self.neg_scores or [])[: len(out["neg"])]]
        if self.prompt:
            out["prompt"] = self.prompt
        if self.type:
            out["type"] = self.type
        return out


# --------------------------------------------------------------------------- sample assembly


def _run_targets(store: Store, run_id: int | None) -> tuple[int | None, dict[int, int]]:
    """(the run's num_negatives, or None; selected candidates per query) of a mining run."""
    if run_id is None:
        return None, {}
    cfg = store.get_run(run_id).get("config") or {}
    n = cfg.get("num_negatives")
    sel = store.selected_counts(run_id)
    return (int(n) if isinstance(n, int | float) and n > 0 else None), dict(
        zip(sel["query_id"].astype(int), sel["n"].astype(int), strict=True)
    )


def collect_samples(
    store: Store,
    pid: int,
    run_id: int | None,
    cfg: ExportConfig,
    text_of: dict[int, str] | None = None,
) -> tuple[list[ExportSample], dict[str, int]]:
    """Assemble one sample per query: positives, negative pool (by tier), target, prompt, type, meta.

    The pool is :meth:`Store.negative_pool` (decisions count, the 'reviewed' flag does not).
    An EDA copy (``parent_id`` set, origin ``augment...``) without a pool of its own uses its
    source's pool and target. Negatives are chosen later by :func:`choose_negatives`.

    Returns:
        (samples, counts of the queries left out because a reviewer flagged them).
    """
    queries = store.queries(pid)
    pos = store.positives(pid)
    pool = store.negative_pool(pid, run_id)
    if text_of is None:
        allp = store.passage_texts(pid)
        text_of = dict(zip(allp["id"].astype(int), allp["text"].astype(str), strict=True))
    num_neg, selected = _run_targets(store, run_id)
    pos_by_q: dict[int, list[tuple[int, str]]] = {}
    eval_pos_by_q: dict[int, list[tuple[int, str]]] = {}
    cols4 = (
        pos["query_id"].tolist(),
        pos["passage_id"].tolist(),
        pos["text"].tolist(),
        pos["origin"].tolist(),
    )
    for qid, ppid, text, origin in zip(*cols4, strict=True):
        pos_by_q.setdefault(int(qid), []).append((int(ppid), str(text)))
        if origin in REAL_ORIGINS:
            eval_pos_by_q.setdefault(int(qid), []).append((int(ppid), str(text)))
    pool_by_q: dict[int, list[tuple[int, str, int]]] = {}
    cols = (pool["query_id"].tolist(), pool["passage_id"].tolist(), pool["tier"].tolist())
    for qid, ppid, tier in zip(*cols, strict=True):
        pool_by_q.setdefault(qid, []).append((ppid, text_of.get(ppid, ""), tier))
    excl = store.excluded_negatives(pid)
    excluded: dict[int, set[int]] = {}
    for qid, ppid in zip(excl["query_id"], excl["passage_id"], strict=True):
        excluded.setdefault(int(qid), set()).add(int(ppid))
    # a candidate a reviewer graded relevant (2-3) is never a negative of its query
    grades = store.resolved_grades(pid)
    for qid, ppid, g in zip(grades["query_id"], grades["passage_id"], grades["grade"], strict=True):
        if int(g) >= RELEVANT_GRADE:
            excluded.setdefault(int(qid), set()).add(int(ppid))
    # queries a reviewer flagged (bad query / wrong positive) are left out, counted per reason
    flagged = store.flagged_queries(pid)
    removed = {"flagged_queries": len(flagged)}
    for flag, _reason in flagged.values():
        removed[f"flagged_{flag}"] = removed.get(f"flagged_{flag}", 0) + 1
    records = []
    for row in queries.itertuples(index=False):
        qid = int(row.id)
        positives = pos_by_q.get(qid, [])
        if not positives or qid in flagged:
            continue
        parent = None if pd.isna(row.parent_id) else int(row.parent_id)
        own = pool_by_q.get(qid, [])
        target = num_neg if num_neg is not None else selected.get(qid, 0)
        inherited = False
        if not own and parent is not None and str(row.origin).startswith("augment") and parent in pool_by_q:
            own = pool_by_q[parent]
            target = num_neg if num_neg is not None else selected.get(parent, 0)
            inherited = True
        records.append(
            ExportSample(
                query_id=qid,
                query=str(row.text),
                query_hash=str(row.text_hash),
                pos=positives,
                pool=own,
                target=int(target),
                inherited=inherited,
                excluded=excluded.get(qid, set()) | (excluded.get(parent, set()) if inherited else set()),
                prompt=row.prompt if isinstance(row.prompt, str) and row.prompt else cfg.query_prompt,
                type=row.type if isinstance(row.type, str) and row.type else cfg.sample_type,
                meta=row.meta or {},
                origin=str(row.origin),
                eval_pos=eval_pos_by_q.get(qid, []),
                parent_id=parent,
            )
        )
    return records, removed


def choose_negatives(
    pool: Sequence[tuple[int, str, int]],
    blocked: Callable[[int, str], str | None],
    target: int,
    max_negatives: int | None,
    keys: dict[int, str] | None = None,
) -> tuple[list[tuple[int, str]], Counter[str]]:
    """Final negatives of one sample from its pool (tiers of :meth:`Store.negative_pool`).

    Tiers 0-1 (given, accepted) are all kept. The automatic tiers fill the rest of ``target``
    (the run's ``num_negatives``; accepted ones count towards it): the run's selection first
    (tier 2), then its other survivors (tier 3) for any slot that is empty because a selected
    candidate was decided away or is blocked. Tier 4 is left to the empty-negatives policy.
    Then ``max_negatives`` caps. Duplicates (equal after normalisation) are kept once.

    Args:
        pool: (passage id, text, tier) in tier and rank order.
        blocked: reason a passage may not be a negative of this sample, or None.
        target: the number of mined negatives the run asked for.
        max_negatives: cap (None = none).
        keys: :func:`equivalence_key` by passage id, when already known.

    Returns:
        ((passage id, text) list, removal counts by reason; only tiers 0-2 are counted).
    """
    out: list[tuple[int, str]] = []
    removed: Counter[str] = Counter()
    seen: set[str] = set()
    accepted = sum(1 for _, _, tier in pool if tier == 1)
    quota = max(0, target - accepted)
    auto = 0
    for ppid, text, tier in pool:
        if tier >= 4:
            continue
        why = blocked(ppid, text)
        if why is not None:
            if tier <= 2:
                removed[why] += 1
            continue
        if tier >= 2:
            if auto >= quota:
                continue
        key = keys[ppid] if keys is not None and ppid in keys else equivalence_key(text)
        if key in seen:
            continue
        seen.add(key)
        auto += tier >= 2
        out.append((ppid, text))
    return (out if max_negatives is None else out[:max_negatives]), removed


# --------------------------------------------------------------------------- planning

_CLASS_CACHE: OrderedDict[tuple[Any, ...], PassageClasses] = OrderedDict()
_PREVIEW_CACHE: OrderedDict[tuple[Any, ...], ExportPreview] = OrderedDict()


def _cached(
    cache: OrderedDict[tuple[Any, ...], T], key: tuple[Any, ...], fn: Callable[[], T], size: int = 4
) -> T:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = fn()
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)
    return value


@dataclass
class ExportPlan:
    """Everything an export decides, before anything is written.

    Attributes:
        records: one :class:`ExportSample` per query, with its final ``neg`` and ``split``.
        split: the split (``assignment`` aligned with ``records``).
        removed: negatives removed, by reason (equal / near-twin of a positive, val/test positive).
        negatives: what the empty-negatives policy did (samples and negatives it added, samples left out).
        left_out: samples left out of their JSONL file (policy ``drop``, or nothing left to add).
        classes: the passage equivalence classes (sizes and settings in ``classes.info``).
        leakage: the leakage report of the JSONL records.
        merged_groups: queries built from several input rows.
        run_id: the mining run used.
    """

    records: list[ExportSample]
    split: SplitResult
    removed: dict[str, int]
    negatives: dict[str, int]
    left_out: list[dict[str, Any]]
    classes: PassageClasses
    leakage: dict[str, Any]
    merged_groups: int
    run_id: int | None

    def by_split(self) -> dict[str, list[dict[str, Any]]]:
        """FlagEmbedding records per split (the samples written to the JSONL files)."""
        out: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        for r in self.records:
            if not r.left_out:
                out[r.split].append(r.to_flag())
        return uniform_keys(out)


def plan_export(
    store: Store, pid: int, run_id: int | None, cfg: ExportConfig, *, progress: ProgressFn | None = None
) -> ExportPlan:
    """Decide an export: samples, split, negatives, empty-negatives policy, leakage report.

    Steps: 1. samples and their negative pools. 2. passage classes (equal after
    normalisation, then near-duplicates). 3. split: queries sharing a positive class, a
    normalised query text, a group value or an augmentation source stay together. 4. negatives:
    never a positive of the query or its near-twin, never a val/test positive (or its twin) for
    a train sample unless allowed, never a rejected candidate. 5. samples still without a
    negative: the ``empty_negatives`` policy. 6. the leakage report of the resulting records.
    """
    project = store.get_project(pid)
    allp = store.passage_texts(pid)
    ids = allp["id"].astype(int).tolist()
    texts = allp["text"].astype(str).tolist()
    # 1. samples
    records, flagged = collect_samples(store, pid, run_id, cfg, dict(zip(ids, texts, strict=True)))
    if not records:
        raise EmbcoreError(f"project {project['name']!r} has no sample with a positive; nothing to export")
    report(progress, "export", 1, 5)
    # 2. classes of every passage of the project
    near = cfg.near_config()
    if store.path != ":memory:":
        fp = (store.path, pid, len(ids), max(ids, default=0), near)
        classes = _cached(_CLASS_CACHE, fp, lambda: passage_classes(texts, near))
    else:
        classes = passage_classes(texts, near)
    # 3. split
    split = _split(records, cfg, classes.klass.tolist(), ids)
    # 4. negatives
    blocker = _Blocker(
        records,
        cfg,
        dict(zip(ids, classes.klass.tolist(), strict=True)),
        dict(zip(ids, classes.keys, strict=True)),
    )
    removed: Counter[str] = Counter()
    for r in records:
        r.neg, why = choose_negatives(
            r.pool, partial(blocker.reason, r), r.target, cfg.max_negatives, blocker.key_of
        )
        removed.update(why)
    report(progress, "export", 2, 5)
    # 5. samples without negatives
    negatives, left_out = _empty_policy(records, cfg, allp, blocker)
    plan = ExportPlan(
        records=records,
        split=split,
        removed={k: removed[k] for k in _REMOVAL_REASONS} | flagged,
        negatives=negatives,
        left_out=left_out,
        classes=classes,
        leakage={},
        merged_groups=int(sum(1 for rows in store.queries(pid)["source_rows"] if _len(rows) > 1)),
        run_id=run_id,
    )
    # 6. leakage of what would be written
    plan.leakage = leakage_report(plan.by_split(), near)
    return plan


_REMOVAL_REASONS = (
    "negative_equals_positive",
    "negative_near_duplicate_of_positive",
    "train_negative_is_eval_positive",
)


def _split(records: list[ExportSample], cfg: ExportConfig, klass: list[int], ids: list[int]) -> SplitResult:
    """Assign every sample its split (queries sharing a positive class, a normalised query text, a
    group value or an augmentation source stay together).

    Raises:
        EmbcoreError: a grouping / stratification column no sample has.
    """
    for col in (cfg.group_col, cfg.stratify_col):
        if col is not None and not any(col in r.meta for r in records):
            known = sorted({k for r in records for k in r.meta})
            raise EmbcoreError(
                f"unknown grouping column {col!r}; metadata columns: {', '.join(known) or '(none)'}"
            )
    class_of = dict(zip(ids, klass, strict=True))
    index_of = {r.query_id: i for i, r in enumerate(records)}
    split = assign_splits(
        [[("p", class_of[p]) for p, _ in r.pos] + [("q", equivalence_key(r.query))] for r in records],
        cfg.ratios,
        cfg.seed,
        group_values=[r.meta.get(cfg.group_col) for r in records] if cfg.group_col else None,
        strata=[r.meta.get(cfg.stratify_col) for r in records] if cfg.stratify_col else None,
        parents=[index_of.get(r.parent_id) if r.parent_id is not None else None for r in records],
    )
    for r, s in zip(records, split.assignment, strict=True):
        r.split = s
    return split


class _Blocker:
    """Why a passage may not be a negative of a sample (None when it may)."""

    def __init__(
        self,
        records: Sequence[ExportSample],
        cfg: ExportConfig,
        class_of: dict[int, int],
        key_of: dict[int, str],
    ) -> None:
        self.class_of, self.key_of = class_of, key_of
        self.allow_cross_split = cfg.allow_cross_split_negatives
        self.eval_ids = {p for r in records if r.split != "train" for p, _ in r.pos}
        self.eval_classes = {class_of[p] for p in self.eval_ids}
        self._own: dict[int, tuple[set[int], set[str], set[int]]] = {}

    def _own_of(self, r: ExportSample) -> tuple[set[int], set[str], set[int]]:
        """(ids, keys, classes) of a sample's positives (computed once per sample)."""
        if r.query_id not in self._own:
            own_ids = {p for p, _ in r.pos}
            self._own[r.query_id] = (
                own_ids,
                {self.key_of[p] for p in own_ids},
                {self.class_of[p] for p in own_ids},
            )
        return self._own[r.query_id]

    def reason(self, r: ExportSample, ppid: int, text: str) -> str | None:
        own_ids, own_keys, own_classes = self._own_of(r)
        if (
            ppid in own_ids
            or (self.key_of[ppid] if ppid in self.key_of else equivalence_key(text)) in own_keys
        ):
            return "negative_equals_positive"
        if self.class_of.get(ppid, -1) in own_classes:
            return "negative_near_duplicate_of_positive"
        if ppid in r.excluded:
            return "rejected"
        strict_train = r.split == "train" and not self.allow_cross_split
        if strict_train and (ppid in self.eval_ids or self.class_of.get(ppid, -1) in self.eval_classes):
            return "train_negative_is_eval_positive"
        return None


def _len(rows: Any) -> int:
    try:
        return len(rows)
    except TypeError:
        return 0


def _empty_policy(
    records: list[ExportSample], cfg: ExportConfig, allp: pd.DataFrame, blocker: _Blocker
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Apply ``cfg.empty_negatives`` to samples left without negatives (sets their ``neg`` or ``left_out``)."""
    counts = {
        "samples_without_negatives": 0,
        "topped_up_samples": 0,
        "topped_up_negatives": 0,
        "random_samples": 0,
        "random_negatives": 0,
        "left_out_samples": 0,
    }
    left_out: list[dict[str, Any]] = []
    data = allp[allp["kind"] == "passage"]
    corpus = list(zip(data["id"].astype(int).tolist(), data["text"].astype(str).tolist(), strict=True))
    for r in records:
        if r.neg:
            continue
        counts["samples_without_negatives"] += 1
        if cfg.empty_negatives == "drop":
            _leave_out(r, left_out, counts, "no negative left after review and filters (policy: drop)")
            continue
        want = max(1, r.target) if cfg.max_negatives is None else min(max(1, r.target), cfg.max_negatives)
        blocked = partial(blocker.reason, r)
        got: list[Passage] = []
        seen: set[str] = set()
        if cfg.empty_negatives == "top-up":
            got = _take(((p, t) for p, t, tier in r.pool if tier >= 4), want, blocked, blocker.key_of, seen)
            if got:
                counts["topped_up_samples"] += 1
                counts["topped_up_negatives"] += len(got)
        if len(got) < want and corpus:
            rng = random.Random(f"{cfg.seed}:{r.query_hash}")
            order = rng.sample(range(len(corpus)), k=min(len(corpus), max(want * 20, 50)))
            more = _take((corpus[i] for i in order), want - len(got), blocked, blocker.key_of, seen)
            if more:
                counts["random_samples"] += 1
                counts["random_negatives"] += len(more)
            got += more
        if got:
            r.neg = got
        else:
            _leave_out(r, left_out, counts, "no passage left that can serve as a negative")
    return counts, left_out


def _take(
    candidates: Iterable[Passage],
    want: int,
    blocked: Callable[[int, str], str | None],
    key_of: dict[int, str],
    seen: set[str],
) -> list[Passage]:
    """Up to ``want`` candidates, in order, that are not blocked and not equal to one already taken."""
    got: list[Passage] = []
    for ppid, text in candidates:
        if len(got) >= want:
            break
        key = key_of.get(ppid) or equivalence_key(text)
        if key in seen or blocked(ppid, text) is not None:
            continue
        seen.add(key)
        got.append((ppid, text))
    return got


def _leave_out(r: ExportSample, left_out: list[dict[str, Any]], counts: dict[str, int], why: str) -> None:
    r.left_out = why
    counts["left_out_samples"] += 1
    left_out.append({"query": r.query, "split": r.split, "reason": why})


def counts_per_split(plan: ExportPlan) -> dict[str, dict[str, int]]:
    """Samples, positives, negatives, samples without negatives and left out, per split."""
    out = {
        s: {"samples": 0, "positives": 0, "negatives": 0, "without_negatives": 0, "left_out": 0}
        for s in SPLITS
    }
    for r in plan.records:
        c = out[r.split]
        if r.left_out:
            c["left_out"] += 1
            continue
        c["samples"] += 1
        c["positives"] += len(r.pos)
        c["negatives"] += len(r.neg)
        c["without_negatives"] += int(not r.neg)
    return out


# --------------------------------------------------------------------------- preview


@dataclass
class ExportPreview:
    """What an export with these settings would write, computed without writing.

    Attributes:
        counts: samples / positives / negatives / without_negatives per split, after the policy.
        negatives: what the empty-negatives policy will do (see :class:`ExportPlan`).
        removed: negatives that will be dropped, by reason.
        merged_groups: queries built from several input rows.
        near_duplicates: passage classes info (near-duplicate groups and passages in them).
        leakage: the leakage report (0 pairs expected).
        split: number of groups kept together and the largest one.
        seconds: time the plan took.
    """

    counts: dict[str, dict[str, int]]
    negatives: dict[str, int]
    removed: dict[str, int]
    merged_groups: int
    near_duplicates: dict[str, Any]
    leakage: dict[str, Any]
    split: dict[str, int]
    seconds: float


def preview_export(store: Store, pid: int, run_id: int | None, cfg: ExportConfig) -> ExportPreview:
    """The counts an export would produce (same code path as :func:`export_project`, nothing written).

    Cached per (database, project, run, settings, state of the project's data and decisions),
    so that a page can call it on every render.
    """
    key = (
        store.path,
        pid,
        run_id,
        json.dumps(cfg.to_dict(), sort_keys=True),
        store.export_fingerprint(pid, run_id),
    )

    def compute() -> ExportPreview:
        t0 = time.perf_counter()
        plan = plan_export(store, pid, run_id, cfg)
        return ExportPreview(
            counts=counts_per_split(plan),
            negatives=plan.negatives,
            removed=plan.removed,
            merged_groups=plan.merged_groups,
            near_duplicates=plan.classes.info,
            leakage=plan.leakage,
            split={"groups": plan.split.n_groups, "largest_group": plan.split.largest_group},
            seconds=round(time.perf_counter() - t0, 3),
        )

    if store.path == ":memory:":
        return compute()
    return _cached(_PREVIEW_CACHE, key, compute, size=8)


FLAG_KEYS: tuple[str, ...] = ("query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type")
"""FlagEmbedding fields in the order they are written."""

OPTIONAL_FILL: dict[str, str] = {"prompt": "", "type": "normal"}
"""What a record without its own ``prompt`` / ``type`` gets when other records of the export have one."""


def uniform_keys(by_split: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Give every record of an export the same keys (``prompt`` / ``type`` filled where missing).

    ``datasets.load_dataset("json")``, which FlagEmbedding's training dataset uses, gives every
    row the union of the keys with None where one is missing (FlagEmbedding then formats
    ``"None" + query``, or fails on ``'symmetric' in None``), and stops with a column mismatch
    when a key first appears past its first 10 MB chunk. A missing ``prompt`` becomes ``""``
    (no instruction), a missing ``type`` becomes ``"normal"``. Mutates and returns ``by_split``.
    """
    present = {k for recs in by_split.values() for r in recs for k in OPTIONAL_FILL if k in r}
    if not present:
        return by_split
    for recs in by_split.values():
        for i, r in enumerate(recs):
            if present <= r.keys():
                continue
            full = {**{k: OPTIONAL_FILL[k] for k in present}, **r}
            recs[i] = {k: full[k] for k in FLAG_KEYS if k in full}
    return by_split
