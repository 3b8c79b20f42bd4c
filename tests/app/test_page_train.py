"""Train & evaluate page: evaluate on an export (fake encoder), fine-tune (integration), compare runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from support.app import texts, wait_until
from support.encoders import HashingEncoder

import embcore.training.defaults
import embcore.training.finetune
from app_pages._common import K
from embcore.export.exporter import export_project
from embcore.training.defaults import finetune_settings

TRAIN = "app_pages/train.py"


def test_train_page_needs_an_export(new_app, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(TRAIN, project=pid)
    assert any("Export the project first" in t for t in texts(at.info))


def test_evaluate_records_a_run_and_compares(new_app, store, sample_project, tmp_path: Path) -> None:
    pid, run_id = sample_project
    export_project(store, pid, tmp_path / "ex", run_id=run_id)
    at = new_app(TRAIN, project=pid, encoder=HashingEncoder(dim=256))
    at.button(key=K.W_TR_EVAL).click().run()
    wait_until(at, lambda a: any("finished and recorded" in t for t in texts(a.success)))
    runs = store.runs(pid, "eval")
    assert runs["status"].tolist() == ["done"]
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["fake-hashing"]
    assert 0.0 <= float(table["ndcg@10"].iloc[0]) <= 1.0
    assert len(at.get("plotly_chart")) == 1


def test_training_settings_show_the_core_defaults_and_why(
    new_app, store, sample_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, run_id = sample_project
    export_project(store, pid, tmp_path / "ex", run_id=run_id)
    at = new_app(TRAIN, project=pid)
    s = finetune_settings()
    assert at.number_input(key=K.W_TR_LR).value == pytest.approx(s["lr"].default)
    assert at.selectbox(key=K.W_TR_LOSS).value == s["loss"].default
    assert at.selectbox(key=K.W_TR_LOSS).options == list(embcore.training.defaults.LOSSES)
    assert at.number_input(key=K.W_TR_EPOCHS).value == s["epochs"].default
    assert at.number_input(key=K.W_TR_BATCH).value == s["batch_size"].default
    notes = " ".join(texts(at.caption))
    assert "5.0 GB vs 13.5 GB" in notes and "1e-4 measured best" in notes
    for x in s.values():
        assert f"{x.label}: Default" in notes
    # one place: a default changed in the core shows up on the page
    config = embcore.training.finetune.FinetuneConfig
    changed = {f.name: f for f in dataclasses.fields(config) if f.name in ("lr", "batch_size")}
    monkeypatch.setattr(changed["lr"], "default", 1e-4)
    monkeypatch.setattr(changed["batch_size"], "default", 64)
    at = new_app(TRAIN, project=pid)
    assert at.number_input(key=K.W_TR_LR).value == pytest.approx(1e-4)
    assert at.number_input(key=K.W_TR_BATCH).value == 64
    assert "Learning rate: Default 1e-4;" in " ".join(texts(at.caption))


def test_second_evaluation_reuses_the_cached_embeddings(
    new_app, store, sample_project, tmp_path: Path
) -> None:
    pid, run_id = sample_project
    export_project(store, pid, tmp_path / "ex", run_id=run_id)
    enc = HashingEncoder(dim=256)
    at = new_app(TRAIN, project=pid, encoder=enc)
    for _ in range(2):
        at.button(key=K.W_TR_EVAL).click().run()
        wait_until(at, lambda a: any("finished and recorded" in t for t in texts(a.success)))
    first, second = (json.loads(x) for x in store.runs(pid, "eval")["stats"])
    assert first["cache"]["encoded"] > 0
    assert second["cache"] == {"model_key": "fake-hashing", "cached": first["cache"]["encoded"], "encoded": 0}
    assert second["metrics"] == pytest.approx(first["metrics"])


@pytest.mark.integration
@pytest.mark.slow
def test_finetune_from_the_page(new_app, store, sample_project, tmp_path: Path) -> None:
    pid, run_id = sample_project
    export_project(store, pid, tmp_path / "ex", run_id=run_id)
    at = new_app(TRAIN, project=pid)
    at.number_input(key=K.W_TR_MAX_STEPS).set_value(2)
    at.number_input(key=K.W_TR_BATCH).set_value(8)
    at.number_input(key=K.W_TR_LR).set_value(1e-4)
    at.selectbox(key=K.W_TR_LOSS).set_value("mnrl")
    at.button(key=K.W_TR_FINETUNE).click().run()
    wait_until(
        at,
        lambda a: any("finished and recorded" in t for t in texts(a.success)) or bool(a.error),
        timeout=900,
    )
    assert not at.error, texts(at.error)
    labels = at.dataframe[0].value["label"].tolist()
    assert any("(base)" in x for x in labels) and any("(fine-tuned)" in x for x in labels)
    run = store.runs(pid, "finetune")
    cfg, stats = json.loads(run["config"].iloc[0]), json.loads(run["stats"].iloc[0])
    assert (cfg["lr"], cfg["loss"], cfg["batch_size"]) == (1e-4, "mnrl", 8)
    assert json.dumps(stats).count("mnrl") >= 1
