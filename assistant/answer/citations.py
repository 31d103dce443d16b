"""Citations: the exact quote, where it stands (chapter, section, page or lines), and its [n] marker."""
from __future__ import annotations

from assistant.answer.prompts import LOCATION_LABELS
from assistant.answer.sentences import clean_sentence
from assistant.datamodel import Chunk, Citation


def cite(n: int, chunk: Chunk, start: int, end: int) -> Citation:
    """A citation of chunk.text[start:end], with the line range of exactly that span."""
    quote = clean_sentence(chunk.text[start:end])
    lines = None
    if chunk.line_start is not None:
        first = chunk.line_start + chunk.text.count("\n", 0, start)
        last = chunk.line_start + chunk.text.count("\n", 0, max(start, end - 1))
        lines = [first, last]
    return Citation(
        n=n, source=chunk.source, chapter=chunk.chapter_label, chapter_number=chunk.chapter_number,
        chapter_title=chunk.chapter_title, section=chunk.section_title, page=chunk.reader_page,
        pdf_page=chunk.page, lines=lines, quote=quote, chunk_id=chunk.id, passage=chunk.text)


def location(c: Citation, language: str) -> str:
    """Where a reader finds the quote, as one short line in the answer's language."""
    chapter, page, line = LOCATION_LABELS.get(language, LOCATION_LABELS["da"])
    parts = [c.source]
    if c.chapter:
        parts.append(f"{chapter} {c.chapter}")
    if c.section and c.section != c.chapter_title:
        parts.append(c.section)
    if c.page is not None:
        parts.append(f"{page} {c.page}")
    elif c.lines:
        parts.append(f"{line} {c.lines[0]}" + (f"-{c.lines[1]}" if c.lines[1] != c.lines[0] else ""))
    return " · ".join(parts)
