"""Export page: one click publishes a version of the project's export folder, records it, offers a zip of
exactly its files; the counts the export will produce are shown before the click; unsafe folders are refused."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

from support.app import texts

from app_pages._common import K, project_export_root, zip_folder
from embcore.export.publish import resolve_export
from embcore.review import model as review

EXPORT = "app_pages/export.py"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_export_after_review(new_app, store, sample_project, tmp_path: Path) -> None:
    pid, run_id = sample_project
    qid = int(review.query_order(store, pid, run_id)[0])
    shown = review.load_query(store, pid, run_id, qid).shown
    accepted, rejected = int(shown["passage_id"].iloc[0]), int(shown["passage_id"].iloc[1])
    review.decide(store, pid, qid, accepted, "accept")
    review.decide(store, pid, qid, rejected, "reject")
    text = dict(zip(shown["passage_id"], shown["text"], strict=True))

    at = new_app(EXPORT, project=pid)
    out = tmp_path / "out"
    at.number_input(key=K.W_TRAIN).set_value(0.8)
    at.number_input(key=K.W_VAL).set_value(0.1)
    at.number_input(key=K.W_TEST).set_value(0.1)
    at.selectbox(key=K.W_GROUP).set_value("ticker")
    at.text_input(key=K.W_OUT_DIR).set_value(str(out))
    at.run()
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception and not at.error
    assert any("written to" in t for t in texts(at.success))
    # files
    for name in (
        "train.jsonl",
        "val.jsonl",
        "test.jsonl",
        "manifest.json",
        "dropped_rows.csv",
        "eval/corpus.jsonl",
        "eval/queries.jsonl",
    ):
        assert (out / name).is_file(), name
    records = {r["query"]: r for s in ("train", "val", "test") for r in _jsonl(out / f"{s}.jsonl")}
    qtext = store.queries(pid).set_index("id").loc[qid, "text"]
    rec = records[qtext]
    # issue 10.1: the accepted one first, the rejected one never, the undecided selection kept
    assert rec["neg"][0] == text[accepted]
    assert text[rejected] not in rec["neg"]
    cands = store.candidates(run_id, qid)
    undecided_texts = set(cands.loc[cands["decision"].isna(), "text"])
    assert set(rec["neg"][1:]) <= undecided_texts
    assert len(rec["neg"]) == 3  # topped up to the run's num_negatives (3) from its undecided candidates
    assert all(r["neg"] for r in records.values()), "no sample is written with an empty neg list"
    # recorded in DuckDB: the version folder and the root it was published under
    exports = store.exports(pid)
    assert len(exports) == 1 and exports["out_dir"].iloc[0] == str(resolve_export(out))
    assert exports["root_dir"].iloc[0] == str(out.resolve())
    assert json.loads(exports["config"].iloc[0])["export"]["group_col"] == "ticker"
    # counts table and zip download
    counts = at.dataframe[0].value
    assert int(counts["samples"].sum()) == len(records)
    assert at.get("download_button")
    names = zipfile.ZipFile(io.BytesIO(zip_folder(out))).namelist()
    assert {"train.jsonl", "val.jsonl", "test.jsonl", "manifest.json"} <= set(names)


def test_counts_are_shown_before_the_click(new_app, store, sample_project) -> None:
    # Issue 10.4: samples without negatives (and what the policy does), negatives dropped as an eval
    # positive, merged groups and near-duplicate groups are on the page before anything is written.
    pid, run_id = sample_project
    at = new_app(EXPORT, project=pid)
    labels = {m.label: m.value for m in at.metric}
    for label in (
        "Samples",
        "Without negatives",
        "Negatives dropped: eval positive",
        "Merged groups",
        "Near-duplicate groups",
        "Leaks across splits",
    ):
        assert label in labels, labels
    assert labels["Samples"] == "96"
    assert labels["Leaks across splits"] == "0"
    assert any("topped up from the run" in t for t in texts(at.caption))
    # the policy selector changes what the preview says will happen
    at.selectbox(key=K.W_EMPTY_NEG).set_value("drop").run()
    assert not at.exception
    assert store.exports(pid).empty  # nothing written by the preview
    assert not project_export_root("sample").exists()


def test_default_folder_is_under_the_project_export_root(
    new_app, store, sample_project, db_path: Path
) -> None:
    pid, _ = sample_project
    at = new_app(EXPORT, project=pid)
    root = db_path.parent / "exports" / "sample"
    assert at.text_input(key=K.W_OUT_DIR).value == str(root)
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception and not at.error
    at.button(key=K.W_EXPORT).click().run()  # a second export is a new version in the same root
    assert not at.exception and not at.error
    versions = sorted(p.name for p in root.iterdir() if p.name.startswith("v0"))
    assert len(versions) == 2 and resolve_export(root).name == versions[-1]
    # issue 9.5: new folders get the usual permissions (0777 & ~umask), not mkdtemp's 0700
    umask = os.umask(0)
    os.umask(umask)
    for p in (root, root / versions[-1], root / versions[-1] / "eval"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o777 & ~umask, p


def test_a_folder_with_other_files_is_refused_and_the_zip_holds_only_the_export(
    new_app, store, sample_project, tmp_path: Path
) -> None:
    # Issue 9.5: any server path was accepted and its zip packed every file in the folder.
    pid, _ = sample_project
    busy = tmp_path / "home"
    (busy / "sub").mkdir(parents=True)
    (busy / "secret.txt").write_text("password", encoding="utf-8")
    (busy / "sub" / "id_rsa").write_text("PRIVATE KEY", encoding="utf-8")
    at = new_app(EXPORT, project=pid)
    at.text_input(key=K.W_OUT_DIR).set_value(str(busy)).run()
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception
    assert any("not empty and not an earlier export" in t and "secret.txt" in t for t in texts(at.error))
    assert sorted(p.name for p in busy.iterdir()) == ["secret.txt", "sub"]
    # an earlier export of this project is fine; files that appear in it later never reach the zip
    out = tmp_path / "out"
    at.text_input(key=K.W_OUT_DIR).set_value(str(out)).run()
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception and not at.error
    (out / "secret.txt").write_text("password", encoding="utf-8")
    (out / "sub").mkdir()
    (out / "sub" / "id_rsa").write_text("PRIVATE KEY", encoding="utf-8")
    (resolve_export(out) / "secret.txt").write_text("password", encoding="utf-8")
    at.button(key=K.W_EXPORT).click().run()  # re-export into it: allowed (same project)
    assert not at.exception and not at.error
    names = set(zipfile.ZipFile(io.BytesIO(zip_folder(out))).namelist())
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert names == set(manifest["files"]) | {"manifest.json"}
    assert not {"secret.txt", "sub/id_rsa"} & names


def test_bad_ratios_are_an_error(new_app, sample_project, tmp_path: Path) -> None:
    pid, _ = sample_project
    at = new_app(EXPORT, project=pid)
    at.number_input(key=K.W_TRAIN).set_value(0.9)
    at.text_input(key=K.W_OUT_DIR).set_value(str(tmp_path / "bad"))
    at.run()
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception
    assert any("sum to" in t for t in texts(at.error))
    assert not (tmp_path / "bad").exists()
