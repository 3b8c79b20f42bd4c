"""Train & evaluate page: evaluate on an export (fake encoder), fine-tune (integration), compare runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import texts, wait_until

from app_pages._common import K
from embcore.encoders import HashingEncoder
from embcore.export import export_project

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


@pytest.mark.integration
@pytest.mark.slow
def test_finetune_from_the_page(new_app, store, sample_project, tmp_path: Path) -> None:
    pid, run_id = sample_project
    export_project(store, pid, tmp_path / "ex", run_id=run_id)
    at = new_app(TRAIN, project=pid)
    at.number_input(key=K.W_TR_MAX_STEPS).set_value(2)
    at.number_input(key=K.W_TR_BATCH).set_value(8)
    at.button(key=K.W_TR_FINETUNE).click().run()
    wait_until(
        at,
        lambda a: any("finished and recorded" in t for t in texts(a.success)) or bool(a.error),
        timeout=900,
    )
    assert not at.error, texts(at.error)
    labels = at.dataframe[0].value["label"].tolist()
    assert any("(base)" in x for x in labels) and any("(fine-tuned)" in x for x in labels)
