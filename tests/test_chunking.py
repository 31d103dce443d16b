from pathlib import Path

from assistant.datamodel import Section
from ingest.chunking import chunk_id, chunk_sections
from ingest.loaders import load

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def corpus_sections() -> list[Section]:
    return [s for p in sorted(CORPUS.glob("[0-9]*.md")) for s in load(p, p.name)]


def test_chunks_never_cross_a_section_and_skip_sources():
    sections = corpus_sections()
    chunks = chunk_sections(sections)
    by_key = {(s.source, s.order): s for s in sections}
    for c in chunks:
        section = by_key[(c.source, c.order)]
        assert c.text in section.text
        assert c.section_title == section.section_title
        assert c.kind != "sources"
        assert "https://" not in c.text


def test_chunk_ids_are_stable_and_unique():
    a, b = chunk_sections(corpus_sections()), chunk_sections(corpus_sections())
    assert [c.id for c in a] == [c.id for c in b]
    assert len({c.id for c in a}) == len(a)


def test_long_sections_split_at_paragraphs_within_size():
    para = " ".join(["Ord"] * 60) + "."
    section = Section(source="s.md", text="\n\n".join([para] * 6), section_title="S", line_start=1)
    chunks = chunk_sections([section], target_words=100, max_words=150)
    assert len(chunks) == 3
    assert all(len(c.text.split()) <= 150 for c in chunks)


def test_line_ranges_point_at_the_chunk(tmp_path):
    path = tmp_path / "doc.md"
    lines = ["# Titel", ""] + [f"Afsnit nummer {i} har sin egen tekst her." if i % 2 == 0 else "" for i in range(40)]
    path.write_text("\n".join(lines), encoding="utf-8")
    chunks = chunk_sections(load(path), target_words=20, max_words=30)
    assert len(chunks) > 1
    for c in chunks:
        first_line = lines[c.line_start - 1]
        assert c.text.startswith(first_line)
        assert c.text.endswith(lines[c.line_end - 1])


def test_pages_follow_offsets():
    section = Section(source="b.pdf", text="Side et tekst.\n\nSide to tekst.", section_title="S",
                      page_offsets=[(0, 1, "i"), (16, 2, "ii")])
    chunks = chunk_sections([section], target_words=2, max_words=3)
    assert [(c.page, c.page_label) for c in chunks] == [(1, "i"), (2, "ii")]


def test_the_same_text_twice_in_one_file_gets_two_ids_and_the_first_keeps_its_own():
    """A page printed twice (two sections of one title, same text): ids stay unique per file and position."""
    text = "Kommunen og foreningerne mødes hver måned i et fælles forum."
    twice = [Section(source="a.pdf", text=text, section_title="Bilag", order=i, page=i + 1) for i in range(3)]
    chunks = chunk_sections(twice)
    assert len({c.id for c in chunks}) == 3 and [c.page for c in chunks] == [1, 2, 3]
    assert chunks[0].id == chunk_id(twice[0], 0, text)  # ids of text that was never repeated do not change
    elsewhere = chunk_sections([Section(source="b.pdf", text=text, section_title="Bilag")])
    assert elsewhere[0].id not in {c.id for c in chunks}
