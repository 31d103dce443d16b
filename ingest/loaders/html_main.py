"""A saved web page's main content, as trafilatura (a maintained extractor) finds it: the HTML loader keeps the
paragraphs and tables that belong to it and drops the site's chrome (menus, cookie banners, "read also" boxes,
share bars, footers). Our own walker still gives the structure (headings, tables, line numbers)."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger("handbook.ingest")
WORD = re.compile(r"\w+")
SHORT = 4  # words: a paragraph this short is kept only when it is a whole paragraph of the main text
TABLE_SHARE = 0.8  # of a table's words that must be in the main text


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass
class MainText:
    """The extractor's text, as words, with its own paragraphs; and what it read about the page."""

    joined: str
    paragraphs: set[str]
    vocabulary: set[str]
    title: str = ""
    author: str = ""
    date: str = ""

    def keeps(self, paragraph: str, *, table: bool = False) -> bool:
        """Whether a paragraph (or a table, one row a line) the walker found is part of the main content."""
        words = _words(paragraph)
        if not words:
            return False
        if table:
            return sum(w in self.vocabulary for w in words) >= TABLE_SHARE * len(words)
        phrase = " ".join(words)
        if len(words) < SHORT:
            return phrase in self.paragraphs
        return f" {phrase} " in self.joined


def main_content(html: str) -> MainText | None:
    """None when the extractor finds no main content (a short or unusual page): then the whole page is kept."""
    try:
        import trafilatura

        doc = trafilatura.bare_extraction(html, favor_recall=True, include_tables=True, include_comments=False,
                                          with_metadata=True, deduplicate=False,
                                          date_extraction_params={"extensive_search": False, "original_date": True})
    except Exception as exc:  # the extractor must never cost the file: the page is read whole instead
        log.info("main-content extraction failed (%s: %s); keeping the whole page", type(exc).__name__, exc)
        return None
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        return None
    lines = [" ".join(_words(line)) for line in text.split("\n")]
    return MainText(joined=" " + " ".join(x for x in lines if x) + " ", paragraphs={x for x in lines if x},
                    vocabulary=set(_words(text)), title=str(getattr(doc, "title", "") or ""),
                    author=str(getattr(doc, "author", "") or ""), date=str(getattr(doc, "date", "") or ""))
