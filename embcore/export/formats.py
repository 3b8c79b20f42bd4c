"""Export formats besides the FlagEmbedding JSONL: sentence-transformers Parquet and a Hugging Face DatasetDict.

Both are written from the same records as ``train/val/test.jsonl`` (after the split, the
negative checks and the empty-negatives policy), so every guarantee of the JSONL holds for
them too: no negative equals or nearly duplicates its own positive, no train negative is a
val/test positive, no rejected candidate.

``st/{train,val,test}.parquet`` (sentence-transformers): columns ``anchor``, ``positive``,
``negative_1`` .. ``negative_n``, all strings, the layout ``SentenceTransformerTrainer`` feeds to
MultipleNegativesRankingLoss and its relatives.

- A sample with several positives becomes one row per positive (same anchor, same negatives);
  train with ``batch_sampler=BatchSamplers.NO_DUPLICATES`` so that two rows of one query never
  share a batch (the other positive would be an in-batch false negative).
- ``n`` is the largest number of negatives of any sample of the export (the same for every
  split, so the splits share one schema). A sample with fewer negatives repeats its own
  negatives in order (``a, b, a, b, ...``), as FlagEmbedding's dataset does when a sample has
  fewer than ``train_group_size - 1``: no passage the review and the filters did not let
  through is ever added. The manifest and the dataset card count the rows and slots concerned.
- Prompts and teacher scores are not columns (the trainer would feed any extra column to the
  loss): prompts go to ``SentenceTransformerTrainingArguments(prompts=...)``; scores stay in
  the JSONL and the DatasetDict.

``hf/`` (Hugging Face ``datasets``): a ``DatasetDict`` saved with ``save_to_disk``, splits
``train``, ``val``, ``test``, one row per sample with the JSONL fields (``query``, ``pos``,
``neg``, and ``pos_scores`` / ``neg_scores`` / ``prompt`` / ``type`` when the export has them),
with explicit features so that an empty split keeps the schema; ``datasets.load_from_disk``
reads it back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embcore.errors import EmbcoreError
from embcore.export.split import SPLITS

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("flag", "st", "hf")
"""``flag``: FlagEmbedding JSONL (always written: embcore's eval, finetune, verify and the app
read it); ``st``: sentence-transformers Parquet; ``hf``: a Hugging Face DatasetDict."""

FORMAT_NAMES: dict[str, str] = {
    "flag": "FlagEmbedding JSONL",
    "st": "sentence-transformers Parquet",
    "hf": "Hugging Face datasets",
}
ST_DIR = "st"
HF_DIR = "hf"
_SCORE_KEYS = ("pos_scores", "neg_scores")
_TEXT_KEYS = ("prompt", "type")


def parse_formats(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The formats to write, in canonical order; ``flag`` is always included.

    Args:
        value: ``"flag,st,hf"``, a sequence of names, or None / ``"all"`` for every format.

    Raises:
        EmbcoreError: an unknown name (the message lists the allowed ones).
    """
    if value is None:
        return FORMATS
    names = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    if names == ["all"]:
        return FORMATS
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise EmbcoreError(
            f"unknown export format(s) {', '.join(map(repr, unknown))}; choose from: {', '.join(FORMATS)} "
            "(or 'all'; flag is always written)"
        )
    return tuple(f for f in FORMATS if f == "flag" or f in names)


# --------------------------------------------------------------------------- sentence-transformers


def st_negative_count(by_split: dict[str, list[dict[str, Any]]]) -> int:
    """Number of ``negative_i`` columns: the most negatives of any sample (at least 1)."""
    return max((len(r["neg"]) for recs in by_split.values() for r in recs), default=1) or 1


def st_rows(records: Sequence[dict[str, Any]], n: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Sentence-transformers columns for FlagEmbedding records.

    Args:
        records: FlagEmbedding records of one split (``neg`` never empty).
        n: number of negative columns.

    Returns:
        (columns ``anchor``, ``positive``, ``negative_1..n``; counts: ``rows``,
        ``samples_with_several_positives``, ``rows_with_repeated_negatives``, ``repeated_slots``).
    """
    cols: dict[str, list[str]] = {"anchor": [], "positive": [], **{f"negative_{j + 1}": [] for j in range(n)}}
    counts = {
        "rows": 0,
        "samples_with_several_positives": 0,
        "rows_with_repeated_negatives": 0,
        "repeated_slots": 0,
    }
    for r in records:
        negs = list(r["neg"])
        if not negs:  # the exporter never writes one; keep the reader's contract explicit
            raise EmbcoreError(
                f"sample {r['query'][:60]!r} has no negative; cannot fill {n} negative columns"
            )
        filled = [negs[j % len(negs)] for j in range(n)]
        short = max(0, n - len(negs))
        counts["samples_with_several_positives"] += int(len(r["pos"]) > 1)
        for p in r["pos"]:
            cols["anchor"].append(r["query"])
            cols["positive"].append(p)
            for j, t in enumerate(filled):
                cols[f"negative_{j + 1}"].append(t)
            counts["rows"] += 1
            if short:
                counts["rows_with_repeated_negatives"] += 1
                counts["repeated_slots"] += short
    return cols, counts


def write_st(folder: Path, by_split: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Write ``folder/st/<split>.parquet`` for every split (an empty split keeps the schema).

    Returns:
        The manifest part: files, columns, negative columns, rows and fill counts per split.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = st_negative_count(by_split)
    schema = pa.schema(
        [(c, pa.string()) for c in ("anchor", "positive", *(f"negative_{j + 1}" for j in range(n)))]
    )
    out = folder / ST_DIR
    out.mkdir(parents=True, exist_ok=True)
    splits: dict[str, dict[str, int]] = {}
    for s in SPLITS:
        cols, counts = st_rows(by_split.get(s, []), n)
        table = pa.table(cols, schema=schema)
        pq.write_table(table, out / f"{s}.parquet", compression="zstd")
        splits[s] = counts
    return {
        "name": FORMAT_NAMES["st"],
        "files": [f"{ST_DIR}/{s}.parquet" for s in SPLITS],
        "columns": schema.names,
        "negative_columns": n,
        "rows_per_positive": True,
        "short_rows": "repeat the sample's own negatives in order",
        "splits": splits,
    }


# --------------------------------------------------------------------------- Hugging Face datasets


def hf_features(by_split: dict[str, list[dict[str, Any]]]) -> Any:
    """``datasets.Features`` of the records: the JSONL fields the export has, in JSONL order."""
    from datasets import Features, Value

    try:
        from datasets import List
    except ImportError:  # datasets < 4
        from datasets import Sequence as List

    keys = {k for recs in by_split.values() for r in recs for k in r}
    feats: dict[str, Any] = {
        "query": Value("string"),
        "pos": List(Value("string")),
        "neg": List(Value("string")),
    }
    for k in _SCORE_KEYS:
        if k in keys:
            feats[k] = List(Value("float64"))
    for k in _TEXT_KEYS:
        if k in keys:
            feats[k] = Value("string")
    return Features(feats)


def _fingerprint(records: Sequence[dict[str, Any]]) -> str:
    """A content hash as the dataset fingerprint (datasets would pick a random one: bytes would differ)."""
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def write_hf(
    folder: Path, by_split: dict[str, list[dict[str, Any]]], *, license: str, description: str
) -> dict[str, Any]:
    """Save the records as a ``datasets.DatasetDict`` in ``folder/hf`` (``save_to_disk``).

    An empty split is saved as one empty shard: with the default (no shard at all),
    ``load_from_disk`` fails on it (IndexError in datasets 5.2).

    Returns:
        The manifest part: folder, splits with their row counts, features.
    """
    import datasets
    import pyarrow as pa

    feats = hf_features(by_split)
    schema = feats.arrow_schema
    parts = {}
    for s in SPLITS:
        recs = by_split.get(s, [])
        table = pa.Table.from_pylist([{k: r.get(k) for k in feats} for r in recs], schema=schema)
        info = datasets.DatasetInfo(features=feats, license=license, description=description)
        parts[s] = datasets.Dataset(table, info=info, fingerprint=_fingerprint(recs))
    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        datasets.DatasetDict(parts).save_to_disk(
            str(folder / HF_DIR), num_shards={s: 1 for s in SPLITS if not len(parts[s])}
        )
    finally:
        if not was_disabled:
            datasets.utils.enable_progress_bars()
    return {
        "name": FORMAT_NAMES["hf"],
        "folder": HF_DIR,
        "splits": {s: len(parts[s]) for s in SPLITS},
        "features": list(feats),
    }


# --------------------------------------------------------------------------- the writing hook


def write_formats(
    folder: Path,
    by_split: dict[str, list[dict[str, Any]]],
    formats: Sequence[str],
    *,
    license: str = "unknown",
    description: str = "",
) -> dict[str, Any]:
    """Write the formats besides the JSONL (already written) into the staging ``folder``.

    Returns:
        The manifest's ``formats`` section: ``written`` and one part per format.
    """
    out: dict[str, Any] = {
        "written": list(formats),
        "flag": {"name": FORMAT_NAMES["flag"], "files": [f"{s}.jsonl" for s in SPLITS]},
        "beir": {"name": "BEIR evaluation set", "folder": "eval"},
    }
    if "st" in formats:
        out["st"] = write_st(folder, by_split)
    if "hf" in formats:
        out["hf"] = write_hf(folder, by_split, license=license, description=description)
    log.info("export formats written: %s", ", ".join(formats))
    return out


# --------------------------------------------------------------------------- verification


def check_formats(
    folder: Path, manifest: dict[str, Any], by_split: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """Problems of the sentence-transformers and datasets files against the JSONL records.

    Each file is read with its real reader (pyarrow for Parquet, ``datasets.load_from_disk``)
    and compared with the JSONL: same samples in the same order, the layout described in the
    module docstring, no negative equal to its own positive.
    """
    formats = manifest.get("formats")
    if not isinstance(formats, dict):
        return []  # an export from before these formats
    written = formats.get("written") or []
    problems: list[str] = []
    if "st" in written:
        problems += _check_st(folder, formats.get("st") or {}, by_split)
    if "hf" in written:
        problems += _check_hf(folder, by_split)
    return problems


def _check_st(folder: Path, part: dict[str, Any], by_split: dict[str, list[dict[str, Any]]]) -> list[str]:
    import pyarrow.parquet as pq

    out: list[str] = []
    n = part.get("negative_columns")
    if not isinstance(n, int) or n < 1:
        return [f"{folder / 'manifest.json'}: formats.st.negative_columns must be a positive integer"]
    want_cols = ["anchor", "positive", *(f"negative_{j + 1}" for j in range(n))]
    for s in SPLITS:
        f = folder / ST_DIR / f"{s}.parquet"
        if not f.is_file():
            out.append(f"{f}: missing")
            continue
        try:
            table = pq.read_table(f)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one problem line
            out.append(f"{f}: not a readable Parquet file ({exc})")
            continue
        if table.column_names != want_cols:
            out.append(f"{f}: columns {table.column_names}, expected {want_cols[:3]}..negative_{n}")
            continue
        recs = by_split.get(s, [])
        try:
            expected, _ = st_rows(recs, n)
        except (EmbcoreError, KeyError, TypeError):
            continue  # a malformed JSONL line: reported by the JSONL check
        cols = table.to_pydict()
        if cols != expected:
            out.append(f"{f}: does not match {s}.jsonl ({_first_difference(cols, expected)})")
    return out


def _first_difference(got: dict[str, list[Any]], want: dict[str, list[Any]]) -> str:
    n_got, n_want = len(next(iter(got.values()), [])), len(next(iter(want.values()), []))
    if n_got != n_want:
        return f"{n_got} rows, expected {n_want}"
    for col in want:
        for i, (a, b) in enumerate(zip(got[col], want[col], strict=True)):
            if a != b:
                return f"row {i + 1}, column {col!r}"
    return "content differs"


def _check_hf(folder: Path, by_split: dict[str, list[dict[str, Any]]]) -> list[str]:
    import datasets

    path = folder / HF_DIR
    if not path.is_dir():
        return [f"{path}: missing"]
    try:
        dd = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable folder is one problem line
        return [f"{path}: datasets.load_from_disk failed ({type(exc).__name__}: {exc})"]
    if not isinstance(dd, datasets.DatasetDict):
        return [f"{path}: a single Dataset, expected a DatasetDict with splits {', '.join(SPLITS)}"]
    out = []
    if sorted(dd) != sorted(SPLITS):
        out.append(f"{path}: splits {sorted(dd)}, expected {list(SPLITS)}")
    for s in SPLITS:
        if s not in dd:
            continue
        recs = by_split.get(s, [])
        rows = dd[s].to_list()
        want = [{k: r.get(k) for k in dd[s].column_names} for r in recs]
        if len(rows) != len(recs):
            out.append(f"{path}/{s}: {len(rows)} rows, {s}.jsonl has {len(recs)}")
        elif rows != want:
            i = next(i for i, (a, b) in enumerate(zip(rows, want, strict=True)) if a != b)
            out.append(f"{path}/{s}: row {i + 1} differs from line {i + 1} of {s}.jsonl")
        missing = [k for k in {k for r in recs for k in r} if k not in dd[s].column_names]
        if missing:
            out.append(f"{path}/{s}: lacks the field(s) {', '.join(sorted(missing))} of {s}.jsonl")
    return out
