"""The fp32 model with its word-embedding table stored as int8 rows: all compute in fp32, 2.6x smaller, same vectors.

The table (250,037 x 384 floats, 384 of the export's 470 MB) is only looked up, one row per token, so storing it as
int8 with one scale per row costs no compute and moves the vectors by ~5e-6 in cosine (docs/benchmarks.md, "fp32
with an int8 word-embedding table"): well inside the 0.9999 the fp32 export itself is held to, so it is the fp32
model, the index's vectors stay valid, and the fp32 threshold stays its threshold.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.model.derived import agreement, derived_stale_reason
from assistant.model.onnx_runtime import (
    EXPORT_MARKER,
    MIN_COSINE,
    onnx_file,
    stale_reason,
)

TABLE_FILE = Path("onnx") / "model.int8-table.onnx"
TABLE_MARKER = Path("onnx") / "int8-table.json"
# The same tolerance as the fp32 export against sentence-transformers: within it the vectors count as fp32's.
MIN_TABLE_COSINE = MIN_COSINE
MIN_VOCABULARY = 10_000  # rows: a word table, not the position (512) or token-type (2) tables
_MARKER_FORMAT = 1


def table_file(model_dir: Path) -> Path:
    """Where a model folder keeps its fp32 model with the int8 word table, beside onnx/model.onnx."""
    return Path(model_dir) / TABLE_FILE


def table_stale_reason(model_dir: Path) -> str | None:
    """Why onnx/model.int8-table.onnx must not be used (missing, or made from another fp32 export), or None."""
    return derived_stale_reason(Path(model_dir), table_file(model_dir), TABLE_MARKER, marker_format=_MARKER_FORMAT,
                                size_key="table_size", min_cosine=MIN_TABLE_COSINE, made="made")


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: (int8 rows, float32 scale per row as a column); row * scale gives the row back."""
    peak = np.abs(table).max(axis=1, keepdims=True).astype(np.float32)
    scale = np.where(peak > 0, peak / 127, 1).astype(np.float32)
    rows = np.empty(table.shape, np.int8)
    for start in range(0, len(table), 1 << 15):  # chunked: the float temporaries stay small
        part = slice(start, start + (1 << 15))
        rows[part] = np.clip(np.rint(table[part] / scale[part]), -127, 127)
    return rows, scale


def _word_lookup(graph: Any, tables: dict[str, Any]) -> Any:
    """The one Gather that reads a vocabulary-sized 2-D float initializer: the word-embedding lookup."""
    from onnx import TensorProto

    found = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in tables
             and len(tables[n.input[0]].dims) == 2 and tables[n.input[0]].dims[0] >= MIN_VOCABULARY
             and tables[n.input[0]].dims[1] > 1  # rows of vectors, not one scale per row
             and tables[n.input[0]].data_type == TensorProto.FLOAT]
    if len(found) != 1:
        raise ModelError(f"the model has {len(found)} word-embedding lookups (Gather on a float table of "
                         f"{MIN_VOCABULARY}+ rows), not one")
    return found[0]


def rewrite(source: Path, target: Path) -> int:
    """Write source with its word table as int8 rows: Gather(int8) -> Cast -> Mul(Gather(scale)); returns its rows."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    tables = {t.name: t for t in graph.initializer}
    lookup = _word_lookup(graph, tables)
    name, ids, out = lookup.input[0], lookup.input[1], lookup.output[0]
    rows, scale = quantize_rows(numpy_helper.to_array(tables[name]))
    graph.initializer.remove(tables[name])
    graph.initializer.extend([numpy_helper.from_array(rows, f"{name}.int8"),
                              numpy_helper.from_array(scale, f"{name}.scale")])
    nodes = [helper.make_node("Gather", [f"{name}.int8", ids], [f"{out}.int8"], name=lookup.name, axis=0),
             helper.make_node("Cast", [f"{out}.int8"], [f"{out}.float"], name=f"{lookup.name}.cast",
                              to=TensorProto.FLOAT),
             helper.make_node("Gather", [f"{name}.scale", ids], [f"{out}.scale"], name=f"{lookup.name}.scale",
                              axis=0),
             helper.make_node("Mul", [f"{out}.float", f"{out}.scale"], [out], name=f"{lookup.name}.mul")]
    at = list(graph.node).index(lookup)
    graph.node.remove(lookup)
    for offset, node in enumerate(nodes):
        graph.node.insert(at + offset, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return int(rows.shape[0])


def verify_table(model_dir: Path, path: Path) -> float:
    """Minimum cosine between this model and the fp32 export on the export's verification batches."""
    return agreement(model_dir, path)


def export_table(model_dir: Path) -> Path:
    """Store onnx/model.onnx's word table as int8 rows once (atomically, verified against fp32); return its path."""
    model_dir = Path(model_dir)
    target = table_file(model_dir)
    if table_stale_reason(model_dir) is None:
        return target
    why = stale_reason(model_dir)
    if why is not None:
        raise ModelError(f"Cannot make the fp32 model with an int8 word table: {why}. Run `handbook setup`.")
    started = time.perf_counter()
    source = onnx_file(model_dir)
    st = source.stat()
    token = f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = target.with_name(f".{target.name}.{token}")
    marker_tmp = target.with_name(f".{TABLE_MARKER.name}.{token}")
    try:
        rows = rewrite(source, tmp)
        cosine = verify_table(model_dir, tmp)
        if cosine < MIN_TABLE_COSINE:
            raise ModelError(f"The fp32 model with an int8 word table disagrees with {source} (cosine "
                             f"{cosine:.6f} < {MIN_TABLE_COSINE}); queries use {source}.")
        record = model_dir / EXPORT_MARKER
        export = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
        marker = {"format": _MARKER_FORMAT, "fp32_size": st.st_size, "fp32_mtime_ns": st.st_mtime_ns,
                  "weights_sha256": export.get("weights_sha256"), "table_size": tmp.stat().st_size,
                  "quantization": "word-embedding table as int8, one symmetric scale per row; compute in fp32",
                  "rows": rows, "verification_cosine": round(cosine, 7),
                  "seconds": round(time.perf_counter() - started, 1)}
        marker_tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        os.replace(marker_tmp, model_dir / TABLE_MARKER)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(f"Cannot write {target}: {exc}.") from None
    except Exception as exc:  # onnx and onnxruntime raise many types; all mean "cannot rewrite"
        raise ModelError(f"Cannot store the word table of {source} as int8 ({type(exc).__name__}: {exc}).") from None
    finally:
        tmp.unlink(missing_ok=True)
        marker_tmp.unlink(missing_ok=True)
    return target
