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
import os
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


def _use_backend(args: argparse.Namespace) -> None:
    """``--backend`` sets the encoding backend for this process (``$EMBCORE_BACKEND``)."""
    if getattr(args, "backend", None):
        from embcore.backends import BACKEND_ENV

        os.environ[BACKEND_ENV] = args.backend


def cli_eval(args: argparse.Namespace) -> int:
    """``embcore eval``: print the split's retrieval metrics as JSON on stdout."""
    from contextlib import nullcontext

    from embcore.evaluate import evaluate

    _use_backend(args)
    try:
        if args.db:
            from embcore.store import Store

            opened: Any = Store(args.db)
        else:
            opened = nullcontext(None)
        with opened as store:
            result = evaluate(
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
            )
    except EmbcoreError as exc:
        return _fail(exc)
    _print_json(result.to_dict(per_query=args.per_query))
    return 0


def cli_finetune(args: argparse.Namespace) -> int:
    """``embcore finetune``: train, save the model and report.json, print the summary as JSON."""
    from embcore.finetune import DEFAULTS, finetune, parse_dims

    _use_backend(args)
    try:
        report = finetune(
            args.data,
            args.model,
            args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            loss=args.loss,
            matryoshka_dims=parse_dims(args.matryoshka),
            lr=args.lr,
            max_steps=args.max_steps,
            max_samples=args.max_samples,
            num_negatives=args.num_negatives,
            seed=args.seed,
            progress=tqdm_progress(disable=args.quiet),
            temperature=args.temperature,
            eval_test=not args.no_eval,
            eval_val=False if args.no_val else (True if args.val else DEFAULTS.eval_val),
            eval_max_queries=args.eval_max_queries,
            max_seq_length=args.max_seq_length,
            mini_batch_size=args.mini_batch_size,
            precision=args.precision,
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


def _seq_length(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text}") from exc


def _add_backend_arg(p: argparse.ArgumentParser) -> None:
    from embcore.backends import BACKENDS

    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="encoding backend for evaluation (default: $EMBCORE_BACKEND or auto = OpenVINO when installed, "
        "else PyTorch; onnx-int8 vectors are cached apart)",
    )


def register(subparsers: Any) -> None:
    """Add the ``eval`` and ``finetune`` subcommands to an argparse ``subparsers`` object.

    Each sets ``func`` (``cli_eval`` / ``cli_finetune``), which returns the exit code.
    """
    from embcore.evaluate import SPLITS
    from embcore.finetune import (
        DEFAULT_EXPLANATIONS,
        DEFAULT_LOSS,
        DEFAULT_TEMPERATURE,
        DEFAULTS,
        LOSSES,
        PRECISIONS,
    )

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
        help="DuckDB file whose embedding cache to use (e.g. the build's OUT/embcore.duckdb): texts already "
        "encoded by mining or an earlier evaluation of the same model are not encoded again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_backend_arg(p)
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
    f.add_argument(
        "--epochs",
        type=float,
        default=DEFAULTS.epochs,
        help=f"training epochs (default: {DEFAULTS.epochs:g})",
    )
    f.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULTS.batch_size,
        help=f"rows per batch (default: {DEFAULTS.batch_size})",
    )
    f.add_argument(
        "--loss",
        default=DEFAULT_LOSS,
        choices=LOSSES,
        help=f"training loss (default: {DEFAULT_LOSS}, in-batch + hard-negative InfoNCE in bounded memory)",
    )
    f.add_argument(
        "--matryoshka", default=None, metavar="DIMS", help="e.g. 384,256,128: wrap in MatryoshkaLoss"
    )
    f.add_argument("--lr", type=float, default=DEFAULTS.lr, help=f"learning rate (default: {DEFAULTS.lr:g})")
    f.add_argument("--max-steps", type=_positive_int, default=None, help="stop after N optimiser steps")
    f.add_argument("--max-samples", type=_positive_int, default=None, help="train on a random subset of rows")
    f.add_argument(
        "--num-negatives",
        type=int,
        default=None,
        help=f"negatives per row (default: those in the data, at most {DEFAULTS.max_negatives}; "
        + DEFAULT_EXPLANATIONS["max_negatives"].split(": ", 1)[-1]
        + ")",
    )
    f.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help="InfoNCE temperature")
    f.add_argument(
        "--max-seq-length",
        type=_seq_length,
        default=DEFAULTS.max_seq_length,
        metavar="N|auto",
        help="truncate inputs to N tokens (default: auto, the 99th percentile token length of the data, capped by the model)",
    )
    f.add_argument(
        "--mini-batch-size",
        type=_positive_int,
        default=DEFAULTS.mini_batch_size,
        help=f"cached-mnrl's GradCache chunk size (default: {DEFAULTS.mini_batch_size}: smaller chunks pad less)",
    )
    f.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULTS.precision,
        help="auto (default): bf16 autocast on CPUs with native bf16 (AMX / AVX512-BF16) or a bf16 GPU, else fp32",
    )
    f.add_argument("--eval-max-queries", type=_positive_int, default=None, help="evaluate on a query subset")
    f.add_argument("--no-eval", action="store_true", help="skip the base/fine-tuned test evaluation")
    val = f.add_mutually_exclusive_group()
    val.add_argument("--no-val", action="store_true", help="never validate during training")
    val.add_argument(
        "--val",
        action="store_true",
        help="validate at every epoch end (default: only when training more than one epoch or without a test evaluation)",
    )
    f.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_backend_arg(f)
    f.set_defaults(func=cli_finetune)


def main(argv: list[str] | None = None) -> int:
    """Entry point with only eval and finetune (``python -m embcore.train_cli eval ...``); ``embcore`` has them too."""
    parser = argparse.ArgumentParser(prog="embcore")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
