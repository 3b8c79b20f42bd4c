from __future__ import annotations

import numpy as np
import pytest

from embcore.errors import EmbcoreError
from embcore.mining.sampling import select

Q = np.array([0, 0, 0, 0, 1, 1, 2])
ALIVE = np.array([False, True, True, True, True, False, False])


def test_top_takes_the_best_survivors():
    assert select(Q, ALIVE, 2, sampling="top").tolist() == [False, True, True, False, True, False, False]


def test_random_is_seeded_and_only_picks_survivors():
    picks = [select(Q, ALIVE, 2, sampling="random", rng=np.random.default_rng(s)) for s in range(20)]
    for p in picks:
        assert not (p & ~ALIVE).any()
        assert p[:4].sum() == 2 and p[4] and p.sum() == 3
    again = select(Q, ALIVE, 2, sampling="random", rng=np.random.default_rng(3))
    assert (again == picks[3]).all()
    assert len({tuple(p[:4]) for p in picks}) > 1  # different seeds give different draws


def test_unknown_sampling_raises():
    with pytest.raises(EmbcoreError, match="top, random"):
        select(Q, ALIVE, 1, sampling="best")
