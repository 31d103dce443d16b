"""End to end in headless Chromium: the real `handbook serve` (conftest's handbook_server), driven like a user would.

The tests also take the screenshots in docs/screenshots/ (answer with sources, reading pane, refusal, phone).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                 "(/usr/bin/chromium): apt-get install -y chromium")]
pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
QUESTION = "Hvor mange skoler i Aarhus fik nye toiletter?"
QUOTE = "Senere er lignende toiletter blevet indført på tre skoler i Aarhus."
ANSWER_TIMEOUT = 180_000  # ms; an answer takes 5-15 s on two cores, more while other tests run


@pytest.fixture(scope="module")
def browser(handbook_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, handbook_server):
    """One desktop tab whose conversation the tests below build on, starting with QUESTION answered."""
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    pg.dialogs, pg.external = [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    local = (handbook_server.url, "data:", "blob:")
    pg.on("request", lambda r: None if r.url.startswith(local) else pg.external.append(r.url))
    pg.goto(handbook_server.url)
    pg.wait_for_selector("#hb-question textarea", timeout=60_000)
    ask(pg, QUESTION)
    yield pg
    context.close()


def answers(pg) -> int:
    return pg.eval_on_selector_all("#hb-chat .hb-answer:not(.hb-streaming), #hb-chat .hb-error", "els => els.length")


def ask(pg, question: str, press_enter: bool = True) -> None:
    """Type a question, send it, and wait until its finished answer has replaced the streamed text."""
    before = answers(pg)
    pg.fill("#hb-question textarea", question)
    if press_enter:
        pg.press("#hb-question textarea", "Enter")
    else:
        pg.click("#hb-send")
    pg.wait_for_function(f"document.querySelectorAll('#hb-chat .hb-answer:not(.hb-streaming), #hb-chat .hb-error')"
                         f".length > {before}", timeout=ANSWER_TIMEOUT)
    pg.wait_for_timeout(300)


def open_documents_tab(playwright, url: str):
    """A new Chromium page on the chat at url, switched to the Dokumenter tab: (browser, page)."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    pg.goto(url)
    pg.wait_for_selector("#hb-question textarea", timeout=60_000)
    pg.click("#hb-tab-docs-button")
    return browser, pg


def last(pg, selector: str):
    return pg.locator(selector).last


def test_answer_streams_with_marker_and_quote(page):
    body = last(page, "#hb-chat .hb-answer")
    assert body.locator("a.hb-cite", has_text="[1]").count() >= 1
    source = body.locator("li.hb-source", has_text=QUOTE)
    assert source.locator("mark").inner_text() == QUOTE, "the quote is highlighted in its passage"
    assert "Kap. 5. Private virksomheder" in source.locator(".hb-source-head").inner_text()
    n = source.locator(".hb-n").inner_text()
    assert QUOTE + " " + n in body.locator(".hb-body").inner_text(), "the marker follows its quote"
    assert page.locator("#hb-question textarea").input_value() == ""
    assert page.external == [], "the page fetched something from outside this machine"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "answer-with-sources.png"))


def test_citation_opens_the_reading_pane_highlighted(page):
    last(page, "#hb-chat .hb-answer").locator("li.hb-source", has_text=QUOTE).locator("a.hb-source-head").click()
    hit = page.locator("#hb-reader mark.hb-hit")
    hit.wait_for(timeout=30_000)
    assert hit.inner_text() == QUOTE
    assert "Kap. 5. Private virksomheder" in page.locator("#hb-reader h2").inner_text()
    page.wait_for_timeout(500)
    box = page.locator("#hb-reader .hb-reader").bounding_box()
    mark = hit.bounding_box()
    assert box["y"] <= mark["y"] and mark["y"] + mark["height"] <= box["y"] + box["height"], "quote not in view"
    page.screenshot(path=str(SHOTS / "reading-pane.png"))


def test_copy_answer_with_sources(page):
    last(page, "#hb-chat a.hb-copy").click()
    page.wait_for_timeout(400)
    text = page.evaluate("navigator.clipboard.readText()")
    assert QUESTION in text and QUOTE in text and "[1] 05-private-virksomheder.md" in text


def test_thumbs_down_with_comment_is_logged(page, handbook_server):
    page.locator("#hb-chat button[aria-label='Dislike']").last.click()
    page.locator("#hb-comment textarea").wait_for(timeout=20_000)
    page.fill("#hb-comment textarea", "Mangler tallet for Vesthimmerland")
    page.click("#hb-comment-send")
    page.wait_for_function("!document.querySelector('#hb-comment textarea') || "
                           "document.querySelector('#hb-comment textarea').offsetParent === null", timeout=20_000)
    db = sqlite3.connect(str(handbook_server.home / "logs" / "qa.sqlite"))
    rows = db.execute("SELECT a.question, f.rating, f.comment FROM feedback f JOIN answers a ON a.id = f.answer_id "
                      "ORDER BY f.id").fetchall()
    db.close()
    assert rows[0] == (QUESTION, -1, None) and rows[-1] == (QUESTION, -1, "Mangler tallet for Vesthimmerland")


def test_out_of_scope_question_is_refused(page):
    ask(page, "Hvad bliver vejret i morgen?", press_enter=False)
    refusal = last(page, "#hb-chat .hb-answer")
    assert "hb-refusal" in refusal.get_attribute("class")
    text = refusal.inner_text()
    assert "Det står ikke i håndbogen" in text and "Det svarer håndbogen ikke på" in text
    assert refusal.locator(".hb-sources").count() == 0
    page.screenshot(path=str(SHOTS / "refusal.png"))
    chip = refusal.locator("a.hb-chip").first
    label = chip.inner_text()
    chip.click()
    page.wait_for_function("(l) => document.querySelector('#hb-reader h2')?.innerText.includes(l)", arg=label,
                           timeout=30_000)


def test_an_english_refusal_is_framed_in_english(page):
    ask(page, "What will the weather be tomorrow?")
    refusal = last(page, "#hb-chat .hb-answer")
    assert "hb-refusal" in refusal.get_attribute("class") and refusal.get_attribute("lang") == "en"
    assert refusal.locator(".hb-refusal-title").inner_text().strip() == "Not in the handbook"
    text = refusal.inner_text()
    assert "The handbook does not say." in text and "Read the nearest chapters:" in text
    assert "Det står ikke" not in text and "Læs de nærmeste" not in text and "Kopiér" not in text


def test_markup_in_a_question_is_shown_not_run(page):
    hostile = ('<script>window.__hbXss = 1</script><img src=x onerror="window.__hbXss = 2"> '
               'Hvad er Innovationsbarometeret?')
    ask(page, hostile)
    page.wait_for_timeout(800)
    assert last(page, "#hb-chat .hb-q").inner_text() == hostile
    assert page.evaluate("window.__hbXss === undefined") and page.dialogs == []
    assert page.locator("#hb-chat img").count() == 0 and page.locator("#hb-chat script").count() == 0


def test_contents_browser_opens_a_chapter(page):
    page.click("#hb-tab-toc-button")
    page.locator("#hb-toc a", has_text="9. Fonde").click()
    page.wait_for_function("document.querySelector('#hb-reader h2')?.innerText.includes('Fonde')", timeout=30_000)
    page.click("#hb-tab-toc-button")
    page.locator("#hb-toc a", has_text="Tal fra Innovationsbarometeret").first.click()
    page.wait_for_function("document.querySelector('#hb-reader .hb-target h3')?.innerText"
                           ".includes('Tal fra Innovationsbarometeret')", timeout=30_000)


def test_conversation_survives_reload_and_can_be_restarted(page):
    count = answers(page)
    page.reload()
    page.wait_for_function(f"document.querySelectorAll('#hb-chat .hb-answer').length === {count}", timeout=60_000)
    last(page, "#hb-chat a.hb-cite").click()  # the restored answers still open their sources
    page.locator("#hb-reader mark.hb-hit").wait_for(timeout=30_000)
    page.click("#hb-new")
    page.wait_for_function("document.querySelectorAll('#hb-chat .hb-answer').length === 0", timeout=30_000)
    page.reload()
    page.wait_for_selector("#hb-question textarea", timeout=60_000)
    page.wait_for_timeout(1500)
    assert answers(page) == 0


def test_phone_width(browser, handbook_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    pg = context.new_page()
    pg.goto(handbook_server.url)
    pg.wait_for_selector("#hb-question textarea", timeout=60_000)
    pg.locator("#hb-chat button", has_text="Hvad handler casen om skoletoilettet").click()  # a start-screen example
    pg.wait_for_selector("#hb-chat .hb-sources", timeout=ANSWER_TIMEOUT)
    pg.wait_for_timeout(500)
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways on a phone"
    for selector in ("#hb-question textarea", "#hb-send", "#hb-chat .hb-sources"):
        box = pg.locator(selector).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    pg.screenshot(path=str(SHOTS / "phone.png"))
    pg.locator("#hb-chat a.hb-cite").first.click()
    pg.locator("#hb-reader mark.hb-hit").wait_for(timeout=30_000)
    context.close()
