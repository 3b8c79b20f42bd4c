"""Augment a stored project: EDA copies and LLM generations become linked queries, positives
and negative candidates in DuckDB (reviewable, exported with their source in one split).

- a changed query -> a new query with ``parent_id`` = its source and ``origin`` set; it keeps the
  source's positives (or takes the augmented ones when positives were augmented too);
- an augmented / generated positive of an unchanged query -> an extra positive of the source;
- a generated negative (``neg-gen``) -> a negative candidate of the source, shown in review
  like mined ones and exported unless a reviewer rejects it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from embcore.augment.eda import augment_samples, parse_ops
from embcore.augment.llm import NO_ENDPOINT, ChatClient, LLMConfig, generate, parse_tasks, resolve_base_url
from embcore.errors import EmbcoreError
from embcore.progress import ProgressFn
from embcore.redact import redact_url, url_secrets
from embcore.text import match_key

if TYPE_CHECKING:
    from embcore.store import Store

log = logging.getLogger(__name__)

ItemKind = Literal["query", "pos", "neg"]
KIND_LABELS: dict[str, str] = {"query": "new query", "pos": "new positive", "neg": "new negative"}


class StoreResponseCache:
    """The LLM response cache on DuckDB (``llm_cache`` table; never holds the API key)."""

    def __init__(self, store: Store, model: str | None = None) -> None:
        self.store = store
        self.model = model

    def get(self, key: str) -> str | None:
        return self.store.llm_cache_get(key)

    def put(self, key: str, request_json: str, response: str) -> None:
        self.store.llm_cache_put(key, request_json, response, model=self.model)


@dataclass
class AugmentConfig:
    """Which augmentations to run on a project.

    Attributes:
        ops: EDA operations (synonym, insert, swap, delete); empty = no EDA.
        n: EDA copies per sample.
        rate: EDA change rate (fraction of words touched per operation).
        target: EDA target: "query", "pos" or "both".
        protect: EDA leaves facts untouched and in place: numbers, names, tickers, the row's
            metadata values (see :mod:`embcore.augment.eda`).
        llm_tasks: LLM tasks (paraphrase, query-gen, pos-gen, neg-gen, back-translate, rewrite).
        llm_n: items asked per input for the list tasks.
        llm_model: chat model name (default: $OPENAI_MODEL).
        llm_base_url: endpoint (default: $OPENAI_BASE_URL; no built-in default: without one, LLM
            tasks are refused); the key comes from $OPENAI_API_KEY only.
        pivot: back-translation pivot language.
        instruction: rewrite instruction ("simplify", "shorten", or free text).
        max_samples: augment only the first N source samples (None = all).
        seed: EDA seed.
    """

    ops: list[str] = field(default_factory=list)
    n: int = 1
    rate: float = 0.1
    target: str = "query"
    protect: bool = True
    llm_tasks: list[str] = field(default_factory=list)
    llm_n: int = 3
    llm_model: str | None = None
    llm_base_url: str | None = None
    pivot: str | None = None
    instruction: str = "simplify"
    max_samples: int | None = None
    seed: int = 42

    def validate(self, *, require_endpoint: bool = True) -> AugmentConfig:
        """Check the settings (raises :class:`EmbcoreError` naming what is wrong); returns self.

        LLM tasks need an endpoint (``llm_base_url`` or ``$OPENAI_BASE_URL``): without one they
        are refused with :data:`~embcore.augment.llm.NO_ENDPOINT`, never sent to a public API
        (``require_endpoint=False`` when a ready client brings its own endpoint).
        """
        if self.ops:
            self.ops = list(parse_ops(self.ops))
        if self.llm_tasks:
            self.llm_tasks = list(parse_tasks(self.llm_tasks))
            if require_endpoint and not resolve_base_url(self.llm_base_url):
                raise EmbcoreError(NO_ENDPOINT)
        if self.n < 1 or self.llm_n < 1:
            raise EmbcoreError("augmentation counts (copies per sample, LLM items per input) must be >= 1")
        if not 0 < self.rate <= 1:
            raise EmbcoreError(f"augmentation rate must be in (0, 1], got {self.rate}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings for run records and manifests (URL credentials redacted)."""
        out = asdict(self)
        out["llm_base_url"] = redact_url(self.llm_base_url)
        return out

    def secrets(self) -> list[str]:
        """Credentials inside the configured base URL (to mask in messages)."""
        return url_secrets(resolve_base_url(self.llm_base_url))


@dataclass
class PreviewItem:
    """One augmented or generated text, before it is stored.

    Attributes:
        kind: ``query`` (a new query linked to its source), ``pos`` (an extra positive of the
            source) or ``neg`` (a generated negative of the source, reviewed like mined ones).
        parent_id: The source query's id.
        parent_query: The source query's text.
        text: The new text.
        origin: ``augment:<ops>`` or ``llm:<task>:<model>``.
        positives: For a new query: its positives as ``(text, origin)``.
    """

    kind: ItemKind
    parent_id: int
    parent_query: str
    text: str
    origin: str
    positives: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class AugmentPreview:
    """What an augmentation produced, not stored yet: review it, drop rows, then
    :func:`store_augmentations` the kept ones.

    Attributes:
        project_id: The project.
        run_id: The ``augment`` run that generated it (status ``preview`` until stored).
        config: The settings used.
        items: The generated items, in source order.
        stats: JSON-able counts (``source_samples``, ``generated``, ``llm`` statistics).
    """

    project_id: int
    run_id: int
    config: AugmentConfig
    items: list[PreviewItem]
    stats: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per item: ``kind`` (plain words), ``source query``, ``text``, ``origin``."""
        return pd.DataFrame(
            {
                "kind": [KIND_LABELS[i.kind] for i in self.items],
                "source query": [i.parent_query for i in self.items],
                "text": [i.text for i in self.items],
                "origin": [i.origin for i in self.items],
            },
            columns=["kind", "source query", "text", "origin"],
        )


def _source_samples(store: Store, pid: int, limit: int | None) -> list[dict[str, Any]]:
    q = store.queries(pid)
    q = q[q["origin"] == "data"]
    pos = store.positives(pid)
    pos = pos[pos["origin"].isin(["data", "review", "edit"])]
    by_q: dict[int, list[str]] = {}
    for qid, text in zip(pos["query_id"], pos["text"], strict=True):
        by_q.setdefault(int(qid), []).append(str(text))
    out = [
        {"id": int(i), "query": str(t), "pos": by_q.get(int(i), []), "meta": dict(m or {})}
        for i, t, m in zip(q["id"], q["text"], q["meta"], strict=True)
    ]
    out = [s for s in out if s["pos"]]
    return out[:limit] if limit is not None else out


def generate_augmentations(
    store: Store,
    pid: int,
    cfg: AugmentConfig,
    *,
    client: ChatClient | None = None,
    progress: ProgressFn | None = None,
) -> AugmentPreview:
    """Run EDA and/or LLM augmentation over a project's data samples; store nothing yet.

    Steps: 1. the source samples (data queries with their positives and metadata, the first
    ``max_samples``); 2. EDA copies (facts protected) and/or LLM generations; 3. a run of kind
    ``augment`` with status ``preview`` records the settings and counts (a failure is recorded
    as ``failed`` with a redacted error). Store the kept items with :func:`store_augmentations`.

    Raises:
        EmbcoreError: bad settings, no endpoint for LLM tasks, endpoint errors.
        CancelledError: the progress callback asked to stop (nothing stored).
    """
    cfg.validate(require_endpoint=client is None)
    if not cfg.ops and not cfg.llm_tasks:
        raise EmbcoreError("nothing to do: choose EDA operations and/or LLM tasks")
    samples = _source_samples(store, pid, cfg.max_samples)
    stats: dict[str, Any] = {"source_samples": len(samples)}
    items: list[PreviewItem] = []
    with store.recorded_run(pid, "augment", cfg.to_dict(), seed=cfg.seed, secrets=cfg.secrets()) as run:
        run.status = "preview"  # until the reviewer's pick is stored (store_augmentations)
        with run.step("generate"):
            if cfg.ops:
                items += _eda_items(samples, cfg, progress)
            if cfg.llm_tasks:
                if client is None:
                    llm_cfg = LLMConfig.from_env(model=cfg.llm_model, base_url=cfg.llm_base_url)
                    client = ChatClient(llm_cfg, cache=StoreResponseCache(store, llm_cfg.model))
                run.secrets += client.config.secrets()
                stats["llm"], llm_items = _llm_items(samples, cfg, client, progress)
                items += llm_items
        stats["generated"] = len(items)
        run.stats = stats
    return AugmentPreview(project_id=pid, run_id=run.id, config=cfg, items=items, stats=stats)


def _llm_items(
    samples: list[dict[str, Any]], cfg: AugmentConfig, client: ChatClient, progress: ProgressFn | None
) -> tuple[dict[str, Any], list[PreviewItem]]:
    """(generation stats, preview items) of the LLM tasks over the source samples."""
    result = generate(
        samples,
        cfg.llm_tasks,
        client,
        n=cfg.llm_n,
        pivot=cfg.pivot,
        instruction=cfg.instruction,
        progress=progress,
    )
    by_id = {s["id"]: s for s in samples}
    items = []
    for it in result.items:
        parent = by_id[it.parent]
        positives = [(p, "data") for p in ([it.passage] if it.passage else parent["pos"])]
        items.append(
            PreviewItem(
                it.kind,
                it.parent,
                parent["query"],
                it.text,
                it.origin,
                positives if it.kind == "query" else [],
            )
        )
    return result.stats, items


def store_augmentations(
    store: Store, preview: AugmentPreview, keep: Sequence[int] | None = None
) -> dict[str, Any]:
    """Store the kept items of a preview (linked to their sources) and finish its run.

    Args:
        store: The project store.
        preview: What :func:`generate_augmentations` returned.
        keep: Indices into ``preview.items`` to store (None = all; [] stores nothing).

    Returns:
        JSON-able stats: the preview's, plus ``kept``, ``removed`` and ``added`` (rows actually
        added: a new query equal to an existing one is skipped).

    Raises:
        EmbcoreError: an index out of range, or a preview that was already stored.
    """
    run = store.get_run(preview.run_id)
    if run.get("status") != "preview":
        raise EmbcoreError(
            f"augmentation run {preview.run_id} is {run.get('status')}: its samples cannot be added again"
        )
    n = len(preview.items)
    idx = list(range(n)) if keep is None else sorted({int(i) for i in keep})
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise EmbcoreError(f"no preview row {bad[0]}: the preview has {n} rows")
    t0 = time.perf_counter()
    kept = [preview.items[i] for i in idx]
    queries = [
        {"parent_id": i.parent_id, "text": i.text, "origin": i.origin, "positives": list(i.positives)}
        for i in kept
        if i.kind == "query"
    ]
    positives = [(i.parent_id, i.text, i.origin) for i in kept if i.kind == "pos"]
    negatives = [(i.parent_id, i.text, i.origin) for i in kept if i.kind == "neg"]
    added = store.add_derived(preview.project_id, queries=queries, positives=positives, negatives=negatives)
    stats = dict(preview.stats) | {"kept": len(kept), "removed": n - len(kept), "added": added}
    timings = dict(run.get("timings") or {}) | {"store_s": round(time.perf_counter() - t0, 3)}
    store.complete_preview(preview.run_id, stats=stats, counts=added, timings=timings)
    log.info("augmented project %d: %s", preview.project_id, added)
    return stats


def augment_project(
    store: Store,
    pid: int,
    cfg: AugmentConfig,
    *,
    client: ChatClient | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Generate augmentations and store all of them (the CLI's path; the app previews first).

    Returns:
        JSON-able stats (also recorded as a run of kind 'augment').
    """
    preview = generate_augmentations(store, pid, cfg, client=client, progress=progress)
    return store_augmentations(store, preview)


def _eda_items(
    samples: list[dict[str, Any]], cfg: AugmentConfig, progress: ProgressFn | None
) -> list[PreviewItem]:
    copies = augment_samples(
        samples,
        cfg.ops,
        cfg.n,
        cfg.rate,
        cfg.seed,
        cfg.target,
        protect=cfg.protect,
        progress=progress,  # type: ignore[arg-type]
    )
    by_id = {s["id"]: s for s in samples}
    items: list[PreviewItem] = []
    for c in copies:
        parent = by_id[c["parent"]]
        original = {match_key(p) for p in parent["pos"]}
        if match_key(c["query"]) != match_key(parent["query"]):
            positives = [(p, "data" if match_key(p) in original else c["origin"]) for p in c["pos"]]
            items.append(
                PreviewItem("query", c["parent"], parent["query"], c["query"], c["origin"], positives)
            )
        else:
            items.extend(
                PreviewItem("pos", c["parent"], parent["query"], p, c["origin"])
                for p in c["pos"]
                if match_key(p) not in original
            )
    return items
