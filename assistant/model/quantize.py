"""The int8 model: onnxruntime's dynamic quantization of the fp32 export, a quarter of the size, verified against it."""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path

from assistant.errors import ModelError
from assistant.model.derived import agreement, derived_stale_reason
from assistant.model.onnx_runtime import (
    EXPORT_MARKER,
    onnx_file,
    stale_reason,
)

INT8_FILE = Path("onnx") / "model.int8.onnx"
INT8_MARKER = Path("onnx") / "int8.json"
PRECISIONS = ("int8", "fp32")
# int8 rows against fp32 rows on the verification texts (0.998 and up as built; per-tensor weights gave 0.979).
MIN_INT8_COSINE = 0.99
# 2: per-channel weight scales (per-tensor ones cost 3-12 points of key facts, docs/evals.md); 3: the feed-forward
# output projections stay fp32 (their input, after GELU, has the outliers that one activation scale per batch loses)
_MARKER_FORMAT = 3


def int8_file(model_dir: Path) -> Path:
    """Where a model folder keeps its int8 export, beside onnx/model.onnx."""
    return Path(model_dir) / INT8_FILE


def int8_stale_reason(model_dir: Path) -> str | None:
    """Why onnx/model.int8.onnx must not be used (missing, or quantized from another fp32 export), or None."""
    return derived_stale_reason(Path(model_dir), int8_file(model_dir), INT8_MARKER, marker_format=_MARKER_FORMAT,
                                size_key="int8_size", min_cosine=MIN_INT8_COSINE, made="quantized")


def _narrowing_matmuls(source: Path) -> list[str]:
    """MatMul nodes whose weight maps a wider input to a narrower output: the feed-forward output projections."""
    import onnx

    model = onnx.load(str(source), load_external_data=False)
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and len(shapes.get(n.input[1], ())) == 2
            and shapes[n.input[1]][0] > shapes[n.input[1]][1]]


def verify_int8(model_dir: Path, path: Path) -> float:
    """Minimum cosine between the int8 and the fp32 ONNX model on the export's verification batches."""
    return agreement(model_dir, path)


def export_int8(model_dir: Path) -> Path:
    """Quantize onnx/model.onnx to int8 weights once (atomically, verified against fp32); return its path."""
    model_dir = Path(model_dir)
    target = int8_file(model_dir)
    if int8_stale_reason(model_dir) is None:
        return target
    why = stale_reason(model_dir)
    if why is not None:
        raise ModelError(f"Cannot make the int8 model: {why}. Run `handbook setup`.")
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelError(f"Quantizing the model needs onnxruntime's quantization tools ({exc}); "
                         "run `pip install onnx onnxruntime`, or set HANDBOOK_EMBED_PRECISION=fp32.") from None
    started = time.perf_counter()
    source = onnx_file(model_dir)
    st = source.stat()
    token = f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = target.with_name(f".{target.name}.{token}")
    marker_tmp = target.with_name(f".{INT8_MARKER.name}.{token}")
    quiet = logging.getLogger()
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint on every call
        keep = _narrowing_matmuls(source)
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=keep)
        quiet.setLevel(level)
        cosine = verify_int8(model_dir, tmp)
        if cosine < MIN_INT8_COSINE:
            raise ModelError(f"The int8 model of {model_dir} disagrees with the fp32 one (cosine {cosine:.4f} < "
                             f"{MIN_INT8_COSINE}); set HANDBOOK_EMBED_PRECISION=fp32.")
        record = model_dir / EXPORT_MARKER
        export = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
        marker = {"format": _MARKER_FORMAT, "fp32_size": st.st_size, "fp32_mtime_ns": st.st_mtime_ns,
                  "weights_sha256": export.get("weights_sha256"), "int8_size": tmp.stat().st_size,
                  "quantization": "onnxruntime quantize_dynamic, QInt8 weights, per channel",
                  "kept_fp32": len(keep),
                  "verification_cosine": round(cosine, 6), "seconds": round(time.perf_counter() - started, 1)}
        marker_tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        os.replace(marker_tmp, model_dir / INT8_MARKER)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(f"Cannot write the int8 model to {target}: {exc}.") from None
    except Exception as exc:  # onnx and onnxruntime raise many types; all mean "does not quantize"
        raise ModelError(f"Cannot quantize {source} to int8 ({type(exc).__name__}: {exc}); "
                         "set HANDBOOK_EMBED_PRECISION=fp32.") from None
    finally:
        quiet.setLevel(level)
        tmp.unlink(missing_ok=True)
        marker_tmp.unlink(missing_ok=True)
    return target
