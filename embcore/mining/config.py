"""Typed configuration of one mining run (shared by the CLI, the app and the store).

A :class:`MiningConfig` is plain data: it validates itself, round-trips through JSON
(``to_dict`` / ``from_dict``) and is recorded with every run so that the same config and the
same data give the same candidates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from embcore.errors import EmbcoreError
from embcore.models.encoders import DEFAULT_MODEL

Strategy = Literal["bm25", "dense", "hybrid", "inbatch", "inbatch-symmetric", "random", "rules"]
TokenizerName = Literal["auto", "word", "jieba", "whitespace"]
StopwordsName = Literal["english", "chinese", "both"]
FusionName = Literal["rrf", "weighted"]
SamplingName = Literal["top", "random"]
ScoreFilters = Literal["auto", "on", "off"]
Relation = Literal["same", "different"]
RuleTag = Literal["hard", "easy"]

STRATEGIES: tuple[str, ...] = get_args(Strategy)
TOKENIZERS: tuple[str, ...] = get_args(TokenizerName)
STOPWORDS: tuple[str, ...] = get_args(StopwordsName)
FUSIONS: tuple[str, ...] = get_args(FusionName)
SAMPLINGS: tuple[str, ...] = get_args(SamplingName)
SCORE_FILTERS: tuple[str, ...] = get_args(ScoreFilters)
RELATIONS: tuple[str, ...] = get_args(Relation)
RULE_TAGS: tuple[str, ...] = get_args(RuleTag)

FILTER_ORDER: tuple[str, ...] = (
    "positive_id",
    "positive_text",
    "near_duplicate",
    "max_score",
    "min_score",
    "absolute_margin",
    "relative_margin",
    "rank_window",
)
"""Filters in the order the pipeline applies them; a removed candidate's status is the first that hit it."""


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise EmbcoreError(f"{name}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


@dataclass
class RuleSpec:
    """A metadata rule: candidates whose ``column`` relates to the query's value of ``column``.

    Attributes:
        column: A mapped metadata column present in ``MiningInput.query_meta`` / ``passage_meta``.
        relation: ``"same"`` (same value as the query, e.g. same ticker) or ``"different"``.
        tag: ``"hard"`` ranks the matching passages by dense similarity to the query (harder
            negatives); ``"easy"`` draws them at random (seeded).
        name: Label used in the candidates' ``sources`` (default ``"<relation>-<column>"``).
    """

    column: str
    relation: Relation = "same"
    tag: RuleTag = "hard"
    name: str = ""

    @property
    def label(self) -> str:
        """The source label of this rule's candidates, e.g. ``"rule:same-ticker"``."""
        return "rule:" + (self.name or f"{self.relation}-{self.column}")

    def validate(self) -> None:
        """Raise :class:`EmbcoreError` if a field holds a value that is not allowed."""
        if not isinstance(self.column, str) or not self.column:
            raise EmbcoreError("a mining rule needs a non-empty 'column' (a mapped metadata column)")
        _check_choice(f"rule {self.column!r} relation", self.relation, RELATIONS)
        _check_choice(f"rule {self.column!r} tag", self.tag, RULE_TAGS)

    @classmethod
    def from_any(cls, value: RuleSpec | dict[str, Any] | str) -> RuleSpec:
        """Build a rule from a dict, another rule, or a ``"column:relation[:tag]"`` string (CLI form)."""
        if isinstance(value, RuleSpec):
            return value
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) not in (2, 3):
                raise EmbcoreError(f"rule {value!r} must look like 'column:same|different[:hard|easy]'")
            spec = cls(*parts)  # type: ignore[arg-type]
        elif isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise EmbcoreError(
                    f"unknown rule keys {sorted(unknown)}; allowed: column, relation, tag, name"
                )
            spec = cls(**value)
        else:
            raise EmbcoreError(f"a mining rule must be a dict or 'column:relation' string, got {value!r}")
        spec.validate()
        return spec


@dataclass
class MiningConfig:
    """Everything that decides which negatives a run proposes.

    Attributes:
        strategies: Candidate sources; ``hybrid`` = ``bm25`` + ``dense``. Several lists are
            fused into one ranking per query with ``fusion`` (RRF interleaves them).
        num_negatives: Negatives selected per query.
        top_k: Candidate depth per retriever/strategy (before filtering), per query.
        model: Bi-encoder: ``"default"`` (bundled all-MiniLM-L6-v2), a local path or a hub id.
        query_prompt: Prefix/instruction prepended to queries before encoding.
        passage_prompt: Prefix prepended to passages before encoding.
        batch_size: Encoding batch size.
        bm25_k1: BM25 term-frequency saturation.
        bm25_b: BM25 length normalisation.
        bm25_epsilon: Floor for negative idf, as a fraction of the average idf (rank-bm25 Okapi).
        tokenizer: ``auto`` (jieba when the corpus is largely CJK, else ``word``), ``word``
            (Unicode words, CJK runs as characters), ``jieba`` or ``whitespace``.
        stopwords: Stopword list removed before BM25 (``english``, ``chinese``, ``both``) or None.
        fusion: ``rrf`` (reciprocal-rank fusion) or ``weighted`` (min-max normalised scores).
        rrf_k: The RRF constant (score = sum of weight / (rrf_k + rank)).
        weights: Per-source weights for fusion (missing sources weigh 1.0).
        rules: Metadata rules (``strategies`` must contain ``rules``).
        inbatch_size: Batch size simulated by the in-batch strategies.
        range_min: Skip the first ``range_min`` surviving candidates of each query.
        range_max: Consider at most the first ``range_max`` surviving candidates (None = no limit).
        max_score: Drop candidates scoring above this (dense cosine, or cross-encoder score).
        min_score: Drop candidates scoring below this.
        absolute_margin: Drop candidates with ``score + margin > positive score``.
        relative_margin: Drop candidates with ``score > pos - |pos| * margin`` (0.05 = TopK-PercPos 95%).
        near_duplicate_threshold: Drop candidates whose cosine to a positive is at least this (None = off).
        cross_encoder: Optional cross-encoder (path or id) that rescores all candidates and positives;
            margins and max/min score then use its scores.
        sampling: ``top`` takes the best survivors, ``random`` draws among them (seeded).
        score_filters: whether the score filters (near-duplicate, max/min score, margins) run:
            ``auto`` = for runs with a retriever (bm25, dense, hybrid, rules: the hard
            negatives, where false negatives hide), not for random / in-batch runs alone, which
            then load no model; ``on`` = always (encodes for them if needed); ``off`` = never.
            The id and normalised-text positive filters always run.
        seed: Seed of every random choice (in-batch shuffling, random negatives, sampling).
        use_faiss: Use faiss (``pip install faiss-cpu``) for the exact dense top-k.
        chunk_mb: Memory budget (MiB) of one query chunk's score matrix.
    """

    strategies: list[Strategy] = field(default_factory=lambda: ["dense"])
    num_negatives: int = 7
    top_k: int = 50
    model: str = DEFAULT_MODEL
    query_prompt: str = ""
    passage_prompt: str = ""
    batch_size: int = 64
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    bm25_epsilon: float = 0.25
    tokenizer: TokenizerName = "auto"
    stopwords: StopwordsName | None = None
    fusion: FusionName = "rrf"
    rrf_k: int = 60
    weights: dict[str, float] = field(default_factory=dict)
    rules: list[RuleSpec] = field(default_factory=list)
    inbatch_size: int = 32
    range_min: int = 0
    range_max: int | None = None
    max_score: float | None = None
    min_score: float | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = 0.05
    near_duplicate_threshold: float | None = 0.98
    cross_encoder: str | None = None
    sampling: SamplingName = "top"
    score_filters: ScoreFilters = "auto"
    seed: int = 42
    use_faiss: bool = False
    chunk_mb: int = 64

    def __post_init__(self) -> None:
        # accept the CLI forms: "bm25,dense" and "ticker:same:hard" rules
        if isinstance(self.strategies, str):
            self.strategies = [s.strip() for s in self.strategies.split(",") if s.strip()]  # type: ignore[assignment]
        self.rules = [RuleSpec.from_any(r) for r in self.rules]

    # ------------------------------------------------------------------ derived views
    @property
    def sources(self) -> list[str]:
        """Concrete candidate sources in canonical order (``hybrid`` expanded, duplicates dropped)."""
        wanted = set(self.strategies)
        if "hybrid" in wanted:
            wanted |= {"bm25", "dense"}
        out = [s for s in STRATEGIES if s in wanted and s not in ("hybrid", "rules")]
        if "rules" in wanted:
            out += [r.label for r in self.rules]
        return out

    @property
    def score_filters_on(self) -> bool:
        """Whether any score-based filter (max/min score, margins) is set."""
        return any(
            v is not None
            for v in (self.max_score, self.min_score, self.absolute_margin, self.relative_margin)
        )

    def dense_retrieval(self) -> bool:
        """Whether candidate generation itself needs embeddings (dense, hybrid, hard rules)."""
        return bool({"dense", "hybrid"} & set(self.strategies)) or (
            "rules" in self.strategies and any(RuleSpec.from_any(r).tag == "hard" for r in self.rules)
        )

    def needs_embeddings(self) -> bool:
        """Whether this config needs bi-encoder embeddings: dense retrieval, or score filters on
        retrieved (hard) candidates. ``auto`` filters any run with a retriever (bm25, dense,
        hybrid, rules); random / in-batch runs alone stay model-free."""
        if self.dense_retrieval():
            return True
        if self.score_filters == "off":
            return False
        wants = self.near_duplicate_threshold is not None or (
            self.cross_encoder is None and self.score_filters_on
        )
        if self.score_filters == "on":
            return wants
        return wants and bool({"bm25", "rules"} & set(self.strategies))

    # ------------------------------------------------------------------ validation
    def validate(self) -> MiningConfig:
        """Check every field; raise :class:`EmbcoreError` naming the allowed values.

        Returns:
            ``self`` (so that ``cfg = MiningConfig(...).validate()`` reads well).
        """
        self.__post_init__()
        if not self.strategies:
            raise EmbcoreError(f"strategies is empty; choose one or more of: {', '.join(STRATEGIES)}")
        for s in self.strategies:
            _check_choice("strategy", s, STRATEGIES)
        labels = [r.label for r in self.rules]
        if len(set(labels)) != len(labels):
            raise EmbcoreError(f"two rules share a label ({', '.join(labels)}); give one a distinct 'name'")
        if "rules" in self.strategies and not self.rules:
            raise EmbcoreError(
                "strategy 'rules' needs at least one rule, e.g. {'column': 'ticker', 'relation': 'same'}"
            )
        _check_choice("tokenizer", self.tokenizer, TOKENIZERS)
        if self.stopwords is not None:
            _check_choice("stopwords", self.stopwords, STOPWORDS)
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_choice("sampling", self.sampling, SAMPLINGS)
        _check_choice("score_filters", self.score_filters, SCORE_FILTERS)
        self._check_numbers()
        return self

    def _check_numbers(self) -> None:
        positive_ints = {
            "num_negatives": self.num_negatives,
            "top_k": self.top_k,
            "batch_size": self.batch_size,
            "inbatch_size": self.inbatch_size,
            "chunk_mb": self.chunk_mb,
        }
        for name, value in positive_ints.items():
            if not isinstance(value, int) or value < 1:
                raise EmbcoreError(f"{name} must be an integer >= 1, got {value!r}")
        if self.inbatch_size < 2:
            raise EmbcoreError(f"inbatch_size must be >= 2, got {self.inbatch_size}")
        if self.rrf_k < 0:
            raise EmbcoreError(f"rrf_k must be >= 0, got {self.rrf_k}")
        if self.bm25_k1 < 0 or not 0 <= self.bm25_b <= 1:
            raise EmbcoreError(
                f"bm25_k1 must be >= 0 and bm25_b in [0, 1], got {self.bm25_k1}, {self.bm25_b}"
            )
        if not isinstance(self.range_min, int) or self.range_min < 0:
            raise EmbcoreError(f"range_min must be an integer >= 0, got {self.range_min!r}")
        if self.range_max is not None and self.range_max <= self.range_min:
            raise EmbcoreError(
                f"range_max ({self.range_max}) must be greater than range_min ({self.range_min})"
            )
        if self.range_max is not None and self.num_negatives > self.range_max - self.range_min:
            raise EmbcoreError(
                f"num_negatives={self.num_negatives} does not fit the rank window "
                f"range_min={self.range_min}..range_max={self.range_max}"
            )
        for name in ("absolute_margin", "relative_margin"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise EmbcoreError(f"{name} must be >= 0 or None, got {value}")
        thr = self.near_duplicate_threshold
        if thr is not None and not -1.0 <= thr <= 1.0:
            raise EmbcoreError(f"near_duplicate_threshold is a cosine in [-1, 1] or None, got {thr}")
        for name, w in self.weights.items():
            if w < 0:
                raise EmbcoreError(f"fusion weight for {name!r} must be >= 0, got {w}")

    # ------------------------------------------------------------------ JSON round trip
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (rules as dicts) that :meth:`from_dict` turns back into an equal config."""
        out = dataclasses.asdict(self)
        out["strategies"] = list(self.strategies)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MiningConfig:
        """Build and validate a config from a dict (unknown keys raise, naming the allowed ones).

        Args:
            data: Output of :meth:`to_dict`, a JSON object, or a partial dict (missing keys = defaults).

        Returns:
            The validated config.
        """
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise EmbcoreError(f"unknown mining option(s) {unknown}; allowed: {', '.join(allowed)}")
        kwargs = dict(data)
        if "rules" in kwargs:
            kwargs["rules"] = list(kwargs["rules"] or [])
        if "weights" in kwargs:
            kwargs["weights"] = {str(k): float(v) for k, v in (kwargs["weights"] or {}).items()}
        return cls(**kwargs).validate()
