"""Export page: one click writes train/val/test JSONL and the eval set, records the export, offers a zip."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from app_helpers import texts

from app_pages._common import K, zip_folder
from embcore import review

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
        "eval/corpus.jsonl",
        "eval/queries.jsonl",
    ):
        assert (out / name).is_file(), name
    records = {r["query"]: r for s in ("train", "val", "test") for r in _jsonl(out / f"{s}.jsonl")}
    qtext = store.queries(pid).set_index("id").loc[qid, "text"]
    rec = records[qtext]
    # a partly reviewed query: the accepted one plus the automatic selection for the undecided one
    # (or its replacement when it is a positive of another split), never the rejected one
    assert text[accepted] in rec["neg"] and len(rec["neg"]) == len(shown) - 1
    assert text[rejected] not in rec["neg"]
    # recorded in DuckDB
    exports = store.exports(pid)
    assert len(exports) == 1 and exports["out_dir"].iloc[0] == str(out)
    assert json.loads(exports["config"].iloc[0])["export"]["group_col"] == "ticker"
    # counts table and zip download
    counts = at.dataframe[0].value
    assert int(counts["samples"].sum()) == len(records)
    assert at.get("download_button")
    names = zipfile.ZipFile(io.BytesIO(zip_folder(out))).namelist()
    assert {"train.jsonl", "val.jsonl", "test.jsonl", "manifest.json"} <= set(names)


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
