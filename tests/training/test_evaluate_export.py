"""evaluate() on an exported folder: loading, prompts, subsets, errors, the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from support.encoders import HashingEncoder
from support.exports import write_export, write_jsonl, write_qrels

from embcore.cli import main
from embcore.errors import EmbcoreError
from embcore.training.evaluate import EvalResult, evaluate, load_eval_set, split_names


class LookupEncoder:
    """Encodes known texts to fixed vectors and records the prompts it was given."""

    model_id = "lookup"

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = table
        self.prompts: list[str | None] = []

    def encode(self, texts, *, prompt=None, batch_size=64, progress=None) -> np.ndarray:  # noqa: ANN001
        self.prompts.append(prompt)
        out = np.array([self.table[t] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _tiny_export(root: Path) -> Path:
    corpus = [{"_id": f"p{i}", "text": f"passage {i}"} for i in range(4)]
    write_jsonl(root / "eval" / "corpus.jsonl", corpus)
    write_jsonl(
        root / "eval" / "queries.jsonl", [{"_id": "qa", "text": "query a"}, {"_id": "qb", "text": "query b"}]
    )
    write_qrels(root / "eval" / "qrels" / "test.tsv", {"qa": {"p1": 1}, "qb": {"p0": 1, "p2": 1}})
    write_jsonl(root / "train.jsonl", [])
    (root / "manifest.json").write_text(json.dumps({"prompts": {"query": None, "passage": None}}))
    return root


def test_end_to_end_matches_hand_computation(tmp_path: Path) -> None:
    root = _tiny_export(tmp_path)
    # Query a ranks p0 > p1 > p2 > p3 (hit at rank 2); query b ranks p0 > p3 > p2 > p1 (hits 1 and 3).
    table = {
        "passage 0": [1.0, 0.0, 0.0],
        "passage 1": [0.0, 1.0, 0.0],
        "passage 2": [0.0, 0.0, 1.0],
        "passage 3": [0.6, -0.8, 0.0],
        "query a": [0.8, 0.55, 0.2],
        "query b": [0.9, -0.2, 0.1],
    }
    enc = LookupEncoder(table)
    result = evaluate(enc, root)
    ndcg_a = 1 / math.log2(3)
    ndcg_b = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert result.metrics["ndcg@10"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    assert result.metrics["mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert result.metrics["recall@1"] == pytest.approx((0.0 + 0.5) / 2)
    assert result.metrics["map@100"] == pytest.approx((0.5 + (1 + 2 / 3) / 2) / 2)
    assert result.per_query["qa"]["first_relevant_rank"] == 2
    assert result.per_query["qb"]["first_relevant_rank"] == 1
    assert (result.n_queries, result.n_corpus, result.split) == (2, 4, "test")


def test_hashing_encoder_on_fixture(export_dir: Path) -> None:
    result = evaluate(HashingEncoder(), export_dir, split="val")
    assert isinstance(result, EvalResult)
    assert result.n_queries == 16 and result.n_corpus == 16
    assert set(result.metrics) == {
        "ndcg@10",
        "mrr@10",
        "map@100",
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@100",
    }
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert result.metrics["recall@100"] == 1.0
    assert result.metrics["ndcg@10"] > 0.5  # shared words make the fake encoder retrieve well
    data = json.loads(json.dumps(result.to_dict()))
    assert "per_query" not in data and data["metrics"] == result.metrics
    assert evaluate(HashingEncoder(), export_dir, split="val").metrics == result.metrics


def test_prompts_from_manifest_are_applied(tmp_path: Path) -> None:
    root = write_export(tmp_path / "e", query_prompt="query: ", passage_prompt="passage: ")

    class Recorder(HashingEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str | None] = []

        def encode(self, texts, *, prompt=None, batch_size=64, progress=None):  # noqa: ANN001, ANN201
            self.seen.append(prompt)
            return super().encode(texts, prompt=prompt, batch_size=batch_size, progress=progress)

    rec = Recorder()
    result = evaluate(rec, root)
    assert rec.seen == ["query: ", "passage: "]
    assert (result.query_prompt, result.passage_prompt) == ("query: ", "passage: ")
    rec2 = Recorder()
    evaluate(rec2, root, use_prompts=False)
    assert rec2.seen == [None, None]


def test_max_queries_subset_is_seeded(export_dir: Path) -> None:
    a = evaluate(HashingEncoder(), export_dir, max_queries=5, seed=1)
    b = evaluate(HashingEncoder(), export_dir, max_queries=5, seed=1)
    assert a.n_queries == 5 and a.n_corpus == 16
    assert list(a.per_query) == list(b.per_query)
    assert evaluate(HashingEncoder(), export_dir, max_queries=100).n_queries == 16


def test_truncate_dim(export_dir: Path) -> None:
    full = evaluate(HashingEncoder(dim=64), export_dir)
    small = evaluate(HashingEncoder(dim=64), export_dir, truncate_dim=8)
    assert small.truncate_dim == 8
    assert small.metrics != full.metrics
    with pytest.raises(EmbcoreError, match="truncate_dim"):
        evaluate(HashingEncoder(dim=64), export_dir, truncate_dim=65)


def test_progress_callback_sees_stages(export_dir: Path) -> None:
    stages: list[str] = []
    evaluate(HashingEncoder(), export_dir, progress=lambda s, d, t: stages.append(s))
    assert "encode queries" in stages and "encode corpus" in stages and "score" in stages


def test_errors_are_one_clear_line(tmp_path: Path, export_dir: Path) -> None:
    with pytest.raises(EmbcoreError, match="unknown split 'train'"):
        evaluate(HashingEncoder(), export_dir, split="train")
    with pytest.raises(EmbcoreError, match="does not exist"):
        evaluate(HashingEncoder(), tmp_path / "nope")
    (export_dir / "eval" / "qrels" / "val.tsv").unlink()
    with pytest.raises(EmbcoreError, match=r"missing file .*val\.tsv"):
        evaluate(HashingEncoder(), export_dir, split="val")
    assert split_names(export_dir) == ["test"]
    write_qrels(export_dir / "eval" / "qrels" / "test.tsv", {"qt0": {"p999": 1}})
    with pytest.raises(EmbcoreError, match="corpus id 'p999'"):
        load_eval_set(export_dir, "test")
    write_qrels(export_dir / "eval" / "qrels" / "test.tsv", {"q-missing": {"p1": 1}})
    with pytest.raises(EmbcoreError, match="query id 'q-missing'"):
        load_eval_set(export_dir, "test")
    (export_dir / "eval" / "corpus.jsonl").write_text('{"_id": "p1", "text": "x"}\nnot json\n')
    with pytest.raises(EmbcoreError, match=r"corpus\.jsonl:2: invalid JSON"):
        load_eval_set(export_dir, "test")


def test_cli_eval_error_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # one exit-code policy (issue 11.3): a user error exits 2 with `embcore: error: ...` (eval returned 1)
    code = main(["eval", "--data", str(tmp_path / "missing"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("embcore: error: ") and "\n" not in err


@pytest.mark.integration
def test_cli_eval_bundled_model_prints_json(export_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--data", str(export_dir), "--split", "test", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["n_queries"] == 16
    assert data["metrics"]["ndcg@10"] > 0.8  # the bundled model solves these easy questions
