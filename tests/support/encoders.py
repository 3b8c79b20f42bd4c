"""A fake encoder for unit tests: deterministic, no model to load (not shipped with embcore)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from embcore.progress import ProgressFn, report

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Deterministic fake encoder for unit tests: hashed bag of words (and CJK characters).

    Texts sharing words get a high cosine similarity, unrelated texts a low one, which is
    enough to test mining, caching and filtering without loading a neural model.
    """

    def __init__(self, dim: int = 64, model_id: str = "fake-hashing") -> None:
        self.dim = dim
        self.model_id = model_id
        self.calls = 0
        self.encoded = 0

    def encode(
        self,
        texts: Sequence[str],
        *,
        prompt: str | None = None,
        batch_size: int = 64,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            full = (prompt or "") + text
            tokens = _TOKEN_RE.findall(full.lower())
            tokens += [c for c in full if "\u4e00" <= c <= "\u9fff"]
            for tok in tokens or ["<empty>"]:
                h = int.from_bytes(hashlib.md5(tok.encode()).digest()[:8], "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm > 0 else out[i]
        report(progress, "encode", len(texts), len(texts))
        return out
