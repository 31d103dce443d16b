from pathlib import Path

import pytest

from assistant.errors import IngestError
from ingest.loaders import load

DOC = """---
chapter: 7
title: Fonde
actor: 7
---

# Fonde

Indledning om fonde.

## Tal

Cirka 9 % af innovationerne.

## Case: Nye hjem i Odense

Odense Kommune og en fond.

## Kilder

- https://example.org
"""


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_front_matter_headings_and_lines(tmp_path):
    sections = load(write(tmp_path, "09-fonde.md", DOC))
    assert [s.section_title for s in sections] == ["Fonde", "Tal", "Case: Nye hjem i Odense", "Kilder"]
    assert {s.chapter_number for s in sections} == {7}
    assert {s.actor for s in sections} == {7}
    assert [s.kind for s in sections] == ["section", "section", "case", "sources"]
    tal = sections[1]
    assert tal.text == "Cirka 9 % af innovationerne."
    assert tal.line_start == tal.line_end == DOC.split("\n").index("Cirka 9 % af innovationerne.") + 1
    assert sections[0].source == "09-fonde.md"


def test_without_front_matter_the_heading_names_the_chapter(tmp_path):
    sections = load(write(tmp_path, "x.md", "# Kapitel 3 Borgere\n\nTekst her.\n\n## Del\n\nMere **fed** [link](http://x).\n"))
    assert sections[0].chapter_title == "Kapitel 3 Borgere"
    assert sections[0].chapter_number == 3
    assert sections[1].text == "Mere fed link."


def test_cp1252_text_is_read(tmp_path):
    sections = load(write(tmp_path, "a.md", "# Æble\n\nSøde æbler på ø.\n".encode("cp1252")))
    assert sections[0].text == "Søde æbler på ø."


@pytest.mark.parametrize("name,data,needle", [
    ("empty.md", b"", "empty"),
    ("binary.md", b"\x00\x01\x02PK\x03\x04" * 100, "binary"),
    ("bad.md", b"---\ntitle: [unclosed\n---\n# X\n\ntext\n", "front matter"),
    ("only-front.md", b"---\ntitle: x\n---\n", "no text"),
])
def test_bad_files_raise_one_clear_error(tmp_path, name, data, needle):
    with pytest.raises(IngestError) as err:
        load(write(tmp_path, name, data))
    assert name in str(err.value) and needle in str(err.value)


def test_setext_headings_start_chapters_and_sections(tmp_path):
    doc = "Kapitel 4 Borgere\n=================\n\nIndledning.\n\nTal for\nborgere\n-------\n\nCirka 63 %.\n"
    sections = load(write(tmp_path, "s.md", doc))
    assert [s.section_title for s in sections] == ["Kapitel 4 Borgere", "Tal for borgere"]
    assert {s.chapter_title for s in sections} == {"Kapitel 4 Borgere"} and {s.chapter_number for s in sections} == {4}
    assert [s.text for s in sections] == ["Indledning.", "Cirka 63 %."]
    assert [(s.line_start, s.line_end) for s in sections] == [(4, 4), (10, 10)]


@pytest.mark.parametrize("fence,inner,close", [("```", "~~~", "```"), ("````python", "~~~", "`````"),
                                               ("~~~", "~~~ no close", "~~~")])
def test_a_hash_line_in_a_fenced_block_is_text(tmp_path, fence, inner, close):
    doc = f"# Titel\n\nFør.\n\n{fence}\n# not a heading\n{inner}\n{close}\n\nEfter.\n"
    sections = load(write(tmp_path, "f.md", doc))
    assert [s.section_title for s in sections] == ["Titel"]
    text = sections[0].text.split("\n")
    assert text == ["Før.", "", "# not a heading", inner, "", "Efter."]  # fence lines dropped, content kept
    assert sections[0].line_offsets[text.index("# not a heading")][1] == 6


def test_a_hash_line_in_an_indented_code_block_is_text(tmp_path):
    doc = "# Titel\n\nFør.\n\n    # not a heading\n\n## Del\n\nEfter.\n"
    sections = load(write(tmp_path, "i.md", doc))
    assert [s.section_title for s in sections] == ["Titel", "Del"]
    assert sections[0].text == "Før.\n\n    # not a heading"
    assert sections[0].line_end == 5


def test_a_hash_line_in_an_html_block_is_text(tmp_path):
    doc = "# Titel\n\n<div>\n# not a heading\n</div>\n\n## Del\n\nEfter.\n"
    sections = load(write(tmp_path, "h.md", doc))
    assert [s.section_title for s in sections] == ["Titel", "Del"]
    assert sections[0].text == "# not a heading" and sections[0].line_start == 4


def test_headings_inside_quotes_and_lists_stay_text(tmp_path):
    sections = load(write(tmp_path, "q.md", "# Titel\n\n> # citeret\n\n- # punkt\n"))
    assert [s.section_title for s in sections] == ["Titel"]
    assert sections[0].text == "> # citeret\n\n- # punkt"
