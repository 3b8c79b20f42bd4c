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
    assignment = [""] * len(positives)
    for key in sorted(by_stratum):
        _deal(by_stratum[key], ratios, assignment)
    return SplitResult(assignment, len(groups), max((len(g) for g in groups), default=0))


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
