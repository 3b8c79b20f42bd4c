"""Backend selection, fallback, export location and embedding-cache keys of the fast encoders (no model)."""

from __future__ import annotations

import logging
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from embcore.errors import EmbcoreError
from embcore.models import backends
from embcore.models.backends import (
    AUTO_EXPORT_MIN_TEXTS,
    PoolingSpec,
    cache_suffix,
    choose_backend,
    default_backend,
    default_threads,
    export_dir,
    length_batches,
    model_fingerprint,
    pad_batch,
    pool,
)
from embcore.models.encoders import SentenceTransformerEncoder, load_encoder

_ROOT = Path(__file__).resolve().parents[2]

ALL = {"openvino": True, "onnx": True, "onnx-int8": True}
NONE = {"openvino": False, "onnx": False, "onnx-int8": False}


# ------------------------------------------------------------------ selection


def test_auto_picks_openvino_when_installed_and_the_job_is_long() -> None:
    assert choose_backend("auto", available=ALL, n_texts=None)[0] == "openvino"
    assert choose_backend("auto", available=ALL, n_texts=AUTO_EXPORT_MIN_TEXTS)[0] == "openvino"


def test_auto_does_not_export_for_a_small_job_but_uses_an_existing_export() -> None:
    backend, why = choose_backend("auto", available=ALL, n_texts=10, exported=False)
    assert backend == "torch" and "not worth exporting" in why
    assert choose_backend("auto", available=ALL, n_texts=10, exported=True)[0] == "openvino"


def test_missing_packages_fall_back_to_torch_with_an_install_hint() -> None:
    backend, why = choose_backend("auto", available=NONE)
    assert backend == "torch" and "not installed" in why and "pip install" in why
    for requested in ("onnx", "onnx-int8", "openvino"):
        backend, why = choose_backend(requested, available=NONE)
        assert backend == "torch" and "not installed" in why and "pip install" in why


def test_explicit_backends_are_honoured_and_torch_is_always_torch() -> None:
    for requested in ("onnx", "onnx-int8", "openvino"):
        assert choose_backend(requested, available=ALL, n_texts=3)[0] == requested
    assert choose_backend("torch", available=ALL)[0] == "torch"


def test_unknown_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EmbcoreError, match="unknown encoding backend 'cuda'.*auto, torch, openvino"):
        choose_backend("cuda")
    monkeypatch.setenv("EMBCORE_BACKEND", "fast")
    with pytest.raises(EmbcoreError, match="unknown encoding backend 'fast'"):
        default_backend()
    monkeypatch.setenv("EMBCORE_BACKEND", "Torch")
    assert default_backend() == "torch"


def test_encoder_falls_back_without_loading_anything_when_packages_are_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(backends, "package_available", lambda module: False)
    enc = SentenceTransformerEncoder(None, backend="openvino")
    with caplog.at_level(logging.WARNING, logger="embcore.models.encoders"):
        assert enc.fast_path(5000) is None
    assert enc._model is None  # nothing was loaded to decide
    assert any("not installed" in r.getMessage() and "pip install" in r.getMessage() for r in caplog.records)
    assert enc.plan(5000) == "torch"


# ------------------------------------------------------------------ cache keys


def test_int8_vectors_never_share_the_fp32_cache_key() -> None:
    assert cache_suffix("onnx-int8") != ""
    assert {cache_suffix(b) for b in ("auto", "torch", "openvino", "onnx")} == {""}
    fp32 = SentenceTransformerEncoder(None, backend="torch").model_id
    assert SentenceTransformerEncoder(None, backend="openvino").model_id == fp32
    assert SentenceTransformerEncoder(None, backend="auto").model_id == fp32
    int8 = SentenceTransformerEncoder(None, backend="onnx-int8").model_id
    assert int8 != fp32 and int8.startswith(fp32)


def test_load_encoder_caches_one_encoder_per_model_and_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBCORE_BACKEND", raising=False)
    assert load_encoder(None) is load_encoder(None, "auto")
    assert load_encoder(None, "onnx-int8") is not load_encoder(None, "auto")
    monkeypatch.setenv("EMBCORE_BACKEND", "torch")
    assert load_encoder(None).requested_backend == "torch"


def test_threads_come_from_the_environment_or_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBCORE_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("EMBCORE_THREADS", "zero")
    with pytest.raises(EmbcoreError, match="EMBCORE_THREADS"):
        default_threads()
    monkeypatch.delenv("EMBCORE_THREADS")
    import os

    assert 1 <= default_threads() <= len(os.sched_getaffinity(0))


# ------------------------------------------------------------------ where exports live


def test_export_goes_next_to_a_writable_model_folder(tmp_path: Path) -> None:
    model = tmp_path / "my-model"
    model.mkdir()
    assert export_dir(model) == model.resolve() / "embcore_export"


def test_export_of_an_installed_package_goes_to_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBCORE_CACHE_DIR", str(tmp_path / "cache"))
    inside = Path(sysconfig.get_paths()["purelib"]) / "some_model_pkg" / "model"
    out = export_dir(inside)
    assert out.parent == tmp_path / "cache" / "exports" and out.name.startswith("model-")
    assert export_dir(inside) == out  # stable
    assert export_dir(inside.parent / "other") != out


def test_fingerprint_follows_the_weights_and_ignores_the_export(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"12345")
    first = model_fingerprint(tmp_path)
    (tmp_path / "embcore_export").mkdir()
    (tmp_path / "embcore_export" / "meta.json").write_text("{}")
    assert model_fingerprint(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"123456")
    assert model_fingerprint(tmp_path) != first


# ------------------------------------------------------------------ batching and pooling maths


def test_length_batches_group_similar_lengths_longest_first() -> None:
    batches = length_batches([3, 10, 1, 7, 7, 2], 2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0], [5, 2]]


def test_pad_batch_pads_to_the_longest_row_only() -> None:
    rows = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1]}, {"input_ids": [8], "attention_mask": [1]}]
    out = pad_batch(rows, ["input_ids", "attention_mask"], pad_id=0)
    assert out["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert out["input_ids"].dtype == np.int64


def test_pooling_matches_the_definitions() -> None:
    hidden = np.array([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    mean = pool(hidden, mask, PoolingSpec("mean", normalize=False, lower_case=False, max_seq_length=8))
    assert np.allclose(mean, [[2.0, 2.0]])  # the padded token is ignored
    cls = pool(hidden, mask, PoolingSpec("cls", normalize=False, lower_case=False, max_seq_length=8))
    assert np.allclose(cls, [[1.0, 0.0]])
    mx = pool(hidden, mask, PoolingSpec("max", normalize=False, lower_case=False, max_seq_length=8))
    assert np.allclose(mx, [[3.0, 4.0]])
    unit = pool(hidden, mask, PoolingSpec("mean", normalize=True, lower_case=False, max_seq_length=8))
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0) and np.allclose(unit, [[2**-0.5, 2**-0.5]])
