"""The question sets follow their documented format, and every key fact is an exact string of the corpus.

Four pairs of halves: dev/test (tuned on / reported), and blind-dev/blind-test, blind2-dev/blind2-test and
blind3-dev/blind3-test (written from the fact sheet without the corpus). The size and mix rules are dev/test's;
everything else holds for all sets.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from evals.metrics import norm
from evals.runner import KINDS, QUESTIONS_DIR, load_questions

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CHAPTERS = sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")
SETS = ("dev", "test", "blind-dev", "blind-test", "blind2-dev", "blind2-test", "blind3-dev", "blind3-test")
HALVES = [("dev", "test"), ("blind-dev", "blind-test"), ("blind2-dev", "blind2-test"), ("blind3-dev", "blind3-test")]


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    return {name: load_questions(QUESTIONS_DIR / f"{name}.jsonl") for name in SETS}


def headings(path: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def test_size_and_mix(sets):
    everything = sets["dev"] + sets["test"]
    assert len(everything) >= 100
    assert sum(q["kind"] in ("out-of-scope", "hostile") for q in everything) >= 20
    assert sum(q["language"] == "en" for q in everything) >= 10
    share = len(sets["dev"]) / len(everything)
    assert 0.5 <= share <= 0.7, share
    for name in ("dev", "test"):
        assert set(Counter(q["kind"] for q in sets[name])) == set(KINDS), f"{name} lacks a kind"


def test_blind_sets_are_there(sets):
    for name in ("blind-dev", "blind-test", "blind2-dev", "blind2-test", "blind3-dev", "blind3-test"):
        assert sets[name], f"{name}.jsonl is empty"


def test_ids_are_unique_across_sets(sets):
    ids = Counter(q["id"] for rows in sets.values() for q in rows)
    assert not [i for i, n in ids.items() if n > 1]


@pytest.mark.parametrize("name", SETS)
def test_ids_name_their_set(sets, name):
    bad = [q["id"] for q in sets[name] if not re.fullmatch(rf"{re.escape(name)}-\d{{3}}", str(q["id"]))]
    assert not bad


@pytest.mark.parametrize("first,second", HALVES)
def test_no_question_is_in_both_halves(sets, first, second):
    both = {norm(q["question"]) for q in sets[first]} & {norm(q["question"]) for q in sets[second]}
    assert not both


@pytest.fixture(scope="module")
def corpus_text() -> str:
    return " ".join(norm(p.read_text(encoding="utf-8")) for p in CHAPTERS)


@pytest.mark.parametrize("name", SETS)
def test_key_facts_occur_in_the_corpus(sets, corpus_text, name):
    missing = [(q["id"], alt) for q in sets[name] for fact in q["key_facts"] for alt in fact
               if norm(alt) not in corpus_text]
    assert not missing


def missing_sections(rows: list[dict]) -> set[tuple[str, str, str | None]]:
    """(id, source, section) of each expected place that is not a file, or not a heading in it."""
    files = {p.name: headings(p) for p in CHAPTERS}
    return {(q["id"], e["source"], e.get("section")) for q in rows for e in q["expected"]
            if e["source"] not in files or ("section" in e and e["section"] not in files[e["source"]])}


@pytest.mark.parametrize("name", SETS)
def test_expected_sources_and_sections_exist(sets, name):
    assert not missing_sections(sets[name])


@pytest.mark.parametrize("name", SETS)
def test_covered_flags_and_follow_ups(sets, name):
    for q in sets[name]:
        if q["kind"] == "out-of-scope":
            assert not q["covered"] and not q["key_facts"], q["id"]
        if q["covered"]:
            assert q["expected"] and q["key_facts"], q["id"]
        if q["kind"] == "follow-up":
            assert q["history"] and all(len(turn) == 2 for turn in q["history"]), q["id"]
