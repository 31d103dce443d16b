"""Citation markers and chapter labels (assistant/markers.py), and the chat linking a marker of several numbers."""
from __future__ import annotations

import html

import pytest

from assistant.markers import chapter_label, link_markers, marker, parse_markers, strip_markers
from ui import render


@pytest.mark.parametrize("text,numbers", [
    ("Svaret står her [1].", [1]),
    ("To kilder [1][2] siger det.", [1, 2]),
    ("To kilder [1] [2] siger det.", [1, 2]),
    ("To kilder [1, 2].", [1, 2]),
    ("To kilder [1,2].", [1, 2]),
    ("To kilder [1; 2].", [1, 2]),
    ("Blandet [1 ;2 , 3] og [12].", [1, 2, 3, 12]),
    ("I den rækkefølge de står: [3] før [1, 2].", [3, 1, 2]),
    ("Ingen markører her.", []),
])
def test_parse_markers_accepts_every_form(text, numbers):
    assert parse_markers(text) == numbers


@pytest.mark.parametrize("text", ["[a]", "[]", "[1-2]", "[1 2]", "[1,]", "[1234]", "liste[0 ]x"])
def test_parse_markers_ignores_what_is_not_a_marker(text):
    assert parse_markers(text) == []


def test_marker_is_the_form_parse_reads():
    assert marker(7) == "[7]" and parse_markers(marker(7) + marker(8)) == [7, 8]


@pytest.mark.parametrize("text,plain", [
    ("Svaret er 79 % [1].", "Svaret er 79 %."),
    ("A [1, 2] og B [3][4] .", "A og B."),
    ("Først [1; 2], så resten [3].", "Først, så resten."),
    ("  Mellemrum   [1]  bliver til ét  ", "Mellemrum bliver til ét"),
    ("Uden markører.", "Uden markører."),
])
def test_strip_markers(text, plain):
    assert strip_markers(text) == plain


def _link(known: set[int]):
    return lambda n: f'<a href="#c{n}">[{n}]</a>' if n in known else None


def test_link_markers_links_each_number_of_a_marker():
    out = link_markers("Se [1, 2] og [2; 1].", html.escape, _link({1, 2}))
    assert out == ('Se <a href="#c1">[1]</a><a href="#c2">[2]</a> og <a href="#c2">[2]</a><a href="#c1">[1]</a>.')


def test_link_markers_leaves_unknown_numbers_plain():
    assert link_markers("Se [1, 9] og [8].", html.escape, _link({1})) == 'Se <a href="#c1">[1]</a>[9] og [8].'


def test_link_markers_escapes_the_text_between_and_only_that():
    out = link_markers("<b>fed</b> [1] & <i>mere</i>", html.escape, _link({1}))
    assert out == '&lt;b&gt;fed&lt;/b&gt; <a href="#c1">[1]</a> &amp; &lt;i&gt;mere&lt;/i&gt;'
    assert link_markers("", html.escape, _link({1})) == ""


@pytest.mark.parametrize("number,title,label", [
    (3, "Fonde", "3. Fonde"),
    (0, "Forord", "0. Forord"),
    (None, "Rapport om borgerinddragelse", "Rapport om borgerinddragelse"),
    (12, "", "12."),
])
def test_chapter_label(number, title, label):
    assert chapter_label(number, title) == label


def test_the_chat_links_a_marker_with_two_numbers():
    def cite(n: int, quote: str) -> dict:
        return {"n": n, "source": "09-fonde.md", "chapter": "9. Fonde", "chapter_title": "Fonde",
                "chapter_number": 9, "section": "Fonde som partnere", "page": None, "lines": [n, n],
                "pdf_page": None, "quote": quote, "passage": quote}

    turn = {"question": "Hvad kan fonde?", "answer": "Fonde kan give penge og viden [1, 2]. Og mere [3].",
            "refused": False, "citations": [cite(1, "Fonde giver penge."), cite(2, "Fonde giver viden.")],
            "copy_text": ""}
    out = render.answer_html(turn, 4)
    body = out[out.index('<div class="hb-body">'):out.index('<div class="hb-sources">')]
    assert ('<a class="hb-cite" href="#hb:cite:4:1" title="Vis kilde 1">[1]</a>'
            '<a class="hb-cite" href="#hb:cite:4:2" title="Vis kilde 2">[2]</a>') in body
    assert "[1, 2]" not in body
    assert "[3]" in body and "#hb:cite:4:3" not in out, "a number no citation has stays plain text"


def test_a_chapter_title_that_starts_with_its_number_is_not_numbered_twice():
    from assistant.markers import chapter_label

    assert chapter_label(1, "1. Compute node sanitization") == "1. Compute node sanitization"
    assert chapter_label(4, "4 Borgere") == "4 Borgere"
    assert chapter_label(2, "Nøgletal") == "2. Nøgletal"
    assert chapter_label(1, "10. Udlandet") == "1. 10. Udlandet"
    assert chapter_label(None, "Forord") == "Forord"
