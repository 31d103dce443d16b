"""Models made from the fp32 ONNX export (the int8 model, the int8 word table): whether one is still current, and
how closely it agrees with the export, checked the same way for each."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.model.onnx_runtime import VERIFY_BATCHES, OnnxEncoder, onnx_file, stale_reason


def agreement(model_dir: Path, path: Path) -> float:
    """Minimum cosine between the model at path and the fp32 export on the export's verification batches."""
    fp32 = OnnxEncoder(model_dir)
    other = OnnxEncoder(model_dir, onnx_path=path)
    cosines: list[float] = []
    for batch in VERIFY_BATCHES:
        cosines.extend(np.sum(fp32.encode(batch, len(batch)) * other.encode(batch, len(batch)), axis=1).tolist())
    return float(min(cosines))


def derived_stale_reason(model_dir: Path, path: Path, marker: Path, *, marker_format: int, size_key: str,
                         min_cosine: float, made: str) -> str | None:
    """Why the model at path must not be used (missing, the export stale, or made from another export), or None.

    marker (beside it) records the export's size and mtime it was made from, its own size under size_key, and
    its verification cosine; `made` names the making in the message ("quantized", "made")."""
    if not path.is_file():
        return f"{path} does not exist"
    fp32_reason = stale_reason(model_dir)
    if fp32_reason is not None:
        return fp32_reason
    try:
        record = json.loads((model_dir / marker).read_text(encoding="utf-8"))
        source = onnx_file(model_dir).stat()
        if (record.get("format") == marker_format and path.stat().st_size == record[size_key]
                and (source.st_size, source.st_mtime_ns) == (record["fp32_size"], record["fp32_mtime_ns"])
                and float(record["verification_cosine"]) >= min_cosine):
            return None
    except FileNotFoundError:
        return f"{model_dir / marker} is missing: run `handbook setup`"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return f"{path} was not {made} from {onnx_file(model_dir)}: run `handbook setup`"
