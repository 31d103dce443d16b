"""Which questions the indexed handbook answers: a model learned from the dev sets' covered and out-of-scope questions.

The relevance score (scorer.py) reads how close the best sentences come to the question. It cannot tell a detail
the handbook leaves open (its price, a later barometer, a rule of procurement law) from one it states in other
words: both find sentences on the topic. Where a question lies in the embedding space says much of that on its own:
the questions readers ask fall in regions the book covers (its figures, cases, barriers, advice) and regions it
does not. A logistic regression over the searched query vector and the relevance score's logit, fitted on the dev
sets by `python -m evals.train_scorer`, learns those regions (docs/evals.md, "Coverage model"). It knows only the
documents it was fitted on, by content hash, and only the embedding model it was fitted with: anywhere else the
relevance score stands alone.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.model.calibration import calibration_key

COVERAGE_FILE = Path(__file__).resolve().with_name("coverage.json")


@dataclass(frozen=True)
class Coverage:
    """The fitted model: p = sigmoid(relevance_weight · logit(relevance) + vector_weights · query vector
    + intercept)."""

    documents: frozenset[str]
    relevance_weight: float
    vector_weights: np.ndarray
    intercept: float

    def applies(self, documents: Iterable[str]) -> bool:
        """Whether every document answers may come from is one the model was fitted on (and there is one)."""
        given = set(documents)
        return bool(given) and given <= self.documents

    def probability(self, relevance: float, vector: np.ndarray) -> float:
        """The probability that the handbook answers, from the relevance score and the searched query vector."""
        z = self.relevance_weight * logit(relevance) + float(self.vector_weights @ vector) + self.intercept
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"documents": sorted(self.documents), "relevance_weight": self.relevance_weight,
                "vector_weights": [round(float(w), 6) for w in self.vector_weights], "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Coverage:
        return cls(frozenset(data["documents"]), float(data["relevance_weight"]),
                   np.asarray(data["vector_weights"], dtype=np.float32), float(data["intercept"]))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@lru_cache(maxsize=4)
def _records(path: Path, mtime_ns: int) -> dict[str, Coverage]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {model: Coverage.from_json(record) for model, record in data.items()}


def coverage_for(model: str, precision: str = "fp32", path: Path = COVERAGE_FILE) -> Coverage | None:
    """The coverage model fitted for this embedding model and precision (a folder built from it counts as it)."""
    try:
        return _records(path, path.stat().st_mtime_ns).get(calibration_key(model, precision))
    except (OSError, ValueError, KeyError):
        return None


def save_coverage(model: str, coverage: Coverage, extra: dict[str, Any], precision: str = "fp32",
                  path: Path = COVERAGE_FILE) -> None:
    """Store one model's coverage model beside the others', with how it was fitted."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    kept[calibration_key(model, precision)] = extra | coverage.to_json()
    path.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
    _records.cache_clear()
