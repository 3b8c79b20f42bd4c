"""Where a project stands on the path Data -> Mine -> Review -> Export -> Train.

:func:`project_steps` turns the store's counts (one aggregate query,
:meth:`embcore.store.Store.project_counts`) into five steps, each ``done``, ``current``
(the next thing to do), ``partial`` (started, not finished, while a later step is done),
``skipped`` (optional and passed over) or ``todo``, with a short count. The app renders them on
every page; nothing here knows about Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from embcore.store import Store

State = Literal["done", "current", "partial", "skipped", "todo"]
STEP_KEYS: tuple[str, ...] = ("data", "mine", "review", "export", "train")


@dataclass(frozen=True)
class Step:
    """One step of the path.

    Attributes:
        key: ``data``, ``mine``, ``review``, ``export`` or ``train``.
        label: What the app calls it ("Data", "Mine", ...).
        state: ``done`` / ``current`` / ``partial`` / ``skipped`` / ``todo``.
        detail: The step's count in words ("120 samples", "3 of 120 reviewed", ...).
    """

    key: str
    label: str
    state: State
    detail: str


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def project_steps(store: Store, pid: int) -> list[Step]:
    """The five steps of a project with their state and counts (one query on the store)."""
    c = store.project_counts(pid)
    n = c["queries"]
    started = {
        "data": c["samples"] > 0,
        "mine": c["mining_runs"] > 0,
        "review": c["reviewed"] > 0,
        "export": c["exports"] > 0,
        "train": c["finetunes"] > 0,
    }
    done = dict(started, review=n > 0 and c["reviewed"] >= n)
    data = _plural(c["samples"], "sample") + (f" (+{c['augmented']:,} augmented)" if c["augmented"] else "")
    details = {
        "data": data,
        "mine": _plural(c["mining_runs"], "mining run") if c["mining_runs"] else "no run yet",
        "review": f"{c['reviewed']:,} of {n:,} reviewed",
        "export": _plural(c["exports"], "export") if c["exports"] else "not exported yet",
        "train": ", ".join(
            [_plural(c["finetunes"], "fine-tune") if c["finetunes"] else "not trained yet"]
            + ([_plural(c["evaluations"], "evaluation")] if c["evaluations"] else [])
        ),
    }
    labels = {"data": "Data", "mine": "Mine", "review": "Review", "export": "Export", "train": "Train"}
    last_done = max((i for i, k in enumerate(STEP_KEYS) if done[k]), default=-1)
    steps = []
    for i, key in enumerate(STEP_KEYS):
        if done[key]:
            state: State = "done"
        elif i == last_done + 1:
            state = "current"
        elif i < last_done:
            state = "partial" if started[key] else "skipped"
        else:
            state = "todo"
        steps.append(Step(key, labels[key], state, details[key]))
    return steps
