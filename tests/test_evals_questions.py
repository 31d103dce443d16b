"""The question sets follow their documented format, and every key fact is an exact string of the corpus."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from evals.metrics import norm
from evals.runner import KINDS, QUESTIONS_DIR, load_questions

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CHAPTERS = sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    return {name: load_questions(QUESTIONS_DIR / f"{name}.jsonl") for name in ("dev", "test")}


def headings(path: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def test_size_and_mix(sets):
    everything = sets["dev"] + sets["test"]
    assert len(everything) >= 100
    assert sum(q["kind"] in ("out-of-scope", "hostile") for q in everything) >= 20
    assert sum(q["language"] == "en" for q in everything) >= 10
    share = len(sets["dev"]) / len(everything)
    assert 0.5 <= share <= 0.7, share
    for name, rows in sets.items():
        assert set(Counter(q["kind"] for q in rows)) == set(KINDS), f"{name} lacks a kind"


def test_ids_are_unique_across_sets(sets):
    ids = [q["id"] for rows in sets.values() for q in rows]
    assert len(ids) == len(set(ids))


def test_no_question_is_in_both_sets(sets):
    assert not {norm(q["question"]) for q in sets["dev"]} & {norm(q["question"]) for q in sets["test"]}


def test_key_facts_occur_in_the_corpus(sets):
    corpus = " ".join(norm(p.read_text(encoding="utf-8")) for p in CHAPTERS)
    missing = [(q["id"], alt) for rows in sets.values() for q in rows for fact in q["key_facts"] for alt in fact
               if norm(alt) not in corpus]
    assert not missing


def test_expected_sources_and_sections_exist(sets):
    files = {p.name: headings(p) for p in CHAPTERS}
    bad = []
    for rows in sets.values():
        for q in rows:
            for e in q["expected"]:
                if e["source"] not in files or ("section" in e and e["section"] not in files[e["source"]]):
                    bad.append((q["id"], e))
    assert not bad


def test_covered_flags_and_follow_ups(sets):
    for rows in sets.values():
        for q in rows:
            if q["kind"] == "out-of-scope":
                assert not q["covered"] and not q["key_facts"], q["id"]
            if q["covered"]:
                assert q["expected"] and q["key_facts"], q["id"]
            if q["kind"] == "follow-up":
                assert q["history"] and all(len(turn) == 2 for turn in q["history"]), q["id"]
            assert re.fullmatch(r"(dev|test)-\d{3}", q["id"])
