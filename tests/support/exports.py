"""A tiny export in the layout of ``embcore build --out DIR`` (train/val/test JSONL + BEIR eval set).

Shared by the training and model tests (the ``export_dir`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# 16 topics: one passage each, three questions sharing its key words (train, val, test).
TOPICS: list[tuple[str, str, str, str]] = [
    (
        "The Eiffel Tower is a wrought iron tower in Paris, France.",
        "Where is the Eiffel Tower?",
        "What is the Eiffel Tower made of?",
        "Which city has the Eiffel Tower?",
    ),
    (
        "Photosynthesis converts sunlight, water and carbon dioxide into glucose in plants.",
        "How do plants make glucose?",
        "What does photosynthesis convert?",
        "What do plants need for photosynthesis?",
    ),
    (
        "The Pacific Ocean is the largest and deepest ocean on Earth.",
        "Which ocean is the largest?",
        "What is the deepest ocean on Earth?",
        "How big is the Pacific Ocean?",
    ),
    (
        "Revenue grew 12 percent year over year driven by cloud subscriptions.",
        "How much did revenue grow?",
        "What drove revenue growth?",
        "Did cloud subscriptions drive revenue?",
    ),
    (
        "The company repurchased 3 billion dollars of common stock during fiscal 2023.",
        "How much stock did the company repurchase?",
        "What was repurchased in fiscal 2023?",
        "Did the company buy back common stock?",
    ),
    (
        "Insulin is a hormone produced by the pancreas that regulates blood sugar.",
        "Which organ produces insulin?",
        "What does insulin regulate?",
        "Is insulin a hormone of the pancreas?",
    ),
    (
        "Mount Everest is the highest mountain above sea level, in the Himalayas.",
        "What is the highest mountain?",
        "Where is Mount Everest?",
        "Is Everest in the Himalayas?",
    ),
    (
        "Python is a programming language known for readable syntax and dynamic typing.",
        "What is Python known for?",
        "Is Python a programming language?",
        "Does Python use dynamic typing?",
    ),
    (
        "The heart pumps blood through the circulatory system of the body.",
        "What pumps blood through the body?",
        "What does the heart do?",
        "Which system does the heart pump blood through?",
    ),
    (
        "Operating margin declined because of higher research and development expenses.",
        "Why did operating margin decline?",
        "What expenses lowered the operating margin?",
        "Did research and development expenses rise?",
    ),
    (
        "The Great Wall of China was built over centuries to protect against invasions.",
        "Why was the Great Wall of China built?",
        "How long did building the Great Wall take?",
        "What did the Great Wall protect against?",
    ),
    (
        "Jupiter is the largest planet in the solar system and a gas giant.",
        "Which planet is the largest?",
        "Is Jupiter a gas giant?",
        "What is the biggest planet in the solar system?",
    ),
    (
        "Goodwill impairment testing is performed annually in the fourth quarter.",
        "When is goodwill impairment tested?",
        "How often is goodwill tested for impairment?",
        "Is impairment testing done in the fourth quarter?",
    ),
    (
        "Honey bees pollinate flowers and produce honey from nectar.",
        "What do honey bees produce?",
        "Do bees pollinate flowers?",
        "What is honey made from?",
    ),
    (
        "The Amazon rainforest spans nine countries in South America.",
        "How many countries does the Amazon rainforest span?",
        "Where is the Amazon rainforest?",
        "Is the Amazon rainforest in South America?",
    ),
    (
        "Inventory is valued at the lower of cost and net realizable value.",
        "How is inventory valued?",
        "What is the inventory valuation method?",
        "Is inventory valued at cost?",
    ),
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_qrels(path: Path, qrels: dict[str, dict[str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"]
    for qid, docs in qrels.items():
        for cid, score in docs.items():
            lines.append(f"{qid}\t{cid}\t{score}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_export(
    root: Path,
    *,
    num_neg: int = 2,
    with_scores: bool = False,
    query_prompt: str | None = None,
    passage_prompt: str | None = None,
    with_val: bool = True,
    topics: list[tuple[str, str, str, str]] | None = None,
) -> Path:
    """Write a tiny export under ``root``; returns ``root``.

    Train: the first question of every topic, its passage as positive, the next ``num_neg``
    topics' passages as negatives (scores 0.9 for the positive, 0.5 - 0.1 j for negatives when
    ``with_scores``). Val: second questions; test: third questions. Corpus: every passage.
    """
    topics = topics or TOPICS
    n = len(topics)
    train = []
    for i, (passage, q_train, _, _) in enumerate(topics):
        negs = [topics[(i + j) % n][0] for j in range(1, num_neg + 1)]
        row: dict[str, Any] = {
            "query": q_train,
            "pos": [passage],
            "neg": negs,
            "prompt": query_prompt or "",
            "type": "normal",
        }
        if with_scores:
            row["pos_scores"] = [0.9]
            row["neg_scores"] = [round(0.5 - 0.1 * j, 3) for j in range(num_neg)]
        train.append(row)
    write_jsonl(root / "train.jsonl", train)
    write_jsonl(root / "val.jsonl", [])
    write_jsonl(root / "test.jsonl", [])
    corpus = [{"_id": f"p{i}", "text": t[0]} for i, t in enumerate(topics)]
    write_jsonl(root / "eval" / "corpus.jsonl", corpus)
    queries = []
    qrels: dict[str, dict[str, dict[str, int]]] = {"val": {}, "test": {}}
    for i, (_, _, q_val, q_test) in enumerate(topics):
        if with_val:
            queries.append({"_id": f"qv{i}", "text": q_val})
            qrels["val"][f"qv{i}"] = {f"p{i}": 1}
        queries.append({"_id": f"qt{i}", "text": q_test})
        qrels["test"][f"qt{i}"] = {f"p{i}": 1}
    write_jsonl(root / "eval" / "queries.jsonl", queries)
    write_qrels(root / "eval" / "qrels" / "val.tsv", qrels["val"])
    write_qrels(root / "eval" / "qrels" / "test.tsv", qrels["test"])
    manifest = {
        "prompts": {"query": query_prompt, "passage": passage_prompt},
        "counts": {"train": len(train), "val": len(qrels["val"]), "test": len(qrels["test"]), "corpus": n},
        "config": {"negatives": "fixture", "num_neg": num_neg, "seed": 0},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root
