"""sentence-transformers Parquet, the Hugging Face DatasetDict and the dataset card of an export:
layout decisions, manifest hashes, ``embcore verify`` on each, format selection, licence."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from support.export_formats import export_sample, read_jsonl, sample_project

from embcore.cli import main as cli_main
from embcore.errors import EmbcoreError
from embcore.export.exporter import ExportConfig, export_project
from embcore.export.publish import resolve_export
from embcore.export.verify import verify_export
from embcore.ingest.samples import Sample
from embcore.store import Store

SPLITS = ("train", "val", "test")
ALL_TRAIN = (1.0, 0.0, 0.0)


def _hand_made(db: Path) -> tuple[Store, int]:
    """Samples with 2 positives / 3 negatives, 1 positive / 1 negative, 1 positive / 2 negatives (given)."""
    samples = [
        Sample("What were the 2024 sales?", ["Sales were $4.8 billion in 2024.", "Revenue reached $4.8B in 2024."],
               negatives=["Sales were $4.1 billion in 2022.", "The board met four times.", "Headcount was 12,000."]),
        Sample("Who audits the company?", ["Our auditor is Smith & Co LLP."], negatives=["We lease our offices."]),
        Sample("Where is the headquarters?", ["Headquarters are in Springfield, Ohio."],
               negatives=["A plant is in Austin, Texas.", "Warehouses are in Reno."]),
    ]  # fmt: skip
    store = Store(db)
    pid = store.create_project(
        "hand", samples, source_name="hand.csv", source_sha256="1" * 64, source_format="csv"
    )
    return store, pid


def _rehash(folder: Path, rel: str) -> None:
    """Write the new hash of a changed file into the manifest (so that only the content checks can object)."""
    mf = folder / "manifest.json"
    manifest = json.loads(mf.read_text(encoding="utf-8"))
    manifest["files"][rel] = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
    mf.write_text(json.dumps(manifest), encoding="utf-8")


# --------------------------------------------------------------------------- layout


def test_st_rows_per_positive_and_short_rows_repeat_their_own_negatives(tmp_path: Path) -> None:
    store, pid = _hand_made(tmp_path / "db.duckdb")
    res = export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN))
    store.close()
    folder = res.version_dir
    assert folder is not None
    table = pq.read_table(folder / "st" / "train.parquet")
    assert table.column_names == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    assert all(t == pa.string() for t in table.schema.types)
    rows = table.to_pylist()
    by_anchor: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_anchor.setdefault(r["anchor"], []).append(r)
    sales = by_anchor["What were the 2024 sales?"]
    assert [r["positive"] for r in sales] == [
        "Sales were $4.8 billion in 2024.",
        "Revenue reached $4.8B in 2024.",
    ]
    negs = ["Sales were $4.1 billion in 2022.", "The board met four times.", "Headcount was 12,000."]
    assert all([r["negative_1"], r["negative_2"], r["negative_3"]] == negs for r in sales)
    (audit,) = by_anchor["Who audits the company?"]
    assert [audit[f"negative_{j}"] for j in (1, 2, 3)] == ["We lease our offices."] * 3
    (hq,) = by_anchor["Where is the headquarters?"]
    assert [hq[f"negative_{j}"] for j in (1, 2, 3)] == [
        "A plant is in Austin, Texas.", "Warehouses are in Reno.", "A plant is in Austin, Texas."
    ]  # fmt: skip
    part = res.manifest["formats"]["st"]
    assert part["negative_columns"] == 3
    assert part["splits"]["train"] == {
        "rows": 4, "samples_with_several_positives": 1, "rows_with_repeated_negatives": 2, "repeated_slots": 3
    }  # fmt: skip
    # empty splits keep the schema (a trainer's eval_dataset can still be opened)
    for s in ("val", "test"):
        empty = pq.read_table(folder / "st" / f"{s}.parquet")
        assert empty.num_rows == 0 and empty.column_names == table.column_names
    assert verify_export(tmp_path / "out")[0] == []


def test_hf_dataset_dict_equals_the_jsonl_and_empty_splits_load(tmp_path: Path) -> None:
    """Regression: ``save_to_disk`` writes no shard for an empty split and ``load_from_disk``
    then fails (IndexError); every split, empty or not, must load."""
    store, pid = _hand_made(tmp_path / "db.duckdb")
    store.set_sample_fields(pid, prompt="Query: ")
    res = export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN))
    store.close()
    dd = datasets.load_from_disk(str(tmp_path / "out" / "hf"))
    assert isinstance(dd, datasets.DatasetDict) and list(dd) == list(SPLITS)
    for s in SPLITS:
        assert dd[s].to_list() == read_jsonl(tmp_path / "out" / f"{s}.jsonl")
        assert list(dd[s].features) == ["query", "pos", "neg", "prompt"]
    assert len(dd["train"]) == 3 and len(dd["val"]) == len(dd["test"]) == 0
    assert dd["train"].info.license == "unknown"
    assert res.manifest["formats"]["hf"]["splits"] == {"train": 3, "val": 0, "test": 0}


def test_teacher_scores_are_in_the_dataset_dict(tmp_path: Path) -> None:
    def teacher(queries: list[str], texts: list[list[str]], prompts: list[str]) -> list[list[float]]:
        return [[0.5 + 0.01 * j for j in range(len(t))] for t in texts]

    store, pid = _hand_made(tmp_path / "db.duckdb")
    export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN), teacher=teacher)
    store.close()
    train = datasets.load_from_disk(str(tmp_path / "out" / "hf"))["train"]
    assert list(train.features) == ["query", "pos", "neg", "pos_scores", "neg_scores"]
    assert train.to_list() == read_jsonl(tmp_path / "out" / "train.jsonl")


# --------------------------------------------------------------------------- card


def test_card_states_source_mapping_mining_review_split_leakage_and_licence(tmp_path: Path) -> None:
    store, pid, run = sample_project(tmp_path / "db.duckdb")
    queries = store.queries(pid)["id"].astype(int).tolist()
    cands = store.candidates(run)
    first = cands[cands["query_id"] == queries[0]].head(3)
    for p in first["passage_id"].astype(int):
        store.set_decision(pid, queries[0], p, "reject")
    store.set_flag(pid, queries[1], "bad_query", "not a question")
    res = export_project(store, pid, tmp_path / "out", ExportConfig(seed=7), run_id=run)
    card_path = tmp_path / "out" / "README.md"
    text = card_path.read_text(encoding="utf-8")
    card = DatasetCard.load(card_path)  # the Hub's own parser
    assert card.data.license == "unknown"
    assert card.data.configs[0]["config_name"] == "sentence-transformers"
    for heading in ("## Source", "## Mapping", "## Mining", "## Review", "## Splits", "## Leakage report",
                    "## sentence-transformers layout", "## Licence"):  # fmt: skip
        assert heading in text, heading
    m = res.manifest
    assert m["input"]["sha256"] in text and "sample\\_qa.csv" in text
    assert "- query: column `question`" in text and "- metadata: columns `ticker`, `filing`" in text
    assert "| num_negatives | `7` |" in text and '| strategies | `["bm25"]` |' in text
    assert (
        "- reviewer decisions on candidates: 0 accepted as negatives, 3 rejected, 0 marked as positives"
        in text
    )
    assert "- queries flagged by a reviewer and left out: 1 (bad\\_query 1)" in text
    assert "| positive passages shared across splits | 0 | 0 | 0 |" in text
    n = sum(c["samples"] for c in m["counts"].values())
    assert f"| train | {m['counts']['train']['samples']} |" in text and n == 95
    assert "No licence was recorded for this project" in text
    # a licence given once is the project's from then on
    export_project(store, pid, tmp_path / "out", ExportConfig(seed=7, license="cc-by-4.0"), run_id=run)
    assert store.project_license(pid) == "cc-by-4.0"
    res3 = export_project(store, pid, tmp_path / "out", ExportConfig(seed=7), run_id=run)
    store.close()
    assert DatasetCard.load(card_path).data.license == "cc-by-4.0" == res3.manifest["license"]
    assert datasets.load_from_disk(str(tmp_path / "out" / "hf"))["train"].info.license == "cc-by-4.0"
    assert verify_export(tmp_path / "out")[0] == []


def test_card_is_the_same_for_the_same_data_and_settings(tmp_path: Path) -> None:
    cards = []
    for i in range(2):
        store, pid = _hand_made(tmp_path / f"db{i}.duckdb")
        res = export_project(store, pid, tmp_path / f"out{i}", ExportConfig(ratios=ALL_TRAIN))
        store.close()
        cards.append((tmp_path / f"out{i}" / "README.md").read_bytes())
        assert res.manifest["files"]["README.md"] == hashlib.sha256(cards[-1]).hexdigest()
    assert cards[0] == cards[1]


# --------------------------------------------------------------------------- manifest + verify


def test_every_file_is_hashed_and_verify_reads_each_format(tmp_path: Path) -> None:
    res, store, _ = export_sample(tmp_path)
    store.close()
    out = tmp_path / "out"
    folder = resolve_export(out)
    files = res.manifest["files"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(files) == on_disk
    assert {
        "README.md",
        "st/train.parquet",
        "hf/dataset_dict.json",
        "hf/train/data-00000-of-00001.arrow",
    } <= set(files)
    assert res.manifest["formats"]["written"] == ["flag", "st", "hf"]
    assert verify_export(out)[0] == []

    # a Parquet row changed (and re-hashed): the content check against train.jsonl objects
    f = folder / "st" / "train.parquet"
    table = pq.read_table(f).to_pydict()
    table["negative_2"][5] = table["positive"][5]
    pq.write_table(pa.table(table), f)
    _rehash(folder, "st/train.parquet")
    problems = verify_export(out)[0]
    assert problems == [f"{f}: does not match train.jsonl (row 6, column 'negative_2')"]


def test_verify_reports_a_damaged_dataset_dict_and_card(tmp_path: Path) -> None:
    res, store, _ = export_sample(tmp_path)
    store.close()
    out = tmp_path / "out"
    folder = resolve_export(out)
    arrow = folder / "hf" / "val" / "data-00000-of-00001.arrow"
    arrow.write_bytes(arrow.read_bytes()[:200])
    card = folder / "README.md"
    card.write_text(
        card.read_text(encoding="utf-8").replace('license: "unknown"', 'license: "mit"'), encoding="utf-8"
    )
    (folder / "st" / "test.parquet").unlink()
    problems = verify_export(out)[0]
    joined = "\n".join(problems)
    assert f"{arrow}: sha256 differs from the manifest" in joined
    assert f"{folder / 'hf'}: datasets.load_from_disk failed" in joined
    assert f"{card}: licence 'mit', the manifest says 'unknown'" in joined
    assert f"{folder / 'st' / 'test.parquet'}: listed in the manifest but missing" in joined
    assert f"{folder / 'st' / 'test.parquet'}: missing" in joined


def test_verify_reports_lines_that_lack_a_field_others_have(tmp_path: Path) -> None:
    store, pid = _hand_made(tmp_path / "db.duckdb")
    store.set_sample_fields(pid, prompt="Query: ")
    export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN, formats=("flag",)))
    store.close()
    folder = resolve_export(tmp_path / "out")
    lines = read_jsonl(folder / "train.jsonl")
    lines[1].pop("prompt")
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    _rehash(folder, "train.jsonl")
    problems = verify_export(tmp_path / "out")[0]
    assert len(problems) == 1 and "'prompt' is missing on some lines (train.jsonl 1 of 3)" in problems[0]


# --------------------------------------------------------------------------- selection


def test_formats_are_selectable_and_links_follow_the_current_export(tmp_path: Path) -> None:
    store, pid = _hand_made(tmp_path / "db.duckdb")
    out = tmp_path / "out"
    export_project(store, pid, out, ExportConfig(ratios=ALL_TRAIN))
    assert (out / "st" / "train.parquet").is_file() and (out / "hf" / "dataset_dict.json").is_file()
    res = export_project(store, pid, out, ExportConfig(ratios=ALL_TRAIN, formats=("st",)))
    assert res.manifest["formats"]["written"] == ["flag", "st"]
    assert not (resolve_export(out) / "hf").exists()
    # no link dangles: 'hf' went with the export that had it
    assert not os.path.lexists(out / "hf") and (out / "st").is_symlink()
    assert all(p.exists() for p in out.iterdir()), [p.name for p in out.iterdir() if not p.exists()]
    assert verify_export(out)[0] == []
    res = export_project(store, pid, out, ExportConfig(ratios=ALL_TRAIN, formats="flag"))
    store.close()
    assert res.manifest["formats"]["written"] == ["flag"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("v0")) == [
        "README.md", "current", "dropped_rows.csv", "eval", "manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"
    ]  # fmt: skip
    assert DatasetCard.load(out / "README.md").data.configs[0]["config_name"] == "flagembedding"
    assert verify_export(out)[0] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": "flag,parquet"}, "unknown export format(s) 'parquet'; choose from: flag, st, hf"),
        ({"license": "CC BY 4.0"}, "licence 'CC BY 4.0' is not a licence id"),
    ],
)
def test_config_rejects_unknown_format_and_licence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EmbcoreError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExportConfig(**kwargs)


def test_cli_formats_and_licence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from support.export_formats import SAMPLE

    base = ["build", str(SAMPLE), "--out", str(tmp_path / "o"), "--negatives", "random", "--no-progress"]
    assert cli_main([*base, "--formats", "flag,xml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "embcore: error: unknown export format(s) 'xml'; choose from: flag, st, hf (or 'all'; flag is always written)"
    ]
    assert not (tmp_path / "o").exists()
    assert cli_main([*base, "--formats", "hf", "--license", "apache-2.0"]) == 0
    err = capsys.readouterr().err
    assert "formats flag, hf + BEIR eval set; dataset card README.md (licence apache-2.0)" in err
    folder = resolve_export(tmp_path / "o")
    assert (folder / "hf").is_dir() and not (folder / "st").exists()
    assert DatasetCard.load(folder / "README.md").data.license == "apache-2.0"


def test_card_warns_when_an_eval_split_has_no_query(tmp_path: Path) -> None:
    from beir.datasets.data_loader import GenericDataLoader

    store, pid = _hand_made(tmp_path / "db.duckdb")
    res = export_project(store, pid, tmp_path / "out", ExportConfig(ratios=ALL_TRAIN))
    store.close()
    assert res.manifest["formats"]["beir"] == {
        "name": "BEIR evaluation set", "folder": "eval", "corpus": 10, "val_queries": 0, "test_queries": 0
    }  # fmt: skip
    text = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "The evaluation set has no val and no test query" in text
    # what the note warns about, with BEIR's own loader
    with pytest.raises(IndexError):
        GenericDataLoader(data_folder=str(tmp_path / "out" / "eval")).load(split="test")
