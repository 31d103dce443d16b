"""HTML and DOCX loaders: headings become chapters and sections, boilerplate is dropped, tables keep headers."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from assistant.errors import IngestError
from ingest.chunking import chunk_sections
from ingest.loaders import load
from ingest.loaders.docx import load_docx
from ingest.loaders.html import load_html

HTML = """<!DOCTYPE html>
<html lang="da"><head><title>Håndbogen på nettet</title>
<style>p { color: red; }</style><script>var hemmelig = "må ikke ses";</script></head>
<body>
<nav><a href="/">Forside</a> <a href="/om">Om os</a></nav>
<p>Indledning før første kapitel om samarbejde.</p>
<h1>Kapitel 3 Borgere</h1>
<p>Borgerne er <em>eksperter</em> i deres eget liv,
   og deres erfaringer tæller.</p>
<h2>3.1 Hvorfor inddrage borgerne?</h2>
<p>Fordi løsningerne bliver bedre.<br>Og billigere.</p>
<ul><li>Workshops</li><li>Interviews med ældre</li></ul>
<table><tr><th>Aktør</th><th>Rolle</th></tr>
<tr><td>Kommunen</td><td>Koordinerer</td></tr><tr><td>Foreningen</td><td>Frivillige</td></tr></table>
<h3>Case: Ærø Kommune</h3>
<div>Ærø samarbejder med øens foreninger. <span>Det giver værdi.</span></div>
<h1>Kapitel 4 Frivillige</h1>
<p>Frivillige foreninger bidrager med tid.</p>
<footer>© 2018 Forlaget</footer>
</body></html>
"""


def test_html_structure_and_text(tmp_path: Path) -> None:
    path = tmp_path / "side.html"
    path.write_text(HTML, encoding="utf-8")
    sections = load_html(path, "side.html")
    tree = [(s.chapter_number, s.chapter_title, s.section_title, s.kind) for s in sections]
    assert tree == [
        (None, "Håndbogen på nettet", "Håndbogen på nettet", "section"),
        (3, "Kapitel 3 Borgere", "Kapitel 3 Borgere", "section"),
        (3, "Kapitel 3 Borgere", "3.1 Hvorfor inddrage borgerne?", "section"),
        (3, "Kapitel 3 Borgere", "Case: Ærø Kommune", "case"),
        (4, "Kapitel 4 Frivillige", "Kapitel 4 Frivillige", "section"),
    ]
    everything = "\n".join(s.text for s in sections)
    for gone in ("hemmelig", "color: red", "Forside", "Om os", "Forlaget"):
        assert gone not in everything
    assert sections[1].text == "Borgerne er eksperter i deres eget liv, og deres erfaringer tæller."
    assert sections[2].text.split("\n\n") == [
        "Fordi løsningerne bliver bedre.\nOg billigere.", "Workshops", "Interviews med ældre",
        "Aktør: Kommunen; Rolle: Koordinerer\nAktør: Foreningen; Rolle: Frivillige"]
    assert sections[3].text == "Ærø samarbejder med øens foreninger. Det giver værdi."
    assert sections[1].line_start == 8 and sections[4].line_end == 18
    assert [c.line_start for c in chunk_sections(sections[:2])] == [6, 8]


def test_html_in_windows_1252_and_without_headings(tmp_path: Path) -> None:
    path = tmp_path / "gammel.htm"
    path.write_bytes("<p>Søren går på å-stien.</p><p>Anden del.</p>".encode("cp1252"))
    sections = load(path)
    assert len(sections) == 1 and sections[0].chapter_title == "gammel"
    assert sections[0].text == "Søren går på å-stien.\n\nAnden del."


def test_html_binary_or_empty_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "tom.html"
    empty.write_bytes(b"")
    binary = tmp_path / "binaer.html"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    for path in (empty, binary):
        with pytest.raises(IngestError):
            load_html(path, path.name)


def test_html_nested_too_deeply_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "dyb.html"
    path.write_text("<div>" * 5000 + "tekst" + "</div>" * 5000, encoding="utf-8")
    try:
        sections = load_html(path, "dyb.html")
    except IngestError as err:
        assert "nested too deeply" in str(err)
    else:
        assert sections[0].text == "tekst"


@pytest.fixture()
def docx_path(tmp_path: Path) -> Path:
    import docx

    doc = docx.Document()
    doc.add_heading("Nyt sammen bedre", level=0)
    doc.add_paragraph("Et forord før første kapitel.")
    doc.add_heading("Kapitel 2 Nøgletal", level=1)
    doc.add_paragraph("79 procent af innovationerne sker i samarbejde.")
    doc.add_heading("2.1 Undersøgelsen", level=2)
    doc.add_paragraph("Svarprocenten var 50.")
    table = doc.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Aktør", "Andel"), ("Kommuner", "45 %"), ("Regioner", "30 %")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    doc.add_heading("Eksempel: Ærø", level=3)
    doc.add_paragraph("Øens skole samarbejder med foreningerne.")
    doc.add_heading("Detalje", level=4)
    doc.add_paragraph("En lille note.")
    doc.add_heading("Kapitel 3 Borgere", level=1)
    doc.add_paragraph("Borgerne deltager.")
    path = tmp_path / "bog.docx"
    doc.save(str(path))
    return path


def test_docx_structure(docx_path: Path) -> None:
    sections = load(docx_path)
    tree = [(s.chapter_number, s.chapter_title, s.section_title, s.kind) for s in sections]
    assert tree == [
        (None, "Nyt sammen bedre", "Nyt sammen bedre", "section"),
        (2, "Kapitel 2 Nøgletal", "Kapitel 2 Nøgletal", "section"),
        (2, "Kapitel 2 Nøgletal", "2.1 Undersøgelsen", "section"),
        (2, "Kapitel 2 Nøgletal", "Eksempel: Ærø", "case"),
        (3, "Kapitel 3 Borgere", "Kapitel 3 Borgere", "section"),
    ]
    assert sections[2].text == "Svarprocenten var 50.\n\nAktør: Kommuner; Andel: 45 %\nAktør: Regioner; Andel: 30 %"
    assert sections[3].text == "Øens skole samarbejder med foreningerne.\n\nDetalje\n\nEn lille note."


@pytest.mark.parametrize("content,words", [
    (b"", "empty"),
    (b"PK\x03\x04 not really a zip", "damaged"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "password"),
    (b"<html>not word</html>", "not a DOCX"),
])
def test_bad_docx_raise_ingest_error(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.docx"
    path.write_bytes(content)
    with pytest.raises(IngestError) as err:
        load_docx(path, "bad.docx")
    assert words in str(err.value)


def test_docx_zip_without_document_part(tmp_path: Path) -> None:
    path = tmp_path / "halv.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(IngestError, match="damaged"):
        load_docx(path, "halv.docx")


# -- front matter: a byline or dateline at the top is text and metadata, never a heading ----------------------

@pytest.mark.parametrize("line,author,date", [
    ("Af Bettine Romme Andersen 22/10/2018", "Bettine Romme Andersen", "2018-10-22"),
    ("By Jane Doe | October 22, 2018", "Jane Doe", "2018-10-22"),
    ("Skrevet af Bettine Romme Andersen", "Bettine Romme Andersen", None),
    ("Tekst: Anne Holm · Foto: Ritzau Scanpix", "Anne Holm", None),
    ("Foto: Ritzau Scanpix", None, None),
    ("Af Anne Hansen, Peter Jensen og Mette Holm, 22. oktober 2018", "Anne Hansen, Peter Jensen og Mette Holm",
     "2018-10-22"),
    ("Bettine Romme Andersen | 22. oktober 2018", "Bettine Romme Andersen", "2018-10-22"),
    ("22. oktober 2018", None, "2018-10-22"),
    ("2018-10-22", None, "2018-10-22"),
    ("Publiceret 22.10.2018 kl. 10.15", None, "2018-10-22"),
    ("Opdateret mandag den 22. okt. 2018 kl. 10:15", None, "2018-10-22"),
    ("AF BETTINE ROMME ANDERSEN 22/10/2018", "BETTINE ROMME ANDERSEN", "2018-10-22"),
])
def test_byline_patterns(line: str, author: str | None, date: str | None) -> None:
    from ingest.loaders.structure import front_matter, is_byline

    assert is_byline(line)
    meta = front_matter([line])
    assert (meta.get("author"), meta.get("date"), meta["byline"]) == (author, date, line)


@pytest.mark.parametrize("line", [
    "Afslutning", "Af hensyn til sikkerheden", "AF HENSYN TIL SIKKERHEDEN", "Af de ældre", "Kapitel 3 Borgere",
    "3.1 Hvorfor inddrage borgerne?", "Mødet 22. oktober 2018", "Borgermøde – 22. oktober 2018", "Tekst", "Foto",
    "Fakta: Innovationsbarometeret", "Case: Ærø Kommune", "2018",
])
def test_headings_that_are_not_bylines(line: str) -> None:
    from ingest.loaders.structure import is_byline

    assert not is_byline(line)


ARTICLE = """<!DOCTYPE html>
<html lang="da"><head><title>Artikel</title>{meta}</head>
<body>
<header><h1>Borgerne skal inddrages tidligere</h1>
{byline}</header>
<p>Kommunerne skal inddrage borgerne tidligere. Det viser en ny undersøgelse.</p>
<h2>Af hensyn til sikkerheden</h2>
<p>Oplysninger deles kun med borgerens samtykke.</p>
<h2>Afslutning</h2>
<p>Undersøgelsen slutter med gode råd.</p>
</body></html>
"""


@pytest.mark.parametrize("byline,lines", [
    (('<p class="byline">Af <a href="/forfatter/bra">Bettine Romme Andersen</a> '
      '<time datetime="2018-10-22T10:15">22/10/2018</time></p>'), ["Af Bettine Romme Andersen 22/10/2018"]),
    ("<div>Af Bettine Romme Andersen 22/10/2018</div>", ["Af Bettine Romme Andersen 22/10/2018"]),
    ("<h3>Af Bettine Romme Andersen</h3><h4>Publiceret 22.10.2018 kl. 10.15</h4>",
     ["Af Bettine Romme Andersen", "Publiceret 22.10.2018 kl. 10.15"]),
    ("<address>Af Bettine Romme Andersen</address><p><time>22. oktober 2018</time></p>",
     ["Af Bettine Romme Andersen", "22. oktober 2018"]),
])
def test_html_byline_is_text_of_the_first_section(tmp_path: Path, byline: str, lines: list[str]) -> None:
    from assistant.answer.sentences import sentences
    from ingest.loaders import document_meta

    path = tmp_path / "artikel.html"
    path.write_text(ARTICLE.format(meta="", byline=byline), encoding="utf-8")
    sections = load_html(path, "artikel.html")
    assert [s.section_title for s in sections] == [
        "Borgerne skal inddrages tidligere", "Af hensyn til sikkerheden", "Afslutning"]
    assert sections[0].text.split("\n\n")[: len(lines)] == lines
    assert sentences(sections[0].text)[len(lines)] == "Kommunerne skal inddrage borgerne tidligere."
    meta = document_meta(sections)
    assert (meta["author"], meta["date"]) == ("Bettine Romme Andersen", "2018-10-22")


def test_html_meta_tags_when_the_page_shows_no_byline(tmp_path: Path) -> None:
    from ingest.loaders import document_meta

    meta = ('<meta name="Author" content="Bettine Romme Andersen">'
            '<meta property="article:published_time" content="2018-10-22T10:15:00+02:00">')
    path = tmp_path / "artikel.html"
    path.write_text(ARTICLE.format(meta=meta, byline=""), encoding="utf-8")
    assert document_meta(load(path)) == {"author": "Bettine Romme Andersen", "date": "2018-10-22"}
    path.write_text(ARTICLE.format(meta="", byline='<span>Opdateret <time datetime="2018-10-23">i går</time></span>'),
                    encoding="utf-8")
    assert document_meta(load(path)) == {"date": "2018-10-23"}  # a <time> in the page's header
    path.write_text(HTML, encoding="utf-8")
    assert document_meta(load(path)) == {}


def test_docx_byline_is_text_of_the_first_section(tmp_path: Path) -> None:
    import datetime

    import docx

    from assistant.answer.sentences import split_sentences
    from ingest.loaders import document_meta

    doc = docx.Document()
    doc.core_properties.author, doc.core_properties.created = "Skabelon", datetime.datetime(2020, 1, 2)
    doc.add_heading("Borgerne skal inddrages tidligere", level=0)
    doc.add_paragraph().add_run("Af Bettine Romme Andersen").bold = True  # a bold short paragraph
    doc.add_heading("22. oktober 2018", level=2)  # a dateline styled as a heading
    doc.add_paragraph("Kommunerne skal inddrage borgerne tidligere. Det viser en ny undersøgelse.")
    doc.add_heading("Af hensyn til sikkerheden", level=2)
    doc.add_paragraph("Oplysninger deles kun med borgerens samtykke.")
    doc.add_heading("Afslutning", level=2)
    doc.add_paragraph("Undersøgelsen slutter med gode råd.")
    path = tmp_path / "artikel.docx"
    doc.save(str(path))
    sections = load(path)
    assert [s.section_title for s in sections] == [
        "Borgerne skal inddrages tidligere", "Af hensyn til sikkerheden", "Afslutning"]
    text = sections[0].text
    assert [text[s:e] for s, e in split_sentences(text)][:3] == [
        "Af Bettine Romme Andersen", "22. oktober 2018", "Kommunerne skal inddrage borgerne tidligere."]
    meta = document_meta(sections)
    assert (meta["author"], meta["date"]) == ("Bettine Romme Andersen", "2018-10-22")  # the byline beats the file


def test_docx_core_properties_when_the_text_has_no_byline(docx_path: Path) -> None:
    import datetime

    import docx

    from ingest.loaders import document_meta

    doc = docx.Document(str(docx_path))
    doc.core_properties.author, doc.core_properties.created = "Bettine Romme Andersen", datetime.datetime(2018, 10, 22)
    doc.save(str(docx_path))
    assert document_meta(load(docx_path)) == {"author": "Bettine Romme Andersen", "date": "2018-10-22"}
