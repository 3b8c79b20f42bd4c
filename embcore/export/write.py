"""Write an export's files into a staging folder: FlagEmbedding JSONL per split, the BEIR
evaluation set, the dropped input rows, and the sha256 of every file for the manifest.

Qrels are binary (score 1) until a reviewer grades a candidate; then they are graded (0-3): a
positive scores its resolved grade (3 when ungraded), a candidate graded 2 or 3 becomes a qrels
row with its grade (and, see :mod:`embcore.export.plan`, never a negative of its query)."""

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
from embcore.store import RELEVANT_GRADE, Store
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


GRADED_SCALE = "0-3 (0 not relevant, 1 related, 2 partly answers, 3 answers fully)"


def write_eval(store: Store, pid: int, records: Sequence[ExportSample], staging: Path) -> dict[str, Any]:
    """The BEIR evaluation set: ``eval/corpus.jsonl``, ``eval/queries.jsonl``, ``eval/qrels/{val,test}.tsv``.

    The corpus is every unique data passage (unique up to :func:`equivalence_key`: "ITEM 6.
    [RESERVED]" and "Item 6—Reserved" are one entry), plus any positive (e.g. an edited one) a
    qrel points to; a qrel always names the corpus entry of its text's key. One eval query per
    query text: samples that share the text but not the metadata (kept apart for training; the
    split keeps them together) become one query with every positive. Only real queries and
    real positives are evaluated (no augmented / generated text).

    Graded relevance: once a reviewer graded anything, the qrels carry grades 0-3 (a positive its
    resolved grade when graded 1 or more, else 3; a candidate graded relevant, 2-3, its grade);
    otherwise they stay binary (score 1).

    Returns:
        Counts for the manifest: ``corpus`` entries and ``val_queries`` / ``test_queries``, and
        ``qrels``: the manifest's qrels section (graded or binary, the scale, the default score of
        a positive, how many graded candidates became qrels rows).
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
    grades = store.resolved_grades(pid)
    graded = len(grades) > 0
    grade_of: dict[int, dict[int, int]] = {}
    for q, p, g in zip(grades["query_id"], grades["passage_id"], grades["grade"], strict=True):
        grade_of.setdefault(int(q), {})[int(p)] = int(g)
    default = 3 if graded else 1
    graded_texts = _passage_texts(store, pid, {p for g in grade_of.values() for p in g})
    queries: dict[str, str] = {}
    qrels: dict[str, dict[tuple[str, str], int]] = {"val": {}, "test": {}}
    candidates_graded = 0
    for r in records:
        if r.split == "train" or r.origin != "data" or not r.eval_pos:
            continue
        qid = query_id(text_hash(r.query))
        queries.setdefault(qid, _dumps({"_id": qid, "text": r.query}))
        mine = grade_of.get(r.query_id, {})
        pos_ids = {p for p, _ in r.eval_pos} | {p for p, _ in r.pos}
        for p, t in r.eval_pos:
            g = mine.get(int(p))
            key = (qid, corpus_entry(t))
            qrels[r.split][key] = max(qrels[r.split].get(key, 0), g if g is not None and g >= 1 else default)
        for p, g in mine.items():
            if p in pos_ids or g < RELEVANT_GRADE or p not in graded_texts:
                continue
            key = (qid, corpus_entry(graded_texts[p]))
            qrels[r.split][key] = max(qrels[r.split].get(key, 0), g)
            candidates_graded += 1
    _write_lines(staging / "eval" / "corpus.jsonl", lines)
    _write_lines(staging / "eval" / "queries.jsonl", list(queries.values()))
    for s in ("val", "test"):
        rows = [f"{q}\t{c}\t{g}" for (q, c), g in qrels[s].items()]
        _write_lines(staging / "eval" / "qrels" / f"{s}.tsv", ["query-id\tcorpus-id\tscore", *rows])
    return {
        "corpus": len(lines),
        **{f"{s}_queries": len({q for q, _ in qrels[s]}) for s in ("val", "test")},
        "qrels": {
            "graded": graded,
            "scale": GRADED_SCALE if graded else "binary",
            "positive_default": default,
            "relevant_from_grade": RELEVANT_GRADE,
            "graded_candidates_in_qrels": candidates_graded,
        },
    }


def _passage_texts(store: Store, pid: int, ids: set[int]) -> dict[int, str]:
    """``{passage id: text}`` of some passages of a project."""
    if not ids:
        return {}
    allp = store.passage_texts(pid)
    allp = allp[allp["id"].isin(ids)]
    return dict(zip(allp["id"].astype(int), allp["text"].astype(str), strict=True))


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
