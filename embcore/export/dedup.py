"""Near-duplicate passages and the leakage report of a split.

Two notions of "the same passage", used together by the split, the negative checks and the
evaluation corpus:

1. **Equal up to normalisation**: :func:`embcore.text.equivalence_key` (case, Unicode width,
   quotes / apostrophes / dashes, punctuation, whitespace). Exact and cheap.
2. **Near-duplicates**: Jaccard similarity of word 3-shingles (character 3-shingles for mostly
   CJK text) at or above a threshold (default 0.8), found with MinHash + LSH and then checked
   exactly on the shingle sets, so a reported pair really is above the threshold.

Why MinHash on text rather than cosine on cached embeddings: leakage is about *text* that a
model can memorise, the split must work for BM25-only or random runs that never embedded
anything, and the result must not depend on which model (if any) was cached. MinHash is
deterministic (no process-seeded hashing), linear in the corpus, and needs no model. Cosine
>= 0.98 with a small bi-encoder also merges templated passages that differ in the one number
that matters (a year, an amount); Jaccard on shingles keeps such pairs apart unless most of
the text is shared.

MinHash: 64 hash functions (multiply-shift over a 64-bit token hash), LSH with 16 bands of 4
rows, so a pair at Jaccard 0.8 becomes a candidate with probability 0.9998 (0.985 at 0.7).
Candidates are verified with the exact Jaccard of their shingle sets.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.export.split import _UnionFind
from embcore.text import cjk_ratio, equivalence_key, match_key

log = logging.getLogger(__name__)

_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class NearDupConfig:
    """How near-duplicate passages are found.

    Attributes:
        threshold: Jaccard similarity of the shingle sets at or above which two passages are
            near-duplicates (0 < threshold <= 1).
        shingle: shingle length, in words (in characters for mostly CJK text).
        num_perm: MinHash signature length.
        bands: LSH bands (``num_perm`` must be a multiple).
        max_passages: above this many distinct passages the near-duplicate step is skipped (and
            the skip is recorded); equal-after-normalisation grouping always runs.
        max_bucket: an LSH bucket with more members than this is checked as a chain
            (neighbours in the bucket) instead of every pair, to bound the work on templated text.
    """

    threshold: float = 0.7
    shingle: int = 3
    num_perm: int = 64
    bands: int = 16
    max_passages: int = 200_000
    max_bucket: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise EmbcoreError(
                f"near-duplicate threshold {self.threshold} must be in (0, 1] (Jaccard similarity)"
            )
        if self.shingle < 1 or self.num_perm < 1 or self.bands < 1 or self.num_perm % self.bands:
            raise EmbcoreError("near-duplicate settings: shingle >= 1 and num_perm a multiple of bands")

    def describe(self) -> dict[str, Any]:
        """JSON-able description for the manifest."""
        return {
            "method": "minhash-lsh, exact Jaccard check",
            "measure": "Jaccard of word shingles (character shingles for mostly CJK text)",
            **asdict(self),
            "rows_per_band": self.num_perm // self.bands,
        }


# --------------------------------------------------------------------------- shingles


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


class _TokenHasher:
    """Stable 64-bit hashes of tokens (blake2b, so independent of the process and of the corpus)."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {}

    def __call__(self, tokens: Sequence[str]) -> list[int]:
        cache = self._cache
        out = []
        for t in tokens:
            h = cache.get(t)
            if h is None:
                h = int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
                cache[t] = h
            out.append(h)
        return out


def tokens_for_shingles(text: str) -> tuple[list[str], bool]:
    """Tokens of a passage for shingling and whether they are characters (mostly CJK text)."""
    if cjk_ratio(text) >= 0.5:
        return list(equivalence_key(text)), True
    return _WORD_RE.findall(match_key(text)), False


def shingle_sets(texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every text, concatenated (a text's may repeat: see :func:`_shingle_set`).

    Returns:
        (values (m,) uint64, offsets (n + 1,) int64): text i's shingles are
        ``values[offsets[i]:offsets[i + 1]]`` (empty for a text without any word).
    """
    flat: list[str] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        toks, _ = tokens_for_shingles(t)
        flat.extend(toks)
        lengths[i] = len(toks)
    # hash each distinct token once (pandas' C hash table finds them), then index
    codes, uniques = pd.factorize(pd.Series(flat, dtype=object), sort=False)
    vocab = np.asarray(_TokenHasher()(list(uniques)), dtype=np.uint64)
    all_h = vocab[codes] if len(flat) else np.zeros(0, dtype=np.uint64)
    all_d = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    is_short = (lengths > 0) & (lengths < k)
    short: dict[int, list[int]] = {}
    if is_short.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for i in np.flatnonzero(is_short).tolist():
            short[i] = all_h[starts[i] : starts[i] + lengths[i]].tolist()
    long_tok = ~is_short[all_d] if len(all_d) else np.zeros(0, dtype=bool)
    th, dd = all_h[long_tok], all_d[long_tok]
    # 1. k-token windows that stay inside one text, combined into one 64-bit value
    if len(th) >= k:
        n_win = len(th) - k + 1
        valid = dd[:n_win] == dd[k - 1 :]
        sh = th[:n_win].copy()
        for j in range(1, k):
            sh = _mix64(sh) ^ th[j : j + n_win]
        sh, sd = sh[valid], dd[:n_win][valid]
    else:
        sh, sd = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    if short:
        extra_h, extra_d = [], []
        for i, hs in short.items():
            v = np.asarray(hs[:1], dtype=np.uint64)
            for h in hs[1:]:
                v = _mix64(v) ^ np.asarray([h], dtype=np.uint64)
            extra_h.append(int(v[0]))
            extra_d.append(i)
        sh = np.concatenate([sh, np.asarray(extra_h, dtype=np.uint64)])
        sd = np.concatenate([sd, np.asarray(extra_d, dtype=np.int64)])
    # 2. grouped by text (already in order unless short texts were appended)
    if short:
        order = np.argsort(sd, kind="stable")
        sh, sd = sh[order], sd[order]
    offsets = np.searchsorted(sd, np.arange(len(texts) + 1), side="left").astype(np.int64)
    return sh, offsets


def minhash_signatures(values: np.ndarray, offsets: np.ndarray, num_perm: int) -> np.ndarray:
    """(n, num_perm) uint64 MinHash signatures (32-bit values; all-ones for a text without shingles)."""
    n = len(offsets) - 1
    sig = np.full((n, num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    counts = np.diff(offsets)
    has = counts > 0
    if not has.any():
        return sig
    x = _mix64(values)
    starts = offsets[:-1][has]
    rng = np.random.default_rng(20240517)  # fixed: signatures must not depend on the run
    seeds = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    odds = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    for p in range(num_perm):
        v = ((x ^ seeds[p]) * odds[p]) >> np.uint64(32)
        sig[has, p] = np.minimum.reduceat(v, starts)
    return sig


def _shingle_set(values: np.ndarray, offsets: np.ndarray, i: int, cache: dict[int, np.ndarray]) -> np.ndarray:
    """Text i's distinct shingles, sorted (computed once per text)."""
    got = cache.get(i)
    if got is None:
        got = cache[i] = np.unique(values[offsets[i] : offsets[i + 1]])
    return got


def _jaccard(values: np.ndarray, offsets: np.ndarray, i: int, j: int, cache: dict[int, np.ndarray]) -> float:
    a = _shingle_set(values, offsets, i, cache)
    b = _shingle_set(values, offsets, j, cache)
    if not len(a) or not len(b):
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (len(a) + len(b) - inter)


def near_duplicate_pairs(
    texts: Sequence[str], cfg: NearDupConfig | None = None
) -> list[tuple[int, int, float]]:
    """Pairs of texts whose shingle sets have Jaccard similarity >= ``cfg.threshold``.

    Steps: 1. shingle sets. 2. MinHash signatures. 3. texts with identical signatures are one
    bucket; LSH bands give candidate pairs among the rest. 4. every candidate is checked with
    the exact Jaccard similarity.

    Returns:
        (i, j, jaccard) with i < j, sorted.
    """
    cfg = cfg or NearDupConfig()
    n = len(texts)
    if n < 2:
        return []
    values, offsets = shingle_sets(texts, cfg.shingle)
    sig = minhash_signatures(values, offsets, cfg.num_perm)
    has = np.diff(offsets) > 0
    rows = cfg.num_perm // cfg.bands
    mult = np.uint64(0x9E3779B97F4A7C15)
    cand: set[tuple[int, int]] = set()
    idx = np.flatnonzero(has)
    for b in range(cfg.bands):
        block = sig[idx, b * rows : (b + 1) * rows]
        key = np.zeros(len(idx), dtype=np.uint64)
        for r in range(rows):
            key = _mix64(key * mult) ^ block[:, r]
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        sizes = np.diff(np.r_[starts, len(ks)])
        for st, m in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
            members = np.sort(idx[order[st : st + m]]).tolist()
            if m <= cfg.max_bucket:
                cand.update((members[x], members[y]) for x in range(m) for y in range(x + 1, m))
            else:
                cand.update((members[x], members[x + 1]) for x in range(m - 1))
    out = []
    cache: dict[int, np.ndarray] = {}
    for i, j in sorted(cand):
        jac = _jaccard(values, offsets, i, j, cache)
        if jac >= cfg.threshold:
            out.append((i, j, round(jac, 4)))
    return out


# --------------------------------------------------------------------------- passage classes


@dataclass
class PassageClasses:
    """Which passages count as one for leakage: equal after normalisation, or near-duplicates.

    Attributes:
        keys: equivalence key per input text.
        klass: class id per input text (texts in one class must stay on one side of a split).
        info: sizes, the near-duplicate settings and whether that step ran (for the manifest).
    """

    keys: list[str]
    klass: np.ndarray
    info: dict[str, Any]

    def of(self) -> dict[str, int]:
        """Class id by equivalence key."""
        return {k: int(c) for k, c in zip(self.keys, self.klass, strict=True)}


def passage_classes(texts: Sequence[str], near: NearDupConfig | None) -> PassageClasses:
    """Group texts equal after :func:`equivalence_key`, then (when ``near``) near-duplicates, transitively."""
    t0 = time.perf_counter()
    keys = [equivalence_key(t) for t in texts]
    first: dict[str, int] = {}
    reps: list[int] = []
    for i, k in enumerate(keys):
        if k not in first:
            first[k] = len(reps)
            reps.append(i)
    uf = _UnionFind(len(reps))
    info: dict[str, Any] = {
        "passages": len(texts),
        "distinct_after_normalisation": len(reps),
        "near_duplicates": near.describe() if near else None,
        "near_duplicate_step": "off" if near is None else "ran",
    }
    n_pairs = 0
    if near is not None and len(reps) > near.max_passages:
        info["near_duplicate_step"] = f"skipped: {len(reps)} passages > max_passages {near.max_passages}"
        log.warning("near-duplicate grouping skipped: %s distinct passages", len(reps))
    elif near is not None:
        pairs = near_duplicate_pairs([texts[i] for i in reps], near)
        n_pairs = len(pairs)
        for a, b, _ in pairs:
            uf.union(a, b)
    rep_class = np.array([uf.find(i) for i in range(len(reps))], dtype=np.int64)
    klass = np.array([rep_class[first[k]] for k in keys], dtype=np.int64)
    sizes = np.bincount(rep_class, minlength=len(reps)) if len(reps) else np.zeros(0, dtype=np.int64)
    info.update(
        near_duplicate_pairs=n_pairs,
        near_duplicate_groups=int((sizes > 1).sum()),
        passages_in_near_duplicate_groups=int(sizes[sizes > 1].sum()),
        seconds=round(time.perf_counter() - t0, 3),
    )
    return PassageClasses(keys, klass, info)


# --------------------------------------------------------------------------- leakage report


def _snip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def leakage_report(
    by_split: Mapping[str, Sequence[Mapping[str, Any]]],
    near: NearDupConfig | None,
    *,
    max_examples: int = 5,
) -> dict[str, Any]:
    """What a split leaks, computed from the exported records alone (``embcore verify`` reruns it).

    Args:
        by_split: FlagEmbedding records (``query``, ``pos``, ``neg``) per split name.
        near: near-duplicate settings (None: only exact and normalised pairs are looked for).
        max_examples: examples kept per kind.

    Returns:
        ``positive_pairs_across_splits`` (exact / normalised / near_duplicate: pairs of distinct
        (passage, split) occurrences in two splits), ``queries_in_another_split`` (records whose
        query, normalised, is also a query of another split), ``train_negatives_that_are_eval_positives``
        (exact / normalised / near_duplicate), the thresholds, and examples.
    """
    t0 = time.perf_counter()
    pos_splits: dict[str, set[str]] = defaultdict(set)  # text -> splits where it is a positive
    q_splits: dict[str, set[str]] = defaultdict(set)
    train_negs: set[str] = set()
    q_keys: dict[str, list[str]] = {}
    for s, recs in by_split.items():
        q_keys[s] = [equivalence_key(str(r.get("query", ""))) for r in recs]
        for r, qk in zip(recs, q_keys[s], strict=True):
            for t in r.get("pos") or []:
                pos_splits[t].add(s)
            q_splits[qk].add(s)
            if s == "train":
                train_negs.update(r.get("neg") or [])
    eval_pos = {t for t, ss in pos_splits.items() if ss - {"train"}}
    texts = sorted(set(pos_splits) | train_negs)
    key_of = {t: equivalence_key(t) for t in texts}
    by_key: dict[str, list[str]] = defaultdict(list)
    for t in texts:
        by_key[key_of[t]].append(t)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def example(kind: str, a: str, sa: str, b: str, sb: str) -> None:
        if len(examples[kind]) < max_examples:
            examples[kind].append({"a": _snip(a), "split_a": sa, "b": _snip(b), "split_b": sb})

    # 1. positives: exact text in two splits, then texts equal after normalisation
    exact = normalised = 0
    for t, ss in pos_splits.items():
        ss_sorted = sorted(ss)
        for x in range(len(ss_sorted)):
            for y in range(x + 1, len(ss_sorted)):
                exact += 1
                example("exact", t, ss_sorted[x], t, ss_sorted[y])
    for group in by_key.values():
        occ = [(t, s) for t in group if t in pos_splits for s in sorted(pos_splits[t])]
        for x in range(len(occ)):
            for y in range(x + 1, len(occ)):
                (ta, sa), (tb, sb) = occ[x], occ[y]
                if ta != tb and sa != sb:
                    normalised += 1
                    example("normalised", ta, sa, tb, sb)
    # 2. near-duplicates (among one representative text per normalised key)
    near_pos = 0
    neg_exact = neg_norm = neg_near = 0
    reps = sorted(by_key)
    if near is not None and len(reps) <= near.max_passages:
        rep_text = [by_key[k][0] for k in reps]
        key_splits = {k: set().union(*(pos_splits.get(t, set()) for t in by_key[k])) for k in reps}
        key_train_neg = {k: any(t in train_negs for t in by_key[k]) for k in reps}
        key_eval_pos = {k: any(t in eval_pos for t in by_key[k]) for k in reps}
        for i, j, _ in near_duplicate_pairs(rep_text, near):
            ka, kb = reps[i], reps[j]
            for sa in sorted(key_splits[ka]):
                for sb in sorted(key_splits[kb]):
                    if sa != sb:
                        near_pos += 1
                        example("near_duplicate", rep_text[i], sa, rep_text[j], sb)
            if (key_train_neg[ka] and key_eval_pos[kb]) or (key_train_neg[kb] and key_eval_pos[ka]):
                neg_near += 1
                example(
                    "train_negative_near_eval_positive", rep_text[i], "train/neg", rep_text[j], "eval/pos"
                )
    # 3. train negatives that are val/test positives
    for t in train_negs:
        if t in eval_pos:
            neg_exact += 1
            example("train_negative_is_eval_positive", t, "train/neg", t, "eval/pos")
        elif any(u in eval_pos for u in by_key[key_of[t]]):
            neg_norm += 1
            u = next(u for u in by_key[key_of[t]] if u in eval_pos)
            example("train_negative_is_eval_positive", t, "train/neg", u, "eval/pos")
    # 4. queries
    q_leak = 0
    for s, recs in by_split.items():
        for r, qk in zip(recs, q_keys[s], strict=True):
            if len(q_splits[qk]) > 1:
                q_leak += 1
                if len(examples["query"]) < max_examples:
                    examples["query"].append({"query": _snip(str(r.get("query", ""))), "split": s})
    return {
        "positive_pairs_across_splits": {
            "exact": exact,
            "normalised": normalised,
            "near_duplicate": near_pos,
        },
        "queries_in_another_split": q_leak,
        "train_negatives_that_are_eval_positives": {
            "exact": neg_exact,
            "normalised": neg_norm,
            "near_duplicate": neg_near,
        },
        "thresholds": {
            "normalisation": "NFKC, casefold, punctuation / quotes / dashes / whitespace removed",
            "near_duplicates": near.describe() if near else None,
            "near_duplicate_step": (
                "off"
                if near is None
                else (
                    "ran"
                    if len(reps) <= near.max_passages
                    else f"skipped: {len(reps)} passages > max_passages"
                )
            ),
        },
        "examples": dict(examples),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def leakage_problems(report: Mapping[str, Any], *, allow_cross_split_negatives: bool = False) -> list[str]:
    """One line per kind of leakage the report found (empty when the split is clean)."""
    out = []
    for kind, n in (report.get("positive_pairs_across_splits") or {}).items():
        if n:
            out.append(f"{n} {kind.replace('_', '-')} positive passage pair(s) across splits")
    if report.get("queries_in_another_split"):
        out.append(
            f"{report['queries_in_another_split']} record(s) whose query is also a query of another split"
        )
    if not allow_cross_split_negatives:
        for kind, n in (report.get("train_negatives_that_are_eval_positives") or {}).items():
            if n:
                out.append(f"{n} train negative(s) {kind.replace('_', '-')} to a val/test positive")
    return out
