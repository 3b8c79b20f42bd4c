"""How a project becomes files: the export settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from embcore.errors import EmbcoreError
from embcore.export.card import check_license
from embcore.export.dedup import NearDupConfig
from embcore.export.formats import FORMATS, parse_formats
from embcore.export.split import parse_ratios

EMPTY_NEGATIVES: tuple[str, ...] = ("top-up", "random", "drop")
"""What happens to a sample that would have no negative: ``top-up`` takes the run's next
candidates (those a score / margin / rank filter removed, never a positive or its near-twin),
then random passages; ``random`` takes random passages; ``drop`` leaves the sample out of its
JSONL file (a val/test query stays in the evaluation set)."""

EmptyNegatives = Literal["top-up", "random", "drop"]

ScoreFn = Callable[[list[str], list[list[str]], list[str]], list[list[float]]]
"""Teacher: (queries, passages per query, prompts) -> a score per passage, aligned."""


@dataclass
class ExportConfig:
    """How a project becomes files.

    Attributes:
        ratios: train, val, test fractions of the queries (sum to 1).
        seed: split seed (also seeds random top-up negatives).
        group_col: metadata column whose values must stay in one split (besides shared passages).
        stratify_col: metadata column whose values are spread over the splits by the ratios.
        max_negatives: cap on negatives per sample (None = every accepted / auto-selected one).
        query_prompt: instruction written to ``prompt`` (a query's own prompt wins).
        passage_prompt: prompt for passages, recorded in the manifest for evaluation.
        sample_type: ``type`` for samples that have none.
        allow_cross_split_negatives: keep a train negative that is a val/test positive (leaks
            evaluation passages into training when True; False drops it and counts it).
        empty_negatives: policy for a sample left without negatives (see :data:`EMPTY_NEGATIVES`).
        near_duplicates: Jaccard threshold (word 3-shingles) above which two passages count as
            one for the split, the negative checks and the leakage report; None = only passages
            equal after normalisation count as one.
        near_dup_max_passages: above this many distinct passages the near-duplicate step is skipped.
        dropped_rows_listed: dropped input rows listed in the manifest (all are in dropped_rows.csv).
        keep_versions: export versions kept under the export root (the current one included).
        formats: files to write besides the BEIR evaluation set and the dataset card (see
            :data:`embcore.export.formats.FORMATS`; ``flag`` is always written).
        license: licence id for the dataset card; None = the project's (``unknown`` when it has
            none). A given one is recorded for the project once the export is published.
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
    empty_negatives: EmptyNegatives = "top-up"
    near_duplicates: float | None = 0.7
    near_dup_max_passages: int = 200_000
    dropped_rows_listed: int = 100
    keep_versions: int = 3
    formats: tuple[str, ...] = FORMATS
    license: str | None = None

    def __post_init__(self) -> None:
        self.ratios = parse_ratios(self.ratios)
        self.formats = parse_formats(self.formats)
        self.license = check_license(self.license)
        if self.max_negatives is not None and self.max_negatives < 1:
            raise EmbcoreError(f"max_negatives must be at least 1 (None = no cap), got {self.max_negatives}")
        if self.empty_negatives not in EMPTY_NEGATIVES:
            raise EmbcoreError(
                f"empty_negatives={self.empty_negatives!r} is not allowed; choose one of: {', '.join(EMPTY_NEGATIVES)}"
            )
        if self.keep_versions < 1:
            raise EmbcoreError("keep_versions must be at least 1")
        self.near_config()  # validates the threshold

    def near_config(self) -> NearDupConfig | None:
        """The near-duplicate settings (None when switched off)."""
        if self.near_duplicates is None:
            return None
        return NearDupConfig(threshold=float(self.near_duplicates), max_passages=self.near_dup_max_passages)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
