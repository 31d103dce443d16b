"""The bundled chapter files are answer material only: no sentence talks about the digest itself."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CHAPTERS = sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")
SELF_NOTE = re.compile(r"sammendrag|korpus|\bvores\b|\bvi\b|dette projekt|til projektet|udviklingskonsulent",
                       re.IGNORECASE)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_files_do_not_talk_about_the_digest(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    hits = [(n, line) for n, line in enumerate(lines, 1) if not line.startswith("- http") and SELF_NOTE.search(line)]
    assert not hits, hits


def test_the_readme_says_the_corpus_is_a_digest_not_the_book() -> None:
    text = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert "NOT the text of the book" in text and "Det er ikke bogens tekst" in text
