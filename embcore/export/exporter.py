"""Export a project: FlagEmbedding JSONL train/val/test, a BEIR evaluation set and a manifest.

``train.jsonl``, ``val.jsonl``, ``test.jsonl``: one object per line,
``{"query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type"}`` (score fields only
when scores exist, ``prompt`` / ``type`` only when set; ``neg`` is never empty).
``eval/corpus.jsonl``, ``eval/queries.jsonl``, ``eval/qrels/{val,test}.tsv`` in BEIR layout,
``dropped_rows.csv`` (every input row cleaning dropped) and ``manifest.json`` (settings, counts,
file hashes, the leakage report, the qrels' relevance scale (graded once reviewers grade), and
the review section: how reviewers' decisions were resolved and their agreement).

The steps, one module each: plan (:mod:`.plan`: samples, split by :mod:`.split`, negatives,
leakage) -> teacher scores -> write (:mod:`.write`) -> manifest (:mod:`.manifest`) -> publish
(:mod:`.publish`: files go to a staging folder and become a new version of the export root
atomically; ``OUT/current`` always points to a complete export) -> record in the store.
:mod:`.verify` checks an export on disk.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embcore.export.card import CARD, UNKNOWN_LICENSE, render_card
from embcore.export.config import ExportConfig, ScoreFn
from embcore.export.formats import write_formats
from embcore.export.manifest import ExportSource, build_manifest, write_manifest
from embcore.export.plan import ExportPlan, plan_export
from embcore.export.publish import check_target, clean_stale, new_staging, publish
from embcore.export.split import SPLITS
from embcore.export.write import file_hashes, validate_records, write_dropped_rows, write_eval, write_jsonl
from embcore.progress import ProgressFn, report
from embcore.review.agreement import manifest_section as review_section
from embcore.store import Store

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes:
        out_dir: the export root given by the caller (``out_dir/current`` = this export).
        version_dir: the immutable folder holding this export's files.
    """

    out_dir: Path
    counts: dict[str, dict[str, int]]
    files: dict[str, str]
    export_id: int
    without_negatives: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    version_dir: Path | None = None
    leakage: dict[str, Any] = field(default_factory=dict)
    negatives: dict[str, int] = field(default_factory=dict)


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
    """Split a project and publish train/val/test JSONL, the BEIR eval set and a manifest.

    Args:
        store: the project store.
        pid: project id.
        out_dir: export root: a new folder, an empty one, or an earlier export of this project
            (anything else is refused). The export becomes ``out_dir/vNNNN-<stamp>/`` and
            ``out_dir/current`` points to it.
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
    root = Path(out_dir)
    t0 = time.perf_counter()
    source = ExportSource(
        pid,
        store.get_project(pid),
        store.latest_run(pid, "mine") if run_id is None else run_id,
        teacher_info,
        cfg.license if cfg.license is not None else store.project_license(pid),
    )
    _check_root(store, root, str(source.project["name"]))
    # 1. plan: samples, split, negatives, leakage
    plan = plan_export(store, pid, source.run_id, cfg, progress=progress)
    # 2. teacher scores
    if teacher is not None:
        _score(plan, teacher)
    report(progress, "export", 3, 5)
    # 3. FlagEmbedding records, validated
    by_split = plan.by_split()
    for s in SPLITS:
        validate_records(by_split[s], allow_empty_neg=False)
    # 4. write into a staging folder, add the manifest, publish it as the new version
    version, manifest = _write_and_publish(store, source, cfg, plan, by_split, root, dict(manifest_extra or {}), t0,
                                           progress)  # fmt: skip
    # 5. record it (and the licence given for the card, for the project's next exports)
    if cfg.license is not None and cfg.license != store.project_license(pid):
        store.set_project_license(pid, cfg.license)
    export_id = store.record_export(
        pid,
        str(version.resolve()),
        run_id=source.run_id,
        config=manifest["config"],
        counts=manifest["counts"],
        files=manifest["files"],
        splits={r.query_id: r.split for r in plan.records},
        root_dir=str(root.resolve()),
    )
    report(progress, "export", 5, 5)
    log.info("exported project %s to %s: %s", source.project["name"], version, manifest["counts"])
    without = [r.query for r in plan.records if not r.neg]
    return ExportResult(root, manifest["counts"], manifest["files"], export_id, without, plan.removed, manifest,
                        version, plan.leakage, plan.negatives)  # fmt: skip


def _check_root(store: Store, root: Path, project_name: str) -> None:
    """Refuse an export root that is neither new, empty nor an earlier export of this project (the
    build's own database file may sit in it)."""
    db = Path(store.path) if store.path != ":memory:" else None
    allowed = (
        {db.name, db.name + ".wal"} if db is not None and db.parent.resolve() == root.resolve() else set()
    )
    check_target(root, project_name, allowed=allowed)


def _score(plan: ExportPlan, teacher: ScoreFn) -> None:
    """Teacher scores of the positives and negatives of every sample that will be written."""
    kept = [r for r in plan.records if not r.left_out]
    texts = [[t for _, t in r.pos] + [t for _, t in r.neg] for r in kept]
    scores = teacher([r.query for r in kept], texts, [r.prompt or "" for r in kept])
    for r, sc in zip(kept, scores, strict=True):
        r.pos_scores, r.neg_scores = list(sc[: len(r.pos)]), list(sc[len(r.pos) :])


def _write_and_publish(
    store: Store,
    source: ExportSource,
    cfg: ExportConfig,
    plan: ExportPlan,
    by_split: dict[str, list[dict[str, Any]]],
    root: Path,
    extra: dict[str, Any],
    t0: float,
    progress: ProgressFn | None,
) -> tuple[Path, dict[str, Any]]:
    """Write every file into a staging folder and publish it; nothing is left behind on failure.

    Returns:
        (the published version folder, its manifest).
    """
    created = not root.exists()
    clean_stale(root)
    staging = new_staging(root)
    try:
        write_jsonl(staging, by_split)
        eval_counts = write_eval(store, source.project_id, plan.records, staging)
        qrels = eval_counts.pop("qrels")
        dropped = write_dropped_rows(staging, source.project.get("cleaning") or {}, cfg.dropped_rows_listed)
        review = review_section(store, source.project_id)
        manifest = build_manifest(source, cfg, plan, {}, dropped, extra, qrels=qrels, review=review)
        # the other formats and the dataset card, from the same records (export.formats / export.card)
        license = source.license or UNKNOWN_LICENSE
        manifest["formats"] = write_formats(staging, by_split, cfg.formats, license=license,
                                            description=f"embcore export of project {source.project['name']!r}; see README.md")  # fmt: skip
        manifest["formats"]["beir"].update(eval_counts)
        run = store.get_run(source.run_id) if source.run_id is not None else None
        card = render_card(
            manifest, run=run, review=store.review_counts(source.project_id), license=source.license
        )
        (staging / CARD).write_text(card, encoding="utf-8", newline="\n")
        manifest["files"] = file_hashes(staging)
        manifest.setdefault("timings", {})["export_s"] = round(time.perf_counter() - t0, 3)
        write_manifest(staging, manifest)
        report(progress, "export", 4, 5)
        return publish(staging, root, keep=cfg.keep_versions), manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        raise


__all__ = ["ExportResult", "export_project"]
