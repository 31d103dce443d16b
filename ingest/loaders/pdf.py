"""Designed PDFs into Sections: chapters from bookmarks or layout, printed page labels, clean running text.

pypdf reads the document catalog (encryption, /PageLabels, bookmarks); pdfminer.six reads the page geometry
(pdf_page, pdf_layout), pdf_structure finds chapters, pdf_text turns lines into paragraphs. Any failure becomes
an IngestError naming the file.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.datamodel import Section
from assistant.errors import IngestError

from .pdf_fallback import fill_pages, report_filled
from .pdf_layout import (
    Line,
    PageLayout,
    body_size,
    line_pitch,
    mark_furniture,
    read_page,
    roman_value,
)
from .pdf_page import iter_pages
from .pdf_structure import Mark, layout_marks, outline_marks, page_marks
from .pdf_text import TextBuilder, is_leader_line, vocabulary
from .structure import section_kind, with_front_matter
from .textfile import probe

log = logging.getLogger("handbook.ingest")
MAX_PDF_BYTES = 500 * 1024 * 1024
TOC_TITLES = {"indhold", "indholdsfortegnelse", "contents", "table of contents", "inhalt"}


@dataclass
class _Doc:
    reader: Any
    title: str
    author: str = ""


def load_pdf(path: Path, source: str) -> list[Section]:
    """Load a PDF; bad files (corrupt, truncated, encrypted, not a PDF, empty) raise IngestError."""
    path = Path(path)
    _check_bytes(path)
    doc = _open(path)
    try:
        return _load(doc, path, source)
    except IngestError:
        raise
    except Exception as exc:  # a damaged object deep inside the file: never let it escape a loader
        raise IngestError(str(path), f"the PDF could not be read ({type(exc).__name__}: {exc}); "
                          "it may be damaged: open it and export or print it to a new PDF") from None


def _check_bytes(path: Path) -> None:
    head, tail = probe(path, MAX_PDF_BYTES, empty="download or export the PDF again", too_big="; split the PDF",
                       head=1024, tail=4096)
    if b"%PDF-" not in head:
        raise IngestError(str(path), "this is not a PDF (no %PDF header); check the file type or re-export it")
    if b"%%EOF" not in tail:
        raise IngestError(str(path), "the PDF is truncated (it has no end-of-file marker); download it again")


def _open(path: Path) -> _Doc:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    password_msg = "the PDF is password-protected; remove the password (e.g. print it to a new PDF) and ingest again"
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(str(path), password_msg)
        _ = len(reader.pages)
    except IngestError:
        raise
    except FileNotDecryptedError as exc:
        raise IngestError(str(path), password_msg) from exc
    except DependencyError:
        raise IngestError(str(path), "the PDF is encrypted with AES; install the 'cryptography' package or "
                          "remove the encryption") from None
    except (PdfReadError, Exception) as exc:
        raise IngestError(str(path), f"the PDF is damaged and cannot be read ({exc}); download or export it "
                          "again") from None
    try:
        meta_title = str((reader.metadata or {}).get("/Title") or "").strip()
        meta_author = str((reader.metadata or {}).get("/Author") or "").strip()
    except Exception:
        meta_title = meta_author = ""
    if meta_title.lower() in ("untitled", "unknown", "") or meta_title.lower().startswith("microsoft word"):
        meta_title = ""
    return _Doc(reader, meta_title or path.stem.replace("-", " ").replace("_", " "), meta_author)


def _load(doc: _Doc, path: Path, source: str) -> list[Section]:
    pages: list[PageLayout] = []
    broken = ""
    with path.open("rb") as fh:
        try:
            for i, objs in enumerate(iter_pages(fh), start=1):
                pages.append(read_page(objs, i))
        except Exception as exc:
            broken = type(exc).__name__
    read = len(pages)
    filled = fill_pages(pages, doc.reader, body_size(pages), whole=bool(broken) or not pages)
    report_filled(filled, path)
    if broken:
        if not read and not filled:
            raise IngestError(str(path), f"the PDF cannot be read ({broken}); it may be damaged "
                              "or password-protected: export or print it to a new PDF") from None
        rescued = sum(1 for n in filled if n > read)
        log.warning("%s: pages from %d on could not be read (%s); %s", path, read + 1, broken,
                    f"pypdf read the text of {rescued} of them, the others are skipped" if rescued
                    else "they are skipped")
    _report_textless(pages, path)
    body = body_size(pages)
    had_text = any(p.lines for p in pages)
    printed = mark_furniture(pages, body)
    labels = _page_labels(doc.reader, len(pages), printed)
    _mark_pull_quotes(pages, body)
    flow = _flow(pages)
    if not flow:  # only what repeats on every page ("Page 1", "Page 2"): the content is pictures, as in a scan
        found = "only running heads or page numbers found in the PDF" if had_text else "no text found in the PDF"
        raise IngestError(str(path), f"{found}; it may be a scan: run OCR on it first")
    marks = outline_marks(doc.reader, flow, pages, body) or layout_marks(flow, body) or page_marks(flow, labels)
    sections = _sections(flow, marks, pages, labels, doc.title, source)
    return with_front_matter(sections, author=doc.author)


def _flow(pages: list[PageLayout]) -> list[Line]:
    return [ln for p in pages for ln in p.lines
            if not is_leader_line(ln.text) and ln.text.strip().lower() not in TOC_TITLES]


def _report_textless(pages: list[PageLayout], path: Path) -> None:
    """Scans and unmapped fonts are reported by page (in ranges when there are many), blank pages only logged."""
    scans = [p.number for p in pages if not p.lines and p.has_images and not p.unmapped]
    for p in pages:
        if not p.lines and p.unmapped:
            log.warning("%s: page %d has text in a font without a Unicode map, so it cannot be extracted; "
                        "run OCR on it or export the PDF again", path, p.number)
        elif not p.lines and not p.has_images:
            log.info("%s: page %d is blank", path, p.number)
    if len(scans) <= 10:
        for n in scans:
            log.warning("%s: page %d has no extractable text (a scan?); run OCR on it first", path, n,
                        extra={"ocr_pages": [n]})
    else:
        runs: list[list[int]] = []
        for n in scans:
            if runs and runs[-1][-1] == n - 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        spans = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
        log.warning("%s: %d pages have no extractable text (scans?): pages %s; run OCR on them first", path,
                    len(scans), spans, extra={"ocr_pages": scans})


def _mark_pull_quotes(pages: list[PageLayout], body: float) -> None:
    """Large italic lines are pull quotes: kept as their own paragraph, never spliced into a sentence."""
    group = 10_000
    for p in pages:
        prev: Line | None = None
        for ln in p.lines:
            if ln.role == "body" and ln.italic and ln.size >= 1.15 * body:
                if not (prev and prev.role == "aside" and prev.group == group and prev.style == ln.style):
                    group += 1
                ln.role, ln.group = "aside", group
            prev = ln


def _page_labels(reader: Any, count: int, printed: dict[int, str]) -> list[str]:
    """Per page (0-based list): /PageLabels if the PDF has them, else printed numbers, else the index."""
    try:
        if "/PageLabels" in reader.trailer["/Root"]:
            labels = list(reader.page_labels)
            if len(labels) == count:
                return [str(x) for x in labels]
    except Exception:
        pass
    arabic: dict[int, int] = {}
    roman: dict[int, int] = {}
    for page, token in printed.items():
        if token.isdigit():
            arabic[page] = int(token) - page
        elif (v := roman_value(token)) is not None:
            roman[page] = v - page
    labels = [str(i) for i in range(1, count + 1)]
    arabic_off = _mode(arabic.values())
    roman_off = _mode(roman.values())
    first_arabic = min((p for p, o in arabic.items() if o == arabic_off), default=count + 1)
    upper = any(t.isupper() for t in printed.values() if not t.isdigit())
    for page in range(1, count + 1):
        if arabic_off is not None and page >= first_arabic and page + arabic_off >= 1:
            labels[page - 1] = str(page + arabic_off)
        elif roman_off is not None and page < first_arabic and page + roman_off >= 1:
            labels[page - 1] = _to_roman(page + roman_off, upper)
    return labels


def _mode(values: Any) -> int | None:
    values = list(values)
    return max(set(values), key=values.count) if values else None


def _to_roman(n: int, upper: bool) -> str:
    out = ""
    for value, digits in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
                          (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + digits, n - value
    return out.upper() if upper else out


def _sections(flow: list[Line], marks: list[Mark], pages: list[PageLayout], labels: list[str], doc_title: str,
              source: str) -> list[Section]:
    """Cut the flow at the marks; text before the first chapter goes under the document's title."""
    pitch = line_pitch(pages)
    vocab = vocabulary(flow)
    right: dict[tuple[int, int], float] = {}
    for ln in flow:
        if ln.role == "body":
            right[(ln.page, ln.col)] = max(right.get((ln.page, ln.col), 0.0), ln.x1)
    label = lambda page: labels[page - 1] if 0 < page <= len(labels) else None  # noqa: E731
    skip = {i for m in marks for i in m.consumed}
    bounds = sorted(marks, key=lambda m: m.start)
    chapter_title, chapter_number, section_title = doc_title, None, doc_title
    out: list[Section] = []
    starts = [m.start for m in bounds] + [len(flow)]
    segments = [(None, 0, starts[0])] + [(m, m.start, starts[k + 1]) for k, m in enumerate(bounds)]
    for mark, lo, hi in segments:
        if mark is not None:
            if mark.level == 0:
                chapter_title, chapter_number, section_title = mark.title, mark.number, mark.title
            else:
                section_title = mark.title
        if chapter_title.strip().lower() in TOC_TITLES or section_title.strip().lower() in TOC_TITLES:
            continue
        builder = TextBuilder(pitch, vocab, label, right)
        for i in range(lo, hi):
            if i not in skip:
                builder.add(flow[i])
        text, offsets = builder.finish()
        if not text:
            continue
        first_page = offsets[0][1]
        out.append(Section(
            source=source, text=text, chapter_number=chapter_number, chapter_title=chapter_title,
            section_title=section_title, order=len(out), page=first_page, page_label=label(first_page),
            page_end=max(o[1] for o in offsets), kind=section_kind(re.sub(r"^[\d.]+\s+", "", section_title)),
            page_offsets=offsets))
    return out
