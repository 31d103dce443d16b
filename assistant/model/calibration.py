"""Refusal thresholds belong to the model they were calibrated for: recorded here by `handbook eval --calibrate`."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.settings import Settings

CALIBRATION_FILE = Path(__file__).resolve().with_name("calibration.json")
UNCALIBRATED_THRESHOLD = 0.5  # for a model nobody calibrated: an even chance that the handbook answers
MARKER_FILE = "handbook-model.json"  # written by model/build.py into the folders it builds


def _records(path: Path = CALIBRATION_FILE) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@lru_cache(maxsize=8)
def _thresholds(path: Path, mtime_ns: int) -> dict[str, tuple[float, dict[str, float]]]:
    """Each model's (threshold, per-language thresholds), parsed once per version of the file."""
    out = {}
    for model, record in _records(path).items():
        try:
            out[model] = (float(record["threshold"]),
                          {k: float(v) for k, v in (record.get("by_language") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return out


@lru_cache(maxsize=32)
def model_name(model: str) -> str:
    """The name a calibration is recorded under: a folder we built from the default model counts as that model."""
    try:
        return str(json.loads((Path(model) / MARKER_FILE).read_text(encoding="utf-8"))["model"])
    except (OSError, ValueError, KeyError, TypeError):
        return model


def calibration_key(model: str, precision: str = "fp32") -> str:
    """Thresholds belong to a model and its precision: "multilingual-e5-small", "multilingual-e5-small@int8"."""
    name = model_name(model)
    return name if precision == "fp32" else f"{name}@{precision}"


def calibrated_threshold(model: str, language: str | None = None, path: Path = CALIBRATION_FILE,
                         precision: str = "fp32") -> float:
    """The refusal threshold recorded for this model and precision (and the question's language, where it has its
    own); read from the file once per change of it, since every question asks."""
    try:
        threshold, by_language = _thresholds(path, path.stat().st_mtime_ns)[calibration_key(model, precision)]
    except (OSError, KeyError):
        return UNCALIBRATED_THRESHOLD
    return by_language.get(language or "", threshold)


# The calibration sets ask about the bundled corpus, which is Danish: their Danish questions measured the threshold
# for questions in their documents' language, their English ones the threshold across languages. Where the
# coverage model (answer/coverage.py) gives the relevance, it has thresholds of its own under COVERAGE_SUFFIX.
SAME_LANGUAGE, ACROSS_LANGUAGES = "da", "en"
COVERAGE_SUFFIX = "+coverage"


def threshold_language(question: str, documents: str, coverage: bool = False) -> str:
    """Under which key the calibrated threshold for this question stands: an English question of English documents
    reads same-language cosines, as a Danish one of Danish documents does; a question across languages reads lower."""
    key = SAME_LANGUAGE if question == documents else ACROSS_LANGUAGES
    return key + COVERAGE_SUFFIX if coverage else key


def refusal_threshold(settings: Settings, language: str | None = None) -> float:
    """The threshold in force: HANDBOOK_REFUSAL_THRESHOLD if set, else the one calibrated for model and language."""
    if settings.refusal_threshold is not None:
        return settings.refusal_threshold
    return calibrated_threshold(settings.embed_model, language, precision=settings.embed_precision)


def record_calibration(model: str, record: dict[str, Any], path: Path = CALIBRATION_FILE,
                       precision: str = "fp32") -> None:
    """Store one model's calibration (threshold, the set, the curve) beside the others."""
    records = _records(path)
    records[calibration_key(model, precision)] = record
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
