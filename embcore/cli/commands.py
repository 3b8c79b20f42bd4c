"""The ``embcore`` command line: build datasets, inspect files, list projects, evaluate, fine-tune.

Errors a user can cause exit with status 2 and one line on stderr (``embcore: error: ...``).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from embcore import __version__
from embcore.errors import EmbcoreError
from embcore.ingest.tables import DEFAULT_NULL_VALUES, MERGE_POLICIES

log = logging.getLogger("embcore")


def _csv_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _add_mapping_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("field mapping (suggested from column names when omitted)")
    g.add_argument("--query-col", metavar="COL", help="column holding the query / question / anchor")
    g.add_argument("--pos-col", metavar="COL[,COL]", help="column(s) whose values become positives (several = several positives)")
    g.add_argument("--meta-cols", metavar="COL,...", help="metadata columns to keep (for rules, grouping, filters)")
    g.add_argument("--neg-col", metavar="COL", help="column of negatives given by the data (text or list)")
    g.add_argument("--score-col", metavar="COL", help="score/label column: pair data (STS-style); high scores become positives")
    g.add_argument("--pos-threshold", type=float, metavar="X", help="pair data: score >= X is a positive (default: 0.5 for 0..1 labels, else 80%% of the max)")
    g.add_argument("--neg-threshold", type=float, metavar="X", help="pair data: score <= X becomes a given negative (default: low pairs are dropped)")
    g.add_argument(
        "--accept-suggested-mapping",
        action="store_true",
        help="use the mapping guessed from the content when no column name is familiar (otherwise the command "
        "stops and shows the guess, to be confirmed with --query-col/--pos-col)",
    )
    g.add_argument(
        "--null-values",
        metavar="TEXT,...",
        help="cell texts that count as missing, comma-separated; 'default' stands for the built-in list "
        f"({' '.join(DEFAULT_NULL_VALUES)}); e.g. 'default,NA' adds NA (kept as text by default: a ticker / "
        "country code); '' = only empty cells",
    )
    g.add_argument(
        "--merge-queries",
        choices=MERGE_POLICIES,
        default="text+meta",
        help="rows sharing a query become one sample when the query text and every metadata column agree "
        "(text+meta), or on the text alone (text) (default: %(default)s)",
    )
    g.add_argument("--encoding", help="force the input encoding (default: detected: UTF-8, UTF-8-BOM, UTF-16, GB18030, ...)")
    g.add_argument("--format", dest="fmt", choices=["csv", "tsv", "json", "jsonl", "parquet"], help="force the input format (default: from the extension / content)")


def _add_mining_args(p: argparse.ArgumentParser) -> None:
    from embcore.mining.config import (
        FUSIONS,
        SAMPLINGS,
        SCORE_FILTERS,
        STOPWORDS,
        STRATEGIES,
        TOKENIZERS,
        MiningConfig,
    )

    d = MiningConfig()
    g = p.add_argument_group("negatives")
    g.add_argument(
        "--negatives",
        default="hybrid",
        metavar="S[,S]",
        help=f"candidate sources, comma-separated: {', '.join(STRATEGIES)} (hybrid = bm25 + dense fused; default: %(default)s)",
    )
    g.add_argument("--num-neg", type=int, default=d.num_negatives, metavar="N", help="negatives per query (default: %(default)s)")
    g.add_argument("--top-k", type=int, default=d.top_k, metavar="K", help="candidate depth per retriever (default: %(default)s)")
    g.add_argument("--model", default=d.model, help="bi-encoder for dense mining: 'default' (bundled all-MiniLM-L6-v2), a local path or a hub id (default: %(default)s)")
    g.add_argument("--query-prompt", default=d.query_prompt, metavar="TEXT", help="instruction prepended to queries when encoding; also written as 'prompt' (default: none)")
    g.add_argument("--passage-prompt", default=d.passage_prompt, metavar="TEXT", help="prefix prepended to passages when encoding (default: none)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="encoding batch size (default: %(default)s)")
    g.add_argument("--tokenizer", choices=TOKENIZERS, default=d.tokenizer, help="BM25 tokenizer: auto picks jieba for mostly-CJK text (default: %(default)s)")
    g.add_argument("--stopwords", choices=STOPWORDS, default=d.stopwords, help="remove stopwords before BM25 (default: keep all)")
    g.add_argument("--k1", type=float, default=d.bm25_k1, help="BM25 k1 (default: %(default)s)")
    g.add_argument("--b", type=float, default=d.bm25_b, help="BM25 b (default: %(default)s)")
    g.add_argument("--epsilon", type=float, default=d.bm25_epsilon, help="BM25Okapi idf floor epsilon (default: %(default)s)")
    g.add_argument("--fusion", choices=FUSIONS, default=d.fusion, help="how several candidate lists are fused (default: %(default)s)")
    g.add_argument("--rrf-k", type=int, default=d.rrf_k, help="reciprocal-rank-fusion constant (default: %(default)s)")
    g.add_argument("--rule", action="append", default=[], metavar="COL:same|different[:hard|easy]", help="metadata rule for the 'rules' source, e.g. ticker:same:hard (repeatable)")
    g.add_argument("--inbatch-size", type=int, default=d.inbatch_size, help="batch size simulated by in-batch negatives (default: %(default)s)")
    f = p.add_argument_group("false-negative filters")
    f.add_argument("--range-min", type=int, default=d.range_min, help="skip the first N surviving candidates (default: %(default)s)")
    f.add_argument("--range-max", type=int, default=d.range_max, help="consider only the first N surviving candidates (default: no limit)")
    f.add_argument("--max-score", type=float, default=d.max_score, help="drop candidates scoring above this (default: off)")
    f.add_argument("--min-score", type=float, default=d.min_score, help="drop candidates scoring below this (default: off)")
    f.add_argument("--absolute-margin", type=float, default=d.absolute_margin, help="drop candidates with score + margin > positive score (default: off)")
    f.add_argument("--relative-margin", type=float, default=d.relative_margin, help="drop candidates above (1 - margin) x positive score; 0.05 = TopK-PercPos 95%% (default: %(default)s; -1 = off)")
    f.add_argument("--near-dup", type=float, default=d.near_duplicate_threshold, metavar="COS", help="drop candidates whose cosine to a positive is >= COS (default: %(default)s; -2 = off)")
    f.add_argument("--cross-encoder", default=None, metavar="MODEL", help="rescore candidates with this cross-encoder (local path) before filtering")
    f.add_argument(
        "--score-filters",
        choices=SCORE_FILTERS,
        default=d.score_filters,
        help="run the near-duplicate / score / margin filters (they need the model's cosines): auto = for runs with a "
        "retriever (bm25, dense, hybrid, rules), not for random / in-batch alone; on = always; off = never "
        "(default: %(default)s)",
    )
    f.add_argument("--sampling", choices=SAMPLINGS, default=d.sampling, help="pick the top survivors or a seeded random draw (default: %(default)s)")


def _add_split_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("split and export")
    g.add_argument("--split", default="0.8,0.1,0.1", metavar="TRAIN,VAL,TEST", help="split ratios, summing to 1 (default: %(default)s)")
    g.add_argument("--seed", type=int, default=42, help="seed for mining, sampling and the split (default: %(default)s)")
    g.add_argument("--group-col", metavar="COL", help="metadata column whose values must stay in one split")
    g.add_argument("--stratify-col", metavar="COL", help="metadata column spread over the splits by the ratios")
    g.add_argument("--max-neg", type=int, metavar="N", help="cap on negatives per exported sample (default: no cap)")
    g.add_argument("--type", dest="sample_type", metavar="TYPE", help="'type' written to each sample (e.g. normal, symmetric_class)")
    g.add_argument(
        "--prompt",
        metavar="TEXT|name:NAME",
        help="query instruction written to 'prompt' and used when encoding queries (unless --query-prompt differs); "
        "'name:retrieval.query' picks a named prompt from the model's config_sentence_transformers.json or the defaults",
    )
    g.add_argument("--allow-cross-split-negatives", action="store_true", help="keep train negatives that are val/test positives (off: they are dropped)")
    g.add_argument(
        "--empty-negatives",
        choices=["top-up", "random", "drop"],
        default="top-up",
        help="a sample left without negatives: top-up = the run's next candidates (a score/margin filter removed "
        "them; never a positive or its near-twin), then random passages; random = random passages; drop = leave "
        "it out of its JSONL file (never an empty 'neg' list; default: %(default)s)",
    )
    g.add_argument(
        "--split-near-dup",
        default="0.7",
        metavar="JACCARD|off",
        help="passages whose word 3-shingles have Jaccard similarity >= this count as one passage for the split, "
        "the negative checks and the leakage report (passages equal up to case, width, punctuation and spacing "
        "always do); 'off' = only those (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embcore",
        description="Turn QA pairs, FAQs and documents into fine-tuning and evaluation sets for embedding models.",
    )
    parser.add_argument("--version", action="version", version=f"embcore {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser(
        "build",
        help="ingest a file, mine negatives, split and export train/val/test JSONL + an eval set",
        description=(
            "Ingest INPUT (CSV/TSV/JSON/JSONL/Parquet), clean it, mine negatives, split without leakage and write "
            "DIR/train.jsonl, DIR/val.jsonl, DIR/test.jsonl (FlagEmbedding format), DIR/eval/ (BEIR: corpus.jsonl, "
            "queries.jsonl, qrels/val.tsv, qrels/test.tsv) and DIR/manifest.json. Everything is persisted in a DuckDB "
            "file (default DIR/embcore.duckdb)."
        ),
    )
    b.add_argument("input", metavar="INPUT", help="data file: .csv .tsv .json .jsonl .parquet")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.add_argument("--db", metavar="PATH", help="DuckDB file (default: DIR/embcore.duckdb)")
    b.add_argument("--project", metavar="NAME", help="project name in the database (default: the input file's stem)")
    b.add_argument("--replace", action="store_true", help="replace an existing project of the same name (drops its reviews)")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_mapping_args(b)
    _add_mining_args(b)
    _add_split_args(b)
    _add_extension_args(b)
    b.set_defaults(func=cmd_build)

    i = sub.add_parser(
        "inspect",
        help="show the suggested mapping and the cleaning report of a file",
        description="Read a file, suggest a field mapping (or show the guess when no column name is familiar) and "
        "summarise what cleaning would do: samples, dropped rows per reason (the first --show of them), decoding "
        "fallbacks, null-like texts, merged queries. Writes nothing.",
    )
    i.add_argument("input", metavar="INPUT")
    i.add_argument("--json", action="store_true", help="print the report as JSON (dropped rows listed up to --show)")
    i.add_argument("--show", type=int, default=10, metavar="N", help="dropped rows listed (default: %(default)s)")
    _add_mapping_args(i)
    i.set_defaults(func=cmd_inspect)

    pr = sub.add_parser("projects", help="list the projects of a DuckDB file and where each one stands")
    pr.add_argument("--db", metavar="PATH", help="DuckDB file (default: $EMBCORE_DB or data/embcore.duckdb)")
    pr.set_defaults(func=cmd_projects)

    v = sub.add_parser(
        "verify",
        help="check an export: file hashes, JSONL schema, evaluation files and leakage between splits",
        description=(
            "Check the export in OUT (its current version; a version folder or an older flat export also works): "
            "every file against the sha256 in manifest.json, the FlagEmbedding schema of every line (non-empty pos "
            "and neg, aligned score lists), the BEIR evaluation files, and the leakage report recomputed from the "
            "files with the manifest's thresholds (exact, normalised and near-duplicate positives across splits, "
            "queries in two splits, train negatives that are val/test positives). Exit 0 when all is well, 1 with "
            "one line per problem."
        ),
    )
    v.add_argument("out", metavar="OUT", help="export folder (as given to build --out or the Export page)")
    v.add_argument("--json", action="store_true", help="also print the recomputed leakage report as JSON on stdout")
    v.set_defaults(func=cmd_verify)

    a = sub.add_parser(
        "app",
        help="start the Streamlit app (binds 127.0.0.1)",
        description="Start the Streamlit app. It binds 127.0.0.1; an address beyond loopback is refused unless "
        "st.login is configured (an [auth] section in .streamlit/secrets.toml) or --i-know-this-is-public is given.",
    )
    a.add_argument("--port", type=int, default=8501)
    a.add_argument("--db", metavar="PATH", help="DuckDB file (default: data/embcore.duckdb)")
    a.add_argument("--address", default="127.0.0.1", help="address to bind (default: %(default)s)")
    a.add_argument(
        "--i-know-this-is-public",
        dest="public",
        action="store_true",
        help="serve on a non-loopback address without a login (anyone who reaches it can change every review)",
    )
    a.set_defaults(func=cmd_app)

    rq = sub.add_parser(
        "review-queue",
        help="print a review queue (suspected false negatives, most informative, ...) as JSON or TSV",
        description="Compute one review queue of a project's mining run and print its items in queue order, each "
        "with why it is there (the signal and its value): false_negatives (candidates removed by the margin / "
        "near-duplicate filters or very similar to the positive), informative (BM25 vs dense rank, teacher vs "
        "student score, score near the positive's), margin (smallest margin between the positive and the best "
        "candidate), data, random (seeded), most_candidates (unreviewed queries with the most candidates).",
    )
    rq.add_argument("--db", metavar="PATH", help="DuckDB file (default: $EMBCORE_DB or data/embcore.duckdb)")
    rq.add_argument("--project", required=True, metavar="NAME|ID", help="project name or id")
    rq.add_argument("--queue", default="false_negatives", choices=_queue_names(), help="default: %(default)s")
    rq.add_argument("--run", type=int, metavar="ID", help="mining run (default: the latest finished one)")
    rq.add_argument("--reviewer", metavar="NAME", help="only queries assigned to this reviewer; progress is theirs")
    rq.add_argument("--seed", type=int, default=0, help="seed of the random queue (default: %(default)s)")
    rq.add_argument(
        "--threshold", type=float, default=0.8, metavar="SIM",
        help="similarity to the positive from which a candidate is a suspected false negative (default: %(default)s)",
    )  # fmt: skip
    rq.add_argument(
        "--per-query", type=int, default=3, metavar="N",
        help="candidate queues: the N strongest candidates of each query, 0 = all (default: %(default)s)",
    )  # fmt: skip
    rq.add_argument("--limit", type=int, metavar="N", help="print at most N items")
    rq.add_argument("--format", choices=("json", "tsv"), default="json", help="default: %(default)s")
    rq.set_defaults(func=cmd_review_queue)

    _register_optional(sub)
    return parser


def _add_extension_args(p: argparse.ArgumentParser) -> None:
    """Options of the teacher-scoring and augmentation steps."""
    from embcore.augment.project import add_cli_args as add_augment
    from embcore.models.teacher import add_cli_args as add_scoring

    add_scoring(p)
    add_augment(p)


def _register_optional(sub: Any) -> None:
    try:
        from embcore.cli.train import register
    except ImportError:  # pragma: no cover - always shipped
        return
    register(sub)


def mapping_from_args(args: argparse.Namespace, raw: Any, *, confirm: bool = True) -> Any:
    """The user's mapping from CLI flags, completed by the suggestion for what they left out.

    Returns:
        (mapping, whether part of it is the suggestion).

    Raises:
        EmbcoreError: with ``confirm``, when the query or positive column would be guessed from the
            content (no familiar column name) and neither ``--query-col/--pos-col`` nor
            ``--accept-suggested-mapping`` confirms it; the message shows the columns and the guess.
    """
    from embcore.ingest.tables import FieldMapping, _cols_text, parse_null_values, suggest_mapping

    given = any(getattr(args, k) for k in ("query_col", "pos_col", "meta_cols", "neg_col", "score_col"))
    suggested = None
    try:
        suggested = suggest_mapping(raw)
    except EmbcoreError:
        if not (args.query_col and args.pos_col):
            raise
    if not given and suggested is not None:
        m = suggested
    else:
        m = FieldMapping(
            query_col=args.query_col or suggested.query_col,
            pos_cols=_csv_list(args.pos_col) or list(suggested.pos_cols),
            meta_cols=_csv_list(args.meta_cols) if args.meta_cols is not None else (suggested.meta_cols if suggested else []),
            neg_col=args.neg_col if args.neg_col else (suggested.neg_col if suggested and not args.query_col else None),
            score_col=args.score_col if args.score_col else (suggested.score_col if suggested and not args.query_col else None),
        )
        if m.score_col and not m.sample_type:
            m.sample_type = "symmetric"
        m.guessed = bool(suggested and suggested.guessed) and not (args.query_col and args.pos_col)
        if m.guessed:
            m.notes = list(suggested.notes)
    if args.pos_threshold is not None:
        m.pos_threshold = args.pos_threshold
    if args.neg_threshold is not None:
        m.neg_threshold = args.neg_threshold
    m.null_values = parse_null_values(args.null_values)
    m.merge_queries = args.merge_queries
    if confirm and m.guessed and not args.accept_suggested_mapping:
        raise EmbcoreError(
            f"{raw.name}: no familiar column names for the query and positive (columns: {_cols_text(raw.columns)}); "
            f"the suggested mapping, guessed from the content, would be: {m.describe()}; confirm it with "
            f"--query-col {m.query_col} --pos-col {','.join(m.pos_cols)} (or other columns), or pass "
            "--accept-suggested-mapping"
        )
    return m, (not args.query_col or not args.pos_col)


def mining_from_args(args: argparse.Namespace) -> Any:
    from embcore.mining.config import MiningConfig

    relative = None if args.relative_margin is not None and args.relative_margin < 0 else args.relative_margin
    near = None if args.near_dup is not None and args.near_dup < -1 else args.near_dup
    cfg = MiningConfig(
        strategies=_csv_list(args.negatives),
        num_negatives=args.num_neg,
        top_k=args.top_k,
        model=args.model,
        query_prompt=args.query_prompt or "",
        passage_prompt=args.passage_prompt or "",
        batch_size=args.batch_size,
        bm25_k1=args.k1,
        bm25_b=args.b,
        bm25_epsilon=args.epsilon,
        tokenizer=args.tokenizer,
        stopwords=args.stopwords,
        fusion=args.fusion,
        rrf_k=args.rrf_k,
        rules=list(args.rule),
        inbatch_size=args.inbatch_size,
        range_min=args.range_min,
        range_max=args.range_max,
        max_score=args.max_score,
        min_score=args.min_score,
        absolute_margin=args.absolute_margin,
        relative_margin=relative,
        near_duplicate_threshold=near,
        cross_encoder=args.cross_encoder,
        sampling=args.sampling,
        score_filters=args.score_filters,
        seed=args.seed,
    )
    return cfg.validate()


def cmd_build(args: argparse.Namespace) -> int:
    from embcore.export.exporter import ExportConfig
    from embcore.export.split import parse_ratios
    from embcore.ingest.tables import read_table, validate_mapping
    from embcore.models.prompts import resolve_prompt
    from embcore.progress import tqdm_progress
    from embcore.store import check_db_path
    from embcore.workflow import build, check_output_dir

    # paths the user gave are checked before any work (reading, models, mining)
    check_output_dir(args.out)
    if args.db:
        check_db_path(args.db)
    ratios = parse_ratios(args.split)
    # one instruction, applied consistently: mining encodes with it, the export writes it
    prompt = resolve_prompt(args.prompt if args.prompt is not None else args.query_prompt, args.model)
    args.query_prompt = resolve_prompt(args.query_prompt, args.model) if args.query_prompt else prompt
    args.passage_prompt = resolve_prompt(args.passage_prompt, args.model)
    mining = mining_from_args(args)
    raw = read_table(args.input, fmt=args.fmt, encoding=args.encoding)
    mapping, suggested = mapping_from_args(args, raw)
    validate_mapping(raw, mapping)
    export = ExportConfig(
        ratios=ratios,
        seed=args.seed,
        group_col=args.group_col,
        stratify_col=args.stratify_col,
        max_negatives=args.max_neg,
        query_prompt=prompt or None,
        passage_prompt=args.passage_prompt or None,
        sample_type=args.sample_type,
        allow_cross_split_negatives=args.allow_cross_split_negatives,
        empty_negatives=args.empty_negatives,
        near_duplicates=_near_dup(args.split_near_dup),
    )
    extension = _build_extensions(args)
    result = build(
        raw,
        args.out,
        mapping=mapping,
        mining=mining,
        export=export,
        db_path=args.db,
        project_name=args.project,
        replace=args.replace,
        progress=None if args.no_progress else tqdm_progress(),
        **extension,
    )
    res = result.export
    counts = {s: c["samples"] for s, c in res.counts.items()}
    neg = res.negatives
    policy = ""
    if neg.get("samples_without_negatives"):
        policy = (
            f"; {neg['samples_without_negatives']} samples had no negative ({args.empty_negatives}: "
            f"{neg['topped_up_samples']} topped up from the run, {neg['random_samples']} given random passages, "
            f"{neg['left_out_samples']} left out)"
        )
    leak = res.leakage.get("positive_pairs_across_splits") or {}
    print(
        f"embcore: wrote {args.out} ({res.version_dir.name if res.version_dir else ''}): train {counts['train']}, "
        f"val {counts['val']}, test {counts['test']} samples{policy}; leakage across splits: "
        f"{sum(leak.values())} passage pairs, {res.leakage.get('queries_in_another_split', 0)} queries; manifest.json"
        + (f"; using suggested mapping: {mapping.describe()}" if suggested else ""),
        file=sys.stderr,
    )
    if suggested:
        for note in mapping.notes:
            if note.startswith("metadata: the first"):
                print(f"embcore: {note}", file=sys.stderr)
    for line in ingest_summary(result.ingest.report() if result.ingest else {}):
        print(f"embcore: {line}", file=sys.stderr)
    total = int(res.manifest.get("dropped_rows_total") or 0)
    dropped = res.manifest.get("dropped_rows") or []
    if total:
        shown = "; ".join(f"row {d['row']}: {d['reason']}" for d in dropped[:3])
        more = f"; ... ({total - 3} more)" if total > 3 else ""
        print(
            f"embcore: {total} input rows dropped ({shown}{more}); all listed in dropped_rows.csv "
            "(the first ones under dropped_rows in manifest.json)",
            file=sys.stderr,
        )
    return 0


def _near_dup(value: str) -> float | None:
    if str(value).strip().lower() in ("off", "none", "0", ""):
        return None
    try:
        x = float(value)
    except ValueError as exc:
        raise EmbcoreError(f"--split-near-dup {value!r}: give a Jaccard similarity in (0, 1] or 'off'") from exc
    if not 0 < x <= 1:
        raise EmbcoreError(f"--split-near-dup {value!r}: give a Jaccard similarity in (0, 1] or 'off'")
    return x


def cmd_verify(args: argparse.Namespace) -> int:
    from embcore.export.verify import verify_export

    path = Path(args.out)
    if not path.is_dir():
        raise EmbcoreError(f"{path}: no such export folder")
    problems, summary = verify_export(path)
    if args.json:
        print(json.dumps(summary.get("leakage", {}), ensure_ascii=False, indent=2))
    for p in problems:
        print(f"embcore: {p}", file=sys.stderr)
    if problems:
        return 1
    recs = summary.get("records", {})
    print(
        f"embcore: {summary['folder']} verified: {summary.get('files', 0)} files match the manifest, "
        f"{sum(recs.values())} records valid, no leakage between splits",
        file=sys.stderr,
    )
    return 0


def _build_extensions(args: argparse.Namespace) -> dict[str, Any]:
    from embcore.augment.project import augment_from_args
    from embcore.models.teacher import teacher_from_args

    return {"teacher": teacher_from_args(args), "augment": augment_from_args(args)}


def ingest_summary(report: dict[str, Any]) -> list[str]:
    """Short lines about what cleaning did beyond dropping rows: decoding fallbacks, null-like
    texts, merged rows (for the build's stderr and ``inspect``)."""
    lines = []
    for codec, info in (report.get("decoding") or {}).get("fallback", {}).items():
        rows = f" (data rows {_some(info['rows'], info['n_rows'])})" if info.get("rows") else ""
        lines.append(
            f"{info['n_lines']} line(s) were not UTF-8 and were decoded as {codec}: lines "
            f"{_some(info['lines'], info['n_lines'])}{rows}; listed under cleaning.decoding in manifest.json"
        )
    nulls = report.get("null_like") or {}
    if nulls:
        parts = [f"{col}: " + ", ".join(f"{k!r} x{v}" for k, v in per.items()) for col, per in list(nulls.items())[:5]]
        lines.append("null-like texts treated as missing (--null-values): " + "; ".join(parts))
    merging = report.get("merging") or {}
    if merging.get("merged_samples"):
        lines.append(
            f"{merging['merged_rows']} rows sharing a query were merged into {merging['merged_samples']} samples "
            f"(policy {merging['policy']})"
        )
    if merging.get("texts_kept_apart"):
        ex = merging["kept_apart_examples"][0]
        lines.append(
            f"{merging['texts_kept_apart']} query texts occur with different metadata and stay "
            f"{merging['samples_kept_apart']} separate samples (e.g. {ex['query']!r}); --merge-queries text merges them"
        )
    if merging.get("merged_across_metadata"):
        lines.append(
            f"{merging['merged_across_metadata']} merged samples combine rows with different metadata "
            "(--merge-queries text+meta keeps them apart)"
        )
    return lines


def _some(values: list[int], total: int, limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" ... ({total} in all)" if total > limit else "")


def cmd_inspect(args: argparse.Namespace) -> int:
    from embcore.ingest.tables import _cols_text, build_samples, read_table, validate_mapping

    raw = read_table(args.input, fmt=args.fmt, encoding=args.encoding)
    mapping, suggested = mapping_from_args(args, raw, confirm=False)
    validate_mapping(raw, mapping)
    result = build_samples(raw, mapping)
    report = result.report()
    limit = max(0, args.show)
    if args.json:
        cleaning = dict(report)
        cleaning["dropped"] = report["dropped"][:limit]
        cleaning["dropped_listed"] = len(cleaning["dropped"])
        out = {
            "file": raw.name,
            "format": raw.format,
            "encoding": raw.encoding,
            "delimiter": raw.delimiter,
            "sha256": raw.sha256,
            "rows": len(raw.df),
            "columns": raw.columns[:_MAX_JSON_COLUMNS],
            "n_columns": len(raw.columns),
            "mapping": mapping.to_dict() | {"meta_cols": mapping.meta_cols[:_MAX_JSON_COLUMNS]},
            "cleaning": cleaning,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    delim = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(raw.delimiter or "", raw.delimiter)
    print(f"file:      {raw.name}")
    print(f"format:    {raw.format}" + (f", {delim}-separated" if delim else "") + (f", encoding {raw.encoding}" if raw.encoding else ""))
    print(f"rows:      {len(raw.df):,} data rows, {len(raw.columns):,} columns: {_cols_text(raw.columns)}")
    how = "guessed from the content: confirm with --query-col/--pos-col or --accept-suggested-mapping" if mapping.guessed else (
        "suggested from the column names" if suggested else "as given")
    print(f"mapping:   {mapping.describe()} ({how})")
    for note in mapping.notes:
        print(f"           - {note}")
    print(f"samples:   {len(result.samples):,} (queries merged by {mapping.merge_queries}), "
          f"{report.get('unique_passages', 0):,} unique passages, "
          f"{report.get('queries_with_several_positives', 0):,} queries with several positives")  # fmt: skip
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report["dropped_by_reason"].items(), key=lambda kv: -kv[1]))
    print(f"dropped:   {report['rows_dropped']:,} rows" + (f" ({reasons})" if reasons else ""))
    for d in report["dropped"][:limit]:
        print(f"           row {d['row']}: {d['reason']}" + (f" [{d['column']}]" if d.get("column") else ""))
    if report["rows_dropped"] > limit:
        print(f"           ... {report['rows_dropped'] - limit:,} more (--show N lists more, --json for JSON)")
    for line in ingest_summary(report):
        print(f"note:      {line}")
    return 0


_MAX_JSON_COLUMNS = 200


def cmd_projects(args: argparse.Namespace) -> int:
    from embcore.store import Store, default_db_path

    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        raise EmbcoreError(f"{path}: no such database")
    with Store(path) as store:
        df = store.list_projects()
    if df.empty:
        print("(no projects)")
    else:
        print(df.to_string(index=False))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from embcore import netguard

    app = Path(__file__).resolve().parents[2] / "app.py"
    if not app.exists():
        raise EmbcoreError(f"{app}: app.py not found (run from a source checkout)")
    auth = netguard.auth_configured(netguard.read_secrets(netguard.secrets_files(app.parent)))
    warning = netguard.check_bind(args.address, public=args.public, auth=auth)
    if warning:
        print(f"embcore: warning: {warning}", file=sys.stderr)
    env = dict(os.environ)
    if args.db:
        env["EMBCORE_DB"] = str(Path(args.db).resolve())
    if args.public:
        env[netguard.PUBLIC_ENV] = "1"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address, "--server.port",
           str(args.port)]  # fmt: skip
    return subprocess.call(cmd, cwd=str(app.parent), env=env)


def _queue_names() -> tuple[str, ...]:
    from embcore.review.queues import QUEUES

    return QUEUES


def cmd_review_queue(args: argparse.Namespace) -> int:
    """``embcore review-queue``: one queue's items as JSON (an object with the rows) or TSV (a header line)."""
    import json

    from embcore.review import queues
    from embcore.review.model import latest_teacher
    from embcore.store import Store, default_db_path

    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        raise EmbcoreError(f"{path}: no such database")
    if args.limit is not None and args.limit < 1:
        raise EmbcoreError(f"--limit must be at least 1, got {args.limit}")
    with Store(path) as store:
        pid = store.project_id(args.project)
        if args.run is not None:
            from embcore.store.queues import run_info

            run = run_info(store, args.run)
            if run is None or int(run[0]) != pid or run[1] != "mine" or run[2] != "done":
                raise EmbcoreError(f"run {args.run} is not a finished mining run of project {args.project!r}")
        teacher = latest_teacher(store, pid)
        q = queues.compute(
            store, pid, args.run, args.queue, reviewer=args.reviewer, seed=args.seed, threshold=args.threshold,
            teacher=teacher["teacher_id"] if teacher else None, per_query=args.per_query or None,
        )  # fmt: skip
        rows = queues.listing(store, q, pid, limit=args.limit)
        progress = q.progress(store, pid, args.reviewer) if args.reviewer is not None else None
    if args.format == "tsv":
        print("\t".join(rows.columns))
        for r in rows.itertuples(index=False):
            print("\t".join(_tsv(v) for v in r))
        return 0
    out = {
        "queue": q.name, "label": q.label, "project": args.project, "reviewer": args.reviewer,
        "queries": int(len(q.order)), "items": int(len(q.items)) if q.candidate_level else int(len(q.order)),
        "seconds": q.seconds, "note": q.note or None,
        "progress": None if progress is None else dict(zip(("items_done", "items", "queries_done", "queries"), progress, strict=True)),
        "rows": [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                 for r in json.loads(rows.to_json(orient="records", force_ascii=False))],
    }  # fmt: skip
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _tsv(value: object) -> str:
    """One TSV cell: empty for a missing value, tabs and line breaks as spaces."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


# errors of the machine rather than of the code, even without a file name (disk full, read-only)
_USER_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``embcore`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EmbcoreError as exc:
        print(f"embcore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("embcore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # a path the user gave (or the disk) refused: permissions, read-only, exists, full ...
        if exc.filename is None and exc.errno not in _USER_ERRNOS:
            if args.verbose:
                raise
            print(f"embcore: internal error: {type(exc).__name__}: {exc} (rerun with -v for details)", file=sys.stderr)
            return 1
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"embcore: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with -v
        if args.verbose:
            raise
        print(f"embcore: internal error: {type(exc).__name__}: {exc} (rerun with -v for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
