"""How well a sentence answers a question, and whether the handbook answers it at all.

A sentence's score mixes the cosines of its two views (embedded alone, and pooled from its passage), plus small
bonuses for the kind of phrase asked (a quantity, a date, a name) and for the question's terms, less a signpost.
The weights were chosen by grid search on labelled sentences of the dev sets (a sentence is labelled when it holds
a key fact); a logistic regression over 18 such features did not rank better in cross-validation there
(docs/evals.md, "Ablation"). Whether to answer at all is a logistic regression over QUESTION_FEATURES, fitted by
`evals/train_scorer.py` on the dev sets only and shipped as numbers in scorer.json.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.spans import find_phrase
from assistant.retrieval.terms import terms

WEIGHTS_FILE = Path(__file__).resolve().with_name("scorer.json")
ALONE_SHARE = 0.5        # the sentence embedded alone vs read in its passage (pooled): each wins other questions
ANSWER_BONUS = 0.03     # the kind of phrase asked for: a quantity (digits or words), a date, a name
LEXICAL_WEIGHT = 0.02   # idf-weighted share of the question's terms (Danish stems) in the sentence
SIGNPOST_PENALTY = 0.04  # "Dette kapitel ..." announces what a chapter holds instead of saying it
QUESTION_FEATURES = ("best_alone", "best_pooled", "top_hit", "unknown_terms", "crosslingual", "crosslingual_best_alone")

NAMES = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-ZÆØÅ][\w+-]+|\b\w*\d\w*\b")  # mid-sentence capitals, numbers
SIGNPOST = re.compile(r"^\W*(dette kapitel|kapitlet|i dette kapitel|dette afsnit|afsnittet|i dette afsnit|"
                      r"this chapter|in this chapter|this section)\b", re.IGNORECASE)


@dataclass
class Model:
    """A fitted logistic regression: standardise, weigh, squash."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict) -> Model:
        return cls(np.asarray(data["mean"]), np.asarray(data["scale"]), np.asarray(data["coef"]),
                   float(data["intercept"]))


@lru_cache(maxsize=4)
def question_model(path: Path = WEIGHTS_FILE) -> Model:
    """The answerability model as evals/train_scorer.py wrote it."""
    data = json.loads(path.read_text(encoding="utf-8"))["question"]
    if tuple(data["features"]) != QUESTION_FEATURES:
        raise ValueError(f"{path} was fitted on other features; run `python -m evals.train_scorer`")
    return Model.from_json(data)


def mixed(alone: Any, pooled: Any) -> Any:
    """The cosine part of the score that orders candidate sentences (higher: more likely to hold what is asked);
    numpy arrays here, torch tensors when the adapter is fitted."""
    return ALONE_SHARE * alone + (1 - ALONE_SHARE) * pooled


def sentence_bonus(question: str, texts: Sequence[str], idf: Callable[[str], float], kind: str | None) -> np.ndarray:
    """The part of a sentence's score that is not a cosine: the question's terms, the asked phrase, a signpost."""
    weights = {t: idf(t) for t in dict.fromkeys(terms(question))}
    total = sum(weights.values()) or 1.0
    return np.asarray([
        LEXICAL_WEIGHT * sum(w for t, w in weights.items() if t in words) / total
        + (ANSWER_BONUS if kind and find_phrase(kind, text) else 0.0)
        - (SIGNPOST_PENALTY if SIGNPOST.search(text) else 0.0)
        for text, words in ((text, set(terms(text))) for text in texts)], dtype=np.float64)


def question_features(question: str, crosslingual: bool, alone: np.ndarray, pooled: np.ndarray, hit_dense: np.ndarray,
                      idf: Callable[[str], float], known: Callable[[str], bool]) -> np.ndarray:
    """One row in QUESTION_FEATURES order: how close the best sentences come, and how much of what the question
    names the documents never mention (a law, a product, a year the handbook does not cover)."""
    if not len(alone):
        return np.zeros(len(QUESTION_FEATURES))
    weights = {t: idf(t) for t in dict.fromkeys(checkable_terms(question, crosslingual))}
    unknown = sum(w for t, w in weights.items() if not known(t)) / (sum(weights.values()) or 1.0)
    other = float(crosslingual)
    best_alone = float(np.max(alone))
    return np.asarray([best_alone, float(np.max(pooled)), float(np.max(hit_dense)), unknown, other,
                       other * best_alone])


def checkable_terms(question: str, crosslingual: bool) -> list[str]:
    """The terms whose absence from the documents says something: all of a question in the documents' language;
    of a question in another language only its names and numbers, which read the same in both."""
    if not crosslingual:
        return terms(question)
    return [t for m in NAMES.findall(question) for t in terms(m)]
