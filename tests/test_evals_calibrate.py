"""Threshold calibration on hand-made scores where the best threshold is known."""
from __future__ import annotations

import pytest

from evals.calibrate import choose, curve, evaluate, points


def pt(score: float, covered: bool, correctness: float = 1.0) -> dict:
    return {"id": f"q{score}", "kind": "fact", "score": score, "covered": covered, "answered_correctness": correctness}


SEPARABLE = [pt(0.70, False), pt(0.72, False), pt(0.80, True), pt(0.85, True), pt(0.90, True)]


def test_separable_scores_give_the_middle_of_the_gap():
    c = choose(SEPARABLE)
    assert c["threshold"] == pytest.approx(0.76)
    assert c["interval"] == [0.72, 0.80]
    assert c["refusal_accuracy"] == 1.0 and c["false_refusal_rate"] == 0.0 and c["false_answer_rate"] == 0.0
    assert c["answer_correctness"] == 1.0 and c["objective"] == 2.0


def test_evaluate_counts_refusals_below_the_threshold():
    e = evaluate(SEPARABLE, 0.81)  # refuses 0.70, 0.72 and the covered 0.80
    assert e["refusal_accuracy"] == pytest.approx(4 / 5)
    assert e["false_refusal_rate"] == pytest.approx(1 / 3)
    assert e["answer_correctness"] == pytest.approx(2 / 3)
    assert evaluate(SEPARABLE, 0.0)["false_answer_rate"] == 1.0


def test_overlap_prefers_the_better_trade():
    # The not-covered 0.82 sits between covered answers; refusing it would cost two covered answers.
    pts = [pt(0.70, False), pt(0.80, True), pt(0.81, True), pt(0.82, False), pt(0.90, True)]
    c = choose(pts)
    assert 0.70 < c["threshold"] <= 0.80
    assert c["refusal_accuracy"] == pytest.approx(4 / 5)


def test_a_false_answer_costs_as_much_as_a_false_refusal_whatever_the_mix():
    # Four covered questions, one out of scope between them: refusing it costs one covered question of four
    # (false refusals 0.25) and saves the only out-of-scope one (false answers 1.0 -> 0): worth it.
    pts = [pt(0.70, True), pt(0.75, False), pt(0.85, True), pt(0.90, True), pt(0.95, True)]
    c = choose(pts)
    assert 0.75 < c["threshold"] <= 0.85
    assert c["false_refusal_rate"] == pytest.approx(0.25) and c["false_answer_rate"] == 0.0
    assert c["objective"] == pytest.approx(max(e["objective"] for e in curve(pts)))


def test_points_come_from_runner_rows():
    rows = [{"id": "a", "kind": "fact", "language": "da", "covered": True,
             "answer": {"score": 0.9, "refused": False}, "scores": {"key_fact_recall": 0.5}},
            {"id": "b", "kind": "out-of-scope", "language": "en", "covered": False,
             "answer": {"score": 0.7, "refused": False}, "scores": {"key_fact_recall": None}},
            {"id": "c", "kind": "hostile", "language": "da", "covered": False,
             "answer": {"score": None, "refused": True}, "scores": {"key_fact_recall": None}}]
    assert [(p["id"], p["language"], p["answered_correctness"]) for p in points(rows)] == [
        ("a", "da", 0.5), ("b", "en", 1.0)]


def test_rates_not_counts_decide():
    # Three covered, two out of scope. Answering the 0.6 and 0.55 covered questions also answers the 0.7 one:
    # false refusals 2/3 -> 0 for false answers 0 -> 1/2, worth it; refusing everything below 0.9 is not.
    pts = ([{"covered": True, "score": s, "answered_correctness": 1.0} for s in (0.9, 0.6, 0.55)]
           + [{"covered": False, "score": s, "answered_correctness": 0.0} for s in (0.7, 0.5)])
    c = choose(pts)
    assert 0.5 < c["threshold"] <= 0.55
    assert c["false_refusal_rate"] == 0.0 and c["false_answer_rate"] == pytest.approx(0.5)


def test_a_question_takes_the_threshold_of_questions_in_the_same_relation_to_their_documents():
    from assistant.model.calibration import threshold_language

    assert threshold_language("da", "da") == "da"  # what the Danish calibration questions measured
    assert threshold_language("en", "da") == "en"  # across languages, as the English ones did
    assert threshold_language("en", "en") == "da"  # same language again: an English PDF asked in English
    assert threshold_language("da", "en") == "en"
