"""Augmentation is previewed before it is stored: generate -> preview list -> store the kept ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fake_openai import FakeOpenAI

from embcore.augment.llm import ChatClient, LLMConfig
from embcore.augment.project import (
    AugmentConfig,
    StoreResponseCache,
    generate_augmentations,
    store_augmentations,
)
from embcore.errors import EmbcoreError
from embcore.ingest.samples import Sample
from embcore.store import Store


def _samples(n: int = 8) -> list[Sample]:
    return [
        Sample(
            f"What was the operating margin of the widget maker number {i} in fiscal 2024?",
            [f"Company {i} reported an operating margin of {10 + i}% in fiscal 2024."],
            meta={"ticker": f"T{i}"},
        )
        for i in range(n)
    ]


def test_preview_stores_nothing_until_kept_rows_are_added(tmp_path: Path) -> None:
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples())
        before = len(store.queries(pid))
        cfg = AugmentConfig(ops=["swap", "delete"], n=2, rate=0.3, seed=3, max_samples=5)
        preview = generate_augmentations(store, pid, cfg)
        # 1. a preview: items linked to their source, nothing stored, the run says "preview"
        assert preview.items and preview.stats["source_samples"] == 5
        assert preview.stats["generated"] == len(preview.items)
        assert len(store.queries(pid)) == before
        run = store.get_run(preview.run_id)
        assert run["status"] == "preview" and run["config"]["ops"] == ["swap", "delete"]
        table = preview.table()
        assert list(table.columns) == ["kind", "source query", "text", "origin"]
        assert len(table) == len(preview.items) and set(table["kind"]) == {"new query"}
        assert table["origin"].str.startswith("augment:").all()
        # 2. remove two rows, store the rest
        keep = [i for i in range(len(preview.items)) if i not in (0, 2)]
        stats = store_augmentations(store, preview, keep=keep)
        assert stats["kept"] == len(keep) and stats["removed"] == 2
        q = store.queries(pid)
        derived = q[q["origin"] != "data"]
        assert len(derived) == stats["added"]["queries"] == len(keep)
        stored = set(derived["text"])
        assert preview.items[0].text not in stored and preview.items[2].text not in stored
        assert {preview.items[i].text for i in keep} == stored
        parents = dict(zip(derived["text"], derived["parent_id"].astype(int), strict=True))
        assert all(parents[preview.items[i].text] == preview.items[i].parent_id for i in keep)
        run = store.get_run(preview.run_id)
        assert run["status"] == "done" and run["counts"]["queries"] == len(keep)
        assert run["stats"]["removed"] == 2
        # 3. a preview is stored once
        with pytest.raises(EmbcoreError, match="cannot be added again"):
            store_augmentations(store, preview)


def test_keeping_nothing_stores_nothing_and_bad_rows_are_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples(4))
        preview = generate_augmentations(store, pid, AugmentConfig(ops=["swap"], n=1, rate=0.3))
        with pytest.raises(EmbcoreError, match=f"no preview row {len(preview.items)}"):
            store_augmentations(store, preview, keep=[len(preview.items)])
        stats = store_augmentations(store, preview, keep=[])
        assert stats["added"] == {"queries": 0, "positives": 0, "negatives": 0}
        assert (store.queries(pid)["origin"] == "data").all()


def test_llm_preview_then_store_keeps_generated_negatives_for_review(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    cfg = LLMConfig(base_url=fake_openai.url, model="fake-model", max_retries=0)
    with Store(tmp_path / "p.duckdb") as store:
        pid = store.create_project("p", _samples(3))
        client = ChatClient(cfg, cache=StoreResponseCache(store, cfg.model))
        preview = generate_augmentations(
            store, pid, AugmentConfig(llm_tasks=["paraphrase", "neg-gen"], llm_n=2), client=client
        )
        kinds = {i.kind for i in preview.items}
        assert kinds == {"query", "neg"}
        assert store.given_negatives(pid).empty
        negs = [i for i, it in enumerate(preview.items) if it.kind == "neg"]
        stats = store_augmentations(store, preview, keep=negs[:1])
        assert stats["added"] == {"queries": 0, "positives": 0, "negatives": 1}
        given = store.given_negatives(pid)
        assert given["text"].tolist() == [preview.items[negs[0]].text]
        assert given["origin"].tolist() == ["llm:neg-gen:fake-model"]
