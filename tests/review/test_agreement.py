"""Cohen's and Fleiss' kappa against textbook examples, agreement from stored decisions, overlap
assignment and the manifest's review section."""

from __future__ import annotations

import math
import random

import pytest

from embcore.errors import EmbcoreError
from embcore.review import agreement, queues
from embcore.review import model as review


def test_cohen_kappa_textbook_example() -> None:
    # Cohen's kappa, Wikipedia's worked example: 50 grant proposals, two readers, yes / no.
    # 20 yes-yes, 5 A-yes B-no, 10 A-no B-yes, 15 no-no: p_o = 0.7, p_e = 0.5, kappa = 0.4
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert agreement.cohen_kappa(a, b) == pytest.approx(0.4)
    assert agreement.cohen_kappa(a, a) == pytest.approx(1.0)
    assert agreement.cohen_kappa(["x"] * 4, ["x"] * 4) is None  # one category: undefined
    with pytest.raises(ValueError):
        agreement.cohen_kappa(a, b[:-1])


def test_cohen_kappa_matches_scikit_learn() -> None:
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = random.Random(7)
    cats = ["accept", "reject", "positive"]
    for _ in range(20):
        n = rng.randint(5, 60)
        a = [rng.choice(cats) for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.choice(cats) for x in a]
        ours = agreement.cohen_kappa(a, b)
        theirs = sklearn.cohen_kappa_score(a, b)
        assert (ours is None and math.isnan(theirs)) or ours == pytest.approx(theirs)


def test_fleiss_kappa_textbook_example() -> None:
    # Fleiss' kappa, Wikipedia's worked example: 10 subjects, 14 raters, 5 categories -> 0.210
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    assert agreement.fleiss_kappa(table) == pytest.approx(0.2099, abs=5e-4)
    with pytest.raises(ValueError):
        agreement.fleiss_kappa([[1, 1], [2, 1]])
    # two raters: Fleiss' kappa is Scott's pi, close to Cohen's kappa when the marginals agree
    assert agreement.fleiss_kappa([[2, 0], [0, 2], [2, 0], [1, 1]]) == pytest.approx(
        1 - (1 / 4) / (1 - ((5 / 8) ** 2 + (3 / 8) ** 2))
    )


def test_agreement_from_stored_decisions(mined) -> None:
    store, pid, run_id = mined
    order = review.query_order(store, pid, run_id)[:6]
    a_votes, b_votes = [], []
    for i, qid in enumerate(int(q) for q in order):
        q = review.load_query(store, pid, run_id, qid)
        for j, p in enumerate(int(x) for x in q.shown["passage_id"]):
            da = "accept" if (i + j) % 3 else "reject"
            db = da if (i * j) % 4 else "positive"
            review.decide(store, pid, qid, p, da, reviewer="alice")
            review.decide(store, pid, qid, p, db, reviewer="bob")
            a_votes.append(da)
            b_votes.append(db)
    ag = agreement.agreement(store, pid)
    [pair] = ag.pairs.itertuples(index=False)
    assert (pair.a, pair.b, pair.items) == ("alice", "bob", len(a_votes))
    assert pair.kappa == pytest.approx(agreement.cohen_kappa(a_votes, b_votes))
    assert ag.raters == 2 and ag.fleiss_items == len(a_votes)
    table = [[[x, y].count(c) for c in agreement.CATEGORIES] for x, y in zip(a_votes, b_votes, strict=True)]
    assert ag.fleiss == pytest.approx(agreement.fleiss_kappa(table))
    assert ag.disagreements == sum(x != y for x, y in zip(a_votes, b_votes, strict=True)) > 0
    listed = agreement.disagreements(store, pid)
    assert len(listed) == ag.disagreements
    assert all(len(v) == 2 for v in listed["votes"])
    section = agreement.manifest_section(store, pid)
    assert section["agreement"]["cohen_kappa"][0]["kappa"] == pytest.approx(pair.kappa, abs=1e-4)
    assert (
        "most frequent" in section["policy"]
        and section["agreement"]["resolved_by"]["tie"] == ag.disagreements
    )


def test_assignment_with_overlap(mined) -> None:
    plan = agreement.plan_assignment(range(1, 11), ["alice", "bob", "carol"], 2, seed=3, keep={4: ["carol"]})
    per_query: dict[int, list[str]] = {}
    for q, r in plan:
        per_query.setdefault(q, []).append(r)
    assert all(len(set(v)) == 2 for v in per_query.values()) and len(per_query) == 10
    load = {r: sum(1 for _, x in plan if x == r) for r in ("alice", "bob", "carol")}
    assert max(load.values()) - min(load.values()) <= 1
    assert "carol" in per_query[4]
    with pytest.raises(EmbcoreError, match="overlap of 4"):
        agreement.plan_assignment([1], ["a", "b"], 4)
    store, pid, run_id = mined
    counts = agreement.assign(store, pid, ["alice", "bob", "carol"], 2, seed=1)
    n = len(review.query_order(store, pid, run_id))
    assert int(counts["assigned"].sum()) == 2 * n
    alice = queues.compute(store, pid, run_id, "data", reviewer="alice")
    bob = queues.compute(store, pid, run_id, "data", reviewer="bob")
    carol = queues.compute(store, pid, run_id, "data", reviewer="carol")
    assert len(alice.order) + len(bob.order) + len(carol.order) == 2 * n
    # each query reaches exactly two reviewers; a third skips it
    seen = [set(alice.order), set(bob.order), set(carol.order)]
    assert all(sum(int(q) in s for s in seen) == 2 for q in review.query_order(store, pid, run_id))
    agreement.clear_assignment(store, pid)
    assert len(queues.compute(store, pid, run_id, "data", reviewer="alice").order) == n
