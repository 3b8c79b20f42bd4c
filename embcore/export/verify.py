"""``embcore verify OUT``: check an export against its manifest, the JSONL schema and for leakage.

Everything is recomputed from the files: file hashes against ``manifest.json``, the
FlagEmbedding schema of every line (types, non-empty ``pos`` / ``neg``, aligned score lists, no
negative equal to its own positive), the BEIR evaluation files (ids, qrels that point to
existing entries) and the leakage report with the thresholds the manifest records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embcore.export.card import CARD, front_matter
from embcore.export.dedup import NearDupConfig, leakage_problems, leakage_report
from embcore.export.formats import check_formats
from embcore.export.publish import MANIFEST, VERSION_RE, resolve_export
from embcore.export.split import SPLITS
from embcore.export.write import file_sha256
from embcore.text import equivalence_key

log = logging.getLogger(__name__)

ALLOWED_KEYS = ("query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "type")
MAX_LINES_PER_FILE = 20


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def record_problems(r: Any) -> list[str]:
    """What is wrong with one FlagEmbedding record (empty when nothing)."""
    if not isinstance(r, dict):
        return ["not a JSON object"]
    out = []
    extra = [k for k in r if k not in ALLOWED_KEYS]
    if extra:
        out.append(f"unknown field(s) {', '.join(map(repr, extra))}")
    if not isinstance(r.get("query"), str) or not r["query"].strip():
        out.append("'query' must be a non-empty string")
    for key in ("pos", "neg"):
        v = r.get(key)
        if not isinstance(v, list) or not v:
            out.append(f"'{key}' must be a non-empty list")
        elif not all(isinstance(t, str) and t.strip() for t in v):
            out.append(f"'{key}' must hold non-empty strings only")
    for scores, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
        if scores in r:
            v = r[scores]
            if not isinstance(v, list) or not all(_is_num(x) for x in v):
                out.append(f"'{scores}' must be a list of numbers")
            elif isinstance(r.get(texts), list) and len(v) != len(r[texts]):
                out.append(f"'{scores}' has {len(v)} values for {len(r[texts])} texts in '{texts}'")
    if ("pos_scores" in r) != ("neg_scores" in r):
        out.append("'pos_scores' and 'neg_scores' come together")
    for key in ("prompt", "type"):
        if key in r and not isinstance(r[key], str):
            out.append(f"'{key}' must be a string")
    if not out and isinstance(r.get("neg"), list):
        pos = {equivalence_key(t) for t in r["pos"]}
        same = [t for t in r["neg"] if equivalence_key(t) in pos]
        if same:
            out.append(f"negative {same[0][:60]!r} equals one of its positives")
    return out


def _read_jsonl(path: Path, problems: list[str]) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{n}: invalid JSON ({exc.msg})")


def verify_export(path: str | Path) -> tuple[list[str], dict[str, Any]]:
    """Check an export; the problems found (one line each) and a summary.

    Args:
        path: an export root (``OUT``; its ``current`` export is checked), a version folder, or
            a flat export of an older embcore.

    Returns:
        (problems, summary with the folder checked, files checked, records and the leakage report).
    """
    root = Path(path)
    folder = resolve_export(root)
    problems: list[str] = []
    summary: dict[str, Any] = {"folder": str(folder)}
    mf = folder / MANIFEST
    if not mf.is_file():
        return [f"{folder}: no {MANIFEST}; not an embcore export (or not published)"], summary
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
        assert isinstance(manifest, dict)
    except (ValueError, AssertionError):
        return [f"{mf}: not a JSON object"], summary
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return [f"{mf}: no 'files' table with hashes"], summary
    # 1. hashes, missing and unexpected files
    for rel, digest in sorted(files.items()):
        f = folder / rel
        if not f.is_file():
            problems.append(f"{f}: listed in the manifest but missing")
        elif file_sha256(f) != digest:
            problems.append(f"{f}: sha256 differs from the manifest (changed or truncated)")
    if VERSION_RE.match(folder.name):
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = f.relative_to(folder).as_posix()
            if rel != MANIFEST and rel not in files:
                problems.append(f"{f}: not listed in the manifest")
    summary["files"] = len(files)
    # 2. JSONL schema
    by_split: dict[str, list[dict[str, Any]]] = {}
    for s in SPLITS:
        f = folder / f"{s}.jsonl"
        if not f.is_file():
            problems.append(f"{f}: missing")
            continue
        recs, shown, bad = [], 0, 0
        for n, obj in _read_jsonl(f, problems):
            errs = record_problems(obj)
            if errs:
                bad += 1
                if shown < MAX_LINES_PER_FILE:
                    problems.append(f"{f}:{n}: {'; '.join(errs)}")
                    shown += 1
            if isinstance(obj, dict):
                recs.append(obj)
        if bad > shown:
            problems.append(f"{f}: {bad - shown} more line(s) with problems")
        by_split[s] = recs
        counted = ((manifest.get("counts") or {}).get(s) or {}).get("samples")
        if isinstance(counted, int) and counted != len(recs):
            problems.append(f"{f}: {len(recs)} records, the manifest says {counted}")
    summary["records"] = {s: len(v) for s, v in by_split.items()}
    problems += _mixed_keys(folder, by_split)
    # 3. BEIR evaluation files
    problems += _check_eval(folder)
    # 3b. sentence-transformers / datasets files (read with their readers) and the dataset card
    problems += check_formats(folder, manifest, by_split)
    summary["formats"] = list((manifest.get("formats") or {}).get("written") or ["flag"])
    problems += _check_card(folder, manifest)
    # 4. leakage, with the manifest's thresholds
    thresholds = ((manifest.get("leakage") or {}).get("thresholds") or {}).get("near_duplicates")
    near = None
    if isinstance(thresholds, dict):
        keys = ("threshold", "shingle", "num_perm", "bands", "max_passages", "max_bucket")
        near = NearDupConfig(**{k: thresholds[k] for k in keys if k in thresholds})
    elif "leakage" not in manifest:  # an export from before the report: use the defaults
        near = NearDupConfig()
    rep = leakage_report(by_split, near)
    allow = bool(((manifest.get("config") or {}).get("export") or {}).get("allow_cross_split_negatives"))
    problems += [f"{folder}: leakage: {p}" for p in leakage_problems(rep, allow_cross_split_negatives=allow)]
    summary["leakage"] = rep
    return problems, summary


def _mixed_keys(folder: Path, by_split: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Optional fields present on some lines only (readers built on ``datasets`` get None there)."""
    out = []
    for key in ("pos_scores", "neg_scores", "prompt", "type"):
        having = {s: sum(key in r for r in recs) for s, recs in by_split.items()}
        total = {s: len(recs) for s, recs in by_split.items()}
        if 0 < sum(having.values()) < sum(total.values()):
            short = [s for s in by_split if having[s] < total[s]]
            where = ", ".join(f"{s}.jsonl {total[s] - having[s]} of {total[s]}" for s in short)
            out.append(
                f"{folder}: {key!r} is missing on some lines ({where}) but present on others; "
                "datasets.load_dataset('json') (FlagEmbedding's reader) gives those lines None"
            )
    return out


def _check_card(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """The dataset card: present (when the manifest lists it) with YAML metadata naming the licence."""
    files = manifest.get("files") or {}
    if CARD not in files:
        if "formats" not in manifest:
            return []  # an export from before the card
        return [f"{folder}: {CARD} (the dataset card) is not in the manifest"]
    f = folder / CARD
    if not f.is_file():
        return []  # reported with the hashes
    meta = front_matter(f.read_text(encoding="utf-8"))
    if meta is None:
        return [f"{f}: no readable YAML metadata block at the top"]
    want = manifest.get("license")
    if not meta.get("license"):
        return [f"{f}: the metadata has no 'license'"]
    if want and meta["license"] != want:
        return [f"{f}: licence {meta['license']!r}, the manifest says {want!r}"]
    return []


def _check_eval(folder: Path) -> list[str]:
    out: list[str] = []
    ev = folder / "eval"
    ids: dict[str, set[str]] = {}
    for name, fields in (("corpus", {"_id", "title", "text"}), ("queries", {"_id", "text"})):
        f = ev / f"{name}.jsonl"
        if not f.is_file():
            out.append(f"{f}: missing")
            continue
        seen: set[str] = set()
        for n, obj in _read_jsonl(f, out):
            if not isinstance(obj, dict) or not fields <= set(obj) or not isinstance(obj.get("_id"), str):
                out.append(f"{f}:{n}: needs the fields {', '.join(sorted(fields))}")
                continue
            if obj["_id"] in seen:
                out.append(f"{f}:{n}: duplicate _id {obj['_id']!r}")
            seen.add(obj["_id"])
        ids[name] = seen
    for s in ("val", "test"):
        f = ev / "qrels" / f"{s}.tsv"
        if not f.is_file():
            out.append(f"{f}: missing")
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split("\t")
            if n == 1 and parts[0] == "query-id":
                continue
            if len(parts) != 3:
                out.append(f"{f}:{n}: expected query-id, corpus-id, score")
            elif "queries" in ids and parts[0] not in ids["queries"]:
                out.append(f"{f}:{n}: query {parts[0]!r} is not in queries.jsonl")
            elif "corpus" in ids and parts[1] not in ids["corpus"]:
                out.append(f"{f}:{n}: document {parts[1]!r} is not in corpus.jsonl")
    return out
