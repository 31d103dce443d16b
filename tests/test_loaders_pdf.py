"""PDF ingestion on generated handbook-like PDFs: chapter tree, printed pages, clean text, bad files."""
from __future__ import annotations

import bisect
import logging
import re
import time
import unicodedata
from pathlib import Path

import make_pdfs
import pytest

from assistant.datamodel import Section
from assistant.errors import IngestError
from ingest.chunking import chunk_sections
from ingest.loaders import load
from ingest.loaders.pdf import load_pdf

BOOKMARKED = ["a4", "a5_marks"]
LAYOUT_ONLY = ["a4_plain", "a5"]
ALL = BOOKMARKED + LAYOUT_ONLY
TREE = {
    (1, "Samarbejde på tværs"): ["1.1 Hvorfor samarbejde?", "1.2 Roller og ansvar"],
    (2, "Borgerens perspektiv"): ["2.1 Aktører og roller", "2.2 Dialog med borgerne"],
    (3, "Frivillige og civilsamfund"): ["3.1 Hvad frivillige bidrager med", "3.2 Gode råd om frivillige"],
}


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_pdfs.make_all(tmp_path_factory.mktemp("pdfs"))


@pytest.fixture(scope="module")
def loaded(pdfs: dict) -> dict[str, list[Section]]:
    return {name: load_pdf(pdfs[name], Path(pdfs[name]).name) for name in ALL}


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _locate(sections: list[Section], sentence: str) -> tuple[Section, int] | None:
    """The section holding the sentence (whitespace-insensitive) and the sentence's offset in its text."""
    want = _norm(sentence)
    for s in sections:
        flat, index = [], []
        for i, ch in enumerate(s.text):
            if ch.isspace():
                if flat and flat[-1] != " ":
                    flat.append(" ")
                    index.append(i)
            else:
                flat.append(ch)
                index.append(i)
        pos = "".join(flat).find(want)
        if pos >= 0:
            return s, index[pos]
    return None


def _page_at(section: Section, offset: int) -> tuple[int | None, str | None]:
    starts = [o[0] for o in section.page_offsets]
    i = max(0, bisect.bisect_right(starts, offset) - 1)
    return section.page_offsets[i][1], section.page_offsets[i][2]


@pytest.mark.parametrize("variant", ALL)
def test_chapter_tree(loaded: dict, variant: str) -> None:
    tree: dict[tuple, list[str]] = {}
    for s in loaded[variant]:
        if s.chapter_number is not None:
            titles = tree.setdefault((s.chapter_number, s.chapter_title), [])
            if s.section_title != s.chapter_title and s.section_title not in titles:
                titles.append(s.section_title)
    assert tree == TREE
    assert [s.order for s in loaded[variant]] == list(range(len(loaded[variant])))


def test_bookmarked_front_matter_is_its_own_chapter(loaded: dict) -> None:
    forord = [s for s in loaded["a4"] if s.chapter_title == "Forord"]
    assert forord and forord[0].chapter_number is None and forord[0].page_label == "iii"


@pytest.mark.parametrize("variant", ALL)
def test_every_sentence_has_its_printed_page(pdfs: dict, loaded: dict, variant: str) -> None:
    placed: dict = pdfs[f"{variant}_placed"]
    assert len(placed) > 60
    wrong = []
    for sentence, where in placed.items():
        hit = _locate(loaded[variant], sentence)
        if hit is None:
            wrong.append(("missing", sentence))
            continue
        page, label = _page_at(*hit)
        if (page, label) != (where.page, where.label):
            wrong.append(((page, label), (where.page, where.label), sentence))
    assert wrong == []


def test_known_fact_pages(loaded: dict) -> None:
    hit = _locate(loaded["a4"], "Kommunen har ansvaret for at koordinere indsatsen omkring den enkelte borger.")
    assert hit and _page_at(*hit) == (4, "1")
    front = _locate(loaded["a4_plain"], "Håndbogen er udgivet af Center for Offentlig Innovation i 2018.")
    assert front and _page_at(*front) == (3, "iii")  # roman numbers read from the footer, no /PageLabels


@pytest.mark.parametrize("variant", ALL)
def test_no_running_headers_or_page_numbers_in_text(loaded: dict, variant: str) -> None:
    for s in loaded[variant]:
        if s.page == 1:
            continue  # the title page prints the title as its text
        assert "NYT SAMMEN BEDRE" not in s.text
        assert "Kapitel" not in s.text and "·" not in s.text
        assert not re.search(r"(^|\n)\s*([0-9]{1,3}|[ivx]{1,5})\s*($|\n)", s.text), s.text


def test_hyphenation_joined_but_real_hyphens_kept(loaded: dict) -> None:
    for variant in ALL:
        text = "\n".join(s.text for s in loaded[variant])
        assert "Et godt samarbejde kræver" in text
        assert "samar-" not in text and "samar bejde" not in text
        assert "Det fælles it-system gør" in text


def test_two_columns_read_column_by_column(loaded: dict) -> None:
    sentence = ("Erfaringerne viser, at de frivillige foreninger bidrager med aktiviteter, som kommunen ikke selv "
                "kan tilbyde, og som borgerne sætter stor pris på i hverdagen.")
    for variant in ALL:
        hit = _locate(loaded[variant], sentence)
        assert hit and hit[0].section_title == "3.1 Hvad frivillige bidrager med"
        text = hit[0].text
        assert text.index("De frivillige bringer tid") < text.index("Samarbejdet med foreningerne") < hit[1]


def test_fact_box_does_not_split_a_sentence(loaded: dict) -> None:
    sentence = ("En tydelig rollefordeling gør det lettere at evaluere indsatsen bagefter og at lære af de fejl, der "
                "uvægerligt opstår, når man prøver noget nyt sammen med andre.")
    for variant in ALL:
        hit = _locate(loaded[variant], sentence)
        assert hit, variant
        paragraphs = hit[0].text.split("\n\n")
        title = paragraphs.index("Fakta: Innovationsbarometeret")
        assert paragraphs[title + 1].startswith("Innovationsbarometeret bygger på svar fra 2.363 offentlige")


def test_pull_quote_is_its_own_paragraph(loaded: dict) -> None:
    for variant in ALL:
        paragraphs = [p for s in loaded[variant] for p in s.text.split("\n\n")]
        assert "“De bedste idéer kom fra borgerne selv.”" in paragraphs


def test_table_rows_keep_their_headers(loaded: dict) -> None:
    for variant in ALL:
        section = next(s for s in loaded[variant] if s.section_title == "2.1 Aktører og roller")
        assert "Aktør: Kommunen; Rolle: Koordinerer indsatsen; Kontakt: Borgerservice" in section.text
        assert "Aktør: Foreningen; Rolle: Skaffer frivillige; Kontakt: Formanden" in section.text


def test_ligatures_and_danish_letters(loaded: dict) -> None:
    text = "\n".join(s.text for s in loaded["a4"])
    assert "Der findes flere måder at organisere finansieringen" in text
    assert not re.search("[\ufb00-\ufb06]", text)
    for word in ("aktører", "værdsat", "Håndbogen", "økonomien", "nærvær", "på tværs"):
        assert word in text


def test_scan_page_is_reported(pdfs: dict, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="handbook.ingest"):
        load_pdf(pdfs["a4"], "handbook-a4.pdf")
    scans = [r.getMessage() for r in caplog.records if "no extractable text" in r.getMessage()]
    assert len(scans) == 1 and "page 7 " in scans[0] and "OCR" in scans[0]


def test_scanned_book_is_refused_with_page_ranges(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(path))
    for _ in range(12):
        c.drawImage(ImageReader(Image.new("RGB", (8, 8), "white")), 50, 50, 400, 600)
        c.showPage()
    c.save()
    with caplog.at_level(logging.WARNING, logger="handbook.ingest"), pytest.raises(IngestError, match="OCR"):
        load_pdf(path, "scan.pdf")
    assert any("12 pages have no extractable text (scans?): pages 1-12" in r.getMessage() for r in caplog.records)


def test_text_pdfminer_misses_comes_from_pypdf_once(pdfs: dict, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="handbook.ingest"):
        sections = load_pdf(pdfs["fallback"], "fallback.pdf")
    text = "\n".join(s.text for s in sections)
    for page, (_, sentence) in enumerate(make_pdfs.FALLBACK_PAGES, start=1):
        assert _norm(text).count(sentence) == 1  # indexed, and never twice
        section, _ = _locate(sections, sentence)
        assert (section.page, section.page_label) == (page, str(10 + page))  # /PageLabels 11-14 kept
    messages = [r.getMessage() for r in caplog.records]
    assert not any("no extractable text" in m or "blank" in m for m in messages)  # page 2 has a picture
    assert [r.pypdf_pages for r in caplog.records if hasattr(r, "pypdf_pages")] == [[2, 3]]


def test_a_pdf_whose_only_text_repeats_on_every_page_is_called_a_scan(pdfs: dict) -> None:
    with pytest.raises(IngestError, match=r"only running heads or page numbers found in the PDF; .* run OCR"):
        load_pdf(pdfs["furniture_only"], "furniture-only.pdf")


def test_chunks_carry_the_printed_page(loaded: dict) -> None:
    chunks = chunk_sections(loaded["a5"])
    chunk = next(c for c in chunks if "Unge mellem 18 og 25 år" in c.text)
    assert chunk.page is not None and chunk.page_label == str(chunk.page - 3)
    assert all(c.page_label for c in chunks)


def test_plain_pdf_without_structure(pdfs: dict) -> None:
    sections = load(pdfs["plain"])
    assert [(s.section_title, s.page, s.page_label) for s in sections] == [("Side 1", 1, "1"), ("Side 2", 2, "2")]
    assert sections[0].chapter_title == "plain"
    assert "æbler, søer og ål" in sections[0].text


def test_report_layout_big_numbers_footnotes_and_hyphens(pdfs: dict) -> None:
    sections = load_pdf(pdfs["report"], "report.pdf")
    assert [(s.chapter_number, s.chapter_title, s.page, s.page_label) for s in sections] == [
        (1, "Indledning", 1, "11"), (2, "Resultater", 2, "12")]  # labels from the "Side 11" footers
    first, second = sections[0].text, sections[1].text
    assert "om social- og sundhedsområdet i de fem regioner." in first  # footnote mark dropped, "social- og" kept
    assert first.endswith("\n\n1 Kilde: Egen undersøgelse.")  # a footnote is text, not furniture
    assert "viser, at sammenhængende forløb" in second  # soft hyphen joined
    assert "Side" not in first + second


def test_owner_password_only_is_read(pdfs: dict) -> None:
    sections = load_pdf(pdfs["owner_only"], "x.pdf")
    assert any("Kommunen har ansvaret" in s.text for s in sections)


@pytest.mark.parametrize("name,words", [
    ("corrupt", "damaged"), ("truncated", "truncated"), ("encrypted", "password-protected"),
    ("not_pdf", "not a PDF"), ("empty", "empty"),
])
def test_bad_pdfs_raise_ingest_error(pdfs: dict, name: str, words: str) -> None:
    with pytest.raises(IngestError) as err:
        load_pdf(pdfs[name], "bad.pdf")
    assert words in str(err.value) and str(pdfs[name]) in str(err.value)
    assert ";" in err.value.reason  # says what to do


@pytest.mark.slow
def test_long_pdf_speed(tmp_path: Path) -> None:
    path = tmp_path / "long.pdf"
    make_pdfs.make_long_pdf(path, pages=150)
    start = time.perf_counter()
    sections = load_pdf(path, "long.pdf")
    seconds = time.perf_counter() - start
    assert max(s.page_end or 0 for s in sections) == 150
    assert sections[-1].page_offsets[-1][2] == "147"
    print(f"150 pages in {seconds:.1f} s ({150 / seconds:.1f} pages/s)")
    assert seconds < 120


@pytest.mark.slow
def test_cli_ask_cites_the_printed_page(pdfs: dict, model_env: Path, tmp_path: Path, run_cli) -> None:
    """End to end: `handbook ingest` a designed PDF, then `handbook ask --json` cites the page a reader finds."""
    import json

    home = tmp_path / "home"
    done = run_cli("--home", str(home), "ingest", str(pdfs["a5"]))
    assert done.exit_code == 0, done.output
    toc = run_cli("--home", str(home), "toc")
    assert toc.exit_code == 0 and "Samarbejde på tværs" in toc.output and "2.2 Dialog med borgerne" in toc.output
    placed = pdfs["a5_placed"]["Unge mellem 18 og 25 år deltager sjældent i borgermøder, men svarer gerne på "
                               "korte digitale spørgsmål."]
    asked = run_cli("--home", str(home), "ask", "--json", "Hvordan deltager unge mellem 18 og 25 år i borgermøder?")
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output.strip().splitlines()[-1])
    assert not answer["refused"] and answer["citations"]
    top = answer["citations"][0]
    assert top["source"] == "handbook-a5.pdf" and top["section"].endswith("2.2 Dialog med borgerne")
    assert "18 og 25 år" in top["quote"] or "18 og 25 år" in top.get("passage", "")
    assert str(top["page"]) == placed.label and top["pdf_page"] == placed.page


BYLINE = "Af Bettine Romme Andersen 22/10/2018"


@pytest.mark.parametrize("front", [
    [(BYLINE, "Bold", 11)],  # bold and a little larger than the body: what the layout detector took for a heading
    [(BYLINE, "Body", 12)],
    [("Af Bettine Romme Andersen", "Bold", 11), ("Publiceret 22.10.2018 kl. 10.15", "Italic", 9)],
])
def test_byline_under_the_title_is_text_not_a_heading(tmp_path: Path, front: list) -> None:
    from assistant.answer.sentences import sentences
    from ingest.loaders import document_meta

    path = tmp_path / "artikel.pdf"
    make_pdfs.make_article_pdf(path, front)
    sections = load(path)
    titles = [s.section_title for s in sections]
    assert titles == ["Borgerne skal inddrages tidligere", "Af hensyn til sikkerheden", "Afslutning"]
    first = sections[0]
    lines = [text for text, _, _ in front]
    assert sentences(first.text)[: len(lines)] == lines  # each its own sentence, before the body text
    assert sentences(first.text)[len(lines)].startswith("Kommunerne skal inddrage borgerne tidligere")
    assert document_meta(sections) == {"author": "Bettine Romme Andersen", "date": "2018-10-22",
                                       "byline": "\n".join(lines)}


def test_small_dateline_above_the_title_is_kept(tmp_path: Path) -> None:
    """Small type at the top of the page is usually a running header; a dateline is the article's text."""
    path = tmp_path / "artikel.pdf"
    make_pdfs.make_article_pdf(path, [("Af Bettine Romme Andersen", "Bold", 10)],
                               above=[("Mandag 22. oktober 2018", "Body", 8)])
    sections = load(path)
    assert sections[0].text == "Mandag 22. oktober 2018"
    assert sections[1].section_title == "Borgerne skal inddrages tidligere"
    assert sections[1].text.startswith("Af Bettine Romme Andersen\n\nKommunerne skal")
    assert [s.section_title for s in sections[2:]] == ["Af hensyn til sikkerheden", "Afslutning"]


def test_pdf_author_metadata_is_the_fallback(pdfs: dict, tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    from ingest.loaders import document_meta

    path = tmp_path / "notat.pdf"
    c = canvas.Canvas(str(path), invariant=1)
    c.setAuthor("Center for Offentlig Innovation")
    c.drawString(72, 700, "Et notat uden byline.")
    c.save()
    assert document_meta(load(path)) == {"author": "Center for Offentlig Innovation"}
    assert document_meta(load_pdf(pdfs["a4"], "handbook-a4.pdf")) == {}  # the handbook has no byline


def test_a_bylines_author_and_date_reach_the_catalog_and_the_contents(tmp_path, model_env, run_cli):
    from assistant import load_settings, open_index

    pdf = tmp_path / "artikel.pdf"
    make_pdfs.make_article_pdf(pdf, [("Af Bettine Romme Andersen 22/10/2018", "Bold", 11)])
    home = str(tmp_path / "home")
    assert run_cli("--home", home, "ingest", str(pdf)).exit_code == 0
    with open_index(load_settings({}, home=home)) as index:
        record = index.catalog.files()["artikel.pdf"]
    assert (record.author, record.date) == ("Bettine Romme Andersen", "2018-10-22")
    toc = run_cli("--home", home, "toc")
    assert "Bettine Romme Andersen, 2018-10-22" in toc.stdout


def test_text_a_figure_clips_away_is_not_read(tmp_path):
    pdf = tmp_path / "udsnit.pdf"
    make_pdfs.make_clipped_figure_pdf(pdf)
    text = " ".join(s.text for s in load_pdf(pdf, pdf.name))
    assert "Synlig brødtekst om samarbejde" in text and "steg til 41 procent" in text, text
    assert "Skjult linje" not in text, text


def test_a_glyph_drawn_again_over_itself_is_read_once(tmp_path):
    pdf = tmp_path / "fed.pdf"
    make_pdfs.make_overprinted_pdf(pdf)
    text = " ".join(f"{s.chapter_title} {s.section_title} {s.text}" for s in load_pdf(pdf, pdf.name))
    assert "Borgere med i udviklingen" in text and "BBoorr" not in text, text
    assert "tillid, og de fleste kommuner har allerede" in text, text
    assert "tillid, allerede, Mississippi" in text, text  # real doubled letters in 4 pt type are not merged
