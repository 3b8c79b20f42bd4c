#!/usr/bin/env python
"""What the leak-free split (issue 16) adds to the plain split, measured in one run.

Plain split: queries grouped by the exact ``match_key`` of their positives, dealt by
``assign_splits``. Leak-free split: positives grouped by ``equivalence_key`` and by
near-duplicate classes (MinHash/LSH, word 3-shingles, Jaccard >= threshold, exact check), queries
also joined by their normalised text; then the leakage report of the result (what the export
writes into the manifest and ``embcore verify`` recomputes).

Corpora: (a) financial-qa-10K (questions -> queries, contexts -> positives); (b) N synthetic
passages (default 100,000) made of 3-6 sentences drawn from the financial-qa-10K contexts, 2% of
them near-copies of another one with a few words changed, one query per passage.

Times are CPU seconds of this process (``time.process_time``), so that a loaded machine does not
inflate them.

Usage::

    .venv/bin/python benchmarks/bench_split.py                 # both corpora
    .venv/bin/python benchmarks/bench_split.py --synthetic 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from embcore.export.dedup import NearDupConfig, leakage_report, passage_classes  # noqa: E402
from embcore.export.split import SPLITS, assign_splits  # noqa: E402
from embcore.text import clean_text, equivalence_key, match_key  # noqa: E402

_CANDIDATES = [
    ROOT.parent / "shared" / "data" / "financial-qa-10k" / "Financial-QA-10k.csv",
    Path("/work/shared/data/financial-qa-10k/Financial-QA-10k.csv"),
]
RATIOS = (0.8, 0.1, 0.1)


def load_financial(csv: Path) -> tuple[list[str], list[str], list[list[int]]]:
    """(queries, passages, positive passage indices per query): rows grouped by question."""
    import pandas as pd

    df = pd.read_csv(csv).dropna(subset=["question", "context"])
    passages: dict[str, int] = {}
    by_q: dict[str, list[int]] = {}
    for q, c in zip(df["question"], df["context"], strict=True):
        q, c = clean_text(q), clean_text(c)
        pi = passages.setdefault(c, len(passages))
        by_q.setdefault(q, []).append(pi)
    return list(by_q), list(passages), [sorted(set(v)) for v in by_q.values()]


def synthetic(csv: Path, n: int, seed: int = 0) -> tuple[list[str], list[str], list[list[int]]]:
    """``n`` passages of 3-6 shared sentences (2% near-copies), one query per passage."""
    _, contexts, _ = load_financial(csv)
    sentences = sorted(
        {s.strip() for c in contexts for s in re.split(r"(?<=[.!?])\s+", c) if len(s.split()) >= 5}
    )
    rng = random.Random(seed)
    passages: list[str] = []
    for i in range(n):
        if i > 100 and rng.random() < 0.02:
            words = passages[rng.randrange(i)].split()
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(["the", "its", "2023", "company", "total"])
            passages.append(" ".join(words))
        else:
            passages.append(" ".join(rng.sample(sentences, rng.randint(3, 6))))
    queries = [f"Question {i} about passage {i}?" for i in range(n)]
    return queries, passages, [[i] for i in range(n)]


def plain_split(
    queries: list[str], passages: list[str], positives: list[list[int]]
) -> tuple[list[str], float]:
    t0 = time.process_time()
    keys = [match_key(p) for p in passages]
    split = assign_splits([[keys[p] for p in ps] for ps in positives], RATIOS, 42)
    return split.assignment, time.process_time() - t0


def leak_free_split(
    queries: list[str], passages: list[str], positives: list[list[int]], near: NearDupConfig | None
) -> tuple[list[str], float, dict[str, Any]]:
    t0 = time.process_time()
    classes = passage_classes(passages, near)
    klass = classes.klass.tolist()
    split = assign_splits(
        [
            [("p", klass[p]) for p in ps] + [("q", equivalence_key(q))]
            for q, ps in zip(queries, positives, strict=True)
        ],
        RATIOS,
        42,
    )
    return split.assignment, time.process_time() - t0, classes.info


def report(
    queries: list[str],
    passages: list[str],
    positives: list[list[int]],
    assignment: list[str],
    near: NearDupConfig,
) -> tuple[dict[str, Any], float]:
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for q, ps, s in zip(queries, positives, assignment, strict=True):
        by_split[s].append({"query": q, "pos": [passages[p] for p in ps], "neg": []})
    t0 = time.process_time()
    rep = leakage_report(by_split, near)
    return rep, time.process_time() - t0


def bench(
    name: str, data: tuple[list[str], list[str], list[list[int]]], near: NearDupConfig
) -> dict[str, Any]:
    queries, passages, positives = data
    plain, t_plain = plain_split(queries, passages, positives)
    free, t_free, info = leak_free_split(queries, passages, positives, near)
    rep_plain, _ = report(queries, passages, positives, plain, near)
    rep_free, t_rep = report(queries, passages, positives, free, near)
    out = {
        "corpus": name,
        "queries": len(queries),
        "passages": len(passages),
        "plain_split_s": round(t_plain, 3),
        "leak_free_split_s": round(t_free, 3),
        "added_s": round(t_free - t_plain, 3),
        "ratio": round(t_free / t_plain, 1) if t_plain else None,
        "leakage_report_s": round(t_rep, 3),
        "near_duplicate_groups": info["near_duplicate_groups"],
        "passages_in_near_duplicate_groups": info["passages_in_near_duplicate_groups"],
        "leaks_plain": rep_plain["positive_pairs_across_splits"]
        | {"queries": rep_plain["queries_in_another_split"]},
        "leaks_leak_free": rep_free["positive_pairs_across_splits"]
        | {"queries": rep_free["queries_in_another_split"]},
    }
    print(
        f"{name}: {len(queries):,} queries / {len(passages):,} passages (CPU s): plain split {t_plain:.2f}s, "
        f"leak-free {t_free:.2f}s (+{t_free - t_plain:.2f}s, {out['ratio']}x), leakage report {t_rep:.2f}s; "
        f"near-duplicate groups {info['near_duplicate_groups']:,}; leaks plain {out['leaks_plain']} -> "
        f"leak-free {out['leaks_leak_free']}",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=next((p for p in _CANDIDATES if p.is_file()), _CANDIDATES[0]))
    ap.add_argument("--synthetic", type=int, default=100_000, help="synthetic passages (0 = skip)")
    ap.add_argument("--threshold", type=float, default=NearDupConfig().threshold, help="Jaccard threshold")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"bench_split: {args.csv} not found (financial-qa-10K)", file=sys.stderr)
        return 2
    near = NearDupConfig(threshold=args.threshold)
    results = [bench("financial-qa-10K", load_financial(args.csv), near)]
    if args.synthetic:
        results.append(bench(f"synthetic-{args.synthetic}", synthetic(args.csv, args.synthetic), near))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
