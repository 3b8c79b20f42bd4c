"""The fast CPU backends against fp32 PyTorch with the real bundled model (integration)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest

from embcore.models import backends
from embcore.models.backends import backend_available, export_dir, has_current_export
from embcore.models.encoders import SentenceTransformerEncoder, default_model_path

_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

SAMPLE = _ROOT / "embcore" / "data" / "sample_qa.csv"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Four dozen real texts of mixed length: questions and passages of the bundled sample."""
    with SAMPLE.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = list(dict.fromkeys([r["question"] for r in rows[:24]] + [r["context"] for r in rows]))[:48]
    assert len(out) == 48
    return out


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private export cache for this module (the bundled model sits in site-packages)."""
    path = tmp_path_factory.mktemp("embcore-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBCORE_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    return SentenceTransformerEncoder(None, backend="torch").encode(texts, batch_size=16)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.skipif(not backend_available("openvino"), reason="openvino / onnx not installed")
def test_openvino_agrees_with_fp32_pytorch_per_text(
    texts: list[str], reference: np.ndarray, cache_dir: Path
) -> None:
    enc = SentenceTransformerEncoder(None, backend="openvino")
    vecs = enc.encode(texts, batch_size=16)
    assert enc.backend_used == "openvino"
    cos = _cosines(vecs, reference)
    assert cos.min() >= 0.999, cos.min()  # the tolerance that lets it share the fp32 cache key
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs.dtype == np.float32 and vecs.shape == reference.shape
    # the export is cached where the package cannot be polluted, and reused by the next encoder
    where = export_dir(default_model_path())
    assert where.is_relative_to(cache_dir) and has_current_export(default_model_path())
    stamp = (where / "model.onnx").stat().st_mtime_ns
    again = SentenceTransformerEncoder(None, backend="auto")
    assert again.plan(10) == "openvino"  # an existing export is used even for a small job
    assert np.allclose(again.encode(texts[:5]), vecs[:5], atol=1e-5)
    assert (where / "model.onnx").stat().st_mtime_ns == stamp


@pytest.mark.skipif(not backend_available("openvino"), reason="openvino / onnx not installed")
def test_prompts_and_order_are_kept(texts: list[str], cache_dir: Path) -> None:
    torch_enc = SentenceTransformerEncoder(None, backend="torch")
    fast = SentenceTransformerEncoder(None, backend="openvino")
    sub = texts[::-1][:12]
    a = fast.encode(sub, prompt="query: ", batch_size=4)
    b = torch_enc.encode(sub, prompt="query: ", batch_size=4)
    assert _cosines(a, b).min() >= 0.999
    assert fast.encode([]).shape == (0, 384)


@pytest.mark.skipif(not backend_available("onnx"), reason="onnxruntime not installed")
def test_onnx_runtime_fp32_and_int8(texts: list[str], reference: np.ndarray, cache_dir: Path) -> None:
    fp32 = SentenceTransformerEncoder(None, backend="onnx")
    cos = _cosines(fp32.encode(texts), reference)
    assert fp32.backend_used == "onnx" and cos.min() >= 0.9999
    int8 = SentenceTransformerEncoder(None, backend="onnx-int8")
    cos8 = _cosines(int8.encode(texts), reference)
    assert int8.backend_used == "onnx-int8"
    assert cos8.min() >= 0.95 and cos8.mean() >= 0.98  # close, but not within the shared-cache tolerance
    assert int8.model_id != fp32.model_id


def test_a_model_the_fast_path_cannot_run_falls_back_to_pytorch(
    texts: list[str],
    reference: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    cache_dir: Path,
) -> None:
    monkeypatch.setattr(backends, "pooling_spec", lambda model: (None, "modules ['Transformer', 'Dense']"))
    enc = SentenceTransformerEncoder(None, backend="openvino" if backend_available("openvino") else "auto")
    with caplog.at_level(logging.WARNING):
        vecs = enc.encode(texts[:8])
    assert enc.backend_used == "torch"
    assert _cosines(vecs, reference[:8]).min() >= 0.99999
    if backend_available("openvino"):
        assert any("Dense" in r.getMessage() and "PyTorch" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not backend_available("openvino"), reason="openvino / onnx not installed")
def test_openvino_forced_to_f32_matches_fp32_closely(
    texts: list[str], reference: np.ndarray, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBCORE_OPENVINO_PRECISION", "f32")
    enc = SentenceTransformerEncoder(None, backend="openvino")
    vecs = enc.encode(texts)
    assert enc._fast is not None and enc._fast.runner.precision == "f32"
    assert _cosines(vecs, reference).min() >= 0.99999
