"""The question sets over documents no one here wrote: their key facts stand in the text our PDF loader reads."""
from __future__ import annotations

from pathlib import Path

import pytest

from evals.metrics import missing_facts
from evals.runner import load_questions
from ingest.loaders.pdf import load_pdf

EXTERNAL = Path(__file__).resolve().parent.parent / "evals" / "external"
SETS = {"nist.jsonl": "nist-sp-800-223.pdf", "ki67.jsonl": "ki67-breast-cancer.pdf"}


@pytest.mark.parametrize("questions,document", sorted(SETS.items()))
def test_every_key_fact_is_in_the_text_the_loader_reads(questions, document):
    pdf = EXTERNAL / document
    text = " ".join(s.text for s in load_pdf(pdf, pdf.name))
    rows = load_questions(EXTERNAL / questions)
    assert len(rows) == 40 and sum(not r["covered"] for r in rows) == 10
    missing = [(r["id"], fact) for r in rows if r["covered"] for fact in missing_facts(text, r["key_facts"])]
    assert not missing, missing
    assert all(t["source"] == document for r in rows for t in r.get("expected", []))
