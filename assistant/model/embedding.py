"""Dense embeddings for queries and passages from a local model, on onnxruntime when possible, never from a hub."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face import: nothing may reach a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # the "Loading weights" bar would crowd CLI output
# Before torch loads OpenMP: spinning worker threads made a query 28x slower on a busy 2-core machine
# (docs/benchmarks.md, "Profile of the query path"); passive waiting costs at most 1.3x when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import ModelError
from assistant.model.build import MARKER_FILE, model_ready, prepare_e5_model
from assistant.model.int8_table import export_table, table_file, table_stale_reason
from assistant.model.onnx_runtime import (
    ONNX_REQUIREMENT,
    OnnxEncoder,
    export_onnx,
    onnx_file,
    stale_reason,
    unsupported_reason,
    usable_threads,
)
from assistant.model.optimize import export_optimized
from assistant.model.quantize import export_int8, int8_file, int8_stale_reason
from assistant.model.unigram import ensure_query_tokenizer
from assistant.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from assistant.settings import Settings

QUERY_CACHE_SIZE = 512
# A batch's attention holds batch x heads x tokens^2 floats: 32 passages of 512 tokens took 400 MB a tensor, and
# ingest of long documents peaked at 1.9-2.9 GB. About 16k characters (~4k tokens) a batch bounds it
# (docs/benchmarks.md, "Ingest memory"); short texts still go 32 (or 64) at a time.
BATCH_CHARS = 16_000
_threads_set = False
_embedders: dict[str, Embedder] = {}
_embedders_lock = threading.Lock()
_export_skipped: dict[str, str] = {}  # model folder -> why its ONNX export was not built
_int8_skipped: dict[str, str] = {}  # model folder -> why its int8 model was not made
_table_skipped: dict[str, str] = {}  # model folder -> why its fp32 model with the int8 word table was not made
_optimize_skipped: dict[str, str] = {}  # ONNX file -> why its run-time copy was not made


def _use_all_cores() -> None:
    """Give torch every core we may run on, once (query latency is one forward pass); OMP_NUM_THREADS wins if set."""
    global _threads_set
    if not _threads_set:
        import torch

        torch.set_num_threads(usable_threads())
        _threads_set = True


def choose_backend(model: str | Path, requested: str = "auto") -> tuple[str, str]:
    """Pick "onnx" or "torch" for a model and say why, without importing either runtime."""
    if requested == "torch":
        return "torch", "HANDBOOK_EMBED_BACKEND=torch"
    folder = Path(model)
    why = unsupported_reason(folder) or stale_reason(folder)
    if why is None and importlib.util.find_spec("onnxruntime") is None:
        why = "onnxruntime is not installed"
    if why is None:
        return "onnx", str(onnx_file(folder))
    why = _export_skipped.get(str(folder), why)
    if requested == "onnx":
        raise ModelError(f"HANDBOOK_EMBED_BACKEND=onnx, but {why}. Run `handbook setup`, or set "
                         "HANDBOOK_EMBED_BACKEND=auto to fall back to torch.")
    return "torch", why


def choose_precision(model: str | Path, requested: str, backend: str) -> tuple[str, str]:
    """"int8" when asked for and the folder holds a verified int8 export onnxruntime can run, else "fp32"; and why."""
    if requested == "fp32":
        return "fp32", "HANDBOOK_EMBED_PRECISION=fp32"
    if backend != "onnx":
        return "fp32", "the int8 model runs on onnxruntime only"
    why = _int8_skipped.get(str(model)) or int8_stale_reason(Path(model))
    return ("fp32", why) if why else ("int8", str(int8_file(Path(model))))


def fp32_file(model_dir: Path) -> Path:
    """The fp32 model onnxruntime loads: the one with the int8 word table where its verified export exists (same
    vectors, 2.6x smaller and faster to load), else onnx/model.onnx."""
    return table_file(model_dir) if table_stale_reason(model_dir) is None else onnx_file(model_dir)


def vector_space(model: str, precision: str) -> str:
    """The name under which vectors are comparable (index, calibration): the model, plus @int8 for its int8 export."""
    return model if precision == "fp32" else f"{model}@{precision}"


def _is_e5(model: str | Path) -> bool:
    """e5 models were trained with 'query: '/'passage: ' prefixes; our own e5 build is recognised by its marker."""
    return "e5" in str(model).lower() or (Path(model) / MARKER_FILE).is_file()


def _sentence_transformer(name: str) -> tuple[Any, int]:
    """Load a model with torch (imported only here), for models or settings the ONNX path does not cover."""
    _use_all_cores()
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(name, device="cpu", local_files_only=True)
    except Exception as exc:  # sentence-transformers raises many types; all mean "cannot load"
        raise ModelError(
            f"Cannot load embedding model {name!r} offline ({type(exc).__name__}: {exc}). "
            "Use the default multilingual-e5-small or a local sentence-transformers folder.") from None
    dim = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
    if not dim:
        raise ModelError(f"Embedding model {name!r} does not report its dimension.")
    return model, int(dim)


class Embedder:
    """One loaded model that turns texts into float32, L2-normalized rows."""

    def __init__(self, model: str | Path, *, prefixes: bool | None = None, backend: str = "auto",
                 precision: str = "fp32") -> None:
        self.name: str = str(model)
        use_prefixes = _is_e5(model) if prefixes is None else prefixes
        self.query_prefix = "query: " if use_prefixes else ""
        self.passage_prefix = "passage: " if use_prefixes else ""
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.backend, self.backend_reason = choose_backend(model, backend)
        self.precision, self.precision_reason = choose_precision(model, precision, self.backend)
        self.model_file: Path | None = None  # the ONNX file in use (None on torch)
        if self.backend == "onnx":
            self.model_file = int8_file(Path(model)) if self.precision == "int8" else fp32_file(Path(model))
            self._model: Any = OnnxEncoder(Path(model), onnx_path=self.model_file)
            self.dim: int = self._model.dim
        else:
            self._model, self.dim = _sentence_transformer(self.name)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Run the model; normalize here too, so models without a Normalize module still give unit rows."""
        if self.backend == "onnx":
            return self._model.encode(texts, batch_size=batch_size)
        vectors = self._model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed questions; recent ones come from an LRU cache because users repeat and retry."""
        out = np.empty((len(texts), self.dim), np.float32)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if missing:
            unique = list(missing)
            vectors = self._encode([self.query_prefix + t for t in unique], batch_size=32)
            with self._cache_lock:
                for text, vec in zip(unique, vectors):
                    out[missing[text]] = vec
                    self._cache[text] = vec.copy()
                    self._cache.move_to_end(text)
                while len(self._cache) > QUERY_CACHE_SIZE:
                    self._cache.popitem(last=False)
        return out

    def embed_passages(self, texts: list[str], *, batch_size: int = 32,
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed passages longest-first in batches (little padding, much faster) and return them in input order."""
        out = np.empty((len(texts), self.dim), np.float32)
        for idx in _longest_first(texts, batch_size, progress):
            out[idx] = self._encode([self.passage_prefix + texts[i] for i in idx], batch_size=batch_size)
        return out


    def embed_passages_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]], *,
                                  batch_size: int = 32, progress: Callable[[int], None] | None = None
                                  ) -> tuple[np.ndarray, list[dict[tuple[int, int], np.ndarray]]]:
        """Passage vectors plus one vector per span of each text (its sentences), from the same forward pass.

        A span's vector is the mean of the passage's token states inside it ("late chunking"): the sentence read
        in its passage, at no extra model cost. Spans with no token (cut off past the model's length) and models
        that do not mean-pool are embedded on their own instead.
        """
        out = np.empty((len(texts), self.dim), np.float32)
        pooled: list[dict[tuple[int, int], np.ndarray]] = [{} for _ in texts]
        shift = len(self.passage_prefix)
        for idx in _longest_first(texts, batch_size, progress):
            vectors, tokens = self._encode_with_tokens([self.passage_prefix + texts[i] for i in idx])
            out[idx] = vectors
            for i, states in zip(idx, tokens):
                if states is not None:
                    pooled[i] = _pool_spans(states[0], states[1] - shift, spans[i])
        missing = [(i, span) for i in range(len(texts)) for span in spans[i] if span not in pooled[i]]
        if missing:
            alone = self.embed_passages([texts[i][s:e] for i, (s, e) in missing], batch_size=64)
            for (i, span), vec in zip(missing, alone):
                pooled[i][span] = vec
        return out, pooled

    def _encode_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray] | None]]:
        if self.backend == "onnx":
            return self._model.encode_with_tokens(texts)
        return _torch_encode_with_tokens(self._model, texts)


def _longest_first(texts: list[str], batch_size: int, progress: Callable[[int], None] | None
                   ) -> Iterator[list[int]]:
    """Batches of indices, longest texts first (little padding, much faster), at most batch_size texts and about
    BATCH_CHARS characters each, so batches of long passages stay small; reports progress after each."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    start = 0
    while start < len(order):
        size = min(batch_size, max(1, BATCH_CHARS // max(1, len(texts[order[start]]))))
        yield order[start:start + size]
        start += size
        if progress is not None:
            progress(min(start, len(order)))


def _torch_encode_with_tokens(model: Any, texts: list[str]
                              ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray] | None]]:
    """Unit rows plus token states and offsets in one sentence-transformers pass (None when it does not mean-pool)."""
    rows = model.encode(texts, batch_size=len(texts), output_value=None, convert_to_numpy=False,
                        show_progress_bar=False)
    vectors = np.stack([r["sentence_embedding"].float().cpu().numpy() for r in rows]).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    pooling = model[1] if len(model) > 1 else None
    mean = getattr(pooling, "pooling_mode", None) in ("mean", ["mean"]) or getattr(pooling, "pooling_mode_mean_tokens",
                                                                                  False)
    if not mean or not getattr(model.tokenizer, "is_fast", False):
        return vectors, [None] * len(texts)
    offsets = model.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                              max_length=model.max_seq_length)["offset_mapping"]
    tokens: list[tuple[np.ndarray, np.ndarray] | None] = []
    for r, o in zip(rows, offsets):
        n = int(r["attention_mask"].sum())
        tokens.append((r["token_embeddings"][:n].float().cpu().numpy(), np.asarray(o[:n], dtype=np.int64)))
    return vectors, tokens


def _pool_spans(states: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]]
                ) -> dict[tuple[int, int], np.ndarray]:
    out = {}
    real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
    for s, e in spans:
        inside = real & (offsets[:, 0] < e) & (offsets[:, 1] > s)  # a word's token starts at the space before it
        if inside.any():
            vec = states[inside].mean(axis=0)
            out[(s, e)] = (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)
    return out


def _ensure_onnx(model_dir: Path) -> None:
    """Export the default model for onnxruntime once; without the onnx package, queries stay on torch (no crash)."""
    if importlib.util.find_spec("onnx") is None and stale_reason(model_dir) is not None:
        _export_skipped[str(model_dir)] = (f"the onnx package is missing, so {onnx_file(model_dir)} was not built "
                                           f"(`pip install {ONNX_REQUIREMENT}`, then `handbook setup`)")
        return
    export_onnx(model_dir)  # a quick marker check once it exists
    _export_skipped.pop(str(model_dir), None)


def _ensure_int8(model_dir: Path, wanted: bool) -> None:
    """Quantize the fp32 export once, whichever precision is chosen (switching is then only a re-embed); a failure
    stops set-up only when int8 is the precision asked for."""
    if stale_reason(model_dir) is not None:
        return
    try:
        export_int8(model_dir)  # a quick marker check once it exists
        _int8_skipped.pop(str(model_dir), None)
    except ModelError as exc:
        _int8_skipped[str(model_dir)] = str(exc)
        if wanted:
            raise


def _ensure_table(model_dir: Path) -> None:
    """Store the fp32 export's word table as int8 once; if that fails, queries keep onnx/model.onnx (no crash)."""
    if stale_reason(model_dir) is not None:
        return
    try:
        export_table(model_dir)  # a quick marker check once it exists
        _table_skipped.pop(str(model_dir), None)
    except ModelError as exc:
        _table_skipped[str(model_dir)] = str(exc)


def _ensure_optimized(model_dir: Path) -> None:
    """Make the run-time copies of the models the fp32 and int8 paths load, once; one that fails leaves queries on
    the plain file."""
    for source, why in ((fp32_file(model_dir), stale_reason(model_dir)),
                        (int8_file(model_dir), int8_stale_reason(model_dir))):
        if why is None:
            try:
                export_optimized(model_dir, source)  # a quick marker check once it exists
                _optimize_skipped.pop(str(source), None)
            except ModelError as exc:
                _optimize_skipped[str(source)] = str(exc)


def prepare_model(settings: Settings) -> str | Path:
    """Set-up work, for `handbook setup` and `handbook ingest`: build the default model and export it (once)."""
    if settings.embed_model != DEFAULT_MODEL:
        # a model given by name or path is used as it is: its onnx/model.onnx only if present
        return settings.embed_model
    path = prepare_e5_model(settings.models_dir / DEFAULT_MODEL)  # a quick marker check once it exists
    if settings.embed_backend != "torch":
        _ensure_onnx(path)
        _ensure_table(path)
        _ensure_int8(path, settings.embed_precision == "int8")
        _ensure_optimized(path)
        ensure_query_tokenizer(path)  # so no question writes it
    return path


def model_path(settings: Settings) -> str | Path:
    """Where the configured model is, without building anything: a question never does set-up work."""
    if settings.embed_model != DEFAULT_MODEL:
        return settings.embed_model
    path = settings.models_dir / DEFAULT_MODEL
    if not model_ready(path):
        raise ModelError(f"The embedding model is not set up in {path}: run `handbook setup`.")
    return path


def embedding_precision(settings: Settings) -> str:
    """The precision these settings embed with: int8 only where its verified export exists (stat checks only)."""
    resolved = model_path(settings)
    backend = choose_backend(resolved, settings.embed_backend)[0]
    return choose_precision(resolved, settings.embed_precision, backend)[0]


def load_embedder(settings: Settings, precision: str | None = None) -> Embedder:
    """Return the process-wide Embedder for the configured model, backend and precision (or the one given, which an
    index embedded with the other precision needs), loading it once."""
    precision = precision or settings.embed_precision
    with _embedders_lock:  # held while loading so concurrent first calls do the work once
        resolved = model_path(settings)
        key = f"{resolved}\n{settings.embed_backend}\n{precision}"
        if key not in _embedders:
            _embedders[key] = Embedder(resolved, backend=settings.embed_backend, precision=precision)
        return _embedders[key]
