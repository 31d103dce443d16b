"""The run-time copy of an ONNX model: graph-optimized once at set-up, its weights in a file onnxruntime memory-maps,
so a process loads it in a tenth of the time, keeps only the weights it touches, and computes the same numbers."""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError

OPT_MARKER = Path("onnx") / "optimized.json"
# Against the model it was made from, on the export's verification texts; as built the vectors are identical (the same
# graph onnxruntime makes at every load, the same kernels): onnxruntime's BERT fusion was tried, and not kept
# (docs/benchmarks.md, "The query tokenizer and the run-time model copies")
MIN_OPT_COSINE = 0.99999
_MARKER_FORMAT = 2  # 1: fp32 fused by the BERT optimizer (not kept)


def optimized_file(source: Path) -> Path:
    """Where the run-time copy of an ONNX file goes: model.onnx -> model.opt.onnx (weights in model.opt.data)."""
    return source.with_name(source.stem + ".opt.onnx")


def _data_name(source: Path) -> str:
    return source.stem + ".opt.data"


def _marker(model_dir: Path) -> dict[str, Any]:
    try:
        marker = json.loads((model_dir / OPT_MARKER).read_text(encoding="utf-8"))
        return marker if isinstance(marker, dict) and marker.get("format") == _MARKER_FORMAT else {}
    except (OSError, ValueError):
        return {}


def _onnxruntime_version() -> str:
    try:
        return metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return ""


def optimized_path(source: Path) -> Path | None:
    """The run-time copy of source if made from source as it is now, by this onnxruntime; else None (stat only)."""
    source = Path(source)
    entry = _marker(source.parent.parent).get("models", {}).get(source.name)
    target = optimized_file(source)
    try:
        st = source.stat()
        if (entry and entry["onnxruntime"] == _onnxruntime_version()
                and (st.st_size, st.st_mtime_ns) == (entry["source_size"], entry["source_mtime_ns"])
                and target.stat().st_size == entry["size"]
                and (source.parent / _data_name(source)).stat().st_size == entry["data_size"]):
            return target
    except (OSError, KeyError, TypeError):
        pass
    return None


def _save_optimized(source: Path, target: Path, data_name: str) -> None:
    """Let onnxruntime apply its portable graph optimizations once and save the graph, weights beside it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # ALL adds machine-specific ones
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", data_name)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def verify_optimized(model_dir: Path, source: Path, optimized: Path) -> float:
    """Minimum cosine between the run-time copy and its source on the export's verification batches."""
    from assistant.model.onnx_runtime import VERIFY_BATCHES, OnnxEncoder

    plain = OnnxEncoder(model_dir, onnx_path=source, optimized=False)
    fast = OnnxEncoder(model_dir, onnx_path=optimized, optimized=False)
    cosines: list[float] = []
    for batch in VERIFY_BATCHES:
        cosines.extend(np.sum(plain.encode(batch, len(batch)) * fast.encode(batch, len(batch)), axis=1).tolist())
    return float(min(cosines))


def export_optimized(model_dir: Path, source: Path) -> Path:
    """Make the run-time copy of source once (graph-optimized, weights apart, verified; atomically) and return it."""
    model_dir, source = Path(model_dir), Path(source)
    ready = optimized_path(source)
    if ready is not None:
        return ready
    target = optimized_file(source)
    started = time.perf_counter()
    st = source.stat()
    work = source.parent / f".opt-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        work.mkdir()
        _save_optimized(source, work / target.name, _data_name(source))
        cosine = verify_optimized(model_dir, source, work / target.name)
        if cosine < MIN_OPT_COSINE:
            raise ModelError(f"The optimized copy of {source} disagrees with it (cosine {cosine:.7f} < "
                             f"{MIN_OPT_COSINE}); queries use {source.name} as it is.")
        entry = {"source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns,
                 "size": (work / target.name).stat().st_size, "data_size": (work / _data_name(source)).stat().st_size,
                 "onnxruntime": _onnxruntime_version(), "verification_cosine": round(cosine, 7),
                 "seconds": round(time.perf_counter() - started, 1)}
        os.replace(work / _data_name(source), source.parent / _data_name(source))
        os.replace(work / target.name, target)
        marker = _marker(model_dir) or {"format": _MARKER_FORMAT}
        marker.setdefault("models", {})[source.name] = entry
        (work / "marker").write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(work / "marker", model_dir / OPT_MARKER)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(f"Cannot write the optimized copy of {source}: {exc}.") from None
    except Exception as exc:  # onnx and onnxruntime raise many types; all mean "not optimized", queries still run
        raise ModelError(f"Cannot optimize {source} ({type(exc).__name__}: {exc}); queries use it as it is.") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
