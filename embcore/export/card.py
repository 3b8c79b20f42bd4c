"""The dataset card (``README.md``) written with every export.

A Hugging Face dataset card: YAML metadata (licence, task, size, one ``configs`` entry per
trainable format so that ``datasets.load_dataset(OUT, "sentence-transformers")`` and the Hub
viewer find the files) and sections a reader needs before training on the data: where it comes
from, how fields were mapped, how negatives were mined and reviewed, how the splits were made,
the leakage report and the licence. Everything is taken from the export's manifest, the mining
run and the review counts; no time stamp, so the same data and settings give the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from embcore.errors import EmbcoreError
from embcore.export.split import SPLITS

CARD = "README.md"
UNKNOWN_LICENSE = "unknown"
_LICENSE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")
_MINING_KEYS = (
    "strategies",
    "num_negatives",
    "top_k",
    "model",
    "fusion",
    "sampling",
    "range_min",
    "range_max",
    "max_score",
    "min_score",
    "absolute_margin",
    "relative_margin",
    "near_duplicate_threshold",
    "cross_encoder",
    "score_filters",
    "rules",
    "seed",
)


def check_license(value: str | None) -> str | None:
    """A licence id as written to the card (None = none given).

    Raises:
        EmbcoreError: not an SPDX / Hugging Face licence id (one word of letters, digits, ``.+_-``).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if not _LICENSE_RE.match(value):
        raise EmbcoreError(
            f"licence {value[:70]!r} is not a licence id: give an SPDX / Hugging Face id such as "
            "cc-by-4.0, apache-2.0, mit, other or unknown"
        )
    return value


def _y(value: Any) -> str:
    """A YAML scalar (JSON strings are valid YAML double-quoted scalars)."""
    return json.dumps(value, ensure_ascii=False)


def _md(value: Any) -> str:
    """Text from the data or the user inside a table cell / line: no pipes, no line breaks, no markup."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def _code(value: Any) -> str:
    text = str(value).replace("`", "'").replace("\n", " ")
    return f"`{text}`"


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def _front_matter(manifest: dict[str, Any], license: str, total: int) -> list[str]:
    written = (manifest.get("formats") or {}).get("written") or ["flag"]
    lines = [
        "---",
        f"license: {_y(license)}",
        f"pretty_name: {_y('embcore export: ' + str((manifest.get('project') or {}).get('name', '')))}",
        "task_categories:",
        "- sentence-similarity",
        "- text-retrieval",
        "tags:",
        "- embcore",
        "- hard-negatives",
    ]
    lines += ["- sentence-transformers"] if "st" in written else []
    lines += ["- flagembedding", "size_categories:", f"- {_size_category(total)}", "configs:"]
    # one config only: datasets infers one builder (parquet / json) for all configs of a folder
    if "st" in written:
        name, files = "sentence-transformers", [f"st/{s}.parquet" for s in SPLITS]
    else:
        name, files = "flagembedding", [f"{s}.jsonl" for s in SPLITS]
    lines += [f"- config_name: {name}", "  default: true", "  data_files:"]
    for s, f in zip(SPLITS, files, strict=True):
        lines += [f"  - split: {s}", f"    path: {f}"]
    lines.append("---")
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_card(
    manifest: dict[str, Any],
    *,
    run: dict[str, Any] | None,
    review: dict[str, int],
    license: str | None,
) -> str:
    """The dataset card of an export.

    Args:
        manifest: the export's manifest (without ``files``); its ``formats`` section says what was written.
        run: the mining run (``Store.get_run``), or None when the export used no run.
        review: review counts (``queries``, ``reviewed``, ``accepted``, ``rejected``, ``positives``, ``flagged``).
        license: the project's licence id, or None (the card says ``unknown`` and why).

    Returns:
        The Markdown text (YAML metadata first).
    """
    counts = manifest.get("counts") or {}
    formats = manifest.get("formats") or {}
    written = formats.get("written") or ["flag"]
    total = sum(int((counts.get(s) or {}).get("samples", 0)) for s in SPLITS)
    lic = license or UNKNOWN_LICENSE
    project = (manifest.get("project") or {}).get("name", "")
    src = manifest.get("input") or {}
    cfg = (manifest.get("config") or {}).get("export") or {}
    out = _front_matter(manifest, lic, total)
    out += [
        "",
        f"# {_md(project)}",
        "",
        "Fine-tuning and evaluation data for text embedding models (query, positive passages, hard "
        f"negatives), written by embcore {_md(manifest.get('version', ''))}. `manifest.json` holds every "
        "setting, count and file hash; `embcore verify` checks the files against it.",
        "",
        "## Files",
        "",
    ]
    rows = [["FlagEmbedding JSONL", "`train.jsonl`, `val.jsonl`, `test.jsonl`",
             "FlagEmbedding fine-tuning (`--train_data train.jsonl`); `datasets.load_dataset(\"json\", ...)`"]]  # fmt: skip
    if "st" in written:
        rows.append(["sentence-transformers", "`st/train.parquet`, `st/val.parquet`, `st/test.parquet`",
                     "`datasets.load_dataset(OUT, \"sentence-transformers\")`, then `SentenceTransformerTrainer`"])  # fmt: skip
    if "hf" in written:
        rows.append(["Hugging Face datasets", "`hf/` (`DatasetDict`: train, val, test)", "`datasets.load_from_disk(\"hf\")`"])  # fmt: skip
    rows.append(["BEIR evaluation set", "`eval/corpus.jsonl`, `eval/queries.jsonl`, `eval/qrels/{val,test}.tsv`",
                 "`GenericDataLoader(\"eval\").load(split=\"test\")`"])  # fmt: skip
    out += _table(["format", "files", "read with"], rows)
    st_part = formats.get("st") or {}
    hf_part = formats.get("hf") or {}
    out += ["", "Samples per split:", ""]
    header = ["split", "samples", "positives", "negatives"] + (
        ["sentence-transformers rows"] if st_part else []
    )
    body = []
    for s in SPLITS:
        c = counts.get(s) or {}
        row = [s, _n(c.get("samples", 0)), _n(c.get("positives", 0)), _n(c.get("negatives", 0))]
        if st_part:
            row.append(_n(((st_part.get("splits") or {}).get(s) or {}).get("rows", 0)))
        body.append(row)
    out += _table(header, body)
    beir = formats.get("beir") or {}
    empty = [s for s in ("val", "test") if beir.get(f"{s}_queries") == 0]
    if empty:
        out += ["", f"The evaluation set has no {' and no '.join(empty)} query (only real queries of those splits "
                f"are evaluated): `GenericDataLoader(...).load(split=...)` fails on an empty qrels file "
                f"({', '.join(f'`eval/qrels/{s}.tsv`' for s in empty)})."]  # fmt: skip
    elif beir:
        out += ["", f"Evaluation set: {_n(beir.get('corpus', 0))} passages, {_n(beir.get('val_queries', 0))} val "
                f"and {_n(beir.get('test_queries', 0))} test queries."]  # fmt: skip
    out += _source(manifest, src)
    out += _mapping(manifest.get("mapping") or {})
    out += _mining(run, manifest.get("mining_run"))
    out += _review(manifest, review)
    out += _splits(manifest, cfg)
    out += _leakage(manifest.get("leakage") or {})
    if st_part:
        out += _st_layout(st_part, manifest)
    if hf_part:
        out += ["", "## Hugging Face datasets", "",
                f"`hf/` is a `DatasetDict` with the splits {', '.join(f'`{s}`' for s in SPLITS)}, one row per sample "
                f"with the fields {', '.join(_code(f) for f in hf_part.get('features') or [])} of the JSONL."]  # fmt: skip
    out += _prompts(manifest)
    out += ["", "## Licence", ""]
    if license:
        out.append(f"Licence: `{lic}` (recorded for this project in embcore). It applies to the files of this export; "
                   "check that it matches the licence of the source data.")  # fmt: skip
    else:
        out.append("Licence: `unknown`. No licence was recorded for this project: the terms of the source data "
                   f"({_md(src.get('name') or 'the input file')}) apply. Record one with `embcore build --license ID` "
                   "or on the Export page.")  # fmt: skip
    return "\n".join(out) + "\n"


def _source(manifest: dict[str, Any], src: dict[str, Any]) -> list[str]:
    cleaning = manifest.get("cleaning") or {}
    out = ["", "## Source", ""]
    out.append(f"- input: {_md(src.get('name') or '(not recorded)')} ({_md(src.get('format') or '?')}), "
               f"sha256 {_code(src.get('sha256') or '?')}")  # fmt: skip
    if "rows_read" in cleaning:
        out.append(f"- rows read: {_n(cleaning.get('rows_read'))}; dropped while cleaning: "
                   f"{_n(manifest.get('dropped_rows_total', 0))} (all listed in `dropped_rows.csv`)")  # fmt: skip
    reasons = manifest.get("dropped_by_reason") or {}
    if reasons:
        out.append(
            "- dropped rows by reason: " + ", ".join(f"{_md(k)} {_n(v)}" for k, v in sorted(reasons.items()))
        )
    out.append(f"- queries built from several input rows: {_n(manifest.get('merged_groups', 0))}")
    return out


def _cols(label: str, cols: Sequence[Any]) -> str:
    return f"- {label}: column{'s' if len(cols) > 1 else ''} {', '.join(_code(c) for c in cols)}"


def _mapping(mapping: dict[str, Any]) -> list[str]:
    out = ["", "## Mapping", ""]
    if not mapping:
        return [*out, "Not recorded (the project was created without a field mapping)."]
    for label, key in (("query", "query_col"), ("positives", "pos_cols"), ("given negatives", "neg_col"),
                       ("pair score", "score_col"), ("metadata", "meta_cols")):  # fmt: skip
        value = mapping.get(key)
        cols = [value] if isinstance(value, str) else list(value or [])
        if cols:
            out.append(_cols(label, cols))
    if mapping.get("merge_queries"):
        out.append(f"- rows sharing a query merged on: {_code(mapping['merge_queries'])}")
    return out


def _mining(run: dict[str, Any] | None, run_id: Any) -> list[str]:
    out = ["", "## Mining", ""]
    if run is None:
        return [
            *out,
            "No mining run: the negatives are those given by the data (and the empty-negatives policy).",
        ]
    cfg = run.get("config") or {}
    stats = run.get("stats") or {}
    out.append(
        f"Run {_md(run_id)} ({_md(run.get('status', ''))}), model {_code(run.get('model_id') or cfg.get('model'))}."
    )
    out.append("")
    out += _table(
        ["parameter", "value"],
        [[k, _code(json.dumps(cfg[k], ensure_ascii=False))] for k in _MINING_KEYS if k in cfg],
    )
    sources = stats.get("sources") or {}
    if sources:
        out += ["", "Candidates per source:", ""]
        out += _table(["source", "proposed", "survived filters", "selected"],
                      [[_md(k), _n(v.get("proposed", "")), _n(v.get("survived", "")), _n(v.get("selected", ""))]
                       for k, v in sorted(sources.items())])  # fmt: skip
    filters = stats.get("filters") or {}
    if filters:
        out += ["", "Candidates removed by the false-negative filters: "
                + ", ".join(f"{_md(k)} {_n(v)}" for k, v in filters.items()) + "."]  # fmt: skip
    if "queries_without_negatives" in stats:
        out.append(f"Queries the run left without a negative: {_n(stats['queries_without_negatives'])}.")
    return out


def _review(manifest: dict[str, Any], review: dict[str, int]) -> list[str]:
    removed = manifest.get("removed") or {}
    neg = manifest.get("negatives") or {}
    out = ["", "## Review", ""]
    out.append(f"- queries reviewed: {_n(review.get('reviewed', 0))} of {_n(review.get('queries', 0))}")
    out.append(f"- reviewer decisions on candidates: {_n(review.get('accepted', 0))} accepted as negatives, "
               f"{_n(review.get('rejected', 0))} rejected, {_n(review.get('positives', 0))} marked as positives")  # fmt: skip
    flags = {
        k.removeprefix("flagged_"): v
        for k, v in removed.items()
        if k.startswith("flagged_") and k != "flagged_queries"
    }
    out.append(f"- queries flagged by a reviewer and left out: {_n(removed.get('flagged_queries', 0))}"
               + (" (" + ", ".join(f"{_md(k)} {_n(v)}" for k, v in sorted(flags.items())) + ")" if flags else ""))  # fmt: skip
    out.append("- rejected candidates and positives are never negatives; accepted candidates always are, then the "
               "run's automatic selection fills up to its number of negatives")  # fmt: skip
    out.append(f"- negatives dropped at export: equal to the query's positive {_n(removed.get('negative_equals_positive', 0))}, "
               f"near-duplicate of it {_n(removed.get('negative_near_duplicate_of_positive', 0))}, "
               f"a val/test positive (train) {_n(removed.get('train_negative_is_eval_positive', 0))}")  # fmt: skip
    if neg:
        out.append(f"- samples left without a negative: {_n(neg.get('samples_without_negatives', 0))} (policy "
                   f"{_code(neg.get('policy', ''))}: {_n(neg.get('topped_up_samples', 0))} topped up from the run, "
                   f"{_n(neg.get('random_samples', 0))} given random passages, {_n(neg.get('left_out_samples', 0))} left out)")  # fmt: skip
    out += _agreement(manifest.get("review") or {}, manifest.get("qrels") or {})
    return out


def _kappa(value: Any) -> str:
    return "undefined" if value is None else f"{float(value):.2f}"


def _agreement(review: dict[str, Any], qrels: dict[str, Any]) -> list[str]:
    """Several reviewers: who, how their decisions were resolved, their agreement; graded qrels."""
    out = []
    agreement = review.get("agreement") or {}
    reviewers = agreement.get("reviewers") or []
    if len(reviewers) >= 2:
        out.append(f"- reviewers: {', '.join(_md(r) for r in reviewers)} (each query reviewed by "
                   f"{_n(review.get('overlap', 1))}); the exported decision is the {_md(review.get('policy', ''))}")  # fmt: skip
        pairs = agreement.get("cohen_kappa") or []
        if pairs:
            out.append("- agreement (Cohen's kappa per pair of reviewers, over the candidates both decided): "
                       + "; ".join(f"{_md(p['a'])} / {_md(p['b'])} {_kappa(p['kappa'])} on {_n(p['items'])}"
                                   for p in pairs))  # fmt: skip
        if agreement.get("fleiss_items"):
            out.append(f"- Fleiss' kappa: {_kappa(agreement.get('fleiss_kappa'))} over {_n(agreement['fleiss_items'])} "
                       f"candidates decided by {_n(agreement.get('fleiss_raters_per_item', 0))} reviewers")  # fmt: skip
        resolved = agreement.get("resolved_by") or {}
        out.append(f"- candidates the reviewers disagreed on: {_n(agreement.get('disagreements', 0))} "
                   f"({_n(resolved.get('adjudicated', 0))} adjudicated by a lead, {_n(resolved.get('tie', 0))} "
                   "ties left out until a lead decides)")  # fmt: skip
    if qrels.get("graded"):
        out.append(f"- relevance in the evaluation qrels is graded {_md(qrels.get('scale', ''))}; candidates graded "
                   f"{_n(qrels.get('relevant_from_grade', 2))} or more are relevant and never negatives "
                   f"({_n(qrels.get('graded_candidates_in_qrels', 0))} of them added to the qrels)")  # fmt: skip
    return out


def _splits(manifest: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    ratios = cfg.get("ratios") or []
    near = cfg.get("near_duplicates")
    split = manifest.get("split") or {}
    out = ["", "## Splits", ""]
    out.append(f"Ratios train / val / test {' / '.join(str(r) for r in ratios)}, seed {_md(cfg.get('seed', manifest.get('seed')))}. "
               "Queries that share a positive passage stay in one split, where the same passage means equal after "
               "normalisation (Unicode NFKC, case, quotes, dashes, punctuation, whitespace)"
               + (f" or a near-duplicate (Jaccard >= {near} on word 3-shingles)" if near else "")
               + "; so do queries with the same normalised text and augmented copies with their source.")  # fmt: skip
    if cfg.get("group_col"):
        out.append(f"Queries sharing a value of {_code(cfg['group_col'])} stay in one split.")
    if cfg.get("stratify_col"):
        out.append(f"Values of {_code(cfg['stratify_col'])} are spread over the splits by the ratios.")
    if split:
        out.append(
            f"Groups kept together: {_n(split.get('groups', 0))} (largest: {_n(split.get('largest_group', 0))} queries)."
        )
    out.append("The evaluation set holds the real val / test queries and their positives (no augmented or generated "
               "text); its corpus is every distinct passage of the project.")  # fmt: skip
    return out


def _leakage(leak: dict[str, Any]) -> list[str]:
    out = ["", "## Leakage report", ""]
    if not leak:
        return [*out, "Not computed."]
    pairs = leak.get("positive_pairs_across_splits") or {}
    negs = leak.get("train_negatives_that_are_eval_positives") or {}
    out += _table(
        ["check", "exact", "normalised", "near-duplicate"],
        [
            ["positive passages shared across splits", *(_n(pairs.get(k, 0)) for k in ("exact", "normalised", "near_duplicate"))],
            ["train negatives that are val/test positives", *(_n(negs.get(k, 0)) for k in ("exact", "normalised", "near_duplicate"))],
        ],
    )  # fmt: skip
    out.append("")
    out.append(f"Queries found in another split (normalised text): {_n(leak.get('queries_in_another_split', 0))}. "
               f"Near-duplicate step: {_md((leak.get('thresholds') or {}).get('near_duplicate_step', 'n/a'))}.")  # fmt: skip
    return out


def _st_layout(part: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    splits = part.get("splits") or {}
    several = sum(int((splits.get(s) or {}).get("samples_with_several_positives", 0)) for s in SPLITS)
    short = sum(int((splits.get(s) or {}).get("rows_with_repeated_negatives", 0)) for s in SPLITS)
    slots = sum(int((splits.get(s) or {}).get("repeated_slots", 0)) for s in SPLITS)
    n = part.get("negative_columns", 0)
    out = ["", "## sentence-transformers layout", ""]
    out.append(
        f"Columns `anchor`, `positive`, `negative_1` .. `negative_{n}` ({n} = the most negatives of any sample)."
    )
    out.append(f"- A sample with several positives is one row per positive ({_n(several)} such samples); train with "
               "`batch_sampler=\"no_duplicates\"` (`BatchSamplers.NO_DUPLICATES`) so that two rows of one query never share a batch.")  # fmt: skip
    out.append(f"- A sample with fewer than {n} negatives repeats its own negatives in order ({_n(short)} rows, "
               f"{_n(slots)} repeated cells); no other passage is added.")  # fmt: skip
    prompts = manifest.get("prompts") or {}
    if prompts.get("query") or prompts.get("passage"):
        p = {"anchor": prompts.get("query") or ""}
        if prompts.get("passage"):
            p.update({c: prompts["passage"] for c in ["positive", *(f"negative_{j + 1}" for j in range(n))]})
        out.append(f"- Prompts are not in the columns: pass `prompts={_code(json.dumps(p, ensure_ascii=False))[1:-1]}` "
                   "to `SentenceTransformerTrainingArguments`.")  # fmt: skip
    out += ["", "```python",
            "from datasets import load_dataset",
            "from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,",
            "                                   SentenceTransformerTrainingArguments)",
            "from sentence_transformers.sentence_transformer import losses  # sentence-transformers >= 6",
            "",
            'data = load_dataset("OUT", "sentence-transformers")  # OUT = this folder',
            'model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")',
            'args = SentenceTransformerTrainingArguments("model-out", batch_sampler="no_duplicates")',
            'trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data["train"],',
            '                                     eval_dataset=data["val"], loss=losses.MultipleNegativesRankingLoss(model))',
            "trainer.train()",
            "```"]  # fmt: skip
    return out


def _prompts(manifest: dict[str, Any]) -> list[str]:
    prompts = manifest.get("prompts") or {}
    teacher = manifest.get("teacher")
    out = ["", "## Prompts and teacher scores", ""]
    out.append(f"- query instruction: {_code(prompts['query']) if prompts.get('query') else 'none'} "
               "(a query's own `prompt` in the JSONL wins; `\"\"` = no instruction)")  # fmt: skip
    out.append(f"- passage instruction: {_code(prompts['passage']) if prompts.get('passage') else 'none'}")
    if teacher:
        out.append(
            f"- teacher scores (`pos_scores` / `neg_scores`): {_code(json.dumps(teacher, ensure_ascii=False))}"
        )
    else:
        out.append("- teacher scores: none")
    return out


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML metadata of a card, or None when it has none / it does not parse."""
    import yaml

    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    if end < 0:
        return None
    try:
        data = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None
