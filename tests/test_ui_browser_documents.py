"""The Dokumenter tab end to end in headless Chromium on a real `handbook serve` (upload limit 1 MB): upload a
generated multi-page PDF and watch its progress, ask about it and open its cited page, answer from it alone, remove
it; an oversized file and a renamed picture rejected with one line each.

The tests take the screenshots of the tab in docs/screenshots/ (documents-*.png)."""
from __future__ import annotations

import make_pdfs
import pytest
from test_ui_browser import ANSWER_TIMEOUT, CHROMIUM, SHOTS, ask, last, open_documents_tab

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                 "(/usr/bin/chromium): apt-get install -y chromium")]
pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")

SHARE = "Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?"
FRIVILLIGE = "Hvad skal kommunen tilbyde de frivillige, før de møder borgerne?"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
# Every text the upload's status line shows, in order (a MutationObserver, so no step is missed between polls).
WATCH_JS = """
window.__hbSeen = [];
const box = document.querySelector('#hb-upload-status');
const note = () => { const t = box.innerText.trim(); if (t && window.__hbSeen.at(-1) !== t) window.__hbSeen.push(t); };
new MutationObserver(note).observe(box, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(scope="module")
def serve_env():
    return {"HANDBOOK_MAX_UPLOAD_MB": "1"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    make_pdfs.make_handbook(d / "bog.pdf")
    (d / "stor.txt").write_text("Et langt dokument. " * 80_000, encoding="utf-8")  # 1.4 MB (MiB, as the limit counts)
    (d / "billede.pdf").write_bytes(PNG)
    return d


@pytest.fixture(scope="module")
def page(handbook_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, pg = open_documents_tab(p, handbook_server.url)
        pg.locator("#hb-docs table").wait_for(timeout=30_000)
        yield pg
        browser.close()


def row(pg, source: str):
    return pg.locator(f"#hb-docs tr[data-source='{source}']")


def upload(pg, *paths) -> list[str]:
    """Drop files on the upload box; returns every text the status line showed until the upload finished."""
    pg.click("#hb-tab-docs-button")
    pg.evaluate(WATCH_JS)
    pg.set_input_files("#hb-upload input[type=file]", [str(p) for p in paths])
    pg.wait_for_selector("#hb-upload-status .hb-upload-result", timeout=ANSWER_TIMEOUT)
    pg.wait_for_timeout(500)
    return pg.evaluate("window.__hbSeen")


def cited(pg) -> set[str]:
    return set(last(pg, "#hb-chat .hb-answer").locator(".hb-file").all_inner_texts())


def test_the_digest_is_listed_as_a_digest(page):
    digest = row(page, "02-noegletal.md")
    assert "Vores sammendrag (ikke bogen)" in digest.inner_text() and "2. Nøgletal" in digest.inner_text()
    page.screenshot(path=str(SHOTS / "documents.png"))


def test_upload_a_pdf_shows_progress_and_lists_it(page, files):
    seen = upload(page, files / "bog.pdf")
    assert any("Læser bog.pdf (10 sider)" in s for s in seen), seen
    assert any("Indlejrer tekststykker" in s for s in seen), seen
    assert "Tilføjet: bog.pdf." in seen[-1]
    cells = row(page, "bog.pdf").locator("td").all_inner_texts()
    assert cells[0].splitlines() == ["NYT SAMMEN BEDRE", "bog.pdf"] and cells[1:3] == ["PDF", "10"]
    assert int(cells[3]) > 10 and cells[4].startswith("20")
    assert page.locator("#hb-digest-offer").first.is_visible(), "the page offers to leave the digest out"
    page.screenshot(path=str(SHOTS / "documents-upload.png"))


def test_ask_about_it_and_open_its_cited_page(page):
    ask(page, FRIVILLIGE)
    assert "bog.pdf" in cited(page)
    source = last(page, "#hb-chat .hb-answer").locator("li.hb-source", has_text="bog.pdf").first
    assert "s. 6" in source.inner_text()
    source.locator("a.hb-source-head").click()
    page.locator("#hb-reader mark.hb-hit").wait_for(timeout=30_000)
    assert "tavshedspligt" in page.locator("#hb-reader mark.hb-hit").inner_text()
    page.locator("#hb-reader figure.hb-pdf img").wait_for(timeout=30_000)
    assert "s. 6" in page.locator("#hb-reader figure.hb-pdf figcaption").inner_text()
    page.screenshot(path=str(SHOTS / "documents-cited-page.png"))


def test_answer_from_the_book_alone(page):
    ask(page, SHARE)
    assert "02-noegletal.md" in cited(page), "with every document chosen, the digest answers too"
    page.click("#hb-tab-docs-button")
    page.click("#hb-offer-yes")
    page.wait_for_function("document.querySelector('#hb-chosen') && "
                           "document.querySelector('#hb-chosen').offsetParent !== null", timeout=30_000)
    assert page.locator("#hb-chosen input:checked").count() == 1
    assert "hb-doc-unused" in (row(page, "02-noegletal.md").get_attribute("class") or "")
    assert page.locator("#hb-scope-note").inner_text().startswith("Svarer kun fra: bog.pdf"), "the chat says so"
    ask(page, SHARE)
    assert cited(page) == {"bog.pdf"}
    assert "Fire ud af fem" in last(page, "#hb-chat .hb-answer").inner_text()
    page.click("#hb-tab-toc-button")
    toc = page.locator("#hb-toc").inner_text()
    assert "Frivillige og civilsamfund" in toc and "Nøgletal" not in toc, "the contents follow the choice"
    page.click("#hb-tab-docs-button")
    page.screenshot(path=str(SHOTS / "documents-answer-from.png"))


def test_remove_it_and_it_is_gone(page):
    page.click("#hb-tab-docs-button")
    choice = page.locator("#hb-remove-choice input")
    choice.click()
    choice.fill("bog.pdf")
    page.locator("ul[role=listbox] li", has_text="bog.pdf").first.click()
    page.click("#hb-remove")
    page.wait_for_function("document.querySelector('#hb-upload-status').innerText.includes('Fjernet: bog.pdf')",
                           timeout=60_000)
    assert row(page, "bog.pdf").count() == 0
    assert page.locator("#hb-scope input:checked").input_value() == "Alle dokumenter", "back to every document"
    assert page.locator("#hb-scope-note").inner_text().strip() == ""
    ask(page, SHARE)
    assert "bog.pdf" not in cited(page) and "02-noegletal.md" in cited(page)
    page.click("#hb-tab-toc-button")
    assert "Frivillige og civilsamfund" not in page.locator("#hb-toc").inner_text()


def test_oversized_file_and_renamed_picture_get_one_line_each(page, files, handbook_server):
    upload(page, files / "stor.txt", files / "billede.pdf")
    errors = page.locator("#hb-upload-status .hb-upload-error").all_inner_texts()
    assert len(errors) == 2 and all("\n" not in e for e in errors), errors
    assert errors[0].startswith("stor.txt: the file is 1.4 MB, over the upload limit of 1 MB")
    assert errors[1].startswith("billede.pdf: the content is a PNG image, not a PDF")
    assert row(page, "stor.txt").count() == 0 and row(page, "billede.pdf").count() == 0
    kept = [p.name for p in (handbook_server.home / "uploads").iterdir() if p.is_file()]
    assert kept == [], "nothing rejected (nor removed) is kept"
    page.screenshot(path=str(SHOTS / "documents-rejected.png"))
