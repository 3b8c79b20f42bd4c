"""Training rows from train.jsonl, loss settings, report helpers (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embcore.errors import EmbcoreError
from embcore.training.data import build_training_data
from embcore.training.evaluate import read_jsonl
from embcore.training.report import load_report, loss_curve_svg, peak_memory_mb, reset_peak_memory
from embcore.training.trainer import parse_dims, validate_matryoshka_dims


def _rec(q: str, pos: list[str], neg: list[str], **kw) -> dict:  # noqa: ANN003
    return {"query": q, "pos": pos, "neg": neg, **kw}


def test_columns_from_fixture(export_dir: Path) -> None:
    data = build_training_data(read_jsonl(export_dir / "train.jsonl"))
    assert list(data.columns) == ["anchor", "positive", "negative_1", "negative_2"]
    assert data.n_rows == 16 and data.num_negatives == 2 and data.filled_negatives == 0
    assert data.columns["anchor"][0] == "Where is the Eiffel Tower?"
    assert data.columns["positive"][0].startswith("The Eiffel Tower")
    assert data.columns["negative_1"][0].startswith("Photosynthesis")


def test_one_row_per_positive_and_prompts() -> None:
    recs = [_rec("q1", ["a", "b"], ["x", "y"], prompt="Represent: "), _rec("q2", ["c"], ["z", "x"])]
    data = build_training_data(recs, query_prompt="query: ", passage_prompt="passage: ")
    assert data.columns["anchor"] == ["Represent: q1", "Represent: q1", "query: q2"]
    assert data.columns["positive"] == ["passage: a", "passage: b", "passage: c"]
    assert data.columns["negative_1"] == ["passage: x", "passage: x", "passage: z"]
    assert data.columns["negative_2"] == ["passage: y", "passage: y", "passage: x"]


def test_short_rows_are_filled_from_the_pool_never_with_a_positive() -> None:
    recs = [_rec("q1", ["a"], ["x", "y", "z"]), _rec("q2", ["b"], []), _rec("q3", ["c"], ["c", "x"])]
    data = build_training_data(recs, seed=3)
    assert data.num_negatives == 3
    # q2 needs 3; q3 keeps x (its own positive c is dropped) and needs 2
    assert data.filled_negatives == 3 + 2
    for i, pos in enumerate(data.columns["positive"]):
        negs = [data.columns[f"negative_{j}"][i] for j in (1, 2, 3)]
        assert pos not in negs
        assert len(set(negs)) == 3
    again = build_training_data(recs, seed=3)
    assert again.columns == data.columns


def test_num_negatives_zero_gives_pairs_and_cap_takes_the_first() -> None:
    recs = [_rec("q1", ["a"], ["x", "y"]), _rec("q2", ["b"], ["y", "x"])]
    assert list(build_training_data(recs, num_negatives=0).columns) == ["anchor", "positive"]
    one = build_training_data(recs, num_negatives=1)
    assert one.columns["negative_1"] == ["x", "y"]


def test_max_samples_is_a_seeded_subset() -> None:
    recs = [_rec(f"q{i}", [f"p{i}"], [f"n{i}"]) for i in range(50)]
    a = build_training_data(recs, max_samples=10, seed=1)
    b = build_training_data(recs, max_samples=10, seed=1)
    assert a.n_rows == 10 and a.columns == b.columns
    assert a.columns["anchor"] != build_training_data(recs, max_samples=10, seed=2).columns["anchor"]


def test_distill_labels_follow_the_chosen_negatives() -> None:
    recs = [
        _rec("q1", ["a"], ["x", "y", "z"], pos_scores=[0.9], neg_scores=[0.5, 0.4, 0.3]),
        # 'b' is q2's own positive: dropped from its negatives, with its score
        _rec("q2", ["b"], ["b", "y", "z"], pos_scores=[0.8], neg_scores=[0.7, 0.2, 0.1]),
        _rec("q3", ["c"], ["x", "y"]),  # no scores: dropped
    ]
    data = build_training_data(recs, loss="distill", num_negatives=2)
    assert data.columns["label"] == [[0.9, 0.5, 0.4], [0.8, 0.2, 0.1]]
    assert data.columns["negative_1"] == ["x", "y"]
    assert data.dropped == {"no teacher scores": 1}
    with pytest.raises(EmbcoreError, match="distill"):
        build_training_data([_rec("q", ["a"], ["x"])], loss="distill")


def test_bad_input() -> None:
    with pytest.raises(EmbcoreError, match="unknown loss 'triplet'"):
        build_training_data([_rec("q", ["a"], [])], loss="triplet")
    with pytest.raises(EmbcoreError, match="line 1"):
        build_training_data([{"question": "q"}])
    with pytest.raises(EmbcoreError, match="no usable"):
        build_training_data([_rec(" ", ["a"], [])])


def test_dims_parsing_and_validation() -> None:
    assert parse_dims("384, 256,128") == [384, 256, 128]
    assert parse_dims("") is None
    with pytest.raises(EmbcoreError, match="comma-separated"):
        parse_dims("384;256")
    assert validate_matryoshka_dims([128, 384, 256, 128], 384) == [384, 256, 128]
    with pytest.raises(EmbcoreError, match="exceeds"):
        validate_matryoshka_dims([512], 384)
    with pytest.raises(EmbcoreError, match="positive"):
        validate_matryoshka_dims([0], 384)


def test_loss_curve_svg_and_memory(tmp_path: Path) -> None:
    svg = loss_curve_svg([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}, {"step": 3, "loss": 0.5}])
    assert svg.startswith("<svg") and "<path" in svg and svg.rstrip().endswith("</svg>")
    assert "<path" not in loss_curve_svg([])
    reset_peak_memory()
    mem = peak_memory_mb()
    assert mem["rss"] and mem["rss"] > 0
    with pytest.raises(EmbcoreError, match="no fine-tuning report"):
        load_report(tmp_path)
