"""Fast CPU inference backends for sentence-transformers bi-encoders (OpenVINO, ONNX Runtime).

The plain PyTorch path of sentence-transformers stays the reference and the fallback. A fast
backend runs the same transformer, exported once from the local model folder to ONNX (offline,
with PyTorch's exporter) and cached; pooling and normalisation are done in numpy exactly as the
model's own modules do them. Texts are tokenised once, sorted by token count and cut into
batches padded only to their own longest text.

Backends (measured on financial-qa-10K contexts, all-MiniLM-L6-v2, 2 CPU threads; see
``benchmarks/bench_cpu_speed.py``):

- ``openvino``: OpenVINO on the exported graph. On CPUs with native bf16 (AMX / AVX512-BF16)
  OpenVINO computes in bf16 by default: about 4x sentence-transformers' speed with a per-text
  cosine to fp32 >= 0.9999; elsewhere it computes in f32 (about 1.3x). ``auto`` picks it.
- ``onnx``: ONNX Runtime, fp32, graph optimisations on: no faster than PyTorch here (0.9x);
  kept for machines where it is.
- ``onnx-int8``: ONNX Runtime with dynamically quantised int8 weights: 1.5x, but vectors move
  (cosine to fp32 0.98-0.999), so its vectors get their own cache key (see :func:`cache_suffix`).
- ``torch``: plain sentence-transformers.

Sharing the embedding cache: vectors of a backend whose per-text cosine to the fp32 PyTorch
vectors is at least :data:`SHARED_CACHE_MIN_COSINE` are interchangeable for mining (their top-50
candidates agree >= 0.99), so they share the fp32 cache key; int8 vectors do not (an int8
vector must not be served where an fp32 one was asked for, nor the other way round).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sysconfig
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from embcore.errors import EmbcoreError

log = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "openvino", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(Backend)
BACKEND_ENV = "EMBCORE_BACKEND"
"""Environment variable that sets the default backend (``auto`` when unset)."""
THREADS_ENV = "EMBCORE_THREADS"
"""Environment variable that sets the number of inference / training threads."""
OPENVINO_PRECISION_ENV = "EMBCORE_OPENVINO_PRECISION"
"""Environment variable: force OpenVINO's inference precision (``f32`` or ``bf16``; default: OpenVINO's choice,
bf16 on CPUs with native bf16)."""
CACHE_ENV = "EMBCORE_CACHE_DIR"
"""Environment variable: where exported models go when the model folder cannot take them."""

SHARED_CACHE_MIN_COSINE = 0.999
"""Backends whose per-text cosine to fp32 PyTorch is at least this share its embedding cache key."""
AUTO_EXPORT_MIN_TEXTS = 1000
"""``auto`` exports a model that has no cached export only for jobs of at least this many texts
(the one-off export takes ~10-20 s, which a small job would not win back)."""
EXPORT_VERSION = 1
"""Bumped when the export format changes: older exports are then redone."""

_PACKAGES: dict[str, tuple[str, ...]] = {
    "openvino": ("openvino", "onnx"),
    "onnx": ("onnxruntime", "onnx"),
    "onnx-int8": ("onnxruntime", "onnx"),
}
_INSTALL_HINTS = {
    "openvino": "pip install openvino onnx",
    "onnx": "pip install 'embcore[onnx]'",
    "onnx-int8": "pip install 'embcore[onnx]'",
}
_EXPORT_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------


def validate_backend(name: str) -> str:
    """Return ``name`` if it is a known backend; raise :class:`EmbcoreError` naming the choices."""
    if name not in BACKENDS:
        raise EmbcoreError(f"unknown encoding backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return name


def default_backend() -> str:
    """The backend asked for by ``$EMBCORE_BACKEND``, else ``auto``."""
    return validate_backend(os.environ.get(BACKEND_ENV, "").strip().lower() or "auto")


def package_available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def backend_available(backend: str) -> bool:
    """Whether the packages a backend needs are installed (``torch`` and ``auto`` always are)."""
    return all(package_available(m) for m in _PACKAGES.get(backend, ()))


def choose_backend(
    requested: str,
    *,
    available: dict[str, bool] | None = None,
    exported: bool = False,
    n_texts: int | None = None,
    min_texts: int = AUTO_EXPORT_MIN_TEXTS,
) -> tuple[str, str]:
    """Pick the backend that will run, and say why.

    Args:
        requested: one of :data:`BACKENDS`.
        available: ``{backend: installed}``; default: what this environment has.
        exported: whether the model already has a cached export.
        n_texts: texts about to be encoded (``None`` = unknown: a long job is assumed).
        min_texts: ``auto`` exports a model without a cached export only for this many texts or more.

    Returns:
        ``(backend, reason)``: ``backend`` is never ``auto``; ``reason`` is a short log line.
    """
    validate_backend(requested)
    avail = available if available is not None else {b: backend_available(b) for b in BACKENDS}
    if requested == "torch":
        return "torch", "PyTorch backend requested"
    if requested == "auto":
        if not avail.get("openvino", False):
            return (
                "torch",
                f"OpenVINO is not installed: encoding with PyTorch ({_INSTALL_HINTS['openvino']} for ~1.3-4x)",
            )
        if not exported and n_texts is not None and n_texts < min_texts:
            return "torch", f"{n_texts} texts: not worth exporting the model (done from {min_texts} texts on)"
        return "openvino", "fastest measured CPU backend"
    if not avail.get(requested, False):
        need = " + ".join(_PACKAGES[requested])
        return (
            "torch",
            f"backend {requested!r} needs {need}, not installed ({_INSTALL_HINTS[requested]}): using PyTorch",
        )
    return requested, f"backend {requested!r} requested"


def cache_suffix(backend: str) -> str:
    """Suffix of the embedding-cache model id for vectors of ``backend``.

    ``""`` for backends whose vectors stay within :data:`SHARED_CACHE_MIN_COSINE` of fp32
    PyTorch (``torch``, ``openvino``, ``onnx`` and ``auto``, which only ever picks one of those);
    ``"#int8"`` for ``onnx-int8``, whose vectors are further away.
    """
    validate_backend(backend)
    return "#int8" if backend == "onnx-int8" else ""


def default_threads() -> int:
    """Threads for inference and training: ``$EMBCORE_THREADS``, else the physical cores this
    process may run on (hyper-threads add little to dense matrix work and contend for the FPU)."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError as exc:
            raise EmbcoreError(f"${THREADS_ENV} must be a positive integer, got {env!r}") from exc
        if value < 1:
            raise EmbcoreError(f"${THREADS_ENV} must be a positive integer, got {env!r}")
        return value
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        usable = os.cpu_count() or 1
    physical = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil is optional
        physical = None
    return max(1, min(usable, physical or usable))


def set_torch_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads deliberately (``None`` = :func:`default_threads`); return it."""
    import torch

    n = threads or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# --------------------------------------------------------------------------------------------
# Where exports live
# --------------------------------------------------------------------------------------------


def _installed_package_dirs() -> list[Path]:
    dirs = set()
    for key in ("purelib", "platlib"):
        try:
            dirs.add(Path(sysconfig.get_paths()[key]).resolve())
        except (KeyError, OSError):
            pass
    return sorted(dirs)


def user_cache_dir() -> Path:
    """``$EMBCORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/embcore`` or ``~/.cache/embcore``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embcore"


def model_fingerprint(model_path: str | Path) -> str:
    """A hash of the model folder's weights and configs (name, size, mtime): a changed model re-exports."""
    root = Path(model_path)
    h = hashlib.sha256(f"v{EXPORT_VERSION}".encode())
    for p in sorted(root.rglob("*")):
        if (
            p.is_file()
            and p.suffix in (".safetensors", ".bin", ".json", ".txt", ".model")
            and "embcore_export" not in p.parts
        ):
            st = p.stat()
            h.update(f"{p.relative_to(root).as_posix()}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def export_dir(model_path: str | Path) -> Path:
    """Where the exports of ``model_path`` are cached.

    Next to the model (``MODEL/embcore_export``) when the folder is writable and not inside an
    installed package (site-packages: a reinstall would strand the files); else in the user
    cache (:func:`user_cache_dir` ``/exports/NAME-HASH``).
    """
    root = Path(model_path).resolve()
    inside_package = any(root.is_relative_to(d) for d in _installed_package_dirs())
    if not inside_package and os.access(root, os.W_OK):
        return root / "embcore_export"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return user_cache_dir() / "exports" / f"{root.name}-{digest}"


# --------------------------------------------------------------------------------------------
# What can be exported
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolingSpec:
    """How token vectors become the sentence vector (mirrors the model's own modules).

    Attributes:
        mode: "mean", "cls" or "max".
        normalize: whether the model ends with a Normalize module.
        lower_case: whether the Transformer module lower-cases its input.
        max_seq_length: truncation length in tokens.
    """

    mode: str
    normalize: bool
    lower_case: bool
    max_seq_length: int


def pooling_spec(model: Any) -> tuple[PoolingSpec | None, str]:
    """The :class:`PoolingSpec` of a loaded ``SentenceTransformer``, or ``(None, why not)``.

    Only Transformer -> Pooling(mean | cls | max, prompt included) [-> Normalize] models take the
    fast path; anything else (Dense layers, other poolings, non-text modules) stays on PyTorch.
    """
    mods = list(model)
    names = [type(m).__name__ for m in mods]
    if len(mods) < 2 or names[0] != "Transformer" or names[1] != "Pooling":
        return None, f"modules {names} (the fast path handles Transformer -> Pooling [-> Normalize])"
    if any(n != "Normalize" for n in names[2:]):
        return None, f"modules {names} (the fast path handles Transformer -> Pooling [-> Normalize])"
    cfg = mods[1].get_config_dict()
    mode = cfg.get("pooling_mode")
    if mode not in ("mean", "cls", "max"):
        return None, f"pooling mode {mode!r} (the fast path handles mean, cls and max)"
    if not cfg.get("include_prompt", True):
        return None, "pooling excludes prompt tokens"
    auto = getattr(mods[0], "auto_model", None)
    if auto is None or not hasattr(auto, "config"):
        return None, "no Hugging Face transformer inside"
    return (
        PoolingSpec(
            mode=str(mode),
            normalize=len(names) > 2,
            lower_case=bool(getattr(mods[0], "do_lower_case", False)),
            max_seq_length=int(model.max_seq_length or 512),
        ),
        "",
    )


def pool(hidden: np.ndarray, mask: np.ndarray, spec: PoolingSpec) -> np.ndarray:
    """Sentence vectors from token vectors ``hidden`` (b, s, d) and ``mask`` (b, s), float32."""
    hidden = hidden.astype(np.float32, copy=False)
    if spec.mode == "cls":
        out = hidden[:, 0]
    elif spec.mode == "max":
        out = np.where(mask[..., None] > 0, hidden, -1e9).max(axis=1)
    else:
        m = mask[..., None].astype(np.float32)
        out = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    if spec.normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(out, dtype=np.float32)


def pad_batch(
    rows: Sequence[dict[str, list[int]]], names: Sequence[str], pad_id: int
) -> dict[str, np.ndarray]:
    """Pad token rows to the longest one in the batch (dynamic padding) as int64 arrays."""
    width = max(len(r["input_ids"]) for r in rows)
    out = {}
    for name in names:
        fill = pad_id if name == "input_ids" else 0
        arr = np.full((len(rows), width), fill, dtype=np.int64)
        for i, r in enumerate(rows):
            vals = r[name]
            arr[i, : len(vals)] = vals
        out[name] = arr
    return out


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (longest first), so padding stays small."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), max(1, batch_size))]


# --------------------------------------------------------------------------------------------
# Export and runtimes
# --------------------------------------------------------------------------------------------


def input_names(model: Any) -> list[str]:
    """Tokenizer outputs the transformer takes (input_ids, attention_mask[, token_type_ids])."""
    probe = model.tokenizer(["a"], truncation=True)
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in probe]


def export_onnx(model: Any, out_dir: Path, fingerprint: str) -> Path:
    """Export the transformer of a loaded ``SentenceTransformer`` to ``out_dir/model.onnx`` (cached).

    Eager attention is exported (ONNX Runtime and OpenVINO fuse it better than the SDPA graph);
    a ``meta.json`` with the model's fingerprint marks a complete export.
    """
    import torch

    onnx_path = out_dir / "model.onnx"
    meta_path = out_dir / "meta.json"
    with _EXPORT_LOCK:
        if _export_is_current(out_dir, fingerprint):
            return onnx_path
        out_dir.mkdir(parents=True, exist_ok=True)
        auto = model[0].auto_model
        names = input_names(model)
        previous = getattr(auto.config, "_attn_implementation", None)
        t0 = time.perf_counter()

        class _Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *args: Any) -> Any:
                return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

        try:
            if previous not in (None, "eager") and hasattr(auto, "set_attn_implementation"):
                auto.set_attn_implementation("eager")
            was_training = auto.training
            auto.eval()
            probe = model.tokenizer(
                ["an example", "a second, longer example text"], padding=True, return_tensors="pt"
            )
            args = tuple(probe[n] for n in names)
            tmp = out_dir / "model.onnx.tmp"
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer and deprecation chatter, not actionable for a user
                torch.onnx.export(
                    _Wrapper(auto),
                    args,
                    str(tmp),
                    dynamo=False,
                    input_names=names,
                    output_names=["last_hidden_state"],
                    dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
                    opset_version=17,
                )
            tmp.replace(onnx_path)
            if was_training:
                auto.train()
        finally:
            if previous not in (None, "eager") and hasattr(auto, "set_attn_implementation"):
                auto.set_attn_implementation(previous)
        for stale in out_dir.glob("model_int8.onnx"):
            stale.unlink()
        meta = {"fingerprint": fingerprint, "version": EXPORT_VERSION, "inputs": names}
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        log.info(
            "exported %s to ONNX in %.1fs (%s)", type(auto).__name__, time.perf_counter() - t0, onnx_path
        )
        return onnx_path


def _export_is_current(out_dir: Path, fingerprint: str) -> bool:
    meta_path = out_dir / "meta.json"
    if not (out_dir / "model.onnx").is_file() or not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("fingerprint") == fingerprint and meta.get("version") == EXPORT_VERSION


def has_current_export(model_path: str | Path) -> bool:
    """Whether ``model_path`` has an up-to-date cached ONNX export."""
    if not Path(model_path).is_dir():
        return False
    return _export_is_current(export_dir(model_path), model_fingerprint(model_path))


def quantize_int8(onnx_path: Path) -> Path:
    """Dynamically quantised (int8 weights, per channel) copy of an exported model (cached)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = onnx_path.with_name("model_int8.onnx")
    with _EXPORT_LOCK:
        if not out.is_file() or out.stat().st_mtime < onnx_path.stat().st_mtime:
            tmp = onnx_path.with_name("model_int8.onnx.tmp")
            root = logging.getLogger()
            level = root.level
            root.setLevel(max(level, logging.WARNING))  # the quantizer logs every tensor on the root logger
            try:
                quantize_dynamic(
                    str(onnx_path),
                    str(tmp),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            finally:
                root.setLevel(level)
            tmp.replace(out)
    return out


class Runner:
    """Runs the exported transformer: ``runner(inputs) -> last_hidden_state`` (b, s, d)."""

    backend: str = ""
    precision: str = "f32"

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class OpenVinoRunner(Runner):
    """OpenVINO on the CPU; compiled blobs are cached next to the export (fast later starts)."""

    backend = "openvino"

    def __init__(self, onnx_path: Path, threads: int) -> None:
        import openvino as ov

        core = ov.Core()
        core.set_property({"CACHE_DIR": str(onnx_path.parent / "openvino_cache")})
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        forced = os.environ.get(OPENVINO_PRECISION_ENV, "").strip().lower()
        if forced:
            if forced not in ("f32", "bf16"):
                raise EmbcoreError(f"${OPENVINO_PRECISION_ENV} must be f32 or bf16, got {forced!r}")
            config["INFERENCE_PRECISION_HINT"] = forced
        self._compiled = core.compile_model(str(onnx_path), "CPU", config)
        self._names = [p.get_any_name() for p in self._compiled.inputs]
        self._request = self._compiled.create_infer_request()
        self._output = self._compiled.output(0)
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = str(hint.get_type_name() if hasattr(hint, "get_type_name") else hint)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        result = self._request.infer({n: inputs[n] for n in self._names})
        return np.asarray(result[self._output])


class OnnxRuntimeRunner(Runner):
    """ONNX Runtime on the CPU with all graph optimisations and a fixed number of threads."""

    def __init__(self, onnx_path: Path, threads: int, int8: bool = False) -> None:
        import onnxruntime as ort

        path = quantize_int8(onnx_path) if int8 else onnx_path
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._names = [i.name for i in self._session.get_inputs()]
        self.backend = "onnx-int8" if int8 else "onnx"
        self.precision = "int8" if int8 else "f32"

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self._session.run(None, {n: inputs[n] for n in self._names})[0]


def make_runner(backend: str, onnx_path: Path, threads: int) -> Runner:
    """The runtime for ``backend`` (``openvino``, ``onnx`` or ``onnx-int8``)."""
    if backend == "openvino":
        return OpenVinoRunner(onnx_path, threads)
    if backend in ("onnx", "onnx-int8"):
        return OnnxRuntimeRunner(onnx_path, threads, int8=backend == "onnx-int8")
    raise EmbcoreError(f"no fast runtime for backend {backend!r}")


class FastPath:
    """Tokenise, length-sort, run a :class:`Runner` batch by batch and pool: a model's fast encoder."""

    def __init__(self, model: Any, spec: PoolingSpec, runner: Runner) -> None:
        self.tokenizer = model.tokenizer
        self.spec = spec
        self.runner = runner
        self.names = input_names(model)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.dim = int(model.get_embedding_dimension() or 0)
        self._lock = threading.Lock()

    def tokenize(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        """Token ids (truncated, unpadded) of ``texts``, one dict per text."""
        if self.spec.lower_case:
            texts = [t.lower() for t in texts]
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.spec.max_seq_length, padding=False)
        return [{n: enc[n][i] for n in self.names} for i in range(len(texts))]

    def encode(self, texts: Sequence[str], batch_size: int, on_batch: Any = None) -> np.ndarray:
        """(n, dim) float32 sentence vectors; ``on_batch(done)`` is called after every batch."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        rows = self.tokenize(texts)
        done = 0
        with self._lock:  # an OpenVINO infer request serves one caller at a time
            for idx in length_batches([len(r["input_ids"]) for r in rows], batch_size):
                batch = pad_batch([rows[i] for i in idx], self.names, self.pad_id)
                hidden = self.runner(batch)
                out[idx] = pool(hidden, batch["attention_mask"], self.spec)
                done += len(idx)
                if on_batch is not None:
                    on_batch(done)
        return out


def build_fast_path(model: Any, model_path: str, backend: str, threads: int) -> tuple[FastPath | None, str]:
    """Export (or reuse the export of) ``model`` and start ``backend``'s runtime.

    Returns:
        ``(fast_path, "")`` or ``(None, why)`` when the model or the environment cannot take the
        fast path; the caller then encodes with PyTorch.
    """
    spec, why = pooling_spec(model)
    if spec is None:
        return None, why
    if not model_path or not Path(model_path).is_dir():
        return None, "the model is not a local folder (export needs its files)"
    try:
        onnx_path = export_onnx(model, export_dir(model_path), model_fingerprint(model_path))
        runner = make_runner(backend, onnx_path, threads)
    except Exception as exc:  # noqa: BLE001 - any export/runtime failure falls back to PyTorch
        log.warning(
            "fast %s backend unavailable for %s (%s: %s): using PyTorch",
            backend,
            model_path,
            type(exc).__name__,
            exc,
        )
        return None, f"{type(exc).__name__}: {exc}"
    return FastPath(model, spec, runner), ""


def describe_environment() -> dict[str, Any]:
    """Backends installed (their versions) and the threads used, for reports."""
    from importlib.metadata import PackageNotFoundError, version

    info: dict[str, Any] = {"threads": default_threads()}
    for dist in ("openvino", "onnxruntime"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    return info
