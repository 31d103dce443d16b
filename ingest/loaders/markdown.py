"""Markdown with optional YAML front matter: '#' starts a chapter, '##' and deeper start a section."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

from assistant.datamodel import Section
from assistant.errors import IngestError

from .structure import chapter_number_from_title, clean_inline, section_kind
from .textfile import check_lines, read_text

FENCE = re.compile(r"^\s*(```|~~~)")
# Headings follow CommonMark block rules (ATX and setext, top level only, never inside code or HTML blocks);
# fence delimiter lines are dropped from the text as before, their content kept. Inline parsing is off: titles
# and text stay raw source, cleaned by clean_inline.
_PARSER = MarkdownIt("commonmark").disable("inline")


def split_front_matter(text: str, path: Path) -> tuple[dict, list[str], int]:
    """Return (front matter, body lines, line number of the first body line)."""
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                try:
                    meta = yaml.safe_load("\n".join(lines[1:i])) or {}
                except yaml.YAMLError:
                    raise IngestError(str(path), "the YAML front matter is not valid; fix or remove it") from None
                if not isinstance(meta, dict):
                    meta = {}
                return meta, lines[i + 1 :], i + 2
    return {}, lines, 1


def block_structure(lines: list[str]) -> tuple[dict[int, tuple[int, int, str]], set[int]]:
    """Top-level headings as {first line: (level, line after it, raw title)} and the fence lines to drop."""
    headings: dict[int, tuple[int, int, str]] = {}
    fence_lines: set[int] = set()
    tokens = _PARSER.parse("\n".join(lines).replace("\r", " "))  # a bare CR would shift the parser's lines
    for i, tok in enumerate(tokens):
        if tok.map is None:
            continue
        start, end = tok.map
        if tok.type == "heading_open" and tok.level == 0:
            title = " ".join(part.strip() for part in tokens[i + 1].content.split("\n"))
            headings[start] = (int(tok.tag[1]), end, title)
        elif tok.type == "fence":
            closing = lines[end - 1].strip() if end - 1 > start else ""
            closed = set(closing) == {tok.markup[0]} and len(closing) >= len(tok.markup)
            fence_lines.update(j for j in ((start, end - 1) if closed else (start,)) if FENCE.match(lines[j]))
    return headings, fence_lines


def load_markdown(path: Path, source: str) -> list[Section]:
    """Sections of a Markdown file: text is the original lines between headings, with real line numbers."""
    text = read_text(path)
    check_lines(text, path)
    meta, lines, first_line = split_front_matter(text, path)
    chapter_title = str(meta.get("title") or "").strip()
    chapter_number = _int_or_none(meta.get("chapter"))
    actor = _int_or_none(meta.get("actor"))
    fallback_title = chapter_title or path.stem.replace("-", " ").replace("_", " ")
    sections: list[Section] = []
    current: dict = {"title": chapter_title or fallback_title, "lines": []}
    seen_h1 = False

    def flush() -> None:
        body = current["lines"]
        while body and not body[-1][1].strip():
            body.pop()
        while body and not body[0][1].strip():
            body.pop(0)
        if not body:
            current["lines"] = []
            return
        text_parts, offsets, pos = [], [], 0
        for line_no, line in body:
            offsets.append((pos, line_no))
            text_parts.append(line)
            pos += len(line) + 1
        title = current["title"]
        sections.append(
            Section(
                source=source,
                text="\n".join(text_parts),
                chapter_number=chapter_number,
                chapter_title=chapter_title or fallback_title,
                section_title=title,
                order=len(sections),
                line_start=body[0][0],
                line_end=body[-1][0],
                kind=section_kind(title),
                actor=actor,
                line_offsets=offsets,
            )
        )
        current["lines"] = []

    headings, fence_lines = block_structure(lines)
    i = 0
    while i < len(lines):
        if i in headings:
            flush()
            level, i, raw_title = headings[i]
            title = clean_inline(raw_title)
            if level == 1:
                if seen_h1:
                    chapter_title, chapter_number = title, chapter_number_from_title(title)
                else:
                    chapter_title = chapter_title or title
                    if chapter_number is None:
                        chapter_number = chapter_number_from_title(title)
                seen_h1 = True
            current["title"] = title if level > 1 else chapter_title
            continue
        if i not in fence_lines:
            current["lines"].append((first_line + i, clean_inline(lines[i])))
        i += 1
    flush()
    return sections


def _int_or_none(value: object) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None
