"""The run-time copies of the ONNX models with the real model: made and verified once, the same vectors as the files
they come from, used when current, ignored when stale or damaged, refused when they disagree, made by set-up."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from linked import linked_copy

from assistant.errors import ModelError
from assistant.model import optimize
from assistant.model.embedding import fp32_file, prepare_model
from assistant.model.onnx_runtime import VERIFY_BATCHES, OnnxEncoder
from assistant.model.optimize import (
    MIN_OPT_COSINE,
    OPT_MARKER,
    export_optimized,
    optimized_file,
    optimized_path,
)
from assistant.model.quantize import int8_file
from assistant.settings import DEFAULT_MODEL, Settings

TEXTS = ["query: Hvor mange feriedage har jeg ret til?", "passage: Sygdom meldes til lederen inden kl. 9.",
         "query: ﬁ 😊 Ｆｕｌｌ", "query: x"]


def test_copies_are_made_once_and_verified(onnx_model_dir: Path) -> None:
    marker = json.loads((onnx_model_dir / OPT_MARKER).read_text())["models"]
    for source in (fp32_file(onnx_model_dir), int8_file(onnx_model_dir)):
        path = optimized_path(source)
        assert path == optimized_file(source) and marker[source.name]["verification_cosine"] >= MIN_OPT_COSINE
        assert (source.parent / (source.stem + ".opt.data")).stat().st_size > 100_000_000  # the weights, mapped
        before = path.stat().st_mtime_ns
        started = time.perf_counter()
        assert export_optimized(onnx_model_dir, source) == path
        assert time.perf_counter() - started < 2.0 and path.stat().st_mtime_ns == before


@pytest.mark.parametrize("source", [fp32_file, int8_file])
def test_the_encoder_runs_the_copy_with_the_same_vectors(onnx_model_dir: Path, source) -> None:
    fast = OnnxEncoder(onnx_model_dir, onnx_path=source(onnx_model_dir))
    plain = OnnxEncoder(onnx_model_dir, onnx_path=source(onnx_model_dir), optimized=False)
    assert fast.onnx_path == optimized_file(source(onnx_model_dir)) and plain.onnx_path == source(onnx_model_dir)
    for batch in [TEXTS, *VERIFY_BATCHES]:
        a, b = fast.encode(batch, len(batch)), plain.encode(batch, len(batch))
        assert np.array_equal(a, b), "the graph onnxruntime makes at every load, made once: the same numbers"


def test_stale_or_damaged_copies_are_not_used(tmp_path: Path, onnx_model_dir: Path) -> None:
    folder = linked_copy(onnx_model_dir, tmp_path / "model", skip=())
    assert optimized_path(fp32_file(folder)) is not None
    marker = json.loads((folder / OPT_MARKER).read_text())
    marker["models"][fp32_file(folder).name]["onnxruntime"] = "0.0.1"  # made by another onnxruntime
    (folder / OPT_MARKER).unlink()
    (folder / OPT_MARKER).write_text(json.dumps(marker))
    assert optimized_path(fp32_file(folder)) is None
    assert OnnxEncoder(folder, onnx_path=fp32_file(folder)).onnx_path == fp32_file(folder)
    marker["models"][fp32_file(folder).name]["onnxruntime"] = optimize._onnxruntime_version()
    (folder / OPT_MARKER).write_text(json.dumps(marker))
    graph = optimized_file(fp32_file(folder))
    size = graph.stat().st_size
    graph.unlink()
    graph.write_bytes(b"\0" * size)  # the marker's size, unreadable content: loads the plain file instead
    assert optimized_path(fp32_file(folder)) == graph
    encoder = OnnxEncoder(folder, onnx_path=fp32_file(folder))
    assert encoder.onnx_path == fp32_file(folder) and encoder.encode(TEXTS[:1]).shape == (1, 384)


def test_a_copy_that_disagrees_is_refused_and_nothing_is_left(tmp_path: Path, onnx_model_dir: Path,
                                                              monkeypatch) -> None:
    folder = linked_copy(onnx_model_dir, tmp_path / "model", skip=(str(OPT_MARKER),))
    monkeypatch.setattr(optimize, "verify_optimized", lambda model_dir, source, path: 0.5)
    with pytest.raises(ModelError, match=r"cosine 0\.5000000 < 0\.99999"):
        export_optimized(folder, int8_file(folder))
    assert not (folder / OPT_MARKER).exists() and not [p for p in (folder / "onnx").iterdir() if p.name.startswith(".")]
    assert optimized_path(int8_file(folder)) is None


def test_setup_makes_them(tmp_path: Path, onnx_model_dir: Path) -> None:
    made = [f"onnx/{name}.{ext}" for name in ("model.int8-table.opt", "model.int8.opt") for ext in ("onnx", "data")]
    linked_copy(onnx_model_dir, tmp_path / "models" / DEFAULT_MODEL, skip=(*made, str(OPT_MARKER)))
    path = Path(prepare_model(Settings(home=tmp_path)))
    assert optimized_path(fp32_file(path)) is not None and optimized_path(int8_file(path)) is not None
    assert not optimized_file(fp32_file(path)).is_symlink(), "made here, not linked from the fixture"
