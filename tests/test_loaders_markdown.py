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
