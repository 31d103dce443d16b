"""Eval metrics as pure functions: no model, no LLM, no I/O, so every run of the same answers scores the same.

Definitions (docs/evals.md has the long form):

- A retrieved passage is *relevant* when its source file equals an expected source and, where the expectation
  names a section, its section title equals that section (case-insensitive, whitespace-normalised).
- hit@k: 1 when any of the first k passages is relevant. MRR: 1/rank of the first relevant passage (0 if none).
- nDCG@k: each expected (source, section) target earns a gain of 1 the first time a passage matching it appears;
  DCG = sum gain_i / log2(i + 1); the ideal puts min(#targets, k) gains at the top.
- key-fact recall: share of key facts the answer contains; a fact is a list of alternatives, one of which must
  occur in the answer (case-insensitive, whitespace-normalised).
- Claims: the answer's sentences (assistant.answer.sentences) that have content words and are not framing (a sentence
  ending in ':' introduces what follows); list numbers ('5.') are labels, not claims. A run of markers [n][m] belongs
  to the sentence right before it.
- A quote *supports* a claim when the quote's content words (assistant.retrieval.terms.terms: Danish stems, stop words
  out, numbers whole) cover at least 60 % of the claim's content words.
- citation precision: share of citations whose quote supports every claim that cites it (a citation no claim
  cites counts as unsupported). citation recall: share of claims with at least one supporting citation.
- refusal accuracy: share of questions where refused == not covered. false-refusal rate: share of covered
  questions that were refused. false-answer rate: share of not-covered questions that were answered.
- answer length: words in the answer text with the [n] markers taken out.
- latency p50/p95: percentiles with linear interpolation between closest ranks (numpy's default).
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assistant.answer.sentences import clean_sentence, split_sentences
from assistant.markers import MARKER, MARKER_RUN, parse_markers
from assistant.retrieval.terms import terms

SUPPORT_THRESHOLD = 0.6
_LIST_NUMBER = re.compile(r"\d{1,3}[.)]")
_WORDLIKE = re.compile(r"\w")


def norm(text: str) -> str:
    """Case-folded, whitespace-normalised text: the form key facts and sections are compared in."""
    return " ".join(str(text).split()).casefold()


# ---------------------------------------------------------------------------------------------------- retrieval

def matches(source: str, section: str | None, target: Mapping[str, Any]) -> bool:
    """Does a passage from (source, section) meet one expected target {"source", "section"?}?"""
    if norm(source) != norm(target["source"]):
        return False
    want = target.get("section")
    return not want or norm(section or "") == norm(want)


def passage_matches(passage: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    """A passage {"source", "section"} meets a target; a passage spanning several sections (the baseline's
    1024-token nodes) lists them in "sections" and meets a target when any of them does."""
    sections = passage.get("sections") or [passage.get("section")]
    return any(matches(passage["source"], section, target) for section in sections)


def relevance(retrieved: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]) -> list[int]:
    """1/0 per retrieved passage ({"source", "section"}): does it match any expected target?"""
    return [int(any(passage_matches(r, t) for t in expected)) for r in retrieved]


def hit_at_k(rels: Sequence[int], k: int) -> float:
    return 1.0 if any(rels[:k]) else 0.0


def reciprocal_rank(rels: Sequence[int]) -> float:
    for i, rel in enumerate(rels, 1):
        if rel:
            return 1.0 / i
    return 0.0


def ndcg_at_k(retrieved: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]], k: int) -> float:
    """nDCG with one gain per expected target, earned by the first passage that matches it."""
    if not expected:
        return 0.0
    found: set[int] = set()
    dcg = 0.0
    for i, r in enumerate(retrieved[:k], 1):
        new = [j for j, t in enumerate(expected) if j not in found and passage_matches(r, t)]
        if new:
            found.update(new)
            dcg += 1.0 / math.log2(i + 1)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(expected), k) + 1))
    return dcg / ideal


def retrieval_scores(retrieved: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]],
                     k: int) -> dict[str, float]:
    """hit@1, hit@3, hit@k, MRR and nDCG@k for one question."""
    rels = relevance(retrieved, expected)
    return {"hit@1": hit_at_k(rels, 1), "hit@3": hit_at_k(rels, 3), "hit@k": hit_at_k(rels, k),
            "mrr": reciprocal_rank(rels[:k]), "ndcg@k": ndcg_at_k(retrieved, expected, k)}


# ---------------------------------------------------------------------------------------------------- key facts

def contains_fact(answer: str, alternatives: Sequence[str]) -> bool:
    text = norm(answer)
    return any(norm(a) in text for a in alternatives)


def key_fact_recall(answer: str, key_facts: Sequence[Sequence[str]]) -> float | None:
    """Share of facts present; None when there are no facts to find."""
    if not key_facts:
        return None
    return sum(contains_fact(answer, alts) for alts in key_facts) / len(key_facts)


def missing_facts(answer: str, key_facts: Sequence[Sequence[str]]) -> list[list[str]]:
    return [list(alts) for alts in key_facts if not contains_fact(answer, alts)]


# ---------------------------------------------------------------------------------------------------- citations

def claims(answer: str) -> list[tuple[str, list[int]]]:
    """The answer's claims with the citation numbers that follow each: [(sentence, [n, ...]), ...]."""
    pieces = MARKER_RUN.split(answer)
    out: list[tuple[str, list[int]]] = []
    for i in range(0, len(pieces), 2):
        text = pieces[i]
        nums = parse_markers(pieces[i + 1]) if i + 1 < len(pieces) else []
        spans = _sentences(text)
        for j, sentence in enumerate(spans):
            cited = nums if j == len(spans) - 1 else []
            if not terms(sentence) or sentence.rstrip().endswith(":"):
                if cited and out and j == len(spans) - 1 and not terms(sentence):
                    out[-1][1].extend(cited)  # "claim. [1]" split as "claim" + "." keeps its marker
                continue
            out.append((sentence, list(cited)))
    return out


def _sentences(text: str) -> list[str]:
    """Sentences of a text; a bare list number ('5.' in '- 5. Borgere') is a label, not a sentence or a claim."""
    return [s for s in (clean_sentence(text[a:b]) for a, b in split_sentences(text)) if not _LIST_NUMBER.fullmatch(s)]


def coverage(quote: str, sentence: str) -> float:
    """Share of the sentence's content words that the quote also has (1.0 for a sentence without any)."""
    want = set(terms(sentence))
    if not want:
        return 1.0
    return len(want & set(terms(quote))) / len(want)


def supports(quote: str, sentence: str, threshold: float = SUPPORT_THRESHOLD) -> bool:
    return coverage(quote, sentence) >= threshold


def citation_scores(answer: str, quotes: Mapping[int, str],
                    threshold: float = SUPPORT_THRESHOLD) -> dict[str, float | None]:
    """Citation precision and recall of one answer, given each citation's quote by its number n.

    Either is None when undefined (no citations; no claims)."""
    found = claims(answer)
    cited_by: dict[int, list[str]] = defaultdict(list)
    for sentence, nums in found:
        for n in nums:
            cited_by[n].append(sentence)
    precision = None
    if quotes:
        good = sum(1 for n, q in quotes.items() if cited_by.get(n) and all(supports(q, s, threshold)
                                                                            for s in cited_by[n]))
        precision = good / len(quotes)
    recall = None
    if found:
        good = sum(1 for sentence, nums in found
                   if any(n in quotes and supports(quotes[n], sentence, threshold) for n in nums))
        recall = good / len(found)
    return {"citation_precision": precision, "citation_recall": recall, "claims": float(len(found))}


def cited_hit(citations: Iterable[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]) -> float | None:
    """1 when any citation points into an expected section; None without expectations."""
    if not expected:
        return None
    return 1.0 if any(passage_matches(c, t) for c in citations for t in expected) else 0.0


# ---------------------------------------------------------------------------------------------------- refusals

def refusal_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Over rows with 'covered' and 'refused': accuracy, false-refusal rate, false-answer rate."""
    if not rows:
        return {"refusal_accuracy": None, "false_refusal_rate": None, "false_answer_rate": None}
    right = sum(1 for r in rows if bool(r["refused"]) == (not r["covered"]))
    covered = [r for r in rows if r["covered"]]
    uncovered = [r for r in rows if not r["covered"]]
    return {
        "refusal_accuracy": right / len(rows),
        "false_refusal_rate": (sum(1 for r in covered if r["refused"]) / len(covered)) if covered else None,
        "false_answer_rate": (sum(1 for r in uncovered if not r["refused"]) / len(uncovered)) if uncovered else None,
    }


# ---------------------------------------------------------------------------------------------------- length, latency

def answer_words(answer: str) -> int:
    return sum(1 for w in MARKER.sub(" ", answer).split() if _WORDLIKE.search(w))


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


# ------------------------------------------------------------------------------------------------ per question, per set

def score_answer(question: Mapping[str, Any], answer: Mapping[str, Any], retrieved: Sequence[Mapping[str, Any]],
                 k: int) -> dict[str, Any]:
    """Every metric for one question.

    question: a question-set row; answer: {"answer", "refused", "citations": [{"n", "source", "section", "quote"}],
    "timings_ms"}; retrieved: the ranked passages [{"source", "section"}] for the question."""
    expected = question.get("expected") or []
    covered = bool(question.get("covered", True))
    refused = bool(answer["refused"])
    text = answer.get("answer") or ""
    scores: dict[str, Any] = {"covered": covered, "refused": refused, "refusal_correct": refused == (not covered),
                              "words": answer_words(text)}
    if covered and expected:
        scores.update(retrieval_scores(retrieved, expected, k))
    else:
        scores.update({"hit@1": None, "hit@3": None, "hit@k": None, "mrr": None, "ndcg@k": None})
    facts = question.get("key_facts") or []
    passages = " ".join(p.get("text") or "" for p in retrieved[:k])
    quotes_in_order = [c.get("quote") or "" for c in answer.get("citations") or []]
    scores["sentences"] = None if refused else len(quotes_in_order)
    scores["covered_answered"] = (0.0 if refused else 1.0) if covered else None
    if covered and facts:
        scores["key_fact_recall"] = 0.0 if refused else key_fact_recall(text, facts)
        scores["missing_facts"] = [list(f) for f in facts] if refused else missing_facts(text, facts)
        scores["facts_in_passages"] = key_fact_recall(passages, facts) if passages else None
        scores["first_sentence_fact"] = (0.0 if refused or not quotes_in_order
                                         else float(any(contains_fact(quotes_in_order[0], f) for f in facts)))
    else:
        scores["key_fact_recall"], scores["missing_facts"] = None, []
        scores["facts_in_passages"] = scores["first_sentence_fact"] = None
    if refused:
        scores.update({"citation_precision": None, "citation_recall": None, "claims": 0.0, "cited_hit": None})
    else:
        quotes = {int(c["n"]): c.get("quote") or "" for c in answer.get("citations") or []}
        scores.update(citation_scores(text, quotes))
        scores["cited_hit"] = cited_hit(answer.get("citations") or [], expected) if covered else None
    scores["correct"] = correctness(covered, refused, scores["key_fact_recall"])
    checked = [s for s in answer.get("sentences") or [] if "supported" in s]
    scores["verified"] = (sum(bool(s["supported"]) for s in checked) / len(checked)) if checked else None
    scores["fallback"] = 1.0 if answer.get("notice") else 0.0
    for part in ("retrieval", "answer", "total"):
        scores[f"{part}_ms"] = (answer.get("timings_ms") or {}).get(part)
    return scores


def correctness(covered: bool, refused: bool, fact_recall: float | None) -> float:
    """One number per question: a not-covered question is right when refused; a covered one earns its key-fact
    recall when answered (1 when it has no key facts) and 0 when refused."""
    if not covered:
        return 1.0 if refused else 0.0
    if refused:
        return 0.0
    return 1.0 if fact_recall is None else fact_recall


MEAN_METRICS = ("hit@1", "hit@3", "hit@k", "mrr", "ndcg@k", "key_fact_recall", "facts_in_passages",
                "first_sentence_fact", "covered_answered", "citation_precision", "citation_recall", "cited_hit",
                "correct", "words", "verified", "fallback")


def summarize(scored: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Set-level metrics from per-question scores (each row: score_answer's output, optionally with 'kind')."""
    out: dict[str, Any] = {"questions": len(scored)}
    for name in MEAN_METRICS:
        out[name] = mean(r.get(name) for r in scored)
    answered = [r for r in scored if not r["refused"]]
    out["words"] = mean(r["words"] for r in answered)
    out["sentences_median"] = percentile([r["sentences"] for r in answered if r.get("sentences") is not None], 50)
    facts, held = out.get("key_fact_recall"), out.get("facts_in_passages")
    out["facts_kept"] = facts / held if facts is not None and held else None
    out.update(refusal_scores(scored))
    for part in ("retrieval", "answer", "total"):
        values = [r[f"{part}_ms"] for r in scored if r.get(f"{part}_ms") is not None]
        out[f"{part}_ms_p50"] = percentile(values, 50)
        out[f"{part}_ms_p95"] = percentile(values, 95)
    return out


def summarize_by_language(scored: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    langs: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in scored:
        langs[r.get("language") or "?"].append(r)
    return {k: summarize(rows) for k, rows in sorted(langs.items())}


def summarize_by_kind(scored: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in scored:
        kinds[r.get("kind") or "?"].append(r)
    return {k: summarize(rows) for k, rows in sorted(kinds.items())}
