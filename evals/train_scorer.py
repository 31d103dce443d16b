"""Fit the answerability model (assistant/answer/scorer.json) and the coverage model (assistant/answer/coverage.json)
on the dev sets: `python -m evals.train_scorer [SET ...]`, with the bundled corpus indexed (the coverage model
applies to the documents it was fitted on).

Every question of the sets is labelled 1 when the handbook covers it; its features are the ones the assistant
computes on its own path (`Assistant.retrieve`), so what is fitted is what runs. Only dev sets: the test sets are
never fitted on. Also prints how often the best-scored sentence holds a key fact, for docs/evals.md.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assistant import Settings, load_settings, open_assistant
from assistant.answer.coverage import COVERAGE_FILE, Coverage, logit, save_coverage
from assistant.answer.extractive import candidate_arrays
from assistant.answer.scorer import (
    QUESTION_FEATURES,
    WEIGHTS_FILE,
    Model,
    question_features,
    question_model,
)

from .metrics import contains_fact
from .runner import AssistantEngine, load_questions, resolve_history

DEV_SETS = ("dev", "blind-dev", "blind2-dev")
QUESTION_C = 0.3   # inverse regularisation of the answerability model
COVERAGE_C = 10.0  # ... of the coverage model (chosen holding out one dev set at a time; docs/evals.md)
RELEVANCE_SCALE = 30.0  # the relevance logit's scale against the unit query vector's, so C hardly shrinks it


def collect(settings: Settings, sets: Sequence[str]) -> list[dict[str, Any]]:
    """Each question with its candidates as the assistant scores them (features, text, labels)."""
    engine = AssistantEngine(settings.with_options(refusal_threshold=0.0), "fit")
    assistant = engine.assistant
    out = []
    for name in sets:
        for q in load_questions(name):
            history = resolve_history(engine, q.get("history") or [])
            found = assistant.retrieve(q["question"], history or None)
            facts = q.get("key_facts") or []
            out.append({"id": q["id"], "set": name, "covered": bool(q["covered"]), "facts": facts,
                        "question": found.query, "language": found.language, "candidates": found.candidates,
                        "vector": found.vector,
                        "labels": np.array([int(any(contains_fact(c.text, f) for f in facts))
                                            for c in found.candidates])})
    return out


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> Model:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    return Model(mean, scale, lr.coef_[0], float(lr.intercept_[0]))


def question_rows(rows: list[dict[str, Any]], assistant: Any) -> np.ndarray:
    retriever = assistant.retriever
    documents = assistant.documents_language(retriever)
    return np.stack([question_features(r["question"], r["language"] != documents, *candidate_arrays(r["candidates"]),
                                       retriever.idf, retriever.known) for r in rows])


def top1(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Share of covered questions whose best candidate holds a key fact: by our score, and by cosine alone."""
    usable = [r for r in rows if r["covered"] and r["facts"] and r["candidates"]]
    out = {}
    for name, key in (("score", lambda c: c.score), ("alone cosine", lambda c: c.alone)):
        out[name] = float(np.mean([r["labels"][int(np.argmax([key(c) for c in r["candidates"]]))] for r in usable]))
    return out


def _neutral(out: Path) -> None:
    """A model that answers everything, so the features can be collected when the features changed."""
    n = len(QUESTION_FEATURES)
    neutral = Model(np.zeros(n), np.ones(n), np.zeros(n), 0.0)
    out.write_text(json.dumps({"question": {"features": list(QUESTION_FEATURES), **neutral.to_json()}}) + "\n",
                   encoding="utf-8")
    question_model.cache_clear()


def fit(settings: Settings, sets: Sequence[str] = DEV_SETS, out: Path = WEIGHTS_FILE,
        coverage_out: Path | None = COVERAGE_FILE) -> dict[str, Any]:
    try:
        question_model(out)
    except (OSError, ValueError, KeyError):
        _neutral(out)
    rows = collect(settings, sets)
    assistant = open_assistant(settings.with_options(refusal_threshold=0.0))
    qx = question_rows(rows, assistant)
    qy = np.array([int(r["covered"]) for r in rows])
    question = _fit(qx, qy, QUESTION_C)
    fitted = datetime.now(UTC).isoformat(timespec="seconds")
    record = {"fitted": fitted, "sets": list(sets),
              "questions": len(qy), "covered": int(qy.sum()), "best_sentence_holds_a_fact": top1(rows),
              "question": {"features": list(QUESTION_FEATURES), **question.to_json()}}
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    question_model.cache_clear()
    if coverage_out is not None:
        documents = frozenset(r.hash for r in assistant.store.catalog.files().values())
        coverage = fit_coverage(question.probability(qx), np.stack([r["vector"] for r in rows]), qy, documents)
        save_coverage(settings.embed_model, coverage, {"fitted": fitted, "sets": list(sets), "questions": len(qy)},
                      assistant.settings.embed_precision, coverage_out)
    return record


def fit_coverage(relevance: np.ndarray, vectors: np.ndarray, covered: np.ndarray, documents: frozenset[str]
                 ) -> Coverage:
    """Logistic regression over (the relevance logit, the query vector): which questions these documents answer."""
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([RELEVANCE_SCALE * np.array([logit(float(p)) for p in relevance]), vectors])
    lr = LogisticRegression(C=COVERAGE_C, max_iter=5000).fit(x, covered)
    return Coverage(documents, float(lr.coef_[0][0] * RELEVANCE_SCALE), lr.coef_[0][1:].astype(np.float32),
                    float(lr.intercept_[0]))


def main(argv: Sequence[str]) -> None:
    record = fit(load_settings(), argv or DEV_SETS)
    print(json.dumps({k: v for k, v in record.items() if k != "question"}, indent=1))
    print("question model", {n: round(c, 2) for n, c in zip(QUESTION_FEATURES, record["question"]["coef"])})


if __name__ == "__main__":
    main(sys.argv[1:])
