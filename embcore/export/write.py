"""Write an export's files into a staging folder: FlagEmbedding JSONL per split, the BEIR
evaluation set, the dropped input rows, and the sha256 of every file for the manifest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embcore.errors import EmbcoreError
from embcore.export.plan import ExportSample
from embcore.export.split import SPLITS
from embcore.store import Store
from embcore.text import equivalence_key, text_hash


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (the manifest's file table, verification, data hashes in reports)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def corpus_id(h: str) -> str:
    """Stable BEIR corpus id derived from the passage text hash."""
    return "d" + h[:16]


def query_id(h: str) -> str:
    """Stable BEIR query id derived from the query text hash."""
    return "q" + h[:16]


def validate_records(records: Sequence[dict[str, Any]], *, allow_empty_neg: bool = True) -> None:
    """Check FlagEmbedding records before writing.

    Raises:
        EmbcoreError: empty query or ``pos``, an empty ``neg`` (unless allowed), a ``neg`` equal
            to a ``pos`` of the same query after normalisation (:func:`equivalence_key`), or a
            score list whose length differs from its text list.
    """
    for i, r in enumerate(records, start=1):
        where = f"sample {i} ({r.get('query', '')[:60]!r})"
        if not isinstance(r.get("query"), str) or not r["query"].strip():
            raise EmbcoreError(f"{where}: empty query")
        if not r.get("pos") or not all(isinstance(t, str) and t.strip() for t in r["pos"]):
            raise EmbcoreError(f"{where}: 'pos' must be a non-empty list of non-empty strings")
        if not isinstance(r.get("neg", []), list):
            raise EmbcoreError(f"{where}: 'neg' must be a list")
        if not allow_empty_neg and not r.get("neg"):
            raise EmbcoreError(f"{where}: 'neg' is empty (trainers divide by or sample from it)")
        pos_keys = {equivalence_key(t) for t in r["pos"]}
        for t in r.get("neg", []):
            if equivalence_key(t) in pos_keys:
                raise EmbcoreError(f"{where}: negative {t[:60]!r} equals one of its positives")
        for scores, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
            if scores in r and len(r[scores]) != len(r[texts]):
                raise EmbcoreError(
                    f"{where}: {scores} has {len(r[scores])} values for {len(r[texts])} texts in {texts!r}"
                )


def write_jsonl(staging: Path, by_split: dict[str, list[dict[str, Any]]]) -> None:
    """``train.jsonl``, ``val.jsonl``, ``test.jsonl``: one FlagEmbedding object per line."""
    for s in SPLITS:
        _write_lines(staging / f"{s}.jsonl", [_dumps(x) for x in by_split[s]])


def write_eval(store: Store, pid: int, records: Sequence[ExportSample], staging: Path) -> dict[str, int]:
    """The BEIR evaluation set: ``eval/corpus.jsonl``, ``eval/queries.jsonl``, ``eval/qrels/{val,test}.tsv``.

    The corpus is every unique data passage (unique up to :func:`equivalence_key`: "ITEM 6.
    [RESERVED]" and "Item 6—Reserved" are one entry), plus any positive (e.g. an edited one) a
    qrel points to; a qrel always names the corpus entry of its text's key. One eval query per
    query text: samples that share the text but not the metadata (kept apart for training; the
    split keeps them together) become one query with every positive. Only real queries and
    real positives are evaluated (no augmented / generated text).

    Returns:
        Counts for the manifest: ``corpus`` entries and ``val_queries`` / ``test_queries``.
    """
    corpus = store.passages(pid, kind="passage")
    lines: list[str] = []
    ids: dict[str, str] = {}

    def corpus_entry(text: str) -> str:
        key = equivalence_key(text)
        if key not in ids:
            ids[key] = corpus_id(text_hash(text))
            lines.append(_dumps({"_id": ids[key], "title": "", "text": text}))
        return ids[key]

    for t in corpus["text"]:
        corpus_entry(str(t))
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, None]] = {"val": {}, "test": {}}
    for r in records:
        if r.split == "train" or r.origin != "data" or not r.eval_pos:
            continue
        qid = query_id(text_hash(r.query))
        queries.setdefault(qid, _dumps({"_id": qid, "text": r.query}))
        for _, t in r.eval_pos:
            qrels[r.split][f"{qid}\t{corpus_entry(t)}\t1"] = None
    _write_lines(staging / "eval" / "corpus.jsonl", lines)
    _write_lines(staging / "eval" / "queries.jsonl", list(queries.values()))
    for s in ("val", "test"):
        _write_lines(staging / "eval" / "qrels" / f"{s}.tsv", ["query-id\tcorpus-id\tscore", *qrels[s]])
    return {
        "corpus": len(lines),
        **{f"{s}_queries": len({line.split("\t", 1)[0] for line in qrels[s]}) for s in ("val", "test")},
    }


def write_dropped_rows(staging: Path, cleaning: dict[str, Any], limit: int) -> dict[str, Any]:
    """``dropped_rows.csv`` (every input row cleaning dropped); returns the manifest's part about them
    (the first ``limit``, the total, the counts per reason)."""
    dropped = list(cleaning.get("dropped") or [])
    reasons = cleaning.get("dropped_by_reason")
    if not isinstance(reasons, dict):
        reasons = dict(Counter(c for d in dropped for c in str(d.get("code", "")).split("+") if c))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["row", "code", "reason", "column"])
    for d in dropped:
        writer.writerow([d.get("row"), d.get("code", ""), d.get("reason", ""), d.get("column") or ""])
    (staging / "dropped_rows.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
    return {
        "dropped_rows": dropped[:limit],
        "dropped_rows_total": len(dropped),
        "dropped_rows_listed": min(limit, len(dropped)),
        "dropped_by_reason": reasons,
        "dropped_rows_file": "dropped_rows.csv",
    }


def file_hashes(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder``, sorted by path."""
    return {
        str(p.relative_to(folder).as_posix()): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
