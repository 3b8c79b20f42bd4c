"""Shared helpers of tests/export: a real project (bundled sample, BM25 mining, DuckDB file) and
FlagEmbedding's own training-dataset modules, loaded from the installed package by path.

FlagEmbedding 1.4.2's package ``__init__`` imports its inference models, which need
``transformers.modeling_attn_mask_utils`` (gone in transformers 5); its embedder dataset modules
(``abc/finetune/embedder/AbsArguments.py`` and ``AbsDataset.py``) import only ``datasets``,
``torch`` and ``transformers`` basics, so they are executed from their files under a private
package name, unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import embcore
from embcore.export.exporter import ExportConfig, ExportResult, export_project
from embcore.ingest.mapping import FieldMapping
from embcore.mining.config import MiningConfig
from embcore.store import Store
from embcore.workflow import create_project, run_mining

SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"
_FLAG_PKG = "_flagembedding_embedder_abc"


def flag_embedder() -> tuple[types.ModuleType, types.ModuleType]:
    """(AbsArguments, AbsDataset) modules of the installed FlagEmbedding, executed from their files."""
    if f"{_FLAG_PKG}.AbsDataset" in sys.modules:
        return sys.modules[f"{_FLAG_PKG}.AbsArguments"], sys.modules[f"{_FLAG_PKG}.AbsDataset"]
    spec = importlib.util.find_spec("FlagEmbedding")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("FlagEmbedding is not installed: pip install -e '.[test]' (flagembedding==1.4.2)")
    base = Path(list(spec.submodule_search_locations)[0]) / "abc" / "finetune" / "embedder"
    pkg = types.ModuleType(_FLAG_PKG)
    pkg.__path__ = [str(base)]
    sys.modules[_FLAG_PKG] = pkg
    out = []
    for name in ("AbsArguments", "AbsDataset"):
        mspec = importlib.util.spec_from_file_location(f"{_FLAG_PKG}.{name}", base / f"{name}.py")
        assert mspec is not None and mspec.loader is not None
        module = importlib.util.module_from_spec(mspec)
        sys.modules[mspec.name] = module
        mspec.loader.exec_module(module)
        out.append(module)
    return out[0], out[1]


def flag_dataset(train_jsonl: Path, cache: Path, **kwargs: Any) -> Any:
    """FlagEmbedding's ``AbsEmbedderTrainDataset`` over one JSONL file (no tokenizer needed to read)."""
    args_mod, ds_mod = flag_embedder()
    args = args_mod.AbsEmbedderDataArguments(train_data=[str(train_jsonl)], cache_path=str(cache), **kwargs)
    return ds_mod.AbsEmbedderTrainDataset(args, tokenizer=None)


def sample_project(db: Path, *, num_negatives: int = 7) -> tuple[Store, int, int]:
    """The bundled sample as a project in a DuckDB file, mined with BM25 (no model): (store, pid, run)."""
    store = Store(db)
    info = create_project(
        store, SAMPLE, FieldMapping("question", ["context"], ["ticker", "filing"]), name="sample"
    )
    run = run_mining(
        store,
        info.project_id,
        MiningConfig(strategies=["bm25"], num_negatives=num_negatives, score_filters="off", seed=3),
    )
    return store, info.project_id, run


def export_sample(
    tmp: Path, cfg: ExportConfig | None = None, **kwargs: Any
) -> tuple[ExportResult, Store, int]:
    """Mine the sample and export it into ``tmp/out``; the store stays open (the caller closes it)."""
    store, pid, run = sample_project(tmp / "db.duckdb")
    res = export_project(store, pid, tmp / "out", cfg or ExportConfig(seed=7), run_id=run, **kwargs)
    return res, store, pid


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
