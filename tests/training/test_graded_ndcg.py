"""NDCG with graded gains (qrels scores 0-3 written by reviewers' grades), checked by hand; binary
qrels give exactly the binary NDCG."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from support.encoders import HashingEncoder

from embcore.training.evaluate import evaluate, load_eval_set, retrieval_metrics


def test_graded_ndcg_by_hand() -> None:
    ranked = np.array([[0, 1, 2, 3]])
    relevant = [{0, 2}]
    # binary: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    binary, _ = retrieval_metrics(ranked, relevant)
    assert binary["ndcg@10"] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # graded: passage 0 gain 1, passage 2 gain 3: DCG = 1 + 3/2 = 2.5; IDCG = 3 + 1/log2(3)
    graded, _ = retrieval_metrics(ranked, relevant, [{0: 1.0, 2: 3.0}])
    assert graded["ndcg@10"] == pytest.approx(2.5 / (3 + 1 / math.log2(3)))
    # every other metric stays binary
    assert {k: v for k, v in graded.items() if k != "ndcg@10"} == {
        k: v for k, v in binary.items() if k != "ndcg@10"
    }
    # equal gains are the binary NDCG exactly
    same, _ = retrieval_metrics(ranked, relevant, [{0: 2.0, 2: 2.0}])
    assert same["ndcg@10"] == pytest.approx(binary["ndcg@10"])
    with pytest.raises(ValueError):
        retrieval_metrics(ranked, relevant, [])


def _write_export(root: Path, grades: dict[str, int]) -> None:
    (root / "eval" / "qrels").mkdir(parents=True)
    corpus = {
        "d1": "Revenue grew 12% to 4.8 billion dollars in 2024.",
        "d2": "Revenue grew in 2024 thanks to pricing.",
        "d3": "The company has 12,000 employees.",
        "d4": "Dividends were raised to 40 cents per share.",
    }
    (root / "eval" / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in corpus.items()) + "\n"
    )
    (root / "eval" / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "How much did revenue grow in 2024?"}) + "\n"
    )
    rows = ["query-id\tcorpus-id\tscore", *(f"q1\t{d}\t{g}" for d, g in grades.items())]
    (root / "eval" / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    (root / "eval" / "qrels" / "val.tsv").write_text("query-id\tcorpus-id\tscore\n")


def test_evaluation_reads_graded_qrels(tmp_path: Path) -> None:
    _write_export(tmp_path / "graded", {"d1": 3, "d2": 2})
    _write_export(tmp_path / "binary", {"d1": 1, "d2": 1})
    graded = load_eval_set(tmp_path / "graded", "test", use_prompts=False)
    assert graded.graded and graded.gains == [{0: 3.0, 1: 2.0}]
    assert not load_eval_set(tmp_path / "binary", "test", use_prompts=False).graded
    enc = HashingEncoder()
    g = evaluate(enc, tmp_path / "graded", "test", use_prompts=False)
    b = evaluate(enc, tmp_path / "binary", "test", use_prompts=False)
    assert g.graded and not b.graded
    first = g.per_query["q1"]["first_relevant_rank"]
    assert first is not None
    # recompute the graded NDCG from the model's own ranking
    ranking = _ranking(enc, graded)
    gains = [{0: 3.0, 1: 2.0}.get(int(i), 0.0) for i in ranking[:10]]
    dcg = sum(x / math.log2(i + 2) for i, x in enumerate(gains))
    idcg = 3 / math.log2(2) + 2 / math.log2(3)
    assert g.metrics["ndcg@10"] == pytest.approx(dcg / idcg)
    assert g.metrics["recall@10"] == b.metrics["recall@10"]


def _ranking(enc: HashingEncoder, es) -> list[int]:  # noqa: ANN001
    q = enc.encode(es.query_texts)
    c = enc.encode(es.corpus_texts)
    scores = (c @ q[0]).tolist()
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))
