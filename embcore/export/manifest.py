"""``manifest.json``: what an export holds and how it was made (settings, counts, leakage, the
qrels' relevance scale, the review (how reviewers' decisions were resolved and their agreement),
file hashes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embcore import __version__
from embcore.export.card import UNKNOWN_LICENSE
from embcore.export.config import ExportConfig
from embcore.export.plan import ExportPlan, counts_per_split

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ExportSource:
    """Where an export comes from: the project (its stored row), the mining run, the teacher."""

    project_id: int
    project: dict[str, Any]
    run_id: int | None
    teacher: dict[str, Any] | None = None
    license: str | None = None
    """Licence id for the dataset card (the export's, else the project's; None = unknown)."""


def build_manifest(
    source: ExportSource,
    cfg: ExportConfig,
    plan: ExportPlan,
    files: dict[str, str],
    dropped_rows: dict[str, Any],
    extra: dict[str, Any],
    *,
    qrels: dict[str, Any] | None = None,
    review: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of an export (``extra``: keys of the caller, e.g. the build config and timings;
    its ``config`` is merged into the manifest's; ``qrels``: the eval set's relevance scale from
    :func:`~embcore.export.write.write_eval`; ``review``: the review section from
    :func:`embcore.review.agreement.manifest_section`)."""
    extra = dict(extra)
    project = source.project
    without = sum(1 for r in plan.records if not r.neg)
    manifest = {
        "tool": "embcore",
        "version": __version__,
        "format": "FlagEmbedding",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "project": {"id": source.project_id, "name": project["name"]},
        "input": {
            "name": project.get("source_name"),
            "sha256": project.get("source_sha256"),
            "format": project.get("source_format"),
        },
        "mapping": project.get("mapping"),
        "seed": cfg.seed,
        "config": {"export": cfg.to_dict(), **(extra.pop("config", None) or {})},
        "mining_run": source.run_id,
        "prompts": {"query": cfg.query_prompt, "passage": cfg.passage_prompt},
        "teacher": source.teacher,
        "counts": counts_per_split(plan),
        "split": {"groups": plan.split.n_groups, "largest_group": plan.split.largest_group},
        "removed": plan.removed,
        "negatives": {"policy": cfg.empty_negatives, **plan.negatives},
        "samples_without_negatives": without,
        "samples_left_out": {"total": len(plan.left_out), "first": plan.left_out[:100]},
        "merged_groups": plan.merged_groups,
        "near_duplicates": plan.classes.info,
        "leakage": plan.leakage,
        **({} if qrels is None else {"qrels": qrels}),
        **({} if review is None else {"review": review}),
        **dropped_rows,
        "cleaning": {k: v for k, v in (project.get("cleaning") or {}).items() if k != "dropped"},
        "license": source.license or UNKNOWN_LICENSE,
        "files": files,
    }
    manifest.update(extra)
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` into ``folder``."""
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
