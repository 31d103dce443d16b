"""Answers from a chosen set of documents (`sources`): the vector query, BM25, citations, refusals and contents all
keep to the selection; `handbook ask --source` and the --json object say the same. Real index: the digest plus a
generated PDF book (conftest's book_home)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from assistant import open_assistant
from assistant.errors import QuestionError

SHARE = "Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?"
DIGEST = "02-noegletal.md"


@pytest.fixture(scope="module")
def assistant(book_home):
    return open_assistant(book_home)


def cited(answer) -> set[str]:
    return {c.source for c in answer.citations}


def test_all_documents_by_default_and_the_book_alone_when_chosen(assistant):
    both = assistant.ask(SHARE)
    assert DIGEST in cited(both) and both.sources is None
    alone = assistant.ask(SHARE, sources=["bog.pdf"])
    assert cited(alone) == {"bog.pdf"} and not alone.refused
    assert "Fire ud af fem" in alone.citations[0].quote
    assert alone.to_json()["sources"] == ["bog.pdf"]
    assert cited(assistant.ask(SHARE, sources=[DIGEST])) == {DIGEST}


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_retrieval_mode_keeps_to_the_selection(book_home, mode):
    a = open_assistant(dataclasses.replace(book_home, retrieval=mode))
    hits = a.retriever.retrieve("innovationer i samarbejde med eksterne aktører", 12, ["bog.pdf"])
    assert hits and {h.chunk.source for h in hits} == {"bog.pdf"}
    unrestricted = a.retriever.retrieve("innovationer i samarbejde med eksterne aktører", 12)
    assert any(h.chunk.source != "bog.pdf" for h in unrestricted)


def test_refusals_and_contents_follow_the_selection(assistant):
    refusal = assistant.ask("Hvad bliver vejret i morgen?", sources=["bog.pdf"])
    assert refusal.refused and refusal.nearest and {r.source for r in refusal.nearest} == {"bog.pdf"}
    contents = assistant.ask("Hvilke kapitler har håndbogen?", sources=["bog.pdf"])
    assert contents.kind.startswith("contents") and cited(contents) == {"bog.pdf"}
    assert "Frivillige og civilsamfund" in contents.answer and "Fonde" not in contents.answer


def test_a_document_not_in_the_index_is_named(assistant):
    with pytest.raises(QuestionError, match=r"nope\.pdf"):
        assistant.ask(SHARE, sources=["bog.pdf", "nope.pdf"])
    assert assistant.ask(SHARE, sources=[]).sources is None, "an empty selection means all documents"


def test_cli_source_is_repeatable_and_in_the_json(book_home, model_env, run_cli):
    home = str(book_home.home)
    result = run_cli("--home", home, "ask", "--json", "--source", "bog.pdf", SHARE)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sources"] == ["bog.pdf"] and {c["source"] for c in data["citations"]} == {"bog.pdf"}
    result = run_cli("--home", home, "ask", "--json", "--source", "bog.pdf", "--source", DIGEST, SHARE)
    assert json.loads(result.stdout)["sources"] == sorted(["bog.pdf", DIGEST])
    result = run_cli("--home", home, "ask", "--source", "nope.pdf", SHARE)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "nope.pdf" in result.stderr
    assert "Traceback" not in result.output
