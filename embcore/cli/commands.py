"""The ``embcore`` command line: build datasets, inspect files, list projects, print review queues,
evaluate, fine-tune, start the app.

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
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from embcore.cli.options import (
    augment_from_args,
    export_from_args,
    finetune_from_args,
    mapping_from_args,
    mining_from_args,
    queue_from_args,
    sources_from_args,
    teacher_from_args,
    use_backend,
)
from embcore.errors import EmbcoreError

if TYPE_CHECKING:
    from embcore.cli.options import SourceOptions
    from embcore.ingest.prepare import PreparedSource
    from embcore.store import Store

log = logging.getLogger("embcore")

R = TypeVar("R")


def cmd_build(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from embcore.ingest.mapping import validate_mapping
    from embcore.ingest.prepare import GROUP_COL
    from embcore.ingest.read import read_table
    from embcore.models.prompts import resolve_prompt
    from embcore.progress import tqdm_progress
    from embcore.store import check_db_path
    from embcore.workflow import build, check_output_dir

    # paths the user gave are checked before any work (reading, models, mining)
    check_output_dir(args.out)
    if args.db:
        check_db_path(args.db)
    # one instruction, applied consistently: mining encodes with it, the export writes it
    prompt = resolve_prompt(args.prompt if args.prompt is not None else args.query_prompt, args.model)
    args.query_prompt = resolve_prompt(args.query_prompt, args.model) if args.query_prompt else prompt
    args.passage_prompt = resolve_prompt(args.passage_prompt, args.model)
    mining = mining_from_args(args)
    sources = sources_from_args(args)
    export = export_from_args(args, prompt)
    prepared = _prepare_sources(sources, model=args.model) if sources is not None else None
    if prepared is not None:
        raw, mapping, suggested = prepared.raw, prepared.mapping, False
        if prepared.kind == "documents" and not export.group_col:
            # chunks of one document never straddle train / val / test
            export = replace(export, group_col=GROUP_COL)
    else:
        raw = read_table(args.input, fmt=args.fmt, encoding=args.encoding)
        mapping, suggested = mapping_from_args(args, raw)
        validate_mapping(raw, mapping)
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
        teacher=teacher_from_args(args),
        augment=augment_from_args(args),
        prepared=prepared,
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
        f"{sum(leak.values())} passage pairs, {res.leakage.get('queries_in_another_split', 0)} queries; formats "
        f"{', '.join(export.formats)} + BEIR eval set; dataset card README.md (licence "
        f"{res.manifest.get('license', 'unknown')}); manifest.json"
        + (f"; using suggested mapping: {mapping.describe()}" if suggested else ""),
        file=sys.stderr,
    )
    if suggested:
        for note in mapping.notes:
            if note.startswith("metadata: the first"):
                print(f"embcore: {note}", file=sys.stderr)
    for line in ingest_summary(result.ingest.report() if result.ingest else {}):
        print(f"embcore: {line}", file=sys.stderr)
    if prepared is not None:
        for line in sources_summary(prepared.stats):
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


def _prepare_sources(sources: SourceOptions, *, model: str | None) -> PreparedSource:
    """Read and prepare the documents / search log of ``build --docs`` / ``--logs`` (nothing is stored yet);
    unreadable documents are listed on stderr and skipped.

    Raises:
        EmbcoreError: nothing readable, no chunk, no query, a log without a usable click (saying why).
    """
    from embcore.ingest.documents import read_document_input
    from embcore.ingest.prepare import prepare_documents, prepare_log

    if sources.kind == "search-log":
        return prepare_log(sources.path, sources.corpus, cfg=sources.log, corpus_columns=sources.columns)
    docset = read_document_input(sources.path, columns=sources.columns)
    for p in docset.problems:
        print(f"embcore: could not read {p.path}: {p.reason}", file=sys.stderr)
    return prepare_documents(docset, sources.docs, model=model, llm_client=sources.llm_client)


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
        f"{sum(recs.values())} records valid ({', '.join(summary.get('formats', ['flag']))} read back), "
        "no leakage between splits",
        file=sys.stderr,
    )
    return 0


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
        parts = [
            f"{col}: " + ", ".join(f"{k!r} x{v}" for k, v in per.items())
            for col, per in list(nulls.items())[:5]
        ]
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


def sources_summary(stats: dict[str, Any]) -> list[str]:
    """Lines about a documents / search-log build: documents read and unreadable, chunks, queries, the gate."""
    lines = []
    docs = stats.get("documents") or {}
    if docs:
        bad = docs.get("unreadable") or []
        lines.append(
            f"{docs['documents']} documents read from {docs['input']}"
            + (f", {len(bad)} unreadable (listed under sources in manifest.json)" if bad else "")
        )
    ch = stats.get("chunking") or {}
    if ch:
        lines.append(f"{ch['chunks']} chunks ({ch['mode']}; {ch['too_short_dropped']} too short dropped)")
    gate = stats.get("gate") or {}
    if gate.get("enabled"):
        removed = ", ".join(f"{k} {v}" for k, v in gate["filters"].items() if v) or "none"
        lines.append(
            f"quality gate kept {gate['kept']} of {gate['queries']} queries ({gate['kept_share']:.0%}); filtered: {removed}"
        )
    elif gate:
        lines.append(f"quality gate off: all {gate['queries']} queries kept")
    lg = stats.get("log") or {}
    if lg:
        lines.append(
            f"search log: {lg['rows']} rows, {lg['queries']} distinct queries -> {lg['samples']} samples, "
            f"{lg['skip_above_negatives']} skip-above negatives; {lg['queries_without_positive']} queries without a "
            f"qualifying click; {lg['unknown_ids']} ids not in the corpus"
            + (f" (e.g. {', '.join(lg['unknown_id_examples'][:3])})" if lg["unknown_ids"] else "")
        )
    return lines


def _some(values: list[int], total: int, limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" ... ({total} in all)" if total > limit else "")


def cmd_inspect(args: argparse.Namespace) -> int:
    from embcore.ingest.mapping import validate_mapping
    from embcore.ingest.read import columns_text, read_table
    from embcore.ingest.samples import build_samples

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
    print(
        f"format:    {raw.format}"
        + (f", {delim}-separated" if delim else "")
        + (f", encoding {raw.encoding}" if raw.encoding else "")
    )
    print(f"rows:      {len(raw.df):,} data rows, {len(raw.columns):,} columns: {columns_text(raw.columns)}")
    how = (
        "guessed from the content: confirm with --query-col/--pos-col or --accept-suggested-mapping"
        if mapping.guessed
        else ("suggested from the column names" if suggested else "as given")
    )
    print(f"mapping:   {mapping.describe()} ({how})")
    for note in mapping.notes:
        print(f"           - {note}")
    print(f"samples:   {len(result.samples):,} (queries merged by {mapping.merge_queries}), "
          f"{report.get('unique_passages', 0):,} unique passages, "
          f"{report.get('queries_with_several_positives', 0):,} queries with several positives")  # fmt: skip
    reasons = ", ".join(
        f"{k} {v}" for k, v in sorted(report["dropped_by_reason"].items(), key=lambda kv: -kv[1])
    )
    print(f"dropped:   {report['rows_dropped']:,} rows" + (f" ({reasons})" if reasons else ""))
    for d in report["dropped"][:limit]:
        print(f"           row {d['row']}: {d['reason']}" + (f" [{d['column']}]" if d.get("column") else ""))
    if report["rows_dropped"] > limit:
        print(
            f"           ... {report['rows_dropped'] - limit:,} more (--show N lists more, --json for JSON)"
        )
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

    app = Path(__file__).resolve().parents[2] / "app.py"  # the repository root, next to embcore/
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


def cmd_review_queue(args: argparse.Namespace) -> int:
    """``embcore review-queue``: one queue's items as JSON (an object with the rows) or TSV (a header line)."""
    from embcore.review import queues
    from embcore.review.model import latest_teacher
    from embcore.store import Store, default_db_path

    options = queue_from_args(args)
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        raise EmbcoreError(f"{path}: no such database")
    with Store(path) as store:
        pid = store.project_id(args.project)
        if args.run is not None:
            if args.run not in {int(i) for i in store.runs(pid, "mine", status="done")["id"]}:
                raise EmbcoreError(f"run {args.run} is not a finished mining run of project {args.project!r}")
        teacher = latest_teacher(store, pid)
        q = queues.compute(
            store, pid, args.run, args.queue, teacher=teacher["teacher_id"] if teacher else None, **options
        )
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
    _print_json(out)
    return 0


def _tsv(value: object) -> str:
    """One TSV cell: empty for a missing value, tabs and line breaks as spaces."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _open_store(path: str | None) -> AbstractContextManager[Store | None]:
    """The store of ``--db`` (a context manager; ``None`` inside when no ``--db`` was given)."""
    from contextlib import nullcontext

    if not path:
        return nullcontext(None)
    from embcore.store import Store

    return Store(path)


def _recorded(
    args: argparse.Namespace, kind: str, config: dict[str, Any], work: Callable[[Store | None], R]
) -> R:
    """``work(store)`` as a recorded run of ``kind`` in the ``--db`` database (under the export's
    project when the database holds it); without ``--db``, just ``work(None)``."""
    from embcore.workflow import export_project_id, record

    with _open_store(args.db) as store:
        pid = export_project_id(store, args.data) if store is not None else None
        return record(store, pid, kind, config, lambda: work(store), model_id=args.model)[0]


def cmd_eval(args: argparse.Namespace) -> int:
    """``embcore eval``: print the split's retrieval metrics as JSON on stdout (a run in ``--db``)."""
    from embcore.progress import tqdm_progress
    from embcore.training.evaluate import evaluate

    use_backend(args)
    config = {"data_dir": str(args.data), "model": args.model, "split": args.split, "max_queries": args.max_queries,
              "seed": args.seed, "use_prompts": not args.no_prompts, "truncate_dim": args.truncate_dim}  # fmt: skip
    result = _recorded(
        args,
        "eval",
        config,
        lambda store: evaluate(
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
    )
    _print_json(result.to_dict(per_query=args.per_query))
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """``embcore finetune``: train, save the model and report.json, print the summary as JSON (a run in ``--db``)."""
    from embcore.progress import tqdm_progress
    from embcore.training.finetune import finetune

    use_backend(args)
    cfg = finetune_from_args(args)
    config = {"data_dir": str(args.data), "model": args.model, "out_dir": str(args.out), **cfg.to_dict()}
    report = _recorded(
        args,
        "finetune",
        config,
        lambda _store: finetune(
            args.data, args.model, args.out, cfg, progress=tqdm_progress(disable=args.quiet)
        ),
    )
    _print_json(report.summary())
    return 0


# errors of the machine rather than of the code, even without a file name (disk full, read-only)
_USER_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``embcore`` console script."""
    from embcore.cli.parser import build_parser

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
            print(
                f"embcore: internal error: {type(exc).__name__}: {exc} (rerun with -v for details)",
                file=sys.stderr,
            )
            return 1
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"embcore: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with -v
        if args.verbose:
            raise
        print(
            f"embcore: internal error: {type(exc).__name__}: {exc} (rerun with -v for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
