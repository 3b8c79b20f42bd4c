"""CLI glue for ``embcore eval`` and ``embcore finetune``.

The main CLI registers both subcommands with :func:`register`::

    sub = parser.add_subparsers(dest="command")
    train_cli.register(sub)
    args = parser.parse_args()
    sys.exit(args.func(args))

Results go to stdout as JSON; progress bars and errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from embcore.errors import EmbcoreError
from embcore.progress import tqdm_progress


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fail(exc: Exception) -> int:
    sys.stderr.write(f"error: {exc}\n")
    return 1


def _open_store(path: str | None) -> Any:
    """The store of ``--db`` (a context manager; ``None`` inside when no ``--db`` was given)."""
    from contextlib import nullcontext

    if not path:
        return nullcontext(None)
    from embcore.store import Store

    return Store(path)


def cli_eval(args: argparse.Namespace) -> int:
    """``embcore eval``: print the split's retrieval metrics as JSON on stdout (a run in ``--db``)."""
    from embcore.training.evaluate import evaluate
    from embcore.workflow import export_project_id, record

    config = {"data_dir": str(args.data), "model": args.model, "split": args.split, "max_queries": args.max_queries,
              "seed": args.seed, "use_prompts": not args.no_prompts, "truncate_dim": args.truncate_dim}  # fmt: skip
    try:
        with _open_store(args.db) as store:
            pid = export_project_id(store, args.data) if store is not None else None
            result, _ = record(
                store,
                pid,
                "eval",
                config,
                lambda: evaluate(
                    args.model,
                    args.data,
                    split=args.split,
                    batch_size=args.batch_size,
                    progress=tqdm_progress(disable=args.quiet),
                    max_queries=args.max_queries,
                    seed=args.seed,
                    use_prompts=not args.no_prompts,
                    truncate_dim=args.truncate_dim,
                    cache=store,
                ),
                model_id=args.model,
            )
    except EmbcoreError as exc:
        return _fail(exc)
    _print_json(result.to_dict(per_query=args.per_query))
    return 0


def cli_finetune(args: argparse.Namespace) -> int:
    """``embcore finetune``: train, save the model and report.json, print the summary as JSON (a run in ``--db``)."""
    from embcore.training.finetune import finetune, parse_dims
    from embcore.workflow import export_project_id, record

    try:
        dims = parse_dims(args.matryoshka)
    except EmbcoreError as exc:
        return _fail(exc)
    settings = dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        loss=args.loss,
        matryoshka_dims=dims,
        lr=args.lr,
        max_steps=args.max_steps,
        max_samples=args.max_samples,
        num_negatives=args.num_negatives,
        seed=args.seed,
        temperature=args.temperature,
        eval_test=not args.no_eval,
        eval_val=not args.no_val,
        eval_max_queries=args.eval_max_queries,
        max_seq_length=args.max_seq_length,
    )
    config = {"data_dir": str(args.data), "model": args.model, "out_dir": str(args.out), **settings}
    try:
        with _open_store(args.db) as store:
            pid = export_project_id(store, args.data) if store is not None else None
            report, _ = record(
                store,
                pid,
                "finetune",
                config,
                lambda: finetune(
                    args.data, args.model, args.out, progress=tqdm_progress(disable=args.quiet), **settings
                ),
                model_id=args.model,
            )
    except EmbcoreError as exc:
        return _fail(exc)
    _print_json(report.summary())
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``eval`` and ``finetune`` subcommands to an argparse ``subparsers`` object.

    Each sets ``func`` (``cli_eval`` / ``cli_finetune``), which returns the exit code.
    """
    from embcore.training.evaluate import SPLITS
    from embcore.training.finetune import DEFAULT_LOSS, DEFAULT_LR, DEFAULT_TEMPERATURE, LOSSES

    p = subparsers.add_parser(
        "eval",
        help="evaluate an embedding model on an export's eval set (JSON metrics on stdout)",
        description="Encode the split's queries and the whole eval corpus, print NDCG@10, MRR@10, "
        "MAP@100 and Recall@1/5/10/100 as JSON.",
    )
    p.add_argument("--model", default="default", help="model path or id (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--data", required=True, help="export folder written by `embcore build --out`")
    p.add_argument("--split", default="test", choices=SPLITS, help="evaluation split (default: test)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="encoding batch size")
    p.add_argument(
        "--max-queries", type=_positive_int, default=None, help="evaluate a random subset of queries"
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the query subset")
    p.add_argument("--no-prompts", action="store_true", help="ignore the manifest's query/passage prompts")
    p.add_argument("--truncate-dim", type=_positive_int, default=None, help="use the first N dimensions")
    p.add_argument("--per-query", action="store_true", help="include per-query metrics in the JSON")
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="DuckDB file to record the run in and whose embedding cache to use (e.g. the build's "
        "OUT/embcore.duckdb): texts already encoded by mining or an earlier evaluation of the same model are not "
        "encoded again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cli_eval)

    f = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on an export's train.jsonl and report base vs fine-tuned metrics",
        description="Train with sentence-transformers (duplicate-free batches), evaluate on val during "
        "training and on test before/after; save the model with report.json in --out.",
    )
    f.add_argument("--data", required=True, help="export folder written by `embcore build --out`")
    f.add_argument("--model", default="default", help="starting model path or id (default: bundled)")
    f.add_argument("--out", required=True, help="output folder for the fine-tuned model and report.json")
    f.add_argument("--epochs", type=float, default=1, help="training epochs (default: 1)")
    f.add_argument("--batch-size", type=_positive_int, default=32, help="rows per batch (default: 32)")
    f.add_argument(
        "--loss",
        default=DEFAULT_LOSS,
        choices=LOSSES,
        help=f"training loss (default: {DEFAULT_LOSS}, in-batch + hard-negative InfoNCE in bounded memory)",
    )
    f.add_argument(
        "--matryoshka", default=None, metavar="DIMS", help="e.g. 384,256,128: wrap in MatryoshkaLoss"
    )
    f.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"learning rate (default: {DEFAULT_LR})")
    f.add_argument("--max-steps", type=_positive_int, default=None, help="stop after N optimiser steps")
    f.add_argument("--max-samples", type=_positive_int, default=None, help="train on a random subset of rows")
    f.add_argument(
        "--num-negatives", type=int, default=None, help="negatives per row (default: all in the data)"
    )
    f.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help="InfoNCE temperature")
    f.add_argument("--max-seq-length", type=_positive_int, default=None, help="truncate inputs to N tokens")
    f.add_argument("--eval-max-queries", type=_positive_int, default=None, help="evaluate on a query subset")
    f.add_argument("--no-eval", action="store_true", help="skip the base/fine-tuned test evaluation")
    f.add_argument("--no-val", action="store_true", help="skip validation during training")
    f.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    f.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="DuckDB file to record the run in (e.g. the build's OUT/embcore.duckdb): config, status, timings, "
        "and the report, under the export's project when the database holds it",
    )
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=cli_finetune)


def main(argv: list[str] | None = None) -> int:
    """Entry point with only eval and finetune (``python -m embcore.cli.train eval ...``); ``embcore`` has them too."""
    parser = argparse.ArgumentParser(prog="embcore")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
