"""Word documents: Heading 1 starts a chapter, Heading 2-3 a section, the Title style names the document."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.datamodel import Section
from assistant.errors import IngestError

from .structure import (
    chapter_number_from_title,
    is_byline,
    section_kind,
    with_front_matter,
)
from .textfile import probe

_STYLE = re.compile(r"^(?:heading|overskrift|[üu]berschrift|titre)\s*(\d)$", re.IGNORECASE)
_TITLE = re.compile(r"^(?:title|titel|titre)$", re.IGNORECASE)
MAX_DOCX_BYTES = 200 * 1024 * 1024


def load_docx(path: Path, source: str) -> list[Section]:
    """Load a .docx; corrupt, password-protected or old-format files raise IngestError saying what to do."""
    document = _open(Path(path))
    try:
        return _sections(document, Path(path), source)
    except IngestError:
        raise
    except Exception as exc:  # a damaged part inside the package: never let it escape a loader
        raise IngestError(str(path), f"the DOCX could not be read ({type(exc).__name__}); open it in Word and "
                          "save it again") from None


def _open(path: Path) -> Any:
    import docx

    head, _ = probe(path, MAX_DOCX_BYTES, empty="save the document again", too_big="; split it", head=8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError(str(path), "this is a password-protected or old-format (.doc) Word file; remove the "
                          "password or save it as .docx")
    if not head.startswith(b"PK"):
        raise IngestError(str(path), "this is not a DOCX file (not a ZIP package); check the file type")
    try:
        return docx.Document(str(path))
    except Exception as exc:
        raise IngestError(str(path), f"the DOCX is damaged ({type(exc).__name__}); open it in Word and save it "
                          "again") from None


def _level(paragraph: Any) -> int | None:
    """0 for the Title style, 1-9 for headings (English or localised style names), None for body text."""
    style = paragraph.style
    for name in (getattr(style, "name", "") or "", getattr(style, "style_id", "") or ""):
        name = name.strip()
        if _TITLE.match(name):
            return 0
        m = _STYLE.match(name)
        if m:
            return int(m.group(1))
    return None


def _blocks(document: Any) -> Iterator[tuple[str, Any]]:
    """Paragraphs and tables of the body in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            yield "p", Paragraph(child, document)
        elif tag == "tbl":
            yield "tbl", Table(child, document)


def _table_text(table: Any) -> str:
    """One line per row: 'Header: value; ...' using the first row as headers; merged cells counted once."""
    rows = []
    for row in table.rows:
        cells, last = [], None
        for cell in row.cells:
            if cell._tc is last:
                continue
            last = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(cells)
    if len(rows) < 2:
        return "\n".join("; ".join(c for c in r if c) for r in rows)
    header = rows[0]
    return "\n".join("; ".join(f"{h}: {c}" if h else c for h, c in zip(header, r) if c) for r in rows[1:])


def _sections(document: Any, path: Path, source: str) -> list[Section]:
    core_title = (document.core_properties.title or "").strip()
    doc_title = core_title or path.stem.replace("-", " ").replace("_", " ")
    chapter_title, chapter_number, section_title = doc_title, None, doc_title
    sections: list[Section] = []
    paragraphs: list[str] = []
    title_seen = False

    def flush() -> None:
        if paragraphs:
            sections.append(Section(
                source=source, text="\n\n".join(paragraphs), chapter_number=chapter_number,
                chapter_title=chapter_title, section_title=section_title, order=len(sections),
                kind=section_kind(section_title)))
            paragraphs.clear()

    for kind, block in _blocks(document):
        if kind == "tbl":
            text = _table_text(block)
            if text:
                paragraphs.append(text)
            continue
        text = " ".join(block.text.split())
        if not text:
            continue
        level = _level(block)
        if level == 0 and not title_seen and not sections and not paragraphs:
            title_seen = True
            if not core_title:
                doc_title = chapter_title = section_title = text
            continue
        if level in (1, 2, 3) and not is_byline(text):  # a byline styled as a heading stays text
            flush()
            if level == 1:
                chapter_title, chapter_number = text, chapter_number_from_title(text)
            section_title = text
            continue
        paragraphs.append(text)
    flush()
    core = document.core_properties
    return with_front_matter(sections, author=core.author, date=core.created)
