"""Export page: choosing the formats besides FlagEmbedding JSONL and the licence of the dataset card."""

from __future__ import annotations

from pathlib import Path

import datasets
from huggingface_hub import DatasetCard
from support.app import texts

from app_pages._common import K
from embcore.export.publish import resolve_export

EXPORT = "app_pages/export.py"


def test_formats_and_licence_from_the_page(new_app, store, sample_project, tmp_path: Path) -> None:
    pid, _ = sample_project
    out = tmp_path / "out"
    at = new_app(EXPORT, project=pid)
    assert at.multiselect(key=K.W_EX_FORMATS).value == ["st", "hf"]
    assert at.text_input(key=K.W_EX_LICENSE).value == ""
    at.text_input(key=K.W_OUT_DIR).set_value(str(out))
    at.multiselect(key=K.W_EX_FORMATS).set_value(["hf"])
    at.text_input(key=K.W_EX_LICENSE).set_value("cc-by-sa-4.0")
    at.run()
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception and not at.error
    assert any("Formats: FlagEmbedding JSONL, Hugging Face datasets" in t for t in texts(at.caption))
    folder = resolve_export(out)
    assert (folder / "hf" / "dataset_dict.json").is_file() and not (folder / "st").exists()
    assert datasets.load_from_disk(str(out / "hf"))["train"].info.license == "cc-by-sa-4.0"
    assert DatasetCard.load(out / "README.md").data.license == "cc-by-sa-4.0"
    assert store.project_license(pid) == "cc-by-sa-4.0"
    # the page opens on the project's licence next time
    assert new_app(EXPORT, project=pid).text_input(key=K.W_EX_LICENSE).value == "cc-by-sa-4.0"


def test_a_licence_that_is_not_an_id_is_refused(new_app, store, sample_project, tmp_path: Path) -> None:
    pid, _ = sample_project
    out = tmp_path / "out"
    at = new_app(EXPORT, project=pid)
    at.text_input(key=K.W_OUT_DIR).set_value(str(out))
    at.text_input(key=K.W_EX_LICENSE).set_value("free for all")
    at.run()
    assert any("is not a licence id" in t for t in texts(at.error))
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception
    assert not out.exists() and store.exports(pid).empty and store.project_license(pid) is None


def test_switching_project_shows_the_other_projects_licence(new_app, store, sample_project, tiny_csv) -> None:
    from support.app import make_project

    pid, _ = sample_project
    other, _ = make_project(store, tiny_csv, name="tiny")
    at = new_app(EXPORT, project=pid)
    at.text_input(key=K.W_EX_LICENSE).set_value("mit").run()
    at.selectbox(key=K.W_PROJECT_PICK).set_value(other).run()
    assert not at.exception
    # the licence typed for the first project is not carried over to the one opened now
    assert at.text_input(key=K.W_EX_LICENSE).value == ""
