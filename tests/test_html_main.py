"""Saved web pages: the HTML loader keeps the article (structure, byline, tables) and drops the site's chrome, as
the main-content extractor (trafilatura) sees the page."""
from __future__ import annotations

from pathlib import Path

from ingest.loaders import document_meta, load
from ingest.loaders.html_main import main_content

ARTICLE = """<!DOCTYPE html>
<html lang="da"><head><title>Ny håndbog om samarbejde | Center for Offentlig Innovation</title>
<meta property="article:published_time" content="2018-10-22T10:15:00+02:00"></head>
<body>
<div class="cookie-banner" id="cookies"><p>Vi bruger cookies til statistik.</p>
  <a href="/cookies">Læs mere om cookies</a> <a href="#" class="accept">OK</a></div>
<header class="site-header"><a href="/">Forside</a> <a href="/viden">Viden</a> <a href="/om">Om COI</a>
  <div class="search">Søg på siden</div></header>
<main><article>
<h1>Ny håndbog: Nyt sammen bedre</h1>
<p class="byline">Af Bettine Romme Andersen <time datetime="2018-10-22">22/10/2018</time></p>
<p>Center for Offentlig Innovation udgiver i dag håndbogen Nyt sammen bedre, der samler erfaringer fra
offentlige arbejdspladser, som samarbejder med private virksomheder, foreninger og borgere om nye løsninger.</p>
<p>Fire ud af fem offentlige innovationer bliver til i samarbejde med andre, viser Innovationsbarometeret.
Håndbogen giver konkrete råd om, hvordan man kommer i gang og undgår de typiske barrierer.</p>
<h2>Hvem er håndbogen til?</h2>
<p>Håndbogen er skrevet til ledere og medarbejdere i kommuner, regioner og stat, der vil samarbejde på tværs af
sektorer og organisationer, og den kan hentes gratis som pdf.</p>
<table><tr><th>Kapitel</th><th>Emne</th></tr><tr><td>Kapitel 3</td><td>Offentlige i egen organisation</td></tr>
<tr><td>Kapitel 6</td><td>Borgere</td></tr></table>
<div class="share"><span>Del artiklen:</span> <a href="#">Facebook</a> <a href="#">LinkedIn</a>
  <a href="#">Twitter</a> <a href="#">Mail</a></div>
</article>
<aside class="related"><h2>Læs også</h2><ul>
<li><a href="/a1">Innovationsbarometeret 2019: flere kommuner tester nye løsninger</a></li>
<li><a href="/a2">Sådan bruger du borgerinddragelse i praksis</a></li>
<li><a href="/a3">Konference om offentlig innovation i Aarhus</a></li></ul></aside>
</main>
<footer><p>Center for Offentlig Innovation · Bredgade 43 · 1260 København K · coi@coi.dk</p>
<p>Tilmeld dig vores nyhedsbrev</p></footer>
</body></html>
"""


def test_a_saved_article_keeps_its_text_and_drops_the_chrome(tmp_path: Path) -> None:
    path = tmp_path / "artikel.html"
    path.write_text(ARTICLE, encoding="utf-8")
    sections = load(path)
    everything = "\n".join(f"{s.section_title}\n{s.text}" for s in sections)
    for chrome in ("cookies", "Læs også", "Innovationsbarometeret 2019", "borgerinddragelse i praksis", "Facebook",
                   "Del artiklen", "Bredgade", "nyhedsbrev", "Søg på siden", "Forside"):
        assert chrome not in everything, chrome
    assert [s.section_title for s in sections] == ["Ny håndbog: Nyt sammen bedre", "Hvem er håndbogen til?"]
    assert sections[0].text.split("\n\n")[0] == "Af Bettine Romme Andersen 22/10/2018"
    assert "Fire ud af fem offentlige innovationer" in sections[0].text
    assert sections[1].text.split("\n\n")[1] == ("Kapitel: Kapitel 3; Emne: Offentlige i egen organisation\n"
                                                  "Kapitel: Kapitel 6; Emne: Borgere")
    assert document_meta(sections) == {"author": "Bettine Romme Andersen", "date": "2018-10-22",
                                       "byline": "Af Bettine Romme Andersen 22/10/2018"}
    assert sections[0].line_start is not None  # lines still point into the saved file


def test_a_page_the_extractor_finds_nothing_in_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "kort.html"
    path.write_text("<html><body><p>Kort note om fonde.</p></body></html>", encoding="utf-8")
    assert load(path)[0].text == "Kort note om fonde."


def test_short_paragraphs_are_kept_only_as_whole_paragraphs_of_the_main_text() -> None:
    main = main_content(ARTICLE)
    assert main is not None
    assert not main.keeps("Del")  # "del" is a Danish word in the article's text, but not a paragraph of it
    assert main.keeps("Hvem er håndbogen til?") and not main.keeps("Læs også")
    assert main.keeps("Kapitel: Kapitel 6; Emne: Borgere", table=True)
