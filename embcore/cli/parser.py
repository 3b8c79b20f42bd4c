"""The ``embcore`` argument parser: every subcommand and its options (argparse lives in ``embcore.cli`` only)."""

from __future__ import annotations

import argparse
from typing import Any

from embcore import __version__
from embcore.ingest.mapping import DEFAULT_NULL_VALUES, MERGE_POLICIES
from embcore.models.teacher import NORMALIZATIONS, TEACHER_KINDS


def build_parser() -> argparse.ArgumentParser:
    """The ``embcore`` parser: every subcommand with its options; ``func`` of each is its command."""
    from embcore.cli import commands

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
    b.add_argument(
        "input",
        metavar="INPUT",
        nargs="?",
        help="data file: .csv .tsv .json .jsonl .parquet (or use --docs / --logs)",
    )
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.add_argument("--db", metavar="PATH", help="DuckDB file (default: DIR/embcore.duckdb)")
    b.add_argument(
        "--project", metavar="NAME", help="project name in the database (default: the input file's stem)"
    )
    b.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing project of the same name (drops its reviews)",
    )
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_mapping_args(b)
    _add_mining_args(b)
    _add_split_args(b)
    _add_extension_args(b)
    _add_sources_args(b)
    b.set_defaults(func=commands.cmd_build)

    i = sub.add_parser(
        "inspect",
        help="show the suggested mapping and the cleaning report of a file",
        description="Read a file, suggest a field mapping (or show the guess when no column name is familiar) and "
        "summarise what cleaning would do: samples, dropped rows per reason (the first --show of them), decoding "
        "fallbacks, null-like texts, merged queries. Writes nothing.",
    )
    i.add_argument("input", metavar="INPUT")
    i.add_argument(
        "--json", action="store_true", help="print the report as JSON (dropped rows listed up to --show)"
    )
    i.add_argument(
        "--show", type=int, default=10, metavar="N", help="dropped rows listed (default: %(default)s)"
    )
    _add_mapping_args(i)
    i.set_defaults(func=commands.cmd_inspect)

    pr = sub.add_parser("projects", help="list the projects of a DuckDB file and where each one stands")
    pr.add_argument("--db", metavar="PATH", help="DuckDB file (default: $EMBCORE_DB or data/embcore.duckdb)")
    pr.set_defaults(func=commands.cmd_projects)

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
    v.add_argument(
        "--json", action="store_true", help="also print the recomputed leakage report as JSON on stdout"
    )
    v.set_defaults(func=commands.cmd_verify)

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
    a.set_defaults(func=commands.cmd_app)

    _add_review_queue_command(sub, commands)

    _add_train_commands(sub, commands)
    return parser


def _add_review_queue_command(subparsers: Any, commands: Any) -> None:
    from embcore.review.queues import FN_THRESHOLD, PER_QUERY, QUEUES

    rq = subparsers.add_parser(
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
    rq.add_argument("--queue", default="false_negatives", choices=QUEUES, help="default: %(default)s")
    rq.add_argument("--run", type=int, metavar="ID", help="mining run (default: the latest finished one)")
    rq.add_argument(
        "--reviewer", metavar="NAME", help="only queries assigned to this reviewer; progress is theirs"
    )
    rq.add_argument("--seed", type=int, default=0, help="seed of the random queue (default: %(default)s)")
    rq.add_argument(
        "--threshold", type=float, default=FN_THRESHOLD, metavar="SIM",
        help="similarity to the positive from which a candidate is a suspected false negative (default: %(default)s)",
    )  # fmt: skip
    rq.add_argument(
        "--per-query", type=int, default=PER_QUERY, metavar="N",
        help="candidate queues: the N strongest candidates of each query, 0 = all (default: %(default)s)",
    )  # fmt: skip
    rq.add_argument("--limit", type=int, metavar="N", help="print at most N items")
    rq.add_argument("--format", choices=("json", "tsv"), default="json", help="default: %(default)s")
    rq.set_defaults(func=commands.cmd_review_queue)


def _add_mapping_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("field mapping (suggested from column names when omitted)")
    g.add_argument("--query-col", metavar="COL", help="column holding the query / question / anchor")
    g.add_argument(
        "--pos-col",
        metavar="COL[,COL]",
        help="column(s) whose values become positives (several = several positives)",
    )
    g.add_argument(
        "--meta-cols", metavar="COL,...", help="metadata columns to keep (for rules, grouping, filters)"
    )
    g.add_argument("--neg-col", metavar="COL", help="column of negatives given by the data (text or list)")
    g.add_argument(
        "--score-col",
        metavar="COL",
        help="score/label column: pair data (STS-style); high scores become positives",
    )
    g.add_argument(
        "--pos-threshold",
        type=float,
        metavar="X",
        help="pair data: score >= X is a positive (default: 0.5 for 0..1 labels, else 80%% of the max)",
    )
    g.add_argument(
        "--neg-threshold",
        type=float,
        metavar="X",
        help="pair data: score <= X becomes a given negative (default: low pairs are dropped)",
    )
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
    g.add_argument(
        "--encoding",
        help="force the input encoding (default: detected: UTF-8, UTF-8-BOM, UTF-16, GB18030, ...)",
    )
    g.add_argument(
        "--format",
        dest="fmt",
        choices=["csv", "tsv", "json", "jsonl", "parquet"],
        help="force the input format (default: from the extension / content)",
    )


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
    g.add_argument(
        "--num-neg",
        type=int,
        default=d.num_negatives,
        metavar="N",
        help="negatives per query (default: %(default)s)",
    )
    g.add_argument(
        "--top-k",
        type=int,
        default=d.top_k,
        metavar="K",
        help="candidate depth per retriever (default: %(default)s)",
    )
    g.add_argument(
        "--model",
        default=d.model,
        help="bi-encoder for dense mining: 'default' (bundled all-MiniLM-L6-v2), a local path or a hub id (default: %(default)s)",
    )
    g.add_argument(
        "--query-prompt",
        default=d.query_prompt,
        metavar="TEXT",
        help="instruction prepended to queries when encoding; also written as 'prompt' (default: none)",
    )
    g.add_argument(
        "--passage-prompt",
        default=d.passage_prompt,
        metavar="TEXT",
        help="prefix prepended to passages when encoding (default: none)",
    )
    g.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="encoding batch size (default: %(default)s)"
    )
    g.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default=d.tokenizer,
        help="BM25 tokenizer: auto picks jieba for mostly-CJK text (default: %(default)s)",
    )
    g.add_argument(
        "--stopwords",
        choices=STOPWORDS,
        default=d.stopwords,
        help="remove stopwords before BM25 (default: keep all)",
    )
    g.add_argument("--k1", type=float, default=d.bm25_k1, help="BM25 k1 (default: %(default)s)")
    g.add_argument("--b", type=float, default=d.bm25_b, help="BM25 b (default: %(default)s)")
    g.add_argument(
        "--epsilon",
        type=float,
        default=d.bm25_epsilon,
        help="BM25Okapi idf floor epsilon (default: %(default)s)",
    )
    g.add_argument(
        "--fusion",
        choices=FUSIONS,
        default=d.fusion,
        help="how several candidate lists are fused (default: %(default)s)",
    )
    g.add_argument(
        "--rrf-k", type=int, default=d.rrf_k, help="reciprocal-rank-fusion constant (default: %(default)s)"
    )
    g.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="COL:same|different[:hard|easy]",
        help="metadata rule for the 'rules' source, e.g. ticker:same:hard (repeatable)",
    )
    g.add_argument(
        "--inbatch-size",
        type=int,
        default=d.inbatch_size,
        help="batch size simulated by in-batch negatives (default: %(default)s)",
    )
    f = p.add_argument_group("false-negative filters")
    f.add_argument(
        "--range-min",
        type=int,
        default=d.range_min,
        help="skip the first N surviving candidates (default: %(default)s)",
    )
    f.add_argument(
        "--range-max",
        type=int,
        default=d.range_max,
        help="consider only the first N surviving candidates (default: no limit)",
    )
    f.add_argument(
        "--max-score",
        type=float,
        default=d.max_score,
        help="drop candidates scoring above this (default: off)",
    )
    f.add_argument(
        "--min-score",
        type=float,
        default=d.min_score,
        help="drop candidates scoring below this (default: off)",
    )
    f.add_argument(
        "--absolute-margin",
        type=float,
        default=d.absolute_margin,
        help="drop candidates with score + margin > positive score (default: off)",
    )
    f.add_argument(
        "--relative-margin",
        type=float,
        default=d.relative_margin,
        help="drop candidates above (1 - margin) x positive score; 0.05 = TopK-PercPos 95%% (default: %(default)s; -1 = off)",
    )
    f.add_argument(
        "--near-dup",
        type=float,
        default=d.near_duplicate_threshold,
        metavar="COS",
        help="drop candidates whose cosine to a positive is >= COS (default: %(default)s; -2 = off)",
    )
    f.add_argument(
        "--cross-encoder",
        default=None,
        metavar="MODEL",
        help="rescore candidates with this cross-encoder (local path) before filtering",
    )
    f.add_argument(
        "--score-filters",
        choices=SCORE_FILTERS,
        default=d.score_filters,
        help="run the near-duplicate / score / margin filters (they need the model's cosines): auto = for runs with a "
        "retriever (bm25, dense, hybrid, rules), not for random / in-batch alone; on = always; off = never "
        "(default: %(default)s)",
    )
    f.add_argument(
        "--sampling",
        choices=SAMPLINGS,
        default=d.sampling,
        help="pick the top survivors or a seeded random draw (default: %(default)s)",
    )


def _add_split_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("split and export")
    g.add_argument(
        "--split",
        default="0.8,0.1,0.1",
        metavar="TRAIN,VAL,TEST",
        help="split ratios, summing to 1 (default: %(default)s)",
    )
    g.add_argument(
        "--seed", type=int, default=42, help="seed for mining, sampling and the split (default: %(default)s)"
    )
    g.add_argument("--group-col", metavar="COL", help="metadata column whose values must stay in one split")
    g.add_argument(
        "--stratify-col", metavar="COL", help="metadata column spread over the splits by the ratios"
    )
    g.add_argument(
        "--max-neg", type=int, metavar="N", help="cap on negatives per exported sample (default: no cap)"
    )
    g.add_argument(
        "--type",
        dest="sample_type",
        metavar="TYPE",
        help="'type' written to each sample (e.g. normal, symmetric_class)",
    )
    g.add_argument(
        "--prompt",
        metavar="TEXT|name:NAME",
        help="query instruction written to 'prompt' and used when encoding queries (unless --query-prompt differs); "
        "'name:retrieval.query' picks a named prompt from the model's config_sentence_transformers.json or the defaults",
    )
    g.add_argument(
        "--allow-cross-split-negatives",
        action="store_true",
        help="keep train negatives that are val/test positives (off: they are dropped)",
    )
    g.add_argument(
        "--empty-negatives",
        choices=["top-up", "random", "drop"],
        default="top-up",
        help="a sample left without negatives: top-up = the run's next candidates (a score/margin filter removed "
        "them; never a positive or its near-twin), then random passages; random = random passages; drop = leave "
        "it out of its JSONL file (never an empty 'neg' list; default: %(default)s)",
    )
    g.add_argument(
        "--formats",
        default="flag,st,hf",
        metavar="F[,F]",
        help="files to write: flag = FlagEmbedding JSONL (always written: eval, finetune and verify read it), "
        "st = sentence-transformers Parquet (st/), hf = Hugging Face DatasetDict (hf/, datasets.load_from_disk); "
        "the BEIR eval set and the dataset card README.md are always written (default: %(default)s)",
    )
    g.add_argument(
        "--license",
        metavar="ID",
        help="licence id for the dataset card (SPDX / Hugging Face, e.g. cc-by-4.0, apache-2.0, other), recorded "
        "for the project (default: the project's, else 'unknown' with a note)",
    )
    g.add_argument(
        "--split-near-dup",
        default="0.7",
        metavar="JACCARD|off",
        help="passages whose word 3-shingles have Jaccard similarity >= this count as one passage for the split, "
        "the negative checks and the leakage report (passages equal up to case, width, punctuation and spacing "
        "always do); 'off' = only those (default: %(default)s)",
    )


def _add_extension_args(p: argparse.ArgumentParser) -> None:
    """Options of the teacher-scoring and augmentation steps."""
    _add_teacher_args(p)
    _add_augment_args(p)


def _add_teacher_args(p: argparse.ArgumentParser) -> None:
    """``embcore build`` options for teacher scores."""
    g = p.add_argument_group("teacher scores (pos_scores / neg_scores)")
    g.add_argument(
        "--teacher",
        metavar="MODEL",
        help="cross-encoder or bi-encoder ('default' = bundled) that fills pos_scores/neg_scores",
    )
    g.add_argument(
        "--teacher-kind",
        choices=TEACHER_KINDS,
        default="auto",
        help="teacher type (default: %(default)s: detected from the model folder)",
    )
    g.add_argument(
        "--teacher-normalize",
        choices=NORMALIZATIONS,
        default="raw",
        help="score normalisation per query (default: %(default)s)",
    )
    g.add_argument(
        "--teacher-temperature", type=float, default=1.0, help="softmax temperature (default: %(default)s)"
    )


def _add_augment_args(p: argparse.ArgumentParser) -> None:
    """``embcore build`` options for EDA and LLM augmentation."""
    from embcore.augment.eda import OPS
    from embcore.augment.llm import TASKS

    g = p.add_argument_group(
        "augmentation (augmented samples stay in their source's split; never in the eval set)"
    )
    g.add_argument(
        "--augment",
        metavar="OPS",
        help=f"EDA operations, comma-separated: {', '.join(OPS)}, or eda for all four (WordNet synonyms; jieba + Cilin for Chinese)",
    )
    g.add_argument(
        "--augment-n",
        type=int,
        default=1,
        metavar="N",
        help="augmented copies per sample (default: %(default)s)",
    )
    g.add_argument(
        "--augment-rate",
        type=float,
        default=0.1,
        metavar="R",
        help="fraction of words changed per operation (default: %(default)s)",
    )
    g.add_argument(
        "--augment-target",
        choices=["query", "pos", "both"],
        default="query",
        help="texts to augment (default: %(default)s)",
    )
    g.add_argument(
        "--augment-no-protect",
        action="store_true",
        help="let EDA change numbers, names, tickers and metadata values (protected by default)",
    )
    g.add_argument(
        "--llm",
        metavar="TASKS",
        help=f"LLM tasks through your OpenAI-compatible endpoint (--llm-base-url or $OPENAI_BASE_URL; key: $OPENAI_API_KEY): {', '.join(TASKS)}",
    )
    g.add_argument(
        "--llm-base-url",
        metavar="URL",
        help="endpoint, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL; no built-in default: a public API is only called when you give its URL)",
    )
    g.add_argument("--llm-model", metavar="MODEL", help="chat model name (default: $OPENAI_MODEL)")
    g.add_argument(
        "--llm-n",
        type=int,
        default=3,
        metavar="N",
        help="items generated per input for list tasks (default: %(default)s)",
    )
    g.add_argument(
        "--llm-pivot",
        metavar="LANG",
        help="back-translation pivot language (default: German for English text, English for others)",
    )
    g.add_argument(
        "--llm-instruction",
        default="simplify",
        metavar="TEXT",
        help="rewrite instruction: simplify, shorten or free text (default: %(default)s)",
    )
    g.add_argument("--augment-max-samples", type=int, metavar="N", help="augment only the first N samples")


def _add_sources_args(p: argparse.ArgumentParser) -> None:
    """Options of ``build --docs`` (documents without queries) and ``build --logs`` (search logs)."""
    from embcore.ingest.quality import ROUNDTRIPS, GateConfig

    d = GateConfig()
    g = p.add_argument_group("documents and search logs (instead of INPUT)")
    g.add_argument("--docs", metavar="PATH", help="a folder or .zip of .txt .md .html .pdf .docx files, one such file, "
                   "or a table (.csv .jsonl .parquet ...) with a document text column")  # fmt: skip
    g.add_argument("--chunk", default="paragraph", metavar="MODE",
                   help="sentence | paragraph | document | tokens[:N[:OVERLAP]] (token window measured with --model's "
                   "tokenizer; default N = its max_seq_length) (default: %(default)s)")  # fmt: skip
    g.add_argument("--queries", default="ict,title", metavar="M[:SHARE],...",
                   help="query makers: ict (Inverse Cloze Task), title (title/heading -> chunk), llm (needs --llm-base-url "
                   "and --llm-model); an optional share of the chunks each, e.g. ict:0.7,title (default: %(default)s)")  # fmt: skip
    g.add_argument(
        "--queries-per-chunk",
        type=int,
        metavar="N",
        help="ICT sentences / LLM queries per chunk (default: 1 / 3)",
    )
    g.add_argument(
        "--llm-prompt-file",
        metavar="FILE",
        help="prompt template for --queries llm ({passage} {title} {n} {language} {styles})",
    )
    g.add_argument("--roundtrip", choices=ROUNDTRIPS, default=d.roundtrip,
                   help="quality gate: a query must retrieve its chunk in the top K by this retriever (default: %(default)s)")  # fmt: skip
    g.add_argument(
        "--roundtrip-k", type=int, default=d.k, metavar="K", help="round-trip depth (default: %(default)s)"
    )
    g.add_argument(
        "--llm-judge",
        type=float,
        metavar="MIN",
        help="quality gate: an LLM scores each query 1-5; below MIN is filtered",
    )
    g.add_argument("--no-gate", action="store_true", help="keep every generated query (no quality gate)")
    g.add_argument(
        "--text-col", metavar="COL", help="table of documents / corpus: the text column (default: guessed)"
    )
    g.add_argument(
        "--id-col", metavar="COL", help="table of documents / corpus: the id column (default: guessed)"
    )
    g.add_argument(
        "--title-col", metavar="COL", help="table of documents / corpus: the title column (default: guessed)"
    )
    g.add_argument(
        "--logs",
        metavar="LOG",
        help="search log (CSV/JSONL: query, shown ids, clicked ids[, dwell, session])",
    )
    g.add_argument(
        "--corpus", metavar="CORPUS", help="the corpus the log's ids refer to (e.g. BEIR corpus.jsonl)"
    )
    g.add_argument(
        "--min-clicks",
        type=int,
        default=1,
        metavar="N",
        help="search log: clicks for a positive (default: %(default)s)",
    )
    g.add_argument(
        "--min-dwell",
        type=float,
        metavar="SECONDS",
        help="search log: shortest dwell time of a counted click",
    )


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
    from embcore.models.backends import BACKENDS

    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="encoding backend for evaluation (default: $EMBCORE_BACKEND or auto = OpenVINO when installed, "
        "else PyTorch; onnx-int8 vectors are cached apart)",
    )


def _add_train_commands(subparsers: Any, commands: Any) -> None:
    """The ``eval`` and ``finetune`` subcommands."""
    from embcore.training.defaults import (
        DEFAULT_EXPLANATIONS,
        DEFAULT_LOSS,
        DEFAULT_TEMPERATURE,
        DEFAULTS,
        LOSSES,
        PRECISIONS,
    )
    from embcore.training.evaluate import SPLITS

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
    _add_backend_arg(p)
    p.set_defaults(func=commands.cmd_eval)

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
    f.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="DuckDB file to record the run in (e.g. the build's OUT/embcore.duckdb): config, status, timings, "
        "and the report, under the export's project when the database holds it",
    )
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_backend_arg(f)
    f.set_defaults(func=commands.cmd_finetune)
