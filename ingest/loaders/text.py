"""Plain text: a short line standing alone between blank lines, or a numbered line, starts a section."""
from __future__ import annotations

import re
from pathlib import Path

from assistant.datamodel import Section

from .structure import chapter_number_from_title, section_kind
from .textfile import check_lines, read_text

_NUMBERED_HEADING = re.compile(r"^\s*(?:kapitel\s+)?\d+(?:\.\d+)*\.?\s+\S.{0,80}$", re.IGNORECASE)
MAX_LINE = 100_000


def _is_heading(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if not line or len(line) > 90 or line[-1] in ".,;:!?)\"”":
        return False
    before = i == 0 or not lines[i - 1].strip()
    after = i + 1 >= len(lines) or not lines[i + 1].strip()
    if not (before and after):
        return False
    return bool(_NUMBERED_HEADING.match(line)) or line.isupper() or len(line.split()) <= 8


def load_text(path: Path, source: str) -> list[Section]:
    text = read_text(path)
    check_lines(text, path)
    lines = [ln if len(ln) <= MAX_LINE else _wrap_marker(ln) for ln in text.split("\n")]
    chapter_title = path.stem.replace("-", " ").replace("_", " ")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and _is_heading(lines, first):
        chapter_title = lines[first].strip()
    chapter_number = chapter_number_from_title(chapter_title)
    sections: list[Section] = []
    title, body = chapter_title, []

    def flush() -> None:
        while body and not body[-1][1].strip():
            body.pop()
        while body and not body[0][1].strip():
            body.pop(0)
        if body:
            offsets, pos = [], 0
            for line_no, line in body:
                offsets.append((pos, line_no))
                pos += len(line) + 1
            sections.append(Section(
                source=source, text="\n".join(t for _, t in body), chapter_number=chapter_number,
                chapter_title=chapter_title, section_title=title, order=len(sections),
                line_start=body[0][0], line_end=body[-1][0], kind=section_kind(title), line_offsets=offsets))
        body.clear()

    for i, line in enumerate(lines):
        if i == first and line.strip() == chapter_title:
            continue
        if _is_heading(lines, i):
            flush()
            title = line.strip()
            continue
        body.append((i + 1, line))
    flush()
    return sections


def _wrap_marker(line: str) -> str:
    """Very long lines (minified text, dumps) are cut into sentences-sized pieces on spaces."""
    words, out, size = line.split(" "), [], 0
    for w in words:
        out.append(w)
        size += len(w) + 1
        if size > 400:
            out.append("\n")
            size = 0
    return " ".join(out).replace(" \n ", "\n")
