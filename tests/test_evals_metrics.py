"""The eval metrics on hand-made cases whose right scores are worked out by hand."""
from __future__ import annotations

import math

import pytest

from evals import metrics as m

A = {"source": "a.md", "section": "Intro"}
B = {"source": "b.md", "section": "Case: Frøen"}


def p(source: str, section: str = "") -> dict:
    return {"source": source, "section": section}


# ------------------------------------------------------------------------------------------------ retrieval

def test_relevance_matches_source_and_section_case_insensitively():
    ranked = [p("x.md", "Intro"), p("a.md", "Other"), p("a.md", " intro "), p("B.md", "case:  frøen")]
    assert m.relevance(ranked, [A, B]) == [0, 0, 1, 1]


def test_expected_without_section_accepts_any_section_of_the_file():
    assert m.relevance([p("a.md", "Whatever"), p("b.md", "Intro")], [{"source": "a.md"}]) == [1, 0]


def test_hit_rate_and_mrr():
    rels = [0, 0, 1, 0, 1]
    assert m.hit_at_k(rels, 1) == 0.0
    assert m.hit_at_k(rels, 2) == 0.0
    assert m.hit_at_k(rels, 3) == 1.0
    assert m.reciprocal_rank(rels) == pytest.approx(1 / 3)
    assert m.reciprocal_rank([0, 0, 0]) == 0.0
    assert m.reciprocal_rank([1]) == 1.0


def test_ndcg_perfect_ranking_is_one():
    assert m.ndcg_at_k([p("a.md", "Intro"), p("b.md", "Case: Frøen")], [A, B], 6) == pytest.approx(1.0)


def test_ndcg_counts_each_target_once():
    # Two passages from the same expected section: only the first earns a gain.
    ranked = [p("a.md", "Intro"), p("a.md", "Intro"), p("b.md", "Case: Frøen")]
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert m.ndcg_at_k(ranked, [A, B], 6) == pytest.approx(dcg / ideal)


def test_ndcg_single_target_at_rank_three():
    ranked = [p("x.md"), p("y.md"), p("a.md", "Intro")]
    assert m.ndcg_at_k(ranked, [A], 6) == pytest.approx(1 / math.log2(4))
    assert m.ndcg_at_k(ranked, [A], 2) == 0.0


def test_ndcg_ideal_is_capped_at_k():
    # Three targets but k=1: one hit at rank 1 is already ideal.
    assert m.ndcg_at_k([p("a.md", "Intro")], [A, B, {"source": "c.md"}], 1) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ key facts

def test_key_fact_recall_with_alternatives_and_normalisation():
    answer = "Næsten  FIRE ud af fem innovationer, nemlig 79\n%, sker i samarbejde."
    facts = [["79 %", "79 procent"], ["fire ud af fem"], ["tre ud af fire", "3 ud af 4"]]
    assert m.key_fact_recall(answer, facts) == pytest.approx(2 / 3)
    assert m.missing_facts(answer, facts) == [["tre ud af fire", "3 ud af 4"]]
    assert m.key_fact_recall(answer, []) is None


# ------------------------------------------------------------------------------------------------ citations

Q79 = "Ifølge håndbogen bliver 79 % af de offentlige innovationer til i samarbejde med en eller flere eksterne aktører."
QCASE = "Delebussen \"Frøen\" kører mellem Jungshoved og Præstø i Vordingborg Kommune."


def test_claims_attach_markers_to_the_sentence_before_them():
    text = "Første påstand om innovation. Anden påstand om samarbejde [1][2] Tredje påstand om fonde [3]"
    assert m.claims(text) == [("Første påstand om innovation.", []), ("Anden påstand om samarbejde", [1, 2]),
                              ("Tredje påstand om fonde", [3])]


def test_claims_skip_framing_lines_and_keep_markers_after_a_full_stop():
    text = "The handbook is in Danish; here is what it says, quoted with sources:\n\nKvaliteten stiger ofte. [1]"
    assert m.claims(text) == [("Kvaliteten stiger ofte.", [1])]


def test_extractive_answer_quotes_support_themselves():
    text = f"{Q79} [1] {QCASE} [2]"
    s = m.citation_scores(text, {1: Q79, 2: QCASE})
    assert s["citation_precision"] == 1.0
    assert s["citation_recall"] == 1.0


def test_swapped_quotes_are_unsupported():
    text = f"{Q79} [1] {QCASE} [2]"
    s = m.citation_scores(text, {1: QCASE, 2: Q79})
    assert s["citation_precision"] == 0.0
    assert s["citation_recall"] == 0.0


def test_uncited_sentence_lowers_recall_and_unused_citation_lowers_precision():
    text = f"Samarbejde er svært for mange ledere. {Q79} [1]"
    s = m.citation_scores(text, {1: Q79, 2: QCASE})
    assert s["citation_recall"] == pytest.approx(1 / 2)   # the first sentence has no citation
    assert s["citation_precision"] == pytest.approx(1 / 2)  # [2] is cited by nothing


def test_support_threshold_is_sixty_percent_of_the_claims_content_words():
    # Content terms of the claim: kvalitet, effektivitet, borgerinddragelse, medarbejdertilfredshed, fonde (5).
    claim = "kvalitet effektivitet borgerinddragelse medarbejdertilfredshed fonde"
    three = "kvalitet effektivitet borgerinddragelse"
    two = "kvalitet effektivitet"
    assert m.coverage(three, claim) == pytest.approx(3 / 5)
    assert m.supports(three, claim)
    assert not m.supports(two, claim)


def test_generative_style_markers_after_the_full_stop():
    text = "Kvaliteten forbedres i tre ud af fire innovationer [1]. Borgerinddragelsen forbedres i hver tredje [2]."
    quotes = {1: "Ifølge omtalen af håndbogen forbedres kvaliteten i tre ud af fire offentlige innovationer.",
              2: "Borgerinddragelsen forbedres i hver tredje offentlige innovation."}
    s = m.citation_scores(text, quotes)
    assert (s["citation_precision"], s["citation_recall"], s["claims"]) == (1.0, 1.0, 2.0)


def test_list_answer_items_are_claims():
    text = "Håndbogen beskriver otte typer:\n- 5. Private virksomheder [1]\n- 6. Borgere [2]"
    quotes = {1: "Private virksomheder er den tredje af de otte aktørtyper i håndbogen.",
              2: "Borgere er den fjerde af de otte aktørtyper i håndbogen."}
    s = m.citation_scores(text, quotes)
    assert s["claims"] == 2.0
    assert s["citation_recall"] == 1.0


def test_no_citations_means_precision_undefined():
    s = m.citation_scores("En påstand uden kilde.", {})
    assert s["citation_precision"] is None
    assert s["citation_recall"] == 0.0


def test_cited_hit():
    cites = [{"source": "b.md", "section": "Case: Frøen"}]
    assert m.cited_hit(cites, [B]) == 1.0
    assert m.cited_hit(cites, [A]) == 0.0
    assert m.cited_hit(cites, []) is None


# ------------------------------------------------------------------------------------------------ refusals

def test_refusal_scores():
    rows = [{"covered": True, "refused": False}, {"covered": True, "refused": True},
            {"covered": True, "refused": False}, {"covered": False, "refused": True},
            {"covered": False, "refused": False}]
    s = m.refusal_scores(rows)
    assert s["refusal_accuracy"] == pytest.approx(3 / 5)
    assert s["false_refusal_rate"] == pytest.approx(1 / 3)
    assert s["false_answer_rate"] == pytest.approx(1 / 2)


def test_correctness():
    assert m.correctness(False, True, None) == 1.0
    assert m.correctness(False, False, None) == 0.0
    assert m.correctness(True, True, 1.0) == 0.0
    assert m.correctness(True, False, 0.5) == 0.5


# ------------------------------------------------------------------------------------------------ length, latency

def test_answer_words_ignores_markers():
    assert m.answer_words("Fire ud af fem [1] innovationer [2][3].") == 5


def test_percentiles_interpolate_like_numpy():
    xs = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert m.percentile(xs, 50) == 30.0
    assert m.percentile(xs, 95) == pytest.approx(48.0)
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([], 50) is None


# ------------------------------------------------------------------------------------------------ per question and set

def test_score_answer_and_summarize():
    q_cov = {"id": "q1", "kind": "number", "covered": True, "expected": [{"source": "02-noegletal.md"}],
             "key_facts": [["79 %"], ["fire ud af fem"]]}
    q_out = {"id": "q2", "kind": "out-of-scope", "covered": False, "expected": [], "key_facts": []}
    answered = {"answer": f"{Q79} [1]", "refused": False, "timings_ms": {"retrieval": 10, "answer": 5, "total": 15},
                "citations": [{"n": 1, "source": "02-noegletal.md", "section": "Fire", "quote": Q79}]}
    refused = {"answer": "Det svarer håndbogen ikke på.", "refused": True, "citations": [],
               "timings_ms": {"retrieval": 20, "answer": 1, "total": 21}}
    s1 = m.score_answer(q_cov, answered, [p("x.md"), p("02-noegletal.md")], k=6) | {"kind": "number"}
    s2 = m.score_answer(q_out, refused, [p("x.md")], k=6) | {"kind": "out-of-scope"}
    assert s1["hit@1"] == 0.0 and s1["hit@k"] == 1.0 and s1["mrr"] == 0.5
    assert s1["key_fact_recall"] == 0.5 and s1["missing_facts"] == [["fire ud af fem"]]
    assert s1["citation_precision"] == 1.0 and s1["cited_hit"] == 1.0 and s1["correct"] == 0.5
    assert s2["hit@k"] is None and s2["correct"] == 1.0 and s2["refusal_correct"]
    summary = m.summarize([s1, s2])
    assert summary["refusal_accuracy"] == 1.0
    assert summary["false_refusal_rate"] == 0.0
    assert summary["hit@k"] == 1.0 and summary["mrr"] == 0.5
    assert summary["correct"] == pytest.approx(0.75)
    assert summary["words"] == m.answer_words(Q79)  # refusals do not count toward answer length
    assert summary["total_ms_p50"] == pytest.approx(18.0)
    assert set(m.summarize_by_kind([s1, s2])) == {"number", "out-of-scope"}
