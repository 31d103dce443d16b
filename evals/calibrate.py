"""Choose the refusal threshold on the dev sets, from the eval itself, and record it with the model
(assistant/model/calibration.json), where the assistant reads it.

One run of the dev sets with the threshold at 0 answers every question and records each answer's relevance
score (Answer.score, what the assistant compares with the threshold). Raising the threshold to t only turns
answers with score < t into refusals, so every threshold can be scored from that one run:

    objective(t) = (1 - false-refusal rate(t)) + (1 - false-answer rate(t))      (Youden's J, plus one)

A false answer costs as much as a false refusal, and each kind of question counts the same whatever their mix in
the dev sets (a reader's share of out-of-scope questions is not ours). Whether an answered question's sentences
hold its facts is the selection step's business, measured apart (answer correctness). The chosen threshold is
the middle of the widest interval of thresholds that reach the maximum objective.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from assistant.model.calibration import (
    CALIBRATION_FILE,
    COVERAGE_SUFFIX,
    record_calibration,
    threshold_language,
)
from assistant.settings import Settings

from . import metrics
from .runner import AssistantEngine, resolve_set, run_set

MIN_LANGUAGE_QUESTIONS = 30  # a language gets a threshold of its own with at least this many dev questions


def points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per question: its relevance score, whether the handbook covers it, and its correctness if answered."""
    out = []
    for r in rows:
        score = r["answer"].get("score")
        if score is None:
            continue
        facts = r["scores"].get("key_fact_recall")
        answered_ok = (1.0 if facts is None else facts) if not r["answer"]["refused"] else 0.0
        out.append({"id": r["id"], "kind": r["kind"], "language": r["language"], "covered": bool(r["covered"]),
                    "score": float(score), "answered_correctness": answered_ok})
    return out


def evaluate(pts: Sequence[dict[str, Any]], threshold: float) -> dict[str, float | None]:
    rows = [{"covered": p["covered"], "refused": p["score"] < threshold} for p in pts]
    ref = metrics.refusal_scores(rows)
    covered = [p for p in pts if p["covered"]]
    correctness = metrics.mean((p["answered_correctness"] if p["score"] >= threshold else 0.0) for p in covered)
    objective = 2.0 - (ref.get("false_refusal_rate") or 0.0) - (ref.get("false_answer_rate") or 0.0)
    return {"threshold": threshold, **ref, "answer_correctness": correctness, "objective": objective}


def curve(pts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objective at 0, between every two neighbouring scores, and above the highest."""
    scores = sorted({round(p["score"], 6) for p in pts})
    cuts = [0.0] + [(a + b) / 2 for a, b in pairwise(scores)] + ([scores[-1] + 1e-6] if scores else [])
    return [evaluate(pts, round(t, 6)) for t in cuts]


def choose(pts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The middle of the widest run of score gaps that reach the best objective."""
    scores = sorted({round(p["score"], 6) for p in pts})
    if not scores:
        raise ValueError("no scored questions to calibrate on")
    best = max(e["objective"] for e in curve(pts))
    # Interval i is (scores[i-1], scores[i]]: any threshold in it refuses exactly the scores below scores[i].
    bounds = [0.0] + scores
    good = [i for i in range(1, len(bounds))
            if evaluate(pts, bounds[i])["objective"] >= best - 1e-12]
    runs: list[list[int]] = []
    for i in good:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    widest = max(runs, key=lambda r: bounds[r[-1]] - bounds[r[0] - 1])
    lo, hi = bounds[widest[0] - 1], bounds[widest[-1]]
    chosen = round((lo + hi) / 2, 4)
    return {"threshold": chosen, "interval": [lo, hi], **{k: v for k, v in evaluate(pts, chosen).items()
                                                          if k != "threshold"}}


DEV_SETS = ("dev", "blind-dev", "blind2-dev")


def calibrate(settings: Settings, dev: Sequence[str | Path] = DEV_SETS, *, write: bool = True,
              out: Path = CALIBRATION_FILE, progress: Any = None) -> dict[str, Any]:
    """Run the dev sets with refusals off, choose the thresholds, and (by default) record them for the model: those
    of the relevance score alone, and where the coverage model applies to the indexed documents, its own."""
    paths = [resolve_set(d) for d in dev]
    pts, assistant = _points(settings.with_options(coverage_model=False), paths, progress)
    chosen = choose(pts)
    documents = assistant.documents_language(assistant.retriever)
    by_language = _by_relation(pts, documents)
    if settings.coverage_model:
        with_coverage, scorer = _points(settings, paths, progress)
        if scorer.coverage_applies():
            by_language |= {key + COVERAGE_SUFFIX: c for key, c in _by_relation(with_coverage, documents).items()}
    record = {
        "threshold": chosen["threshold"],
        "by_language": {lang: c["threshold"] for lang, c in by_language.items()},
        "chosen": chosen,
        "chosen_by_language": by_language,
        "set": "+".join(p.stem for p in paths),
        "objective": "(1 - false-refusal rate) + (1 - false-answer rate)",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"retrieval": settings.retrieval, "top_k": settings.top_k, "max_sentences": settings.max_sentences,
                     "embed_precision": assistant.settings.embed_precision},
        "curve": curve(pts),
    }
    if write:
        record_calibration(settings.embed_model, record, out, precision=assistant.settings.embed_precision)
    return record | {"points": pts}


def _points(settings: Settings, paths: Sequence[Path], progress: Any) -> tuple[list[dict[str, Any]], Any]:
    """The dev sets' questions answered with refusals off: their scores, and the assistant that scored them."""
    open_settings = settings.with_options(refusal_threshold=0.0)
    engine = AssistantEngine(open_settings, "calibration")
    rows = [row for path in paths for row in run_set(path, open_settings, engine=engine, progress=progress)]
    return points(rows), engine.assistant


def _by_relation(pts: list[dict[str, Any]], documents: str) -> dict[str, dict[str, Any]]:
    """A question in another language than the documents' scores lower throughout: questions in the documents'
    language and those across languages each get their own optimum, recorded under the key the answering side
    looks up (calibration.threshold_language)."""
    relation = {lang: threshold_language(lang, documents) for lang in {p["language"] for p in pts}}
    return {key: choose(part) for key in sorted(set(relation.values()))
            if len(part := [p for p in pts if relation[p["language"]] == key]) >= MIN_LANGUAGE_QUESTIONS
            and any(not p["covered"] for p in part)}
