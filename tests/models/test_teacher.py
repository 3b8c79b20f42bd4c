"""Teacher scores: normalisation, alignment with pos/neg, DuckDB cache, teacher detection, prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.encoders import HashingEncoder

from embcore.errors import EmbcoreError
from embcore.export.config import ExportConfig
from embcore.export.exporter import export_project
from embcore.ingest.samples import Sample
from embcore.models.encoders import default_model_path
from embcore.models.prompts import DEFAULT_PROMPTS, resolve_prompt
from embcore.models.teacher import (
    TeacherConfig,
    detect_kind,
    make_teacher,
    normalize_group,
    raw_scores,
    score_run,
)
from embcore.store import Store


def test_normalisations_by_hand() -> None:
    s = np.array([2.0, 0.0, -1.0])
    assert np.allclose(normalize_group(s, "raw"), s)
    assert np.allclose(normalize_group(s, "sigmoid"), 1 / (1 + np.exp(-s)))
    assert np.allclose(normalize_group(s, "minmax"), [1.0, 1 / 3, 0.0])
    soft = normalize_group(s, "softmax", temperature=0.5)
    assert np.allclose(soft, np.exp(s / 0.5) / np.exp(s / 0.5).sum()) and abs(soft.sum() - 1) < 1e-12
    assert np.allclose(normalize_group(np.array([0.3, 0.3]), "minmax"), [1.0, 1.0])
    with pytest.raises(EmbcoreError, match="allowed"):
        normalize_group(s, "zscore")
    with pytest.raises(EmbcoreError, match="choose one of"):
        TeacherConfig(normalize="zscore").validate()


def test_teacher_kind_detection(tmp_path: Path) -> None:
    assert detect_kind("default") == "bi"
    cross = tmp_path / "ce"
    cross.mkdir()
    (cross / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    assert detect_kind(str(cross)) == "cross"
    with pytest.raises(EmbcoreError, match="not a local folder"):
        detect_kind(str(tmp_path / "missing"))


def test_scores_are_aligned_cached_and_prompt_aware(tmp_path: Path) -> None:
    enc = HashingEncoder()
    cfg = TeacherConfig(model="default", kind="bi")
    with Store(tmp_path / "s.duckdb") as store:
        queries = ["revenue growth 2024", "number of employees"]
        texts = [["revenue grew in 2024", "employees headcount", "weather"], ["we have 5,000 employees"]]
        score, info = make_teacher(cfg, store=store, encoder=enc)
        out = score(queries, texts, ["", ""])
        assert [len(o) for o in out] == [3, 1] and info["kind"] == "bi"
        q = enc.encode(queries)
        expected = enc.encode(texts[0]) @ q[0]
        assert np.allclose(out[0], expected, atol=1e-6)
        assert out[0][0] > out[0][2]  # the related passage scores above the unrelated one
        calls = enc.calls
        assert score(queries, texts, ["", ""]) == out and enc.calls == calls  # DuckDB cache: no re-encoding
        # another query prompt is another teacher id (other cache rows)
        with_prompt = TeacherConfig(model="default", kind="bi", query_prompt="query: ")
        assert with_prompt.teacher_id() != cfg.teacher_id()
        raw_scores(with_prompt, queries[:1], texts[0][:1], store=store, encoder=enc)
        assert enc.calls > calls


def test_export_writes_aligned_scores_and_review_scores_given_negatives(tmp_path: Path) -> None:
    enc = HashingEncoder()
    samples = [
        Sample(
            f"What was revenue of unit {i}?",
            [f"Unit {i} revenue was {i} million."],
            negatives=[f"Unit {i} opened."],
        )
        for i in range(6)
    ]
    with Store() as store:
        pid = store.create_project("t", samples)
        with store.recorded_run(pid, "mine", {}) as mine:
            run = mine.id
        cfg = TeacherConfig(model="default", kind="bi", normalize="minmax")
        n = score_run(store, pid, run, cfg, encoder=enc)
        assert n == 12  # 6 given negatives + 6 positives
        fn, info = make_teacher(cfg, store=store, encoder=enc)
        res = export_project(
            store, pid, tmp_path / "o", ExportConfig(ratios=(1.0, 0.0, 0.0)), teacher=fn, teacher_info=info
        )
        rows = [json.loads(x) for x in (res.out_dir / "train.jsonl").read_text().splitlines()]
        assert len(rows) == 6
        for r in rows:
            assert len(r["pos_scores"]) == len(r["pos"]) and len(r["neg_scores"]) == len(r["neg"]) == 1
            assert sorted(r["pos_scores"] + r["neg_scores"]) == [0.0, 1.0]  # minmax per query
        assert (
            json.loads((res.out_dir / "manifest.json").read_text())["teacher"]["teacher_id"]
            == cfg.teacher_id()
        )


def test_named_prompts() -> None:
    assert resolve_prompt("name:retrieval.query") == DEFAULT_PROMPTS["retrieval.query"]
    assert resolve_prompt("retrieval.query") == DEFAULT_PROMPTS["retrieval.query"]
    assert resolve_prompt("Represent this question: ") == "Represent this question: "
    assert resolve_prompt(None) == ""
    with pytest.raises(EmbcoreError, match="known:"):
        resolve_prompt("name:nope")


def test_named_prompts_from_the_model_config(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}, "default_prompt_name": "query"})
    )
    assert resolve_prompt("name:document", str(model)) == "passage: "
    assert resolve_prompt("name:retrieval.query", str(model)) == DEFAULT_PROMPTS["retrieval.query"]


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cross-encoder folder: the bundled MiniLM weights with a fresh 1-label head."""
    from sentence_transformers import CrossEncoder

    path = tmp_path_factory.mktemp("ce") / "cross"
    CrossEncoder(default_model_path(), num_labels=1).save(str(path))
    return path


@pytest.mark.integration
def test_cross_encoder_teacher(cross_encoder_dir: Path) -> None:
    cfg = TeacherConfig(model=str(cross_encoder_dir))
    assert cfg.resolved_kind() == "cross" and cfg.teacher_id().startswith("cross:")
    with Store() as store:
        out = raw_scores(cfg, ["q1", "q1", "q2"], ["p1", "p2", "p1"], store=store)
        assert out.shape == (3,) and np.isfinite(out).all()
        again = raw_scores(cfg, ["q1"], ["p2"], store=store)
        assert again[0] == pytest.approx(out[1])


@pytest.mark.integration
def test_cross_encoder_rescoring_in_mining(cross_encoder_dir: Path) -> None:
    from embcore.mining.config import MiningConfig
    from embcore.mining.pipeline import mine
    from embcore.mining.types import MiningInput

    passages = [f"Segment {i} revenue rose {i}% in 2024 on higher volumes." for i in range(8)]
    inp = MiningInput(
        query_ids=np.arange(3, dtype=np.int64),
        query_texts=[f"How much did segment {i} revenue grow?" for i in range(3)],
        passage_ids=np.arange(8, dtype=np.int64),
        passage_texts=passages,
        positives=[[0], [1], [2]],
    )
    cfg = MiningConfig(
        strategies=["bm25"], num_negatives=2, cross_encoder=str(cross_encoder_dir), relative_margin=None
    )
    res = mine(inp, cfg)
    df = res.candidates
    assert res.stats["timings"].get("cross_encoder", 0) > 0
    alive = df[df["status"].isin(["selected", "kept"])]
    assert len(alive) and not (alive["cand_idx"] == alive["query_idx"]).any()  # positives never proposed
    assert (df.loc[df["cand_idx"] == df["query_idx"], "status"] == "positive_id").all()
    for _, g in df.groupby("query_idx"):  # ranks follow the cross-encoder scores
        assert list(g.sort_values("rank")["score"]) == sorted(g["score"], reverse=True)
