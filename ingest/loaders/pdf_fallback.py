"""pypdf's text for the pages where pdfminer's layout finds none, so only pages neither reads are called scans.

pdfminer.six misses text that pypdf reads: Type0 fonts whose /Encoding is an embedded CMap stream (pdfminer
only knows the named CMaps, so every string decodes to nothing), text drawn rotated (the page reader keeps upright
characters only), and page trees behind a damaged cross-reference table (pdfminer then finds no page at all).
docs/reliability.md has the cases. A page takes its text from one reader only, so nothing is doubled.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from .pdf_layout import Line, PageLayout, fix_ligatures

log = logging.getLogger("handbook.ingest")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd\ue000-\uf8ff]")


def page_text(reader: Any, index: int) -> str:
    """pypdf's text of one page, one printed line a line and a blank line between blocks; '' if it has none."""
    try:
        raw = reader.pages[index].extract_text() or ""
    except Exception:  # a damaged page: it stays without text, as it was
        return ""
    lines = [" ".join(_CONTROL.sub(" ", ln).split()) for ln in raw.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text if sum(ch.isalnum() for ch in text) >= 2 else ""


def text_page(number: int, text: str, width: float, height: float, size: float) -> PageLayout:
    """Plain text as a page of body lines: one per line, a blank line a paragraph gap, each as wide as its text.

    The geometry is made up (pypdf gives none) but shaped like print, so the paragraph rules of pdf_text apply:
    lines 1.2 em apart, blank lines 2.4 em, a short line ending a sentence ends its paragraph.
    """
    page = PageLayout(number, width, height, plain=True, y_top=height)
    left, y, gap = 0.1 * width, 0.08 * height, 0.0
    for raw in text.split("\n"):
        if not raw.strip():
            gap = 1.2 * size
            continue
        y += 1.2 * size + gap
        gap = 0.0
        line = fix_ligatures(raw)
        page.lines.append(Line(line, number, left, left + 0.5 * size * len(line), y - size, y, size))
    return page


def fill_pages(pages: list[PageLayout], reader: Any, size: float, whole: bool) -> list[int]:
    """Give each page pdfminer found no text on pypdf's text, if it has any; return the page numbers filled.

    whole: pdfminer stopped early or found no page, so pages beyond its last are added from pypdf (both walk
    the same page tree, so page N is page N). Pages whose glyphs have no Unicode map are left alone: pypdf
    cannot know their letters either.
    """
    try:
        count = len(reader.pages)
        sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages] if whole else []
    except Exception:
        return []
    filled: list[int] = []
    for k, page in enumerate(pages):
        if not page.lines and not page.unmapped and k < count and (text := page_text(reader, k)):
            new = text_page(page.number, text, page.width, page.height, size)
            new.has_images = page.has_images
            pages[k] = new
            filled.append(page.number)
    if whole:
        for k in range(len(pages), count):
            width, height = sizes[k]
            text = page_text(reader, k)
            pages.append(text_page(k + 1, text, width, height, size) if text else PageLayout(k + 1, width, height))
            if text:
                filled.append(k + 1)
    return filled


def report_filled(filled: list[int], path: Any) -> None:
    """One log line per file, so a run's log says which pages were read the second way."""
    if filled:
        log.info("%s: %d page(s) had no text in pdfminer's layout; their text is pypdf's (pages %s)", path,
                 len(filled), ", ".join(map(str, filled[:20])) + (" ..." if len(filled) > 20 else ""),
                 extra={"pypdf_pages": filled})
