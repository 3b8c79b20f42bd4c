"""Agreement between reviewers: Cohen's kappa per pair, Fleiss' kappa overall, disagreements,
adjudication, overlap assignment, and the manifest's review section.

Formulas (written here, checked against textbook examples in the tests):

- Cohen's kappa of two raters over the items both rated: ``(p_o - p_e) / (1 - p_e)`` with
  ``p_o`` the share of items on which they agree and ``p_e = sum_c p_A(c) p_B(c)`` the agreement
  expected from each rater's own category shares (Cohen 1960).
- Fleiss' kappa of ``m`` raters per item over ``N`` items (Fleiss 1971): per item
  ``P_i = (sum_c n_ic^2 - m) / (m (m - 1))``, ``P = mean P_i``, ``p_c = sum_i n_ic / (N m)``,
  ``P_e = sum_c p_c^2``, ``kappa = (P - P_e) / (1 - P_e)``. Only items rated by exactly ``m``
  reviewers count (``m`` = the overlap k when set, else the most common number of raters >= 2).

Kappa is undefined (None) when the expected agreement is 1 (every rating in one category).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import Store, WriteResult
from embcore.store.reviewers import POLICY

CATEGORIES: tuple[str, ...] = ("accept", "reject", "positive")


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two aligned rating lists (None when undefined).

    Raises:
        ValueError: lists of different lengths, or empty.
    """
    if len(a) != len(b):
        raise ValueError(f"two raters need the same items: {len(a)} vs {len(b)} ratings")
    n = len(a)
    if n == 0:
        raise ValueError("no item rated by both")
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of an items x categories count table (every row sums to the same m >= 2).

    Raises:
        ValueError: an empty table, rows with different sums, or fewer than 2 raters per item.
    """
    rows = [list(map(int, r)) for r in table]
    if not rows:
        raise ValueError("no item")
    m = sum(rows[0])
    if m < 2 or any(sum(r) != m for r in rows):
        raise ValueError("every item needs the same number (>= 2) of ratings")
    n_items = len(rows)
    p_i = [(sum(x * x for x in r) - m) / (m * (m - 1)) for r in rows]
    p_bar = sum(p_i) / n_items
    k = len(rows[0])
    p_c = [sum(r[j] for r in rows) / (n_items * m) for j in range(k)]
    p_e = sum(p * p for p in p_c)
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


# --------------------------------------------------------------------------- a project's agreement


@dataclass
class Agreement:
    """Agreement figures of a project's reviewers.

    Attributes:
        reviewers: reviewers with at least one decision.
        pairs: one row per pair of reviewers: a, b, items (rated by both), agree (share), kappa.
        fleiss: Fleiss' kappa over the items rated by exactly ``raters`` reviewers (None: too few).
        raters: the number of raters per item Fleiss' kappa used.
        fleiss_items: items it used.
        items: (query, passage) pairs decided by at least two reviewers.
        disagreements: of those, pairs on which the decisions differ.
        resolution: resolved decisions by how they were reached (single, majority, tie, adjudicated ...).
    """

    reviewers: list[str]
    pairs: pd.DataFrame
    fleiss: float | None
    raters: int
    fleiss_items: int
    items: int
    disagreements: int
    resolution: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the manifest's ``review.agreement``)."""
        return {
            "reviewers": [_name(r) for r in self.reviewers],
            "items_with_two_or_more_reviewers": self.items,
            "disagreements": self.disagreements,
            "cohen_kappa": [
                {
                    "a": _name(r.a),
                    "b": _name(r.b),
                    "items": int(r.items),
                    "agreement": _round(r.agree),
                    "kappa": _round(r.kappa),
                }
                for r in self.pairs.itertuples(index=False)
            ],  # fmt: skip
            "fleiss_kappa": _round(self.fleiss),
            "fleiss_raters_per_item": self.raters,
            "fleiss_items": self.fleiss_items,
            "resolved_by": self.resolution,
        }


def _name(r: str) -> str:
    return r or "(unnamed)"


def _round(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return round(float(v), 4)


def agreement(store: Store, pid: int) -> Agreement:
    """Cohen's kappa per pair of reviewers and Fleiss' kappa overall, from the stored decisions."""
    v = store.reviewer_votes(pid)
    v = v[v["decision"].notna()]
    reviewers = sorted({str(r) for r in v["reviewer"]})
    by_item: dict[tuple[int, int], dict[str, str]] = {}
    for q, p, r, d in v[["query_id", "passage_id", "reviewer", "decision"]].itertuples(index=False):
        by_item.setdefault((int(q), int(p)), {})[str(r)] = str(d)
    multi = {k: x for k, x in by_item.items() if len(x) >= 2}
    rows = []
    for a, b in itertools.combinations(reviewers, 2):
        both = [(x[a], x[b]) for x in multi.values() if a in x and b in x]
        if not both:
            continue
        ra, rb = [x for x, _ in both], [y for _, y in both]
        rows.append({"a": a, "b": b, "items": len(both), "agree": sum(x == y for x, y in both) / len(both),
                     "kappa": cohen_kappa(ra, rb)})  # fmt: skip
    pairs = pd.DataFrame(rows, columns=["a", "b", "items", "agree", "kappa"])
    overlap = store.review_settings(pid)["overlap"]
    counts = Counter(len(x) for x in multi.values())
    raters = (
        overlap if overlap >= 2 and counts.get(overlap) else (counts.most_common(1)[0][0] if counts else 0)
    )
    table = [[Counter(x.values())[c] for c in CATEGORIES] for x in multi.values() if len(x) == raters]
    fleiss = fleiss_kappa(table) if len(table) >= 1 and raters >= 2 else None
    split = sum(1 for x in multi.values() if len(set(x.values())) > 1)
    return Agreement(reviewers, pairs, fleiss, int(raters), len(table), len(multi), split,
                     store.resolution_counts(pid))  # fmt: skip


def disagreements(store: Store, pid: int, limit: int = 200) -> pd.DataFrame:
    """Pairs on which reviewers differ (each vote, the resolved decision, whether a lead adjudicated)."""
    return store.disagreements(pid, limit)


def is_lead(store: Store, pid: int, reviewer: str) -> bool:
    """Whether ``reviewer`` may adjudicate (a project without leads lets every named reviewer)."""
    leads = store.review_settings(pid)["leads"]
    return bool(reviewer) and (not leads or reviewer in leads)


def adjudicate(
    store: Store, pid: int, query_id: int, passage_id: int, decision: str | None, *, lead: str,
    grade: int | None = None,
) -> WriteResult:  # fmt: skip
    """The lead's final decision on a pair (None: remove it); exports follow it. One undoable action.

    Raises:
        EmbcoreError: ``lead`` is not one of the project's leads.
    """
    if not is_lead(store, pid, lead):
        leads = ", ".join(store.review_settings(pid)["leads"]) or "(none)"
        raise EmbcoreError(f"{lead or 'an unnamed reviewer'} is not a lead of this project (leads: {leads})")
    return store.adjudicate(pid, query_id, passage_id, decision, lead=lead, grade=grade)


# --------------------------------------------------------------------------- overlap assignment


def plan_assignment(
    query_ids: Iterable[int],
    reviewers: Sequence[str],
    overlap: int,
    *,
    seed: int = 0,
    keep: Mapping[int, Iterable[str]] | None = None,
) -> list[tuple[int, str]]:
    """Assign every query to ``overlap`` reviewers, balancing the load (seeded tie-breaks).

    Reviewers who already worked on a query (``keep``) stay assigned to it (up to ``overlap``);
    the remaining slots go to the least-loaded reviewers.

    Raises:
        EmbcoreError: no reviewer, or an overlap above the number of reviewers.
    """
    names = sorted({r for r in reviewers if r})
    if not names:
        raise EmbcoreError("name at least one reviewer to assign queries to")
    if not 1 <= overlap <= len(names):
        raise EmbcoreError(f"an overlap of {overlap} needs at least {overlap} reviewers (have {len(names)})")
    rng = random.Random(seed)
    order = {n: rng.random() for n in names}
    load = dict.fromkeys(names, 0)
    out: list[tuple[int, str]] = []
    for q in sorted({int(x) for x in query_ids}):
        chosen = [r for r in sorted(set((keep or {}).get(q, ())) & set(names))][:overlap]
        for r in chosen:
            load[r] += 1
        while len(chosen) < overlap:
            r = min((n for n in names if n not in chosen), key=lambda n: (load[n], order[n]))
            chosen.append(r)
            load[r] += 1
        out += [(q, r) for r in chosen]
    return out


def assign(store: Store, pid: int, reviewers: Sequence[str], overlap: int, *, seed: int = 0) -> pd.DataFrame:
    """Store the overlap and assign every query of the project to ``overlap`` of ``reviewers``.

    Returns:
        Per reviewer: queries assigned and reviewed among them.
    """
    queries = store.project_query_ids(pid)
    active = store.active_reviewers(pid)
    keep: dict[int, list[str]] = {}
    for q, r in active.itertuples(index=False):
        keep.setdefault(int(q), []).append(str(r))
    rows = plan_assignment(queries, reviewers, overlap, seed=seed, keep=keep)
    settings = store.review_settings(pid)
    with store.transaction():
        store.save_review_settings(pid, overlap, settings["leads"])
        store.replace_assignments(pid, rows)
    return store.assignment_counts(pid)


def clear_assignment(store: Store, pid: int) -> None:
    """Remove the assignment: everyone reviews every query again."""
    store.replace_assignments(pid, [])


def manifest_section(store: Store, pid: int) -> dict[str, Any]:
    """The manifest's ``review`` section: the resolution policy, reviewers, overlap, agreement, grades."""
    ag = agreement(store, pid)
    settings = store.review_settings(pid)
    grades = store.resolved_grades(pid)
    return {
        "policy": POLICY,
        "overlap": settings["overlap"],
        "leads": settings["leads"],
        "assigned": store.has_assignments(pid),
        "agreement": ag.to_dict(),
        "graded_pairs": int(len(grades)),
    }
