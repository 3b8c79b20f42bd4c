from __future__ import annotations

import builtins

import numpy as np
import pytest
from support.encoders import HashingEncoder

from embcore.errors import EmbcoreError
from embcore.mining.dense import dense_topk, encode_cached, rowwise_dot, topk_rows
from embcore.mining.types import DictEmbeddingCache


def _normalised(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_force(q: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    scores = q @ p.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("chunk_mb", [0, 1, 64])
def test_dense_topk_equals_brute_force(chunk_mb):
    rng = np.random.default_rng(1)
    q, p = _normalised(rng, 37), _normalised(rng, 10)
    top = dense_topk(q, p, 4, chunk_mb=chunk_mb)
    np.testing.assert_array_equal(top.indices, _brute_force(q, p, 4))
    np.testing.assert_allclose(top.scores, np.take_along_axis(q @ p.T, top.indices, axis=1), atol=1e-6)


def test_topk_larger_than_corpus_pads_and_forbidden_cells_are_skipped():
    scores = np.array([[0.1, 0.9, -np.inf], [0.5, 0.5, 0.2]])
    top = topk_rows(scores, 5)
    assert top.indices.tolist() == [[1, 0, -1, -1, -1], [0, 1, 2, -1, -1]]  # ties: lower index first
    assert np.isneginf(top.scores[0, 2:]).all()


def test_faiss_matches_numpy_when_installed():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    q, p = _normalised(rng, 20), _normalised(rng, 50)
    a, b = dense_topk(q, p, 7), dense_topk(q, p, 7, use_faiss=True, chunk_mb=0)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_faiss_missing_gives_an_install_hint(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("no faiss")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(EmbcoreError, match="pip install faiss-cpu"):
        dense_topk(np.ones((1, 2), np.float32), np.ones((2, 2), np.float32), 1, use_faiss=True)


def test_encode_cached_never_reencodes_and_keys_on_model_and_prompt():
    cache = DictEmbeddingCache()
    enc = HashingEncoder(dim=32)
    texts = ["alpha beta", "gamma", "alpha beta"]
    first = encode_cached(enc, texts, prompt="q: ", cache=cache)
    assert enc.encoded == 2  # the duplicate is encoded once
    again = encode_cached(enc, texts, prompt="q: ", cache=cache)
    assert enc.encoded == 2 and enc.calls == 1
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[0], first[2])
    encode_cached(enc, texts, prompt="", cache=cache)  # other prompt -> other key
    assert enc.encoded == 4
    other = HashingEncoder(dim=32, model_id="other-model")
    encode_cached(other, texts, prompt="q: ", cache=cache)
    assert other.encoded == 2
    np.testing.assert_allclose(first, enc.encode(texts, prompt="q: "))


def test_rowwise_dot_in_chunks():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((6, 4))
    ai, bi = rng.integers(0, 5, 100), rng.integers(0, 6, 100)
    np.testing.assert_allclose(rowwise_dot(a, ai, b, bi, chunk=7), (a[ai] * b[bi]).sum(1))
