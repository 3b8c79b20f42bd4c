"""embcore.export.split: ratio parsing, leakage groups, grouping column, stratification, determinism."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from embcore.errors import EmbcoreError
from embcore.export.split import SPLITS, assign_splits, leakage_groups, parse_ratios

# --------------------------------------------------------------------------- ratios


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0.8,0.1,0.1", (0.8, 0.1, 0.1)),
        (" 0.7 , 0.2 , 0.1 ", (0.7, 0.2, 0.1)),
        ("0.9,0.1", (0.9, 0.0, 0.1)),
        ("1,0,0", (1.0, 0.0, 0.0)),
        ((0.6, 0.2, 0.2), (0.6, 0.2, 0.2)),
        ([0.5, 0.5], (0.5, 0.0, 0.5)),
    ],
)
def test_parse_ratios_valid(spec: object, expected: tuple[float, float, float]) -> None:
    assert parse_ratios(spec) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("0.5,0.3,0.1", "sum to 0.9; they must sum to 1"),
        ("0.8,0.2,0.1", "sum to 1.1"),
        ("a,b,c", "must be numbers"),
        ("0.8;0.1;0.1", "must be numbers"),
        ("0.7,0.1,0.1,0.1", "give train,val,test"),
        ("1", "give train,val,test"),
        ("", "give train,val,test"),
        ("-0.1,0.6,0.5", "cannot be negative"),
        ("nan,0.5,0.5", "cannot be negative"),
        ("0,0.5,0.5", "train ratio must be above 0"),
    ],
)
def test_parse_ratios_errors(spec: str, pattern: str) -> None:
    with pytest.raises(EmbcoreError, match=pattern):
        parse_ratios(spec)


def test_ratio_error_names_the_input() -> None:
    with pytest.raises(EmbcoreError, match=r"'0\.5,0\.3,0\.1'"):
        parse_ratios("0.5,0.3,0.1")


# --------------------------------------------------------------------------- leakage groups


def test_leakage_groups_union_shared_passages_transitively() -> None:
    # q0-q1 share passage 10, q1-q2 share 11: one group of three; q3 alone; q4-q5 share 20
    positives = [[10], [10, 11], [11], [12], [20, 21], [21]]
    comp = leakage_groups(positives)
    assert comp[0] == comp[1] == comp[2]
    assert comp[4] == comp[5]
    assert len({comp[0], comp[3], comp[4]}) == 3


def test_leakage_groups_group_values_and_parents() -> None:
    positives = [[1], [2], [3], [4], [5]]
    comp = leakage_groups(
        positives, group_values=["A", None, "A", "", "B"], parents=[None, None, None, 1, None]
    )
    assert comp[0] == comp[2]  # same group value
    assert comp[1] == comp[3]  # augmented query with its source
    assert comp[4] not in (comp[0], comp[1])
    assert comp[0] != comp[1]  # None / "" never link


def _random_positives(n_queries: int, n_passages: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n_queries):
        k = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        out.append(rng.sample(range(n_passages), k))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_shared_passage_never_crosses_splits(seed: int) -> None:
    positives = _random_positives(400, 300, seed)  # many collisions -> many multi-query groups
    res = assign_splits(positives, (0.8, 0.1, 0.1), seed)
    owner: dict[int, str] = {}
    for pids, split in zip(positives, res.assignment, strict=True):
        for p in pids:
            assert owner.setdefault(p, split) == split, f"passage {p} in {owner[p]} and {split}"
    assert set(res.assignment) <= set(SPLITS)
    assert "" not in res.assignment
    assert res.largest_group >= 2
    assert res.n_groups == len(set(leakage_groups(positives)))


def test_group_column_keeps_values_together() -> None:
    positives = [[i] for i in range(300)]
    groups = [f"doc{i // 6}" for i in range(300)]  # 50 groups of 6 distinct passages
    res = assign_splits(positives, (0.8, 0.1, 0.1), 42, group_values=groups)
    by_group: dict[str, set[str]] = defaultdict(set)
    for g, s in zip(groups, res.assignment, strict=True):
        by_group[g].add(s)
    assert all(len(v) == 1 for v in by_group.values())
    assert res.n_groups == 50
    assert res.largest_group == 6
    counts = res.counts()
    assert counts["val"] > 0 and counts["test"] > 0


def test_parents_stay_with_augmented_children() -> None:
    positives = [[i] for i in range(100)] + [[1000 + i] for i in range(100)]
    parents: list[int | None] = [None] * 100 + list(range(100))
    res = assign_splits(positives, (0.8, 0.1, 0.1), 5, parents=parents)
    for child in range(100, 200):
        assert res.assignment[child] == res.assignment[child - 100]


def test_stratification_spreads_each_stratum() -> None:
    # 3 strata of very different sizes: each one is split by the ratios on its own
    strata = ["big"] * 500 + ["mid"] * 200 + ["small"] * 50
    positives = [[i] for i in range(len(strata))]
    res = assign_splits(positives, (0.8, 0.1, 0.1), 3, strata=strata)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for st, s in zip(strata, res.assignment, strict=True):
        per[st][s] += 1
    for st, n in (("big", 500), ("mid", 200), ("small", 50)):
        assert per[st]["train"] == pytest.approx(0.8 * n, abs=1)
        assert per[st]["val"] == pytest.approx(0.1 * n, abs=1)
        assert per[st]["test"] == pytest.approx(0.1 * n, abs=1)


def test_stratification_with_groups_never_cuts_a_group() -> None:
    rng = random.Random(9)
    positives = _random_positives(300, 250, 9)
    strata = [rng.choice(["ACME", "NWND", "CTSO"]) for _ in positives]
    res = assign_splits(positives, (0.7, 0.15, 0.15), 11, strata=strata)
    owner: dict[int, str] = {}
    for pids, s in zip(positives, res.assignment, strict=True):
        for p in pids:
            assert owner.setdefault(p, s) == s


def test_determinism_and_seed_sensitivity() -> None:
    positives = _random_positives(500, 450, 7)
    a = assign_splits(positives, (0.8, 0.1, 0.1), 42)
    b = assign_splits(positives, (0.8, 0.1, 0.1), 42)
    c = assign_splits(positives, (0.8, 0.1, 0.1), 43)
    assert a.assignment == b.assignment
    assert a.assignment != c.assignment


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.9, 0.0, 0.1), (0.5, 0.25, 0.25)])
def test_ratios_approximately_met(ratios: tuple[float, float, float]) -> None:
    n = 1000
    positives = [[i] for i in range(n)]  # singleton groups: ratios can be met almost exactly
    counts = assign_splits(positives, ratios, 1).counts()
    for s, r in zip(SPLITS, ratios, strict=True):
        assert counts[s] == pytest.approx(r * n, abs=2)
    if ratios[1] == 0:
        assert counts["val"] == 0


def test_ratios_met_with_groups() -> None:
    positives = _random_positives(2000, 1800, 4)
    res = assign_splits(positives, (0.8, 0.1, 0.1), 42)
    counts = res.counts()
    n = len(positives)
    for s, r in zip(SPLITS, (0.8, 0.1, 0.1), strict=True):
        assert abs(counts[s] - r * n) <= max(res.largest_group, 0.02 * n)


def test_degenerate_inputs() -> None:
    assert assign_splits([], (0.8, 0.1, 0.1), 0).assignment == []
    one = assign_splits([[1]], (1.0, 0.0, 0.0), 0)
    assert one.assignment == ["train"]
    everything_shared = assign_splits([[1]] * 10, (1.0, 0.0, 0.0), 0)
    assert set(everything_shared.assignment) == {"train"}
    assert everything_shared.largest_group == 10


@pytest.mark.parametrize(
    ("n", "ratios", "pattern"),
    [
        # issue 9.9: one sample with 0.8/0.1/0.1 wrote 1 train sample and empty val/test files
        (1, (0.8, 0.1, 0.1), r"cannot split 1 sample .* by 0\.8,0\.1,0\.1: val would get 0\.1 of a sample"),
        # a val ratio above 0 but below one sample's worth
        (6, (0.9, 0.05, 0.05), r"val would get 0\.3 of a sample, test would get 0\.3.*--split 1,0,0"),
        (10, (0.96, 0.04, 0.0), r"val would get 0\.4 of a sample.*--split 1,0,0"),
    ],
)
def test_too_few_samples_for_the_splits_is_a_clear_error(
    n: int, ratios: tuple[float, float, float], pattern: str
) -> None:
    with pytest.raises(EmbcoreError, match=pattern):
        assign_splits([[i] for i in range(n)], ratios, 0)


def test_too_few_groups_for_the_splits_is_a_clear_error() -> None:
    # ten queries sharing one passage are one group: it cannot fill train, val and test
    with pytest.raises(EmbcoreError, match=r"10 samples \(1 group .* 3 splits need at least 3 groups"):
        assign_splits([[1]] * 10, (0.8, 0.1, 0.1), 0)
    # every split that has a ratio gets at least one sample when the data allows it
    small = assign_splits([[i] for i in range(5)], (0.8, 0.1, 0.1), 0)
    assert all(small.counts()[s] >= 1 for s in SPLITS)


def test_strata_that_cannot_fill_every_split_are_refused() -> None:
    # one group per stratum: each stratum's only group goes to train, val/test would stay empty
    with pytest.raises(EmbcoreError, match="left val and test without any sample"):
        assign_splits([[i] for i in range(6)], (0.5, 0.25, 0.25), 0, strata=list("abcdef"))
