"""High-level steps shared by the CLI and the app: create a project, mine, export, build.

Each step records a run in the store (config, seed, model, data hash, timings, counts) so
that every file the tool writes can be traced back to how it was made.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pandas as pd

from embcore import __version__
from embcore.augment.project import AugmentConfig, augment_project
from embcore.errors import EmbcoreError
from embcore.export.config import ExportConfig
from embcore.export.exporter import ExportResult, export_project
from embcore.export.split import check_split_sizes
from embcore.ingest.mapping import FieldMapping, suggest_mapping
from embcore.ingest.prepare import PreparedSource
from embcore.ingest.read import RawTable, read_table
from embcore.ingest.samples import IngestResult, build_samples
from embcore.mining.config import MiningConfig
from embcore.mining.guard import exclude_same_chunk
from embcore.mining.types import MiningInput
from embcore.models.encoders import Encoder, load_encoder, model_label
from embcore.models.teacher import TeacherConfig, make_teacher
from embcore.progress import ProgressFn
from embcore.store import Store, check_db_path

log = logging.getLogger(__name__)


@dataclass
class ProjectInfo:
    """A project created from a file."""

    project_id: int
    raw: RawTable
    ingest: IngestResult
    reused: bool = False


def create_project(
    store: Store,
    source: str | Path | BinaryIO | Any,
    mapping: FieldMapping | None = None,
    *,
    name: str | None = None,
    raw: RawTable | None = None,
    replace: bool = False,
    reuse: bool = False,
    ingested: IngestResult | None = None,
) -> ProjectInfo:
    """Read, clean and store a data file as a project.

    Args:
        store: target store.
        source: path or uploaded file (ignored when ``raw`` is given).
        mapping: field mapping (suggested when None).
        name: project name (default: the file name's stem).
        raw: an already-read table (the app reads once for the preview).
        replace: replace an existing project of the same name (its decisions are lost).
        reuse: keep an existing project of the same name when it holds the same input and
            mapping (re-building keeps reviews); a different input is an error.
        ingested: ``build_samples(raw, mapping)`` when the caller already has it (not recomputed).

    Raises:
        EmbcoreError: unusable data (every row dropped, or every row one duplicated pair), a name
            conflict, or (``reuse``) a project of that name holding other data.
    """
    raw = raw or read_table(source)
    mapping = mapping or suggest_mapping(raw)
    result = ingested if ingested is not None and ingested.mapping == mapping else build_samples(raw, mapping)
    result.check_usable(raw.name)
    name = name or Path(raw.name).stem or "project"
    if reuse and not replace:
        pid = store.find_project(name)
        if pid is not None:
            proj = store.get_project(pid)
            if proj["source_sha256"] == raw.sha256 and _same_mapping(proj["mapping"], mapping):
                return ProjectInfo(pid, raw, result, reused=True)
            raise EmbcoreError(
                f"project {name!r} in {store.path} holds other data or another mapping; "
                "pass another --project name or --replace"
            )
    pid = store.create_project(
        name,
        result.samples,
        source_name=Path(raw.name).name,
        source_sha256=raw.sha256,
        source_format=raw.format,
        mapping=mapping.to_dict(),
        cleaning=result.report() | {"encoding": raw.encoding, "delimiter": raw.delimiter},
        replace=replace,
    )
    return ProjectInfo(pid, raw, result)


def create_source_project(
    store: Store,
    prepared: PreparedSource,
    *,
    name: str | None = None,
    replace: bool = False,
    encoder: Encoder | None = None,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> ProjectInfo:
    """Create a project from documents or a search log (:mod:`embcore.ingest.prepare`): its samples, then its
    provenance and, for documents, the quality gate's verdict on every generated query (the app's Data page).

    Raises:
        EmbcoreError: a name conflict, or the gate filtered every query (the project is not kept).
    """
    info = create_project(
        store, None, prepared.mapping, name=name, raw=prepared.raw, replace=replace, ingested=prepared.ingest
    )
    try:
        prepared.after_create(store, info.project_id, encoder=encoder, model=model, progress=progress)
    except BaseException:
        store.delete_project(info.project_id)
        raise
    return info


def _same_mapping(stored: dict[str, Any] | None, mapping: FieldMapping) -> bool:
    if not stored:
        return False
    keys = (
        "query_col",
        "pos_cols",
        "meta_cols",
        "neg_col",
        "score_col",
        "pos_threshold",
        "neg_threshold",
        "null_values",
    )
    current = mapping.to_dict()
    # projects stored before the merge policy existed merged rows on the query text alone
    policy = stored.get("merge_queries", "text")
    same_policy = policy == current["merge_queries"] or not current["meta_cols"]
    return same_policy and all(stored.get(k) == current.get(k) for k in keys)


def check_output_dir(out_dir: str | Path) -> None:
    """Check that an output folder can be written, before any work is done.

    The folder may exist (it must be a writable folder) or not (its nearest existing parent
    must be a writable folder). Writability is probed by creating and removing a file, so a
    read-only mount is caught even for root.

    Raises:
        EmbcoreError: the path is a file, or it (or its parent) cannot be written, naming which and why.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EmbcoreError(f"{out}: exists and is a file, not a folder; choose a folder for --out")
    probe_dir = out
    while not probe_dir.exists():
        parent = probe_dir.parent
        if parent == probe_dir:
            break
        probe_dir = parent
    if not probe_dir.is_dir():
        raise EmbcoreError(f"{out}: cannot create the folder: {probe_dir} is a file, not a folder")
    what = "the output folder" if probe_dir == out else f"its parent folder {probe_dir}"
    try:
        fd, probe = tempfile.mkstemp(prefix=".embcore-write-check-", dir=probe_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EmbcoreError(f"{out}: cannot write to {what} ({exc.strerror or exc})") from exc


def run_mining(
    store: Store,
    pid: int,
    cfg: MiningConfig,
    *,
    encoder: Encoder | None = None,
    progress: ProgressFn | None = None,
) -> int:
    """Mine candidate negatives for every query of a project and store them as a run.

    Returns:
        The run id. A failed or cancelled run is recorded with its status and error, and
        nothing of it reaches the candidates table.
    """
    from embcore.mining.pipeline import mine

    cfg.validate()
    project = store.get_project(pid)
    if encoder is None and cfg.needs_embeddings():
        encoder = load_encoder(cfg.model)
    model_id = encoder.model_id if encoder is not None else model_label(cfg.model)
    with store.recorded_run(
        pid, "mine", cfg.to_dict(), seed=cfg.seed, model_id=model_id, data_hash=project["source_sha256"]
    ) as run:
        inp = store.mining_input(pid)
        result = mine(inp, cfg, encoder=encoder, cache=store, progress=progress)
        # projects built from documents: never a negative cut from the query's own chunk
        if store.has_sources(pid):
            result = exclude_same_chunk(
                inp, result, cfg, pairs=store.same_chunk_pairs(pid), derived=store.derived_passage_ids(pid)
            )
        frame = _candidate_frame(store, pid, inp, result.candidates)
        n = store.save_candidates(pid, run.id, frame)
        run.timings.update(result.stats.get("timings", {}))
        run.stats = result.stats
        run.counts = {
            "queries": len(inp.query_ids),
            "passages": len(inp.passage_ids),
            "candidates": n,
            "selected": int((frame["status"] == "selected").sum()),
        }
    store.touch_project(pid)
    log.info("mining run %d: %s", run.id, run.counts)
    return run.id


R = TypeVar("R")


def record(
    store: Store | None,
    pid: int | None,
    kind: str,
    config: dict[str, Any],
    fn: Callable[[], R],
    *,
    model_id: str | None = None,
) -> tuple[R, int | None]:
    """Run ``fn()``; with a store, as a recorded run of ``kind`` (evaluation, fine-tuning).

    The run records the config, its ``seed``, the model, the status (done / failed / cancelled
    / interrupted), the timings and ``result.to_dict()`` as its stats, so that past evaluations
    and fine-tunings can be compared (the app's Train page, ``embcore eval|finetune --db``).

    Returns:
        (the result, the run id; None without a store).
    """
    if store is None:
        return fn(), None
    with store.recorded_run(pid, kind, config, seed=config.get("seed"), model_id=model_id) as run:
        result = fn()
        to_dict = getattr(result, "to_dict", None)
        run.stats = to_dict() if callable(to_dict) else dict(result)  # type: ignore[call-overload]
    return result, run.id


def export_project_id(store: Store, export_dir: str | Path) -> int | None:
    """The project of the store that an export folder was made from (None when it is not in the store)."""
    from embcore.export.publish import read_manifest_of

    manifest = read_manifest_of(export_dir) or {}
    name = (manifest.get("project") or {}).get("name")
    return store.find_project(str(name)) if name else None


def _candidate_frame(store: Store, pid: int, inp: MiningInput, cands: pd.DataFrame) -> pd.DataFrame:
    """Map pipeline indices to store ids; symmetric in-batch candidates (query texts) become passages."""
    frame = cands.copy()
    frame["query_id"] = inp.query_ids[frame["query_idx"].to_numpy(dtype=np.int64)]
    passage_ids = np.zeros(len(frame), dtype=np.int64)
    is_passage = (frame["cand_kind"] == "passage").to_numpy()
    passage_ids[is_passage] = inp.passage_ids[frame.loc[is_passage, "cand_idx"].to_numpy(dtype=np.int64)]
    if (~is_passage).any():
        q_idx = frame.loc[~is_passage, "cand_idx"].to_numpy(dtype=np.int64)
        texts = [inp.query_texts[i] for i in q_idx]
        passage_ids[~is_passage] = store.ensure_passages(pid, texts, kind="query", origin="inbatch-symmetric")
    frame["passage_id"] = passage_ids
    for col in ("bm25_rank", "dense_rank", "rank"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return frame


@dataclass
class BuildResult:
    """What ``embcore build`` did."""

    project_id: int
    run_id: int | None
    export: ExportResult
    mapping: FieldMapping
    timings: dict[str, float] = field(default_factory=dict)
    ingest: IngestResult | None = None


def build(
    source: str | Path | RawTable,
    out_dir: str | Path,
    *,
    mapping: FieldMapping | None,
    mining: MiningConfig,
    export: ExportConfig,
    db_path: str | Path | None = None,
    project_name: str | None = None,
    replace: bool = False,
    encoder: Encoder | None = None,
    teacher: TeacherConfig | None = None,
    augment: AugmentConfig | None = None,
    extra_config: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    prepared: PreparedSource | None = None,
) -> BuildResult:
    """The whole pipeline: ingest -> project -> mine -> export (what ``embcore build`` runs).

    The input (a path or an already-read table) is read and validated before anything is
    written; the store defaults to ``out_dir/embcore.duckdb``. With ``prepared`` (documents or a
    search log turned into samples by :mod:`embcore.ingest.prepare`; ``source`` and ``mapping`` are then
    ignored), the project is created from its samples, its provenance stored and its quality gate
    run before mining; everything downstream is unchanged.
    """
    t0 = time.perf_counter()
    mining.validate()
    if prepared is not None:
        source, mapping = prepared.raw, prepared.mapping
    raw = source if isinstance(source, RawTable) else read_table(source)
    mapping = _with_grouping_columns(raw, mapping or suggest_mapping(raw), export)
    if prepared is not None:  # documents / a search log are samples already (a grouping column adds nothing)
        samples = _with_mapping(prepared.ingest, mapping)
    else:
        samples = build_samples(raw, mapping)  # validates the mapping before any write; the one cleaning pass
    samples.check_usable(raw.name)
    # too few samples for the split: stop before anything is written (groups are checked at export)
    check_split_sizes(len(samples.samples), len(samples.samples), export.ratios)
    timings = {"ingest_s": round(time.perf_counter() - t0, 3)}
    check_output_dir(out_dir)
    db_path = Path(db_path) if db_path else Path(out_dir) / "embcore.duckdb"
    check_db_path(db_path)
    new_db = not db_path.exists()
    new_dir = not db_path.parent.exists()
    try:
        with Store(db_path) as store:
            info = create_project(
                store,
                raw.name,
                mapping,
                name=project_name,
                raw=raw,
                replace=replace,
                reuse=True,
                ingested=samples,
            )
            source_stats = None
            if prepared is not None:
                t_src = time.perf_counter()
                if not info.reused:
                    prepared.after_create(
                        store, info.project_id, encoder=encoder, model=mining.model, progress=progress
                    )
                source_stats = prepared.stats
                timings["sources_s"] = round(time.perf_counter() - t_src, 3)
            if augment is not None:
                t_aug = time.perf_counter()
                augment_project(store, info.project_id, augment, progress=progress)
                timings["augment_s"] = round(time.perf_counter() - t_aug, 3)
            t1 = time.perf_counter()
            run_id = run_mining(store, info.project_id, mining, encoder=encoder, progress=progress)
            timings["mine_s"] = round(time.perf_counter() - t1, 3)
            run = store.get_run(run_id)
            t2 = time.perf_counter()
            config = {"mapping": mapping.to_dict(), "mining": mining.to_dict(), **(extra_config or {})}
            if augment is not None:
                config["augment"] = augment.to_dict()
            teacher_fn, teacher_info = None, None
            if teacher is not None:
                teacher_fn, teacher_info = make_teacher(teacher, store=store, progress=progress)
            result = export_project(
                store,
                info.project_id,
                out_dir,
                export,
                run_id=run_id,
                teacher=teacher_fn,
                teacher_info=teacher_info,
                manifest_extra={
                    "config": config,
                    "mining_stats": run["stats"],
                    "timings": timings | {"mining": run["timings"]},
                    "db": str(db_path),
                    **({"sources": source_stats} if source_stats else {}),
                },
                progress=progress,
            )
            timings["export_s"] = round(time.perf_counter() - t2, 3)
    except BaseException:
        if new_db:  # a database this build created and could not finish is removed; an existing one is kept
            _remove_db(db_path, remove_dir=new_dir)
        raise
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    log.info("build done in %.1fs (embcore %s)", timings["total_s"], __version__)
    return BuildResult(info.project_id, run_id, result, mapping, timings, ingest=samples)


def _with_grouping_columns(raw: RawTable, mapping: FieldMapping, export: ExportConfig) -> FieldMapping:
    """The mapping with the export's grouping / stratification columns as metadata (a copy: the
    caller's mapping is left as it was).

    Raises:
        EmbcoreError: a grouping column the file does not have.
    """
    extra = []
    for col in (export.group_col, export.stratify_col):
        if col and col not in mapping.meta_cols and col not in extra:
            if col not in raw.columns:
                raise EmbcoreError(
                    f"{raw.name}: unknown grouping column {col!r}; columns in the file: {', '.join(raw.columns)}"
                )
            extra.append(col)
    return replace(mapping, meta_cols=[*mapping.meta_cols, *extra]) if extra else mapping


def _with_mapping(ingested: IngestResult, mapping: FieldMapping) -> IngestResult:
    """Prepared samples under the build's mapping (``create_project`` stores them as they are)."""
    return replace(ingested, mapping=mapping)


def _remove_db(path: Path, *, remove_dir: bool) -> None:
    """Delete a database file this build created (and its WAL; its folder too when the build made it and it is empty)."""
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", p, exc)
    if remove_dir:
        try:
            path.parent.rmdir()
        except OSError:
            pass
