"""Train / val / test splits without leakage.

Queries are joined into groups that must stay together: queries sharing a positive passage
(financial-qa-10K has contexts serving several questions), queries sharing a value of the
optional group column, and augmented queries with their source. Whole groups are then dealt
to the splits, seeded, so one passage never lands in two splits.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from embcore.errors import EmbcoreError

SPLITS: tuple[str, str, str] = ("train", "val", "test")


def parse_ratios(spec: str | Sequence[float]) -> tuple[float, float, float]:
    """Parse ``"0.8,0.1,0.1"`` (train,val,test) or ``"0.9,0.1"`` (train,test).

    Raises:
        EmbcoreError: not numbers, negative, not two or three values, or not summing to 1.
    """
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise EmbcoreError(f"split ratios {spec!r} must be numbers like 0.8,0.1,0.1") from exc
    else:
        values = [float(v) for v in spec]
    if len(values) == 2:
        values = [values[0], 0.0, values[1]]
    if len(values) != 3:
        raise EmbcoreError(f"split ratios {spec!r}: give train,val,test (e.g. 0.8,0.1,0.1) or train,test")
    if any(v < 0 or math.isnan(v) for v in values):
        raise EmbcoreError(f"split ratios {spec!r}: ratios cannot be negative")
    total = sum(values)
    if abs(total - 1.0) > 1e-6:
        raise EmbcoreError(f"split ratios {spec!r} sum to {total:g}; they must sum to 1")
    if values[0] <= 0:
        raise EmbcoreError(f"split ratios {spec!r}: the train ratio must be above 0")
    return values[0], values[1], values[2]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class SplitResult:
    """Split of each query (by index) and the groups that were kept together."""

    assignment: list[str]
    n_groups: int
    largest_group: int

    def counts(self) -> dict[str, int]:
        c = Counter(self.assignment)
        return {s: c.get(s, 0) for s in SPLITS}


def leakage_groups(
    positives: Sequence[Sequence[Hashable]],
    *,
    group_values: Sequence[str | None] | None = None,
    parents: Sequence[int | None] | None = None,
) -> list[int]:
    """Component id per query: queries linked by a shared positive, group value or parent.

    Args:
        positives: per query, keys of its positive passages (ids, or normalised texts so that
            spellings equal up to case/width/spacing count as one passage).
        group_values: per query, value of the grouping column (None = no constraint).
        parents: per query, index of the query it was derived from (augmentation), or None.
    """
    n = len(positives)
    uf = _UnionFind(n)
    # 1. shared positive passages
    first_owner: dict[Hashable, int] = {}
    for qi, pids in enumerate(positives):
        for p in pids:
            owner = first_owner.setdefault(p, qi)
            if owner != qi:
                uf.union(owner, qi)
    # 2. shared group value
    if group_values is not None:
        first_val: dict[str, int] = {}
        for qi, v in enumerate(group_values):
            if v is not None and v != "":
                owner = first_val.setdefault(v, qi)
                if owner != qi:
                    uf.union(owner, qi)
    # 3. augmentation parents
    if parents is not None:
        for qi, par in enumerate(parents):
            if par is not None and par >= 0:
                uf.union(par, qi)
    return [uf.find(i) for i in range(n)]


def assign_splits(
    positives: Sequence[Sequence[Hashable]],
    ratios: tuple[float, float, float],
    seed: int,
    *,
    group_values: Sequence[str | None] | None = None,
    strata: Sequence[str | None] | None = None,
    parents: Sequence[int | None] | None = None,
) -> SplitResult:
    """Deal leakage groups to train/val/test so split sizes follow ``ratios`` (in queries).

    Steps: 1. build the leakage groups. 2. shuffle the groups with ``seed`` (sorted first, so
    the result does not depend on input order beyond the groups themselves). 3. per stratum
    (all queries when ``strata`` is None), give each group to the split furthest below its
    target size. Groups are never cut, so ratios are met as closely as the groups allow.
    """
    comp = leakage_groups(positives, group_values=group_values, parents=parents)
    members: dict[int, list[int]] = defaultdict(list)
    for qi, c in enumerate(comp):
        members[c].append(qi)
    groups = sorted(members.values(), key=lambda m: m[0])
    rng = random.Random(seed)
    rng.shuffle(groups)
    by_stratum: dict[str, list[list[int]]] = defaultdict(list)
    for g in groups:
        if strata is None:
            key = ""
        else:
            vals = Counter(strata[i] or "" for i in g)
            key = max(sorted(vals), key=lambda v: vals[v])
        by_stratum[key].append(g)
    check_split_sizes(len(positives), len(groups), ratios)
    assignment = [""] * len(positives)
    for key in sorted(by_stratum):
        _deal(by_stratum[key], ratios, assignment)
    result = SplitResult(assignment, len(groups), max((len(g) for g in groups), default=0))
    counts = result.counts()
    empty = [s for s, r in zip(SPLITS, ratios, strict=True) if r > 0 and not counts[s]] if positives else []
    if empty:
        raise EmbcoreError(
            f"the split {_fmt(ratios)} left {' and '.join(empty)} without any sample: the {len(groups)} groups of "
            f"queries that must stay together (largest: {result.largest_group} queries) could not fill every split"
            + (" within the strata" if strata is not None else "")
            + "; every split with a ratio above 0 needs at least one sample. Add data, use fewer constraints, "
            "or give that split a ratio of 0"
        )
    return result


def _fmt(ratios: Sequence[float]) -> str:
    return ",".join(f"{r:g}" for r in ratios)


def check_split_sizes(n_samples: int, n_groups: int, ratios: tuple[float, float, float]) -> None:
    """Refuse a split that cannot give every split with a ratio above 0 at least one sample.

    The rule: each split with a ratio above 0 needs a share of at least half a sample
    (``ratio x samples >= 0.5``, i.e. it rounds to one sample or more) and there must be at
    least as many groups of queries (queries that must stay together) as such splits.

    Raises:
        EmbcoreError: naming the samples, groups, the splits that would be empty and the fix.
    """
    if n_samples == 0:
        return
    wanted = [(s, r) for s, r in zip(SPLITS, ratios, strict=True) if r > 0]
    short = [(s, r * n_samples) for s, r in wanted if r * n_samples < 0.5]
    if not short and n_groups >= len(wanted):
        return
    what = f"{n_samples} sample{'s' if n_samples != 1 else ''} ({n_groups} group{'s' if n_groups != 1 else ''} of queries that must stay together)"
    if short:
        detail = ", ".join(f"{s} would get {share:.2g} of a sample" for s, share in short)
    else:
        detail = f"{len(wanted)} splits need at least {len(wanted)} groups"
    raise EmbcoreError(
        f"cannot split {what} by {_fmt(ratios)}: {detail}; every split with a ratio above 0 needs at least one "
        f"sample (ratio x samples >= 0.5). Add data, or set that split's ratio to 0 and give it to train "
        f"(e.g. --split {_suggest(ratios, {s for s, _ in short} or {'val', 'test'})})"
    )


def _suggest(ratios: tuple[float, float, float], drop: set[str]) -> str:
    out = list(ratios)
    for i, s in enumerate(SPLITS):
        if s in drop and i > 0:
            out[0] += out[i]
            out[i] = 0.0
    return _fmt(out)


def _deal(groups: list[list[int]], ratios: tuple[float, float, float], assignment: list[str]) -> None:
    total = sum(len(g) for g in groups)
    targets = [r * total for r in ratios]
    filled = [0.0, 0.0, 0.0]
    for g in groups:
        # the split with the largest remaining deficit relative to its target gets the group
        best, best_gap = 0, -math.inf
        for s in range(3):
            if ratios[s] <= 0:
                continue
            gap = (targets[s] - filled[s]) / targets[s]
            if gap > best_gap + 1e-12:
                best, best_gap = s, gap
        filled[best] += len(g)
        for qi in g:
            assignment[qi] = SPLITS[best]
