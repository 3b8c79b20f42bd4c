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
from dataclasses import asdict, dataclass, field
from typing import Any

from embcore.augment.eda import augment_samples, parse_ops
from embcore.augment.llm import ChatClient, LLMConfig, generate, parse_tasks
from embcore.errors import CancelledError, EmbcoreError
from embcore.progress import ProgressFn
from embcore.text import match_key

log = logging.getLogger(__name__)


class StoreResponseCache:
    """The LLM response cache on DuckDB (``llm_cache`` table; never holds the API key)."""

    def __init__(self, store: Any, model: str | None = None) -> None:
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
        llm_tasks: LLM tasks (paraphrase, query-gen, pos-gen, neg-gen, back-translate, rewrite).
        llm_n: items asked per input for the list tasks.
        llm_model: chat model name (default: $OPENAI_MODEL).
        llm_base_url: endpoint (default: $OPENAI_BASE_URL); the key comes from $OPENAI_API_KEY only.
        pivot: back-translation pivot language.
        instruction: rewrite instruction ("simplify", "shorten", or free text).
        max_samples: augment only the first N source samples (None = all).
        seed: EDA seed.
    """

    ops: list[str] = field(default_factory=list)
    n: int = 1
    rate: float = 0.1
    target: str = "query"
    llm_tasks: list[str] = field(default_factory=list)
    llm_n: int = 3
    llm_model: str | None = None
    llm_base_url: str | None = None
    pivot: str | None = None
    instruction: str = "simplify"
    max_samples: int | None = None
    seed: int = 42

    def validate(self) -> AugmentConfig:
        if self.ops:
            self.ops = list(parse_ops(self.ops))
        if self.llm_tasks:
            self.llm_tasks = list(parse_tasks(self.llm_tasks))
        if self.n < 1 or self.llm_n < 1:
            raise EmbcoreError("augmentation counts (--augment-n, --llm-n) must be >= 1")
        if not 0 < self.rate <= 1:
            raise EmbcoreError(f"augmentation rate must be in (0, 1], got {self.rate}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_samples(store: Any, pid: int, limit: int | None) -> list[dict[str, Any]]:
    q = store.queries(pid)
    q = q[q["origin"] == "data"]
    pos = store.positives(pid)
    pos = pos[pos["origin"].isin(["data", "review", "edit"])]
    by_q: dict[int, list[str]] = {}
    for qid, text in zip(pos["query_id"], pos["text"], strict=True):
        by_q.setdefault(int(qid), []).append(str(text))
    out = [{"id": int(i), "query": str(t), "pos": by_q.get(int(i), [])} for i, t in zip(q["id"], q["text"], strict=True)]
    out = [s for s in out if s["pos"]]
    return out[:limit] if limit is not None else out


def augment_project(
    store: Any,
    pid: int,
    cfg: AugmentConfig,
    *,
    client: ChatClient | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run EDA and/or LLM augmentation over a project's data samples and store the results.

    Returns:
        JSON-able stats (also recorded as a run of kind 'augment').
    """
    cfg.validate()
    if not cfg.ops and not cfg.llm_tasks:
        raise EmbcoreError("nothing to do: choose EDA operations and/or LLM tasks")
    samples = _source_samples(store, pid, cfg.max_samples)
    run_id = store.start_run(pid, "augment", cfg.to_dict(), seed=cfg.seed)
    t0 = time.perf_counter()
    stats: dict[str, Any] = {"source_samples": len(samples)}
    try:
        new_queries: list[dict[str, Any]] = []
        new_pos: list[tuple[int, str, str]] = []
        new_neg: list[tuple[int, str, str]] = []
        if cfg.ops:
            _eda_rows(samples, cfg, new_queries, new_pos, progress)
        if cfg.llm_tasks:
            if client is None:
                llm_cfg = LLMConfig.from_env(model=cfg.llm_model, base_url=cfg.llm_base_url)
                client = ChatClient(llm_cfg, cache=StoreResponseCache(store, llm_cfg.model))
            result = generate(
                samples, cfg.llm_tasks, client, n=cfg.llm_n, pivot=cfg.pivot, instruction=cfg.instruction,
                progress=progress,
            )  # fmt: skip
            stats["llm"] = result.stats
            by_id = {s["id"]: s for s in samples}
            for item in result.items:
                parent = by_id[item.parent]
                if item.kind == "query":
                    positives = [item.passage] if item.passage else parent["pos"]
                    new_queries.append(
                        {"parent_id": item.parent, "text": item.text, "origin": item.origin,
                         "positives": [(p, "data") for p in positives]}
                    )  # fmt: skip
                elif item.kind == "pos":
                    new_pos.append((item.parent, item.text, item.origin))
                else:
                    new_neg.append((item.parent, item.text, item.origin))
        added = store.add_derived(pid, queries=new_queries, positives=new_pos, negatives=new_neg)
        stats["added"] = added
    except Exception as exc:
        status = "cancelled" if isinstance(exc, CancelledError) else "failed"
        store.finish_run(run_id, status=status, error=str(exc), timings={"total_s": time.perf_counter() - t0})
        raise
    store.finish_run(run_id, stats=stats, counts=added, timings={"total_s": round(time.perf_counter() - t0, 3)})
    log.info("augmented project %d: %s", pid, added)
    return stats


def _eda_rows(
    samples: list[dict[str, Any]],
    cfg: AugmentConfig,
    new_queries: list[dict[str, Any]],
    new_pos: list[tuple[int, str, str]],
    progress: ProgressFn | None,
) -> None:
    copies = augment_samples(samples, cfg.ops, cfg.n, cfg.rate, cfg.seed, cfg.target, progress=progress)
    by_id = {s["id"]: s for s in samples}
    for c in copies:
        parent = by_id[c["parent"]]
        original = {match_key(p) for p in parent["pos"]}
        if match_key(c["query"]) != match_key(parent["query"]):
            positives = [(p, "data" if match_key(p) in original else c["origin"]) for p in c["pos"]]
            new_queries.append({"parent_id": c["parent"], "text": c["query"], "origin": c["origin"], "positives": positives})
        else:
            new_pos.extend((c["parent"], p, c["origin"]) for p in c["pos"] if match_key(p) not in original)


# --------------------------------------------------------------------------- CLI


def add_cli_args(p: Any) -> None:
    """``embcore build`` options for EDA and LLM augmentation."""
    from embcore.augment.eda import OPS
    from embcore.augment.llm import TASKS

    g = p.add_argument_group(
        "augmentation (augmented samples stay in their source's split; never in the eval set)"
    )
    g.add_argument("--augment", metavar="OPS", help=f"EDA operations, comma-separated: {', '.join(OPS)}, or eda for all four (WordNet synonyms; jieba + Cilin for Chinese)")
    g.add_argument("--augment-n", type=int, default=1, metavar="N", help="augmented copies per sample (default: %(default)s)")
    g.add_argument("--augment-rate", type=float, default=0.1, metavar="R", help="fraction of words changed per operation (default: %(default)s)")
    g.add_argument("--augment-target", choices=["query", "pos", "both"], default="query", help="texts to augment (default: %(default)s)")
    g.add_argument("--llm", metavar="TASKS", help=f"LLM tasks through an OpenAI-compatible endpoint ($OPENAI_BASE_URL, $OPENAI_API_KEY): {', '.join(TASKS)}")
    g.add_argument("--llm-model", metavar="MODEL", help="chat model name (default: $OPENAI_MODEL)")
    g.add_argument("--llm-n", type=int, default=3, metavar="N", help="items generated per input for list tasks (default: %(default)s)")
    g.add_argument("--llm-pivot", metavar="LANG", help="back-translation pivot language (default: German for English text, English for others)")
    g.add_argument("--llm-instruction", default="simplify", metavar="TEXT", help="rewrite instruction: simplify, shorten or free text (default: %(default)s)")
    g.add_argument("--augment-max-samples", type=int, metavar="N", help="augment only the first N samples")


def augment_from_args(args: Any) -> AugmentConfig | None:
    if not getattr(args, "augment", None) and not getattr(args, "llm", None):
        return None
    return AugmentConfig(
        ops=[o for o in (args.augment or "").split(",") if o.strip()],
        n=args.augment_n,
        rate=args.augment_rate,
        target=args.augment_target,
        llm_tasks=[t for t in (args.llm or "").split(",") if t.strip()],
        llm_n=args.llm_n,
        llm_model=args.llm_model,
        pivot=args.llm_pivot,
        instruction=args.llm_instruction,
        max_samples=args.augment_max_samples,
        seed=args.seed,
    ).validate()
