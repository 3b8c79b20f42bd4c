"""Export a project: FlagEmbedding JSONL train/val/test, a BEIR evaluation set and a manifest.

``DIR/train.jsonl``, ``DIR/val.jsonl``, ``DIR/test.jsonl``: one object per line,
``{"query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"}`` (score fields only
when scores exist, ``prompt`` / ``type`` only when set). ``DIR/eval/corpus.jsonl``,
``DIR/eval/queries.jsonl``, ``DIR/eval/qrels/{val,test}.tsv`` in BEIR layout, and
``DIR/manifest.json``. Everything is staged in a temporary folder and moved into place only
after validation, so a failure never leaves half-written files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from embcore import __version__
from embcore.errors import EmbcoreError
from embcore.progress import ProgressFn, report
from embcore.split import SPLITS, assign_splits, parse_ratios
from embcore.store import Store
from embcore.store.review_actions import flagged_queries
from embcore.text import match_key, text_hash

log = logging.getLogger(__name__)

REAL_ORIGINS = frozenset({"data", "review", "edit"})
"""Positives that come from the data or a human; augmented / generated ones never enter the eval set."""

ScoreFn = Callable[[list[str], list[list[str]], list[str]], list[list[float]]]
"""Teacher: (queries, passages per query, prompts) -> a score per passage, aligned."""


@dataclass
class ExportConfig:
    """How a project becomes files.

    Attributes:
        ratios: train, val, test fractions of the queries (sum to 1).
        seed: split seed.
        group_col: metadata column whose values must stay in one split (besides shared passages).
        stratify_col: metadata column whose values are spread over the splits by the ratios.
        max_negatives: cap on negatives per sample (None = every accepted / auto-selected one).
        query_prompt: instruction written to ``prompt`` (a query's own prompt wins).
        passage_prompt: prompt for passages, recorded in the manifest for evaluation.
        sample_type: ``type`` for samples that have none.
        allow_cross_split_negatives: keep a train negative that is a val/test positive (leaks
            evaluation passages into training when True; False drops it and counts it).
    """

    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 42
    group_col: str | None = None
    stratify_col: str | None = None
    max_negatives: int | None = None
    query_prompt: str | None = None
    passage_prompt: str | None = None
    sample_type: str | None = None
    allow_cross_split_negatives: bool = False

    def __post_init__(self) -> None:
        self.ratios = parse_ratios(self.ratios)
        if self.max_negatives is not None and self.max_negatives < 0:
            raise EmbcoreError("max_negatives cannot be negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExportResult:
    """What an export wrote."""

    out_dir: Path
    counts: dict[str, dict[str, int]]
    files: dict[str, str]
    export_id: int
    without_negatives: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- sample assembly


def collect_samples(
    store: Store,
    pid: int,
    run_id: int | None,
    cfg: ExportConfig,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Assemble one record per query: positives, chosen negatives, prompt, type, meta.

    Negatives, in order: negatives given by the data (tier 0), negatives a reviewer accepted
    (tier 1), then, for queries nobody reviewed, the run's auto-selected candidates (tier 2)
    and its other surviving candidates as replacements (tier 3); see :func:`choose_negatives`.
    A negative equal (after normalisation) to one of the query's positives is never kept.
    """
    queries = store.queries(pid)
    pos = store.positives(pid)
    pool = store.negative_pool(pid, run_id)
    pos_by_q: dict[int, list[tuple[int, str]]] = {}
    eval_pos_by_q: dict[int, list[tuple[int, str]]] = {}
    for qid, ppid, text, origin in zip(pos["query_id"], pos["passage_id"], pos["text"], pos["origin"], strict=True):
        pos_by_q.setdefault(int(qid), []).append((int(ppid), str(text)))
        if origin in REAL_ORIGINS:
            eval_pos_by_q.setdefault(int(qid), []).append((int(ppid), str(text)))
    neg_by_q: dict[int, list[tuple[int, str, int]]] = {}
    for qid, ppid, text, tier in zip(pool["query_id"], pool["passage_id"], pool["text"], pool["tier"], strict=True):
        neg_by_q.setdefault(int(qid), []).append((int(ppid), str(text), int(tier)))
    removed = {"negative_equals_positive": 0}
    # queries a reviewer flagged (bad query / wrong positive) are left out, counted per reason
    flagged = flagged_queries(store, pid)
    removed["flagged_queries"] = len(flagged)
    for flag, _reason in flagged.values():
        removed[f"flagged_{flag}"] = removed.get(f"flagged_{flag}", 0) + 1
    records = []
    for row in queries.itertuples(index=False):
        qid = int(row.id)
        positives = pos_by_q.get(qid, [])
        if not positives or qid in flagged:
            continue
        pos_keys = {match_key(t) for _, t in positives}
        pos_ids = {p for p, _ in positives}
        negs, seen = [], set()
        for ppid, text, tier in neg_by_q.get(qid, []):
            key = match_key(text)
            if ppid in pos_ids or key in pos_keys:
                removed["negative_equals_positive"] += tier < 3
                continue
            if key in seen:
                continue
            seen.add(key)
            negs.append((ppid, text, tier))
        meta = row.meta or {}
        records.append(
            {
                "query_id": qid,
                "query": str(row.text),
                "pos": positives,
                "neg": negs,
                "prompt": row.prompt if isinstance(row.prompt, str) and row.prompt else cfg.query_prompt,
                "type": row.type if isinstance(row.type, str) and row.type else cfg.sample_type,
                "meta": meta,
                "origin": row.origin,
                "eval_pos": eval_pos_by_q.get(qid, []),
                "parent_id": None if pd.isna(row.parent_id) else int(row.parent_id),
            }
        )
    return records, removed


def choose_negatives(
    negs: Sequence[tuple[int, str, int]],
    forbidden: tuple[set[int], set[str]] | None,
    max_negatives: int | None,
) -> tuple[list[tuple[int, str]], int]:
    """Final negatives of one sample.

    Tiers 0-1 (given, accepted) are all kept; the auto tiers fill as many slots as the run
    auto-selected (tier 2), taking replacements from tier 3 for any that is forbidden (a
    passage that is a val/test positive, for a train sample). Then ``max_negatives`` caps.

    Returns:
        ((passage id, text) list, number of selected negatives dropped as forbidden).
    """
    quota = sum(1 for _, _, tier in negs if tier == 2)
    out: list[tuple[int, str]] = []
    auto = dropped = 0
    for ppid, text, tier in negs:
        if forbidden is not None and (ppid in forbidden[0] or match_key(text) in forbidden[1]):
            dropped += tier <= 2
            continue
        if tier >= 2:
            if auto >= quota:
                continue
            auto += 1
        out.append((ppid, text))
    return (out if max_negatives is None else out[:max_negatives]), dropped


def validate_records(records: Sequence[dict[str, Any]]) -> None:
    """Check FlagEmbedding records before writing.

    Raises:
        EmbcoreError: empty query or ``pos``, a ``neg`` equal to a ``pos`` of the same query
            after normalisation, or a score list whose length differs from its text list.
    """
    for i, r in enumerate(records, start=1):
        where = f"sample {i} ({r.get('query', '')[:60]!r})"
        if not isinstance(r.get("query"), str) or not r["query"].strip():
            raise EmbcoreError(f"{where}: empty query")
        if not r.get("pos") or not all(isinstance(t, str) and t.strip() for t in r["pos"]):
            raise EmbcoreError(f"{where}: 'pos' must be a non-empty list of non-empty strings")
        if not isinstance(r.get("neg", []), list):
            raise EmbcoreError(f"{where}: 'neg' must be a list")
        pos_keys = {match_key(t) for t in r["pos"]}
        for t in r.get("neg", []):
            if match_key(t) in pos_keys:
                raise EmbcoreError(f"{where}: negative {t[:60]!r} equals one of its positives")
        for scores, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
            if scores in r and len(r[scores]) != len(r[texts]):
                raise EmbcoreError(
                    f"{where}: {scores} has {len(r[scores])} values for {len(r[texts])} texts in {texts!r}"
                )


def to_flag_record(rec: dict[str, Any]) -> dict[str, Any]:
    """The FlagEmbedding JSON object for one assembled record (key order fixed for stable bytes)."""
    out: dict[str, Any] = {"query": rec["query"], "pos": [t for _, t in rec["pos"]], "neg": [t for _, t in rec["neg"]]}
    if rec.get("pos_scores") is not None:
        out["pos_scores"] = [float(s) for s in rec["pos_scores"]]
        out["neg_scores"] = [float(s) for s in rec["neg_scores"][: len(out["neg"])]]
    if rec.get("prompt"):
        out["prompt"] = rec["prompt"]
    if rec.get("type"):
        out["type"] = rec["type"]
    return out


# --------------------------------------------------------------------------- writing


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _publish(staging: Path, out_dir: Path) -> None:
    """Move staged files into ``out_dir``, all or nothing.

    A fresh folder is renamed into place at once. Into an existing folder, every destination is
    checked first; then each existing file is set aside and replaced, and any failure puts the
    set-aside files back and removes the new ones.
    """
    if not out_dir.exists():
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out_dir)
        return
    files = [p for p in sorted(staging.rglob("*")) if p.is_file() and ".bak" not in p.parts]
    for src in files:
        dst = out_dir / src.relative_to(staging)
        for parent in [dst, *dst.parents]:
            if parent == out_dir:
                break
            if (parent == dst and dst.is_dir()) or (parent != dst and parent.exists() and not parent.is_dir()):
                raise EmbcoreError(f"{parent}: in the way of the export (a {'folder' if parent.is_dir() else 'file'})")
    backup = staging / ".bak"
    moved: list[Path] = []
    saved: list[tuple[Path, Path]] = []
    try:
        for src in files:
            dst = out_dir / src.relative_to(staging)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                keep = backup / src.relative_to(staging)
                keep.parent.mkdir(parents=True, exist_ok=True)
                os.replace(dst, keep)
                saved.append((keep, dst))
            os.replace(src, dst)
            moved.append(dst)
    except BaseException:
        for dst in moved:
            dst.unlink(missing_ok=True)
        for keep, dst in saved:
            os.replace(keep, dst)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def corpus_id(h: str) -> str:
    """Stable BEIR corpus id derived from the passage text hash."""
    return "d" + h[:16]


def query_id(h: str) -> str:
    """Stable BEIR query id derived from the query text hash."""
    return "q" + h[:16]


def export_project(
    store: Store,
    pid: int,
    out_dir: str | Path,
    cfg: ExportConfig | None = None,
    *,
    run_id: int | None = None,
    teacher: ScoreFn | None = None,
    teacher_info: dict[str, Any] | None = None,
    manifest_extra: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> ExportResult:
    """Split a project and write train/val/test JSONL, the BEIR eval set and a manifest.

    Args:
        store: the project store.
        pid: project id.
        out_dir: destination folder (created; existing files with the same names are replaced).
        cfg: split and export settings.
        run_id: mining run whose candidates feed the negatives (default: the latest finished one).
        teacher: optional scorer filling ``pos_scores`` / ``neg_scores``.
        teacher_info: description of the teacher for the manifest.
        manifest_extra: extra keys for ``manifest.json`` (e.g. the build config and timings).
        progress: progress callback.

    Returns:
        What was written, with counts per split.
    """
    cfg = cfg or ExportConfig()
    out_dir = Path(out_dir)
    extra = dict(manifest_extra or {})
    t0 = time.perf_counter()
    project = store.get_project(pid)
    if run_id is None:
        run_id = store.latest_run(pid, "mine")
    # 1. assemble samples and choose negatives
    records, removed = collect_samples(store, pid, run_id, cfg)
    if not records:
        raise EmbcoreError(f"project {project['name']!r} has no sample with a positive; nothing to export")
    report(progress, "export", 1, 5)
    # 2. split without leakage
    for col in (cfg.group_col, cfg.stratify_col):
        if col is not None and not any(col in r["meta"] for r in records):
            known = sorted({k for r in records for k in r["meta"]})
            raise EmbcoreError(f"unknown grouping column {col!r}; metadata columns: {', '.join(known) or '(none)'}")
    index_of = {r["query_id"]: i for i, r in enumerate(records)}
    split = assign_splits(
        [[match_key(t) for _, t in r["pos"]] for r in records],
        cfg.ratios,
        cfg.seed,
        group_values=[r["meta"].get(cfg.group_col) for r in records] if cfg.group_col else None,
        strata=[r["meta"].get(cfg.stratify_col) for r in records] if cfg.stratify_col else None,
        parents=[index_of.get(r["parent_id"]) if r["parent_id"] is not None else None for r in records],
    )
    # 3. a val/test positive is never a train negative (unless allowed)
    eval_pos = {p for r, s in zip(records, split.assignment, strict=True) if s != "train" for p, _ in r["pos"]}
    eval_keys = {
        match_key(t) for r, s in zip(records, split.assignment, strict=True) if s != "train" for _, t in r["pos"]
    }
    removed["train_negative_is_eval_positive"] = 0
    for r, s in zip(records, split.assignment, strict=True):
        forbidden = (eval_pos, eval_keys) if s == "train" and not cfg.allow_cross_split_negatives else None
        r["neg"], n_leak = choose_negatives(r["neg"], forbidden, cfg.max_negatives)
        removed["train_negative_is_eval_positive"] += n_leak
    report(progress, "export", 2, 5)
    # 4. teacher scores
    if teacher is not None:
        texts = [[t for _, t in r["pos"]] + [t for _, t in r["neg"]] for r in records]
        scores = teacher([r["query"] for r in records], texts, [r.get("prompt") or "" for r in records])
        for r, sc in zip(records, scores, strict=True):
            n_pos = len(r["pos"])
            r["pos_scores"], r["neg_scores"] = list(sc[:n_pos]), list(sc[n_pos:])
    report(progress, "export", 3, 5)
    # 5. FlagEmbedding records, validated
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for r, s in zip(records, split.assignment, strict=True):
        by_split[s].append(to_flag_record(r))
    for s in SPLITS:
        validate_records(by_split[s])
    # 6. stage everything, then publish
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for s in SPLITS:
            _write_lines(staging / f"{s}.jsonl", [_dumps(x) for x in by_split[s]])
        _write_eval(store, pid, records, split.assignment, staging)
        counts = _counts(records, split.assignment)
        without = [r["query"] for r in records if not r["neg"]]
        files = {
            str(p.relative_to(staging)): _sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()
        }
        manifest = {
            "tool": "embcore",
            "version": __version__,
            "format": "FlagEmbedding",
            "project": {"id": pid, "name": project["name"]},
            "input": {
                "name": project.get("source_name"),
                "sha256": project.get("source_sha256"),
                "format": project.get("source_format"),
            },
            "mapping": project.get("mapping"),
            "seed": cfg.seed,
            "config": {"export": cfg.to_dict(), **(extra.pop("config", None) or {})},
            "mining_run": run_id,
            "prompts": {"query": cfg.query_prompt, "passage": cfg.passage_prompt},
            "teacher": teacher_info,
            "counts": counts,
            "split": {"groups": split.n_groups, "largest_group": split.largest_group},
            "removed": removed,
            "samples_without_negatives": len(without),
            "dropped_rows": (project.get("cleaning") or {}).get("dropped", []),
            "cleaning": {k: v for k, v in (project.get("cleaning") or {}).items() if k != "dropped"},
            "files": files,
        }
        manifest.update(extra)
        manifest.setdefault("timings", {})["export_s"] = round(time.perf_counter() - t0, 3)
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        report(progress, "export", 4, 5)
        _publish(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    split_of = {r["query_id"]: s for r, s in zip(records, split.assignment, strict=True)}
    export_id = store.record_export(
        pid,
        str(out_dir.resolve()),
        run_id=run_id,
        config=manifest["config"],
        counts=counts,
        files=files,
        splits=split_of,
    )
    report(progress, "export", 5, 5)
    log.info("exported project %s to %s: %s", project["name"], out_dir, counts)
    return ExportResult(out_dir, counts, files, export_id, without, removed, manifest)


def _counts(records: Sequence[dict[str, Any]], assignment: Sequence[str]) -> dict[str, dict[str, int]]:
    out = {s: {"samples": 0, "positives": 0, "negatives": 0, "without_negatives": 0} for s in SPLITS}
    for r, s in zip(records, assignment, strict=True):
        c = out[s]
        c["samples"] += 1
        c["positives"] += len(r["pos"])
        c["negatives"] += len(r["neg"])
        c["without_negatives"] += int(not r["neg"])
    return out


def _write_eval(
    store: Store, pid: int, records: Sequence[dict[str, Any]], assignment: Sequence[str], staging: Path
) -> None:
    # corpus = every unique data passage (unique up to match_key), plus any positive (e.g. an
    # edited one) a qrel points to; a qrel always names the corpus entry of its text's key
    corpus = store.passages(pid, kind="passage")
    lines: list[str] = []
    ids: dict[str, str] = {}

    def corpus_entry(text: str) -> str:
        key = match_key(text)
        if key not in ids:
            ids[key] = corpus_id(text_hash(text))
            lines.append(_dumps({"_id": ids[key], "title": "", "text": text}))
        return ids[key]

    for t in corpus["text"]:
        corpus_entry(str(t))
    queries, qrels = [], {"val": [], "test": []}
    for r, s in zip(records, assignment, strict=True):
        # evaluation uses real queries and real positives only (no augmented / generated text)
        if s == "train" or r["origin"] != "data" or not r["eval_pos"]:
            continue
        qid = query_id(text_hash(r["query"]))
        queries.append(_dumps({"_id": qid, "text": r["query"]}))
        for did in dict.fromkeys(corpus_entry(t) for _, t in r["eval_pos"]):
            qrels[s].append(f"{qid}\t{did}\t1")
    _write_lines(staging / "eval" / "corpus.jsonl", lines)
    _write_lines(staging / "eval" / "queries.jsonl", queries)
    for s in ("val", "test"):
        _write_lines(staging / "eval" / "qrels" / f"{s}.tsv", ["query-id\tcorpus-id\tscore", *qrels[s]])
