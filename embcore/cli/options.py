"""Turn parsed command-line options into the core's settings (mapping, mining, export, teacher,
augmentation, fine-tuning, documents and search logs), with one clear error naming the option when
they do not fit."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embcore.augment.llm import ChatClient, LLMConfig, resolve_base_url
from embcore.augment.project import AugmentConfig
from embcore.errors import EmbcoreError
from embcore.export.config import ExportConfig
from embcore.ingest.chunking import ChunkSpec
from embcore.ingest.documents import TableColumns
from embcore.ingest.logs import LogConfig
from embcore.ingest.mapping import FieldMapping, parse_null_values, suggest_mapping
from embcore.ingest.prepare import DocsConfig
from embcore.ingest.pseudo_queries import parse_query_methods
from embcore.ingest.quality import GateConfig
from embcore.ingest.read import RawTable, columns_text
from embcore.mining.config import MiningConfig
from embcore.models.teacher import TeacherConfig
from embcore.training.finetune import FinetuneConfig


def _csv_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def mapping_from_args(
    args: argparse.Namespace, raw: RawTable, *, confirm: bool = True
) -> tuple[FieldMapping, bool]:
    """The user's mapping from CLI flags, completed by the suggestion for what they left out.

    Returns:
        (mapping, whether part of it is the suggestion).

    Raises:
        EmbcoreError: with ``confirm``, when the query or positive column would be guessed from the
            content (no familiar column name) and neither ``--query-col/--pos-col`` nor
            ``--accept-suggested-mapping`` confirms it; the message shows the columns and the guess.
    """
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
            meta_cols=_csv_list(args.meta_cols)
            if args.meta_cols is not None
            else (suggested.meta_cols if suggested else []),
            neg_col=args.neg_col
            if args.neg_col
            else (suggested.neg_col if suggested and not args.query_col else None),
            score_col=args.score_col
            if args.score_col
            else (suggested.score_col if suggested and not args.query_col else None),
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
            f"{raw.name}: no familiar column names for the query and positive (columns: {columns_text(raw.columns)}); "
            f"the suggested mapping, guessed from the content, would be: {m.describe()}; confirm it with "
            f"--query-col {m.query_col} --pos-col {','.join(m.pos_cols)} (or other columns), or pass "
            "--accept-suggested-mapping"
        )
    return m, (not args.query_col or not args.pos_col)


def mining_from_args(args: argparse.Namespace) -> MiningConfig:
    """The mining settings of ``embcore build`` (validated)."""
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


def export_from_args(args: argparse.Namespace, prompt: str | None) -> ExportConfig:
    """The split and export settings of ``embcore build`` (``prompt``: the resolved query instruction)."""
    from embcore.export.card import check_license
    from embcore.export.formats import parse_formats
    from embcore.export.split import parse_ratios

    return ExportConfig(
        ratios=parse_ratios(args.split),
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
        formats=parse_formats(args.formats),
        license=check_license(args.license),
    )


def _near_dup(value: str) -> float | None:
    if str(value).strip().lower() in ("off", "none", "0", ""):
        return None
    try:
        x = float(value)
    except ValueError as exc:
        raise EmbcoreError(
            f"--split-near-dup {value!r}: give a Jaccard similarity in (0, 1] or 'off'"
        ) from exc
    if not 0 < x <= 1:
        raise EmbcoreError(f"--split-near-dup {value!r}: give a Jaccard similarity in (0, 1] or 'off'")
    return x


def teacher_from_args(args: argparse.Namespace) -> TeacherConfig | None:
    """The teacher of ``embcore build --teacher`` (None without it)."""
    if not getattr(args, "teacher", None):
        return None
    return TeacherConfig(
        model=args.teacher,
        kind=args.teacher_kind,
        normalize=args.teacher_normalize,
        temperature=args.teacher_temperature,
        query_prompt=getattr(args, "query_prompt", "") or "",
        passage_prompt=getattr(args, "passage_prompt", "") or "",
    ).validate()


def augment_from_args(args: argparse.Namespace) -> AugmentConfig | None:
    """The augmentation settings of ``embcore build`` (None without --augment / --llm).

    Raises:
        EmbcoreError: bad options; ``--llm`` without an endpoint or a model (checked before
            anything is read or written).
    """
    if not getattr(args, "augment", None) and not getattr(args, "llm", None):
        return None
    base_url = getattr(args, "llm_base_url", None)
    if args.llm and not resolve_base_url(base_url):
        raise EmbcoreError(
            "--llm needs an endpoint: pass --llm-base-url URL or set OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1); "
            "no public API is called by default"
        )
    if args.llm and not (args.llm_model or os.environ.get("OPENAI_MODEL")):
        raise EmbcoreError("--llm needs a model: pass --llm-model NAME (or set OPENAI_MODEL)")
    return AugmentConfig(
        ops=[o for o in (args.augment or "").split(",") if o.strip()],
        n=args.augment_n,
        rate=args.augment_rate,
        target=args.augment_target,
        protect=not getattr(args, "augment_no_protect", False),
        llm_tasks=[t for t in (args.llm or "").split(",") if t.strip()],
        llm_n=args.llm_n,
        llm_model=args.llm_model,
        llm_base_url=base_url,
        pivot=args.llm_pivot,
        instruction=args.llm_instruction,
        max_samples=args.augment_max_samples,
        seed=args.seed,
    ).validate()


def finetune_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """The settings of ``embcore finetune`` (validated)."""
    from embcore.training.defaults import DEFAULTS
    from embcore.training.trainer import parse_dims

    return FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        loss=args.loss,
        matryoshka_dims=parse_dims(args.matryoshka),
        lr=args.lr,
        max_steps=args.max_steps,
        max_samples=args.max_samples,
        num_negatives=args.num_negatives,
        seed=args.seed,
        temperature=args.temperature,
        eval_test=not args.no_eval,
        eval_val=False if args.no_val else (True if args.val else DEFAULTS.eval_val),
        eval_max_queries=args.eval_max_queries,
        max_seq_length=args.max_seq_length,
        mini_batch_size=args.mini_batch_size,
        precision=args.precision,
    ).validate()


def use_backend(args: argparse.Namespace) -> None:
    """``--backend`` sets the encoding backend for this process (``$EMBCORE_BACKEND``)."""
    if getattr(args, "backend", None):
        from embcore.models.backends import BACKEND_ENV

        os.environ[BACKEND_ENV] = args.backend


# --------------------------------------------------------------------------- documents and search logs


@dataclass
class SourceOptions:
    """What ``build --docs`` / ``build --logs`` asked for (read and prepared by the command).

    Attributes:
        kind: ``documents`` or ``search-log``.
        path: the documents (``--docs``) or the search log (``--logs``).
        corpus: the corpus a search log's ids refer to (``--corpus``).
        columns: the text / id / title columns of a document table or a corpus (``--text-col`` ...).
        docs: chunking, query makers and quality gate (documents).
        log: click thresholds (search logs).
        llm_client: the chat client of ``--queries llm`` / ``--llm-judge`` (None otherwise).
    """

    kind: str
    path: str
    corpus: str | None = None
    columns: TableColumns | None = None
    docs: DocsConfig | None = None
    log: LogConfig | None = None
    llm_client: ChatClient | None = None


def sources_from_args(args: argparse.Namespace) -> SourceOptions | None:
    """The settings of ``build --docs`` / ``--logs`` (None for a table INPUT), checked before any reading.

    Raises:
        EmbcoreError: INPUT together with --docs/--logs, neither, --logs without --corpus, bad options
            (naming the option).
    """
    if args.docs and args.logs:
        raise EmbcoreError("give either --docs or --logs, not both")
    if not args.docs and not args.logs:
        if not args.input:
            raise EmbcoreError("give an INPUT data file, --docs PATH or --logs LOG --corpus CORPUS")
        return None
    if args.input:
        raise EmbcoreError(f"give either INPUT ({args.input}) or --docs / --logs, not both")
    columns = None
    if args.text_col:
        columns = TableColumns(args.text_col, args.id_col, args.title_col, _csv_list(args.meta_cols))
    if args.logs:
        if not args.corpus:
            raise EmbcoreError(
                "--logs needs --corpus CORPUS: the file holding the texts of the logged result ids"
            )
        if args.min_clicks < 1:
            raise EmbcoreError("--min-clicks must be >= 1")
        return SourceOptions(
            "search-log",
            args.logs,
            corpus=args.corpus,
            columns=columns,
            log=LogConfig(args.min_clicks, args.min_dwell),
        )
    spec = ChunkSpec.parse(args.chunk)
    methods = parse_query_methods(args.queries)
    gate = GateConfig(
        enabled=not args.no_gate, roundtrip=args.roundtrip, k=args.roundtrip_k, judge_min=args.llm_judge
    )
    gate.validate()
    if args.queries_per_chunk is not None and args.queries_per_chunk < 1:
        raise EmbcoreError("--queries-per-chunk must be >= 1")
    cfg = DocsConfig(chunk=spec, queries=methods, per_chunk=args.queries_per_chunk, seed=args.seed, gate=gate)
    client = None
    if "llm" in methods or args.llm_judge is not None:
        client = llm_client_from_args(args)
        if args.llm_prompt_file:
            try:
                cfg.llm.prompt = Path(args.llm_prompt_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise EmbcoreError(
                    f"{args.llm_prompt_file}: cannot read the prompt file ({exc.strerror or exc})"
                ) from exc
        cfg.llm.validate()
    return SourceOptions("documents", args.docs, columns=columns, docs=cfg, llm_client=client)


def llm_client_from_args(args: argparse.Namespace) -> ChatClient:
    """A chat client from --llm-base-url / --llm-model (or the environment) for ``--queries llm`` /
    ``--llm-judge``.

    Raises:
        EmbcoreError: no endpoint or no model (no public API is ever called by default).
    """
    if not resolve_base_url(args.llm_base_url):
        raise EmbcoreError(
            "--queries llm / --llm-judge need an endpoint: pass --llm-base-url URL or set OPENAI_BASE_URL "
            "(e.g. http://127.0.0.1:8000/v1); no public API is called by default"
        )
    if not (args.llm_model or os.environ.get("OPENAI_MODEL")):
        raise EmbcoreError(
            "--queries llm / --llm-judge need a model: pass --llm-model NAME (or set OPENAI_MODEL)"
        )
    return ChatClient(LLMConfig.from_env(model=args.llm_model, base_url=args.llm_base_url, seed=args.seed))


def queue_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``embcore review-queue`` options as keywords of :func:`embcore.review.queues.compute`.

    Raises:
        EmbcoreError: ``--limit`` or ``--per-query`` below their minimum.
    """
    if args.limit is not None and args.limit < 1:
        raise EmbcoreError(f"--limit must be at least 1, got {args.limit}")
    if args.per_query < 0:
        raise EmbcoreError(f"--per-query must be 0 (every candidate) or more, got {args.per_query}")
    return {
        "reviewer": args.reviewer,
        "seed": args.seed,
        "threshold": args.threshold,
        "per_query": args.per_query or None,
    }
