"""The review tests' mined sample: the bundled sample as a project with one hybrid run (BM25 +
dense with the fake :class:`~support.encoders.HashingEncoder`, so both retrievers' ranks and
every similarity are real numbers)."""

from __future__ import annotations

from embcore.mining.config import MiningConfig
from embcore.store import Store
from embcore.workflow import create_project, run_mining
from support import SAMPLE
from support.encoders import HashingEncoder


def mine_sample(store: Store, name: str = "sample", distractors: int = 0, **cfg: object) -> tuple[int, int]:
    """The bundled sample as a project with one hybrid run (fake encoder); (project id, run id).

    ``distractors``: that many extra corpus passages, each the words of one query's positive in
    reverse order (the same terms, so retrievers find them, but no shared 3-word shingle, so the
    export does not group them with that positive), added before mining; no query's positive.
    """
    pid = create_project(store, SAMPLE, name=name).project_id
    if distractors:
        pos = store.positives(pid).drop_duplicates("passage_id").head(distractors)
        texts = [" ".join(reversed(str(t).split())) for t in pos["text"]]
        store.ensure_passages(pid, texts, kind="passage", origin="data")
    options = {"strategies": ["hybrid"], "num_negatives": 3, "top_k": 10} | cfg
    return pid, run_mining(store, pid, MiningConfig(**options), encoder=HashingEncoder())  # type: ignore[arg-type]
