"""A learned linear map of the question vector, used only to rank the sentences of the retrieved passages.

A question and the sentence that answers it are often less alike than a sentence that restates the question's
topic; a map fitted on the dev sets' labelled sentences (does the sentence hold a key fact?) and held close to the
identity moves the question toward what answers look like (docs/evals.md, "Query adapter"). It belongs to the
model it was fitted for: another model gets none. Fitted by `python -m evals.train_adapter`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.model.calibration import model_name

ADAPTER_FILE = Path(__file__).resolve().with_name("adapter.npz")


@lru_cache(maxsize=4)
def _matrices(path: Path, mtime_ns: int) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name].astype(np.float32) for name in data.files}


def adapter_for(model: str, path: Path = ADAPTER_FILE) -> np.ndarray | None:
    """The map fitted for this model (a folder built from it counts as it), or None."""
    try:
        return _matrices(path, path.stat().st_mtime_ns).get(model_name(model))
    except OSError:
        return None


def adapt(vector: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """The question vector as sentence ranking reads it: mapped, then back to unit length."""
    if matrix is None:
        return vector
    out = matrix @ vector
    return out / (np.linalg.norm(out) or 1.0)


def save_adapter(model: str, matrix: np.ndarray, path: Path = ADAPTER_FILE) -> None:
    """Store one model's map beside the others (float16: the map is near the identity, the rest is noise)."""
    try:
        with np.load(path) as data:
            kept = {name: data[name] for name in data.files}
    except OSError:
        kept = {}
    kept[model_name(model)] = matrix.astype(np.float16)
    np.savez_compressed(path, **kept)
    _matrices.cache_clear()
