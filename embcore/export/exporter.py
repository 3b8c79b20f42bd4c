"""Export a project: FlagEmbedding JSONL train/val/test, a BEIR evaluation set and a manifest.

``train.jsonl``, ``val.jsonl``, ``test.jsonl``: one object per line,
``{"query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"}`` (score fields only
when scores exist, ``prompt`` / ``type`` only when set; ``neg`` is never empty).
``eval/corpus.jsonl``, ``eval/queries.jsonl``, ``eval/qrels/{val,test}.tsv`` in BEIR layout,
``dropped_rows.csv`` (every input row cleaning dropped) and ``manifest.json`` (settings, counts,
file hashes, the leakage report, and the review section: how reviewers' decisions were resolved
and their agreement).

Qrels are binary (score 1) until a reviewer grades a candidate; then they are graded (0-3): a
positive scores its resolved grade (3 when ungraded), a candidate graded 2 or 3 becomes a qrels
row with its grade (and never a negative of its query).

The files are written into a staging folder and published atomically as a new version of the
export root (see :mod:`embcore.export.publish`): ``OUT/current`` always points to a complete export.

One planning function, :func:`plan_export`, decides everything (samples, negatives, split,
leakage); :func:`export_project` writes its result and :func:`preview_export` summarises it
without writing (the Export page shows it before the click).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import random
import shutil
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from embcore import __version__
from embcore.errors import EmbcoreError
from embcore.export.dedup import NearDupConfig, PassageClasses, leakage_report, passage_classes
from embcore.export.publish import check_target, clean_stale, new_staging, publish
from embcore.export.split import SPLITS, SplitResult, assign_splits, parse_ratios
from embcore.progress import ProgressFn, report
from embcore.review.agreement import manifest_section as review_section
from embcore.store import Store
from embcore.store import reviewers as rv
from embcore.store.review_actions import flagged_queries
from embcore.text import equivalence_key, text_hash

log = logging.getLogger(__name__)

REAL_ORIGINS = frozenset({"data", "review", "edit"})
"""Positives that come from the data or a human; augmented / generated ones never enter the eval set."""

EMPTY_NEGATIVES: tuple[str, ...] = ("top-up", "random", "drop")
"""What happens to a sample that would have no negative: ``top-up`` takes the run's next
candidates (those a score / margin / rank filter removed, never a positive or its near-twin),
then random passages; ``random`` takes random passages; ``drop`` leaves the sample out of its
JSONL file (a val/test query stays in the evaluation set)."""

EmptyNegatives = Literal["top-up", "random", "drop"]

ScoreFn = Callable[[list[str], list[list[str]], list[str]], list[list[float]]]
"""Teacher: (queries, passages per query, prompts) -> a score per passage, aligned."""


@dataclass
class ExportConfig:
    """How a project becomes files.

    Attributes:
        ratios: train, val, test fractions of the queries (sum to 1).
        seed: split seed (also seeds random top-up negatives).
        group_col: metadata column whose values must stay in one split (besides shared passages).
        stratify_col: metadata column whose values are spread over the splits by the ratios.
        max_negatives: cap on negatives per sample (None = every accepted / auto-selected one).
        query_prompt: instruction written to ``prompt`` (a query's own prompt wins).
        passage_prompt: prompt for passages, recorded in the manifest for evaluation.
        sample_type: ``type`` for samples that have none.
        allow_cross_split_negatives: keep a train negative that is a val/test positive (leaks
            evaluation passages into training when True; False drops it and counts it).
        empty_negatives: policy for a sample left without negatives (see :data:`EMPTY_NEGATIVES`).
        near_duplicates: Jaccard threshold (word 3-shingles) above which two passages count as
            one for the split, the negative checks and the leakage report; None = only passages
            equal after normalisation count as one.
        near_dup_max_passages: above this many distinct passages the near-duplicate step is skipped.
        dropped_rows_listed: dropped input rows listed in the manifest (all are in dropped_rows.csv).
        keep_versions: export versions kept under the export root (the current one included).
    """

    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 42
    group_col: str | None = None
    stratify_col: str | None = None
    max_negatives: int | None = None
    query_prompt: str | None = None
    passage_prompt: str | None = None
    sample_type: str | None = None
    allow_cross_split_negatives: bool = False
    empty_negatives: EmptyNegatives = "top-up"
    near_duplicates: float | None = 0.7
    near_dup_max_passages: int = 200_000
    dropped_rows_listed: int = 100
    keep_versions: int = 3

    def __post_init__(self) -> None:
        self.ratios = parse_ratios(self.ratios)
        if self.max_negatives is not None and self.max_negatives < 1:
            raise EmbcoreError(f"max_negatives must be at least 1 (None = no cap), got {self.max_negatives}")
        if self.empty_negatives not in EMPTY_NEGATIVES:
            raise EmbcoreError(
                f"empty_negatives={self.empty_negatives!r} is not allowed; choose one of: {', '.join(EMPTY_NEGATIVES)}"
            )
        if self.keep_versions < 1:
            raise EmbcoreError("keep_versions must be at least 1")
        self.near_config()  # validates the threshold

    def near_config(self) -> NearDupConfig | None:
        """The near-duplicate settings (None when switched off)."""
        if self.near_duplicates is None:
            return None
        return NearDupConfig(threshold=float(self.near_duplicates), max_passages=self.near_dup_max_passages)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes:
        out_dir: the export root given by the caller (``out_dir/current`` = this export).
        version_dir: the immutable folder holding this export's files.
    """

    out_dir: Path
    counts: dict[str, dict[str, int]]
    files: dict[str, str]
    export_id: int
    without_negatives: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    version_dir: Path | None = None
    leakage: dict[str, Any] = field(default_factory=dict)
    negatives: dict[str, int] = field(default_factory=dict)


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
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Assemble one record per query: positives, negative pool (by tier), target, prompt, type, meta.

    The pool is :meth:`Store.negative_pool` (decisions count, the 'reviewed' flag does not).
    An EDA copy (``parent_id`` set, origin ``augment...``) without a pool of its own uses its
    source's pool and target. Negatives are chosen later by :func:`choose_negatives`.

    Returns:
        (records, counts of the queries left out because a reviewer flagged them).
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
    cols4 = (pos["query_id"].tolist(), pos["passage_id"].tolist(), pos["text"].tolist(), pos["origin"].tolist())
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
    grades = rv.resolved_grades(store, pid)
    for qid, ppid, g in zip(grades["query_id"], grades["passage_id"], grades["grade"], strict=True):
        if int(g) >= rv.RELEVANT_GRADE:
            excluded.setdefault(int(qid), set()).add(int(ppid))
    # queries a reviewer flagged (bad query / wrong positive) are left out, counted per reason
    flagged = flagged_queries(store, pid)
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
            {
                "query_id": qid,
                "query": str(row.text),
                "query_hash": str(row.text_hash),
                "pos": positives,
                "pool": own,
                "target": int(target),
                "inherited": inherited,
                "excluded": excluded.get(qid, set()) | (excluded.get(parent, set()) if inherited else set()),
                "neg": [],
                "prompt": row.prompt if isinstance(row.prompt, str) and row.prompt else cfg.query_prompt,
                "type": row.type if isinstance(row.type, str) and row.type else cfg.sample_type,
                "meta": row.meta or {},
                "origin": row.origin,
                "eval_pos": eval_pos_by_q.get(qid, []),
                "parent_id": parent,
            }
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


def validate_records(records: Sequence[dict[str, Any]], *, allow_empty_neg: bool = True) -> None:
    """Check FlagEmbedding records before writing.

    Raises:
        EmbcoreError: empty query or ``pos``, an empty ``neg`` (unless allowed), a ``neg`` equal
            to a ``pos`` of the same query after normalisation (:func:`equivalence_key`), or a
            score list whose length differs from its text list.
    """
    for i, r in enumerate(records, start=1):
        where = f"sample {i} ({r.get('query', '')[:60]!r})"
        if not isinstance(r.get("query"), str) or not r["query"].strip():
            raise EmbcoreError(f"{where}: empty query")
        if not r.get("pos") or not all(isinstance(t, str) and t.strip() for t in r["pos"]):
            raise EmbcoreError(f"{where}: 'pos' must be a non-empty list of non-empty strings")
        if not isinstance(r.get("neg", []), list):
            raise EmbcoreError(f"{where}: 'neg' must be a list")
        if not allow_empty_neg and not r.get("neg"):
            raise EmbcoreError(f"{where}: 'neg' is empty (trainers divide by or sample from it)")
        pos_keys = {equivalence_key(t) for t in r["pos"]}
        for t in r.get("neg", []):
            if equivalence_key(t) in pos_keys:
                raise EmbcoreError(f"{where}: negative {t[:60]!r} equals one of its positives")
        for scores, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
            if scores in r and len(r[scores]) != len(r[texts]):
                raise EmbcoreError(
                    f"{where}: {scores} has {len(r[scores])} values for {len(r[texts])} texts in {texts!r}"
                )


def to_flag_record(rec: dict[str, Any]) -> dict[str, Any]:
    """The FlagEmbedding JSON object for one assembled record (key order fixed for stable bytes)."""
    out: dict[str, Any] = {
        "query": rec["query"],
        "pos": [t for _, t in rec["pos"]],
        "neg": [t for _, t in rec["neg"]],
    }
    if rec.get("pos_scores") is not None:
        out["pos_scores"] = [float(s) for s in rec["pos_scores"]]
        out["neg_scores"] = [float(s) for s in rec["neg_scores"][: len(out["neg"])]]
    if rec.get("prompt"):
        out["prompt"] = rec["prompt"]
    if rec.get("type"):
        out["type"] = rec["type"]
    return out


# --------------------------------------------------------------------------- planning

_CLASS_CACHE: OrderedDict[tuple[Any, ...], PassageClasses] = OrderedDict()
_PREVIEW_CACHE: OrderedDict[tuple[Any, ...], ExportPreview] = OrderedDict()


def _cached(
    cache: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...], fn: Callable[[], Any], size: int = 4
) -> Any:
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
        records: one per sample: positives, final ``neg``, prompt, type, meta, ``split``.
        split: the split (``assignment`` aligned with ``records``).
        removed: negatives removed, by reason (equal / near-twin of a positive, val/test positive).
        negatives: what the empty-negatives policy did (samples and negatives it added, samples left out).
        left_out: samples left out of their JSONL file (policy ``drop``, or nothing left to add).
        classes: the passage equivalence classes (sizes and settings in ``classes.info``).
        leakage: the leakage report of the JSONL records.
        merged_groups: queries built from several input rows.
        run_id: the mining run used.
    """

    records: list[dict[str, Any]]
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
            if not r.get("left_out"):
                out[r["split"]].append(to_flag_record(r))
        return out


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
    text_of = dict(zip(ids, texts, strict=True))
    # 1. samples
    records, flagged = collect_samples(store, pid, run_id, cfg, text_of)
    if not records:
        raise EmbcoreError(f"project {project['name']!r} has no sample with a positive; nothing to export")
    report(progress, "export", 1, 5)
    # 2. classes of every passage of the project
    near = cfg.near_config()
    fp = (store.path, pid, len(ids), max(ids, default=0), near)
    classes = (
        _cached(_CLASS_CACHE, fp, lambda: passage_classes(texts, near)) if store.path != ":memory:" else None
    )
    if classes is None:
        classes = passage_classes(texts, near)
    class_of = dict(zip(ids, classes.klass.tolist(), strict=True))
    key_of = dict(zip(ids, classes.keys, strict=True))
    # 3. split
    for col in (cfg.group_col, cfg.stratify_col):
        if col is not None and not any(col in r["meta"] for r in records):
            known = sorted({k for r in records for k in r["meta"]})
            raise EmbcoreError(
                f"unknown grouping column {col!r}; metadata columns: {', '.join(known) or '(none)'}"
            )
    index_of = {r["query_id"]: i for i, r in enumerate(records)}
    split = assign_splits(
        [[("p", class_of[p]) for p, _ in r["pos"]] + [("q", equivalence_key(r["query"]))] for r in records],
        cfg.ratios,
        cfg.seed,
        group_values=[r["meta"].get(cfg.group_col) for r in records] if cfg.group_col else None,
        strata=[r["meta"].get(cfg.stratify_col) for r in records] if cfg.stratify_col else None,
        parents=[index_of.get(r["parent_id"]) if r["parent_id"] is not None else None for r in records],
    )
    for r, s in zip(records, split.assignment, strict=True):
        r["split"] = s
    # 4. negatives
    eval_ids = {p for r in records if r["split"] != "train" for p, _ in r["pos"]}
    eval_classes = {class_of[p] for p in eval_ids}
    removed: Counter[str] = Counter()
    for r in records:
        own_ids = {p for p, _ in r["pos"]}
        own_keys = {key_of[p] for p, _ in r["pos"]}
        own_classes = {class_of[p] for p in own_ids}
        strict_train = r["split"] == "train" and not cfg.allow_cross_split_negatives

        def blocked(ppid: int, text: str, r: dict[str, Any] = r, own_ids: set[int] = own_ids,
                    own_keys: set[str] = own_keys, own_classes: set[int] = own_classes,
                    strict_train: bool = strict_train) -> str | None:  # fmt: skip
            if ppid in own_ids or (key_of[ppid] if ppid in key_of else equivalence_key(text)) in own_keys:
                return "negative_equals_positive"
            if class_of.get(ppid, -1) in own_classes:
                return "negative_near_duplicate_of_positive"
            if ppid in r["excluded"]:
                return "rejected"
            if strict_train and (ppid in eval_ids or class_of.get(ppid, -1) in eval_classes):
                return "train_negative_is_eval_positive"
            return None

        r["blocked"] = blocked
        r["neg"], why = choose_negatives(r["pool"], blocked, r["target"], cfg.max_negatives, key_of)
        removed.update(why)
    report(progress, "export", 2, 5)
    # 5. samples without negatives
    negatives, left_out = _empty_policy(records, cfg, allp, key_of)
    for r in records:
        r.pop("blocked", None)
    removed_out = {
        "negative_equals_positive": removed["negative_equals_positive"],
        "negative_near_duplicate_of_positive": removed["negative_near_duplicate_of_positive"],
        "train_negative_is_eval_positive": removed["train_negative_is_eval_positive"],
        **flagged,
    }
    plan = ExportPlan(
        records=records,
        split=split,
        removed=removed_out,
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


def _len(rows: Any) -> int:
    try:
        return len(rows)
    except TypeError:
        return 0


def _empty_policy(
    records: list[dict[str, Any]], cfg: ExportConfig, allp: pd.DataFrame, key_of: dict[int, str]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Apply ``cfg.empty_negatives`` to samples left without negatives (mutates ``records``)."""
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
        if r["neg"]:
            continue
        counts["samples_without_negatives"] += 1
        want = max(1, r["target"])
        if cfg.max_negatives is not None:
            want = min(want, cfg.max_negatives)
        if cfg.empty_negatives == "drop":
            _leave_out(r, left_out, counts, "no negative left after review and filters (policy: drop)")
            continue
        got: list[tuple[int, str]] = []
        seen: set[str] = set()
        if cfg.empty_negatives == "top-up":
            for ppid, text, tier in r["pool"]:
                if len(got) >= want:
                    break
                if tier < 4 or r["blocked"](ppid, text) is not None:
                    continue
                key = key_of.get(ppid) or equivalence_key(text)
                if key not in seen:
                    seen.add(key)
                    got.append((ppid, text))
            if got:
                counts["topped_up_samples"] += 1
                counts["topped_up_negatives"] += len(got)
        if len(got) < want and corpus:
            n_before = len(got)
            rng = random.Random(f"{cfg.seed}:{r['query_hash']}")
            order = rng.sample(range(len(corpus)), k=min(len(corpus), max(want * 20, 50)))
            for i in order:
                if len(got) >= want:
                    break
                ppid, text = corpus[i]
                key = key_of.get(ppid) or equivalence_key(text)
                if key in seen or r["blocked"](ppid, text) is not None:
                    continue
                seen.add(key)
                got.append((ppid, text))
            if len(got) > n_before:
                counts["random_samples"] += 1
                counts["random_negatives"] += len(got) - n_before
        if got:
            r["neg"] = got
        else:
            _leave_out(r, left_out, counts, "no passage left that can serve as a negative")
    return counts, left_out


def _leave_out(r: dict[str, Any], left_out: list[dict[str, Any]], counts: dict[str, int], why: str) -> None:
    r["left_out"] = why
    counts["left_out_samples"] += 1
    left_out.append({"query": r["query"], "split": r["split"], "reason": why})


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
            counts=_counts(plan),
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


# --------------------------------------------------------------------------- writing


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def corpus_id(h: str) -> str:
    """Stable BEIR corpus id derived from the passage text hash."""
    return "d" + h[:16]


def query_id(h: str) -> str:
    """Stable BEIR query id derived from the query text hash."""
    return "q" + h[:16]


def _dropped_rows(cleaning: dict[str, Any], limit: int) -> tuple[dict[str, Any], str]:
    """Manifest part for dropped input rows (first ``limit``, total, per reason) and the full CSV."""
    dropped = list(cleaning.get("dropped") or [])
    reasons = cleaning.get("dropped_by_reason")
    if not isinstance(reasons, dict):
        reasons = dict(Counter(c for d in dropped for c in str(d.get("code", "")).split("+") if c))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["row", "code", "reason", "column"])
    for d in dropped:
        writer.writerow([d.get("row"), d.get("code", ""), d.get("reason", ""), d.get("column") or ""])
    part = {
        "dropped_rows": dropped[:limit],
        "dropped_rows_total": len(dropped),
        "dropped_rows_listed": min(limit, len(dropped)),
        "dropped_by_reason": reasons,
        "dropped_rows_file": "dropped_rows.csv",
    }
    return part, buf.getvalue()


def export_project(
    store: Store,
    pid: int,
    out_dir: str | Path,
    cfg: ExportConfig | None = None,
    *,
    run_id: int | None = None,
    teacher: ScoreFn | None = None,
    teacher_info: dict[str, Any] | None = None,
    manifest_extra: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> ExportResult:
    """Split a project and publish train/val/test JSONL, the BEIR eval set and a manifest.

    Args:
        store: the project store.
        pid: project id.
        out_dir: export root: a new folder, an empty one, or an earlier export of this project
            (anything else is refused). The export becomes ``out_dir/vNNNN-<stamp>/`` and
            ``out_dir/current`` points to it.
        cfg: split and export settings.
        run_id: mining run whose candidates feed the negatives (default: the latest finished one).
        teacher: optional scorer filling ``pos_scores`` / ``neg_scores``.
        teacher_info: description of the teacher for the manifest.
        manifest_extra: extra keys for ``manifest.json`` (e.g. the build config and timings).
        progress: progress callback.

    Returns:
        What was written, with counts per split.
    """
    cfg = cfg or ExportConfig()
    root = Path(out_dir)
    extra = dict(manifest_extra or {})
    t0 = time.perf_counter()
    project = store.get_project(pid)
    db = Path(store.path) if store.path != ":memory:" else None
    allowed = (
        {db.name, db.name + ".wal"} if db is not None and db.parent.resolve() == root.resolve() else set()
    )
    check_target(root, str(project["name"]), allowed=allowed)
    if run_id is None:
        run_id = store.latest_run(pid, "mine")
    # 1-2. plan: samples, split, negatives, leakage
    plan = plan_export(store, pid, run_id, cfg, progress=progress)
    records = plan.records
    # 3. teacher scores
    if teacher is not None:
        kept = [r for r in records if not r.get("left_out")]
        texts = [[t for _, t in r["pos"]] + [t for _, t in r["neg"]] for r in kept]
        scores = teacher([r["query"] for r in kept], texts, [r.get("prompt") or "" for r in kept])
        for r, sc in zip(kept, scores, strict=True):
            n_pos = len(r["pos"])
            r["pos_scores"], r["neg_scores"] = list(sc[:n_pos]), list(sc[n_pos:])
    report(progress, "export", 3, 5)
    # 4. FlagEmbedding records, validated
    by_split = plan.by_split()
    for s in SPLITS:
        validate_records(by_split[s], allow_empty_neg=False)
    # 5. stage everything, then publish
    created = not root.exists()
    clean_stale(root)
    staging = new_staging(root)
    try:
        for s in SPLITS:
            _write_lines(staging / f"{s}.jsonl", [_dumps(x) for x in by_split[s]])
        qrels_info = _write_eval(store, pid, records, staging, plan.classes)
        dropped_part, dropped_csv = _dropped_rows(project.get("cleaning") or {}, cfg.dropped_rows_listed)
        (staging / "dropped_rows.csv").write_text(dropped_csv, encoding="utf-8", newline="")
        counts = _counts(plan)
        without = [r["query"] for r in records if not r["neg"]]
        files = {
            str(p.relative_to(staging).as_posix()): _sha256(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "tool": "embcore",
            "version": __version__,
            "format": "FlagEmbedding",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "project": {"id": pid, "name": project["name"]},
            "input": {
                "name": project.get("source_name"),
                "sha256": project.get("source_sha256"),
                "format": project.get("source_format"),
            },
            "mapping": project.get("mapping"),
            "seed": cfg.seed,
            "config": {"export": cfg.to_dict(), **(extra.pop("config", None) or {})},
            "mining_run": run_id,
            "prompts": {"query": cfg.query_prompt, "passage": cfg.passage_prompt},
            "teacher": teacher_info,
            "counts": counts,
            "split": {"groups": plan.split.n_groups, "largest_group": plan.split.largest_group},
            "removed": plan.removed,
            "negatives": {"policy": cfg.empty_negatives, **plan.negatives},
            "samples_without_negatives": len(without),
            "samples_left_out": {"total": len(plan.left_out), "first": plan.left_out[:100]},
            "merged_groups": plan.merged_groups,
            "near_duplicates": plan.classes.info,
            "leakage": plan.leakage,
            "qrels": qrels_info,
            "review": review_section(store, pid),
            **dropped_part,
            "cleaning": {k: v for k, v in (project.get("cleaning") or {}).items() if k != "dropped"},
            "files": files,
        }
        manifest.update(extra)
        manifest.setdefault("timings", {})["export_s"] = round(time.perf_counter() - t0, 3)
        (staging / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        report(progress, "export", 4, 5)
        version = publish(staging, root, keep=cfg.keep_versions)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        raise
    split_of = {r["query_id"]: r["split"] for r in records}
    export_id = store.record_export(
        pid,
        str(version.resolve()),
        run_id=run_id,
        config=manifest["config"],
        counts=counts,
        files=files,
        splits=split_of,
        root_dir=str(root.resolve()),
    )
    report(progress, "export", 5, 5)
    log.info("exported project %s to %s: %s", project["name"], version, counts)
    return ExportResult(
        root, counts, files, export_id, without, plan.removed, manifest, version, plan.leakage, plan.negatives
    )


def _counts(plan: ExportPlan) -> dict[str, dict[str, int]]:
    out = {
        s: {"samples": 0, "positives": 0, "negatives": 0, "without_negatives": 0, "left_out": 0}
        for s in SPLITS
    }
    for r in plan.records:
        c = out[r["split"]]
        if r.get("left_out"):
            c["left_out"] += 1
            continue
        c["samples"] += 1
        c["positives"] += len(r["pos"])
        c["negatives"] += len(r["neg"])
        c["without_negatives"] += int(not r["neg"])
    return out


def _write_eval(
    store: Store, pid: int, records: Sequence[dict[str, Any]], staging: Path, classes: PassageClasses
) -> dict[str, Any]:
    """Write the BEIR evaluation files; returns the manifest's ``qrels`` section (graded or binary)."""
    # corpus = every unique data passage (unique up to equivalence_key: "ITEM 6. [RESERVED]" and
    # "Item 6—Reserved" are one entry), plus any positive (e.g. an edited one) a qrel points to;
    # a qrel always names the corpus entry of its text's key
    corpus = store.passages(pid, kind="passage")
    lines: list[str] = []
    ids: dict[str, str] = {}

    def corpus_entry(text: str) -> str:
        key = equivalence_key(text)
        if key not in ids:
            ids[key] = corpus_id(text_hash(text))
            lines.append(_dumps({"_id": ids[key], "title": "", "text": text}))
        return ids[key]

    for t in corpus["text"]:
        corpus_entry(str(t))
    # graded relevance: once a reviewer graded anything, qrels carry grades 0-3 (a positive its grade,
    # else 3; a candidate graded relevant its grade), otherwise they stay binary (score 1)
    grades = rv.resolved_grades(store, pid)
    graded = len(grades) > 0
    grade_of: dict[int, dict[int, int]] = {}
    for q, p, g in zip(grades["query_id"], grades["passage_id"], grades["grade"], strict=True):
        grade_of.setdefault(int(q), {})[int(p)] = int(g)
    default = 3 if graded else 1
    graded_texts = _passage_texts(store, pid, {p for g in grade_of.values() for p in g})
    # one eval query per query text: samples that share the text but not the metadata (kept apart
    # for training, issue 10.2; the split keeps them together) become one query with every positive
    queries: dict[str, str] = {}
    qrels: dict[str, dict[tuple[str, str], int]] = {"val": {}, "test": {}}
    candidates_graded = 0
    for r in records:
        s = r["split"]
        # evaluation uses real queries and real positives only (no augmented / generated text)
        if s == "train" or r["origin"] != "data" or not r["eval_pos"]:
            continue
        qid = query_id(text_hash(r["query"]))
        queries.setdefault(qid, _dumps({"_id": qid, "text": r["query"]}))
        mine = grade_of.get(int(r["query_id"]), {})
        pos_ids = {p for p, _ in r["eval_pos"]} | {p for p, _ in r["pos"]}
        for p, t in r["eval_pos"]:
            g = mine.get(int(p))
            key = (qid, corpus_entry(t))
            qrels[s][key] = max(qrels[s].get(key, 0), g if g is not None and g >= 1 else default)
        for p, g in mine.items():
            if p in pos_ids or g < rv.RELEVANT_GRADE or p not in graded_texts:
                continue
            key = (qid, corpus_entry(graded_texts[p]))
            qrels[s][key] = max(qrels[s].get(key, 0), g)
            candidates_graded += 1
    _write_lines(staging / "eval" / "corpus.jsonl", lines)
    _write_lines(staging / "eval" / "queries.jsonl", list(queries.values()))
    for s in ("val", "test"):
        rows = [f"{q}\t{c}\t{g}" for (q, c), g in qrels[s].items()]
        _write_lines(staging / "eval" / "qrels" / f"{s}.tsv", ["query-id\tcorpus-id\tscore", *rows])
    return {
        "graded": graded,
        "scale": "0-3 (0 not relevant, 1 related, 2 partly answers, 3 answers fully)" if graded else "binary",
        "positive_default": default,
        "relevant_from_grade": rv.RELEVANT_GRADE,
        "graded_candidates_in_qrels": candidates_graded,
    }


def _passage_texts(store: Store, pid: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    allp = store.passage_texts(pid)
    allp = allp[allp["id"].isin(ids)]
    return dict(zip(allp["id"].astype(int), allp["text"].astype(str), strict=True))


__all__ = [
    "EMPTY_NEGATIVES",
    "ExportConfig",
    "ExportPlan",
    "ExportPreview",
    "ExportResult",
    "choose_negatives",
    "collect_samples",
    "export_project",
    "plan_export",
    "preview_export",
    "to_flag_record",
    "validate_records",
]
