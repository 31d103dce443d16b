"""The reading pane: one chapter of an ingested document, the cited passage highlighted, a PDF page if there is one.

Only what `Assistant.document` returns is ever shown (it is None for anything not ingested), and the only file
read from disk is the PDF the catalog recorded for an ingested source, so no request can name a path.
"""
from __future__ import annotations

import base64
import html
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.markers import chapter_label

from .render import find_span, place

PLACEHOLDER = ('<div class="hb-reader hb-reader-empty"><p>Klik på en kilde, fx <b>[1]</b>, i et svar for at læse '
               'den i sammenhæng her, eller åbn et kapitel under <b>Indhold</b>.</p></div>')
PDF_SCALE = 1.4


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def message_pane(text: str) -> str:
    return f'<div class="hb-reader hb-reader-empty"><p>{_e(text)}</p></div>'


def citation_pane(assistant: Any, c: dict[str, Any]) -> str:
    """The chapter of a citation, scrolled to its passage with the quote marked."""
    return chapter_pane(assistant, c["source"], c.get("chapter_number"), c.get("chapter_title") or "", citation=c)


def chapter_pane(assistant: Any, source: str, chapter_number: int | None, chapter_title: str, *,
                 citation: dict[str, Any] | None = None, section: str | None = None) -> str:
    """A chapter as readable text; the target (a citation or a section title) is marked for the page to scroll to."""
    sections = assistant.document(source)
    if sections is None:
        return message_pane(f"«{source}» er ikke i indekset, så det kan ikke vises.")
    chapter = [s for s in sections if s.get("chapter_number") == chapter_number
               and (s.get("chapter_title") or "") == chapter_title] or sections
    hit = _locate(chapter, citation) if citation else None
    parts = []
    for i, s in enumerate(chapter):
        target = (hit is not None and hit[0] == i) or (citation is None and section is not None
                                                        and s.get("section_title") == section)
        parts.append(_section_html(s, i, hit[1:] if hit is not None and hit[0] == i else None, target))
        if hit is not None and hit[0] == i:
            parts.append(_pdf_figure(assistant, source, citation))
    label = chapter_label(chapter_number, chapter_title)
    note = "" if citation is None or hit is not None else (
        '<p class="hb-note">Citatet blev ikke fundet ordret i kapitlet; her er kapitlet.</p>')
    return (f'<article class="hb-reader"><header><div class="hb-kicker">Læsevindue · {_e(source)}</div>'
            f'<h2>Kap. {_e(label)}</h2></header>{note}{"".join(parts)}</article>')


def _locate(chapter: list[dict[str, Any]], c: dict[str, Any]) -> tuple[int, int, int, int, int] | None:
    """(section index, passage start, passage end, quote start, quote end) of a citation, or None."""
    order = sorted(range(len(chapter)), key=lambda i: chapter[i].get("section_title") != c.get("section"))
    for i in order:
        text = chapter[i].get("text") or ""
        ps, pe = find_span(text, c.get("passage") or "")
        if ps >= 0:
            qs, qe = find_span(text[ps:pe], c["quote"])
            if qs >= 0:
                return i, ps, pe, ps + qs, ps + qe
        qs, qe = find_span(text, c["quote"])
        if qs >= 0:
            return i, qs, qe, qs, qe
    return None


def _section_html(s: dict[str, Any], i: int, span: tuple[int, int, int, int] | None, target: bool) -> str:
    text = s.get("text") or ""
    if span is None:
        body = _e(text)
    else:
        ps, pe, qs, qe = span
        body = (f'{_e(text[:ps])}<span class="hb-context">{_e(text[ps:qs])}<mark class="hb-hit">{_e(text[qs:qe])}'
                f'</mark>{_e(text[qe:pe])}</span>{_e(text[pe:])}')
    title = s.get("section_title") or ""
    heading = f"<h3>{_e(title)}</h3>" if title and title != s.get("chapter_title") else ""
    where = place({"page": s.get("page_label") or s.get("page"),
                   "lines": [s["line_start"], s["line_start"]] if s.get("line_start") else None})
    meta = f'<div class="hb-meta">{_e(where)}</div>' if where else ""
    cls = "hb-sec hb-target" if target or span is not None else "hb-sec"
    return f'<section class="{cls}" id="hb-sec-{i}">{heading}{meta}<div class="hb-text">{body}</div></section>'


def _pdf_figure(assistant: Any, source: str, c: dict[str, Any] | None) -> str:
    """The cited page of an ingested PDF as an image; empty for other formats."""
    if not c or not c.get("pdf_page"):
        return ""
    record = assistant.store.catalog.files().get(source)
    if record is None or not str(record.path).lower().endswith(".pdf"):
        return ""
    path = Path(record.path)
    if not path.is_file():
        return f'<p class="hb-note">PDF-filen {_e(path.name)} findes ikke længere, så siden kan ikke vises.</p>'
    try:
        data = page_image(str(path), int(c["pdf_page"]), path.stat().st_mtime)
    except Exception as exc:  # a PDF that pypdfium2 cannot render: say so, keep the text
        return f'<p class="hb-note">Siden kunne ikke vises ({_e(type(exc).__name__)}).</p>'
    label = c.get("page") if c.get("page") is not None else c["pdf_page"]
    return (f'<figure class="hb-pdf"><figcaption>Siden i PDF\'en (s. {_e(label)})</figcaption>'
            f'<img alt="Side {_e(label)} i {_e(source)}" src="data:image/jpeg;base64,{data}"></figure>')


@lru_cache(maxsize=32)
def page_image(path: str, page: int, mtime: float) -> str:
    """One PDF page as base64 JPEG (pypdfium2); cached per file version."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        bitmap = pdf[page - 1].render(scale=PDF_SCALE)
        buf = io.BytesIO()
        bitmap.to_pil().convert("RGB").save(buf, format="JPEG", quality=80)
    finally:
        pdf.close()
    return base64.b64encode(buf.getvalue()).decode("ascii")
