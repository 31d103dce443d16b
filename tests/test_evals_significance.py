"""The paired bootstrap behind `handbook eval-diff`: intervals that hold what they must, tables from two results."""
from __future__ import annotations

from evals.significance import ALL_SETS, compare, difference_table, paired_interval


def _result(set_name: str, facts: list[float]) -> dict:
    rows = [{"id": f"{set_name}-{i}", "scores": {"key_fact_recall": f, "first_sentence_fact": f, "correct": f}}
            for i, f in enumerate(facts)]
    return {"runs": [{"set": set_name, "config": "dense", "rows": rows}]}


def _merged(*results: dict) -> dict:
    return {"runs": [run for r in results for run in r["runs"]]}


def test_no_change_has_a_zero_interval_and_a_uniform_gain_its_own():
    assert paired_interval([0.5, 1.0, 0.0], [0.5, 1.0, 0.0]) == (0.0, 0.0)
    low, high = paired_interval([0.0] * 20, [1.0] * 20)
    assert low == high == 1.0


def test_one_question_of_sixty_is_no_clear_change_but_many_are():
    before = [0.0] * 60
    one = paired_interval(before, [1.0] + [0.0] * 59)
    assert one[0] <= 0.0 < one[1]
    many = paired_interval(before, [1.0] * 20 + [0.0] * 40)
    assert 0.15 < many[0] < 1 / 3 < many[1] < 0.5


def test_compare_pairs_questions_by_id_per_set_and_pooled():
    before = _merged(_result("dev", [0.0, 0.0, 1.0, 1.0]), _result("blind-dev", [1.0, 1.0]))
    after = _merged(_result("dev", [1.0, 0.0, 1.0, 0.0]), _result("blind-dev", [1.0, 1.0]))
    after["runs"][0]["rows"].append({"id": "only-after", "scores": {"key_fact_recall": 1.0}})
    found = {(d.set, d.metric): d for d in compare(before, after)}
    dev = found[("dev", "key_fact_recall")]
    assert (dev.questions, dev.up, dev.down, dev.delta) == (4, 1, 1, 0.0)  # the unpaired question is left out
    pooled = found[(ALL_SETS, "key_fact_recall")]
    assert pooled.questions == 6 and not pooled.clear
    table = difference_table(list(found.values()))
    assert "| dev | key facts | 4 | 50.0 % | 50.0 % | +0.0" in table


def test_a_set_only_one_run_holds_is_not_compared():
    assert compare(_result("dev", [1.0]), _result("test", [1.0])) == []
