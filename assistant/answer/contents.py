"""Answers that list part of the book's structure (its chapters, partner types or cases) from the recorded contents."""
from __future__ import annotations

from collections.abc import Iterable

from assistant.answer import prompts
from assistant.answer.citations import cite
from assistant.answer.sentences import split_sentences
from assistant.datamodel import Chunk, Citation
from assistant.index.catalog import TocEntry
from assistant.markers import marker


def contents_answer(intent: str, language: str, toc: list[TocEntry], chunks: Iterable[Chunk]
                    ) -> tuple[str, list[Citation]] | None:
    """The list the intent asks for ('actors', 'cases' or 'chapters'), each entry cited at its first sentence;
    None when the contents hold no such entries."""
    if intent == "actors":
        firsts = _first_entries(e for e in toc if e.actor)
        firsts.sort(key=lambda e: e.actor or 0)
        heading = prompts.TOC_ACTORS[language]
    elif intent == "cases":
        firsts = [e for e in toc if e.kind == "case"]
        heading = prompts.TOC_CASES[language]
    else:
        firsts = _first_entries(toc)
        heading = prompts.TOC_CHAPTERS[language]
    if not firsts:
        return None
    lines, citations = [heading], []
    first_chunks = _first_chunks(chunks)
    for entry in firsts:
        chunk = first_chunks.get((entry.source, entry.chapter_title, entry.section_title))
        label = entry.section_title if intent == "cases" else entry.label
        if intent == "actors":
            label = f"{entry.actor}. {entry.chapter_title}"
        if chunk is None:
            lines.append(f"- {label}")
            continue
        s, e = split_sentences(chunk.text)[0]
        citations.append(cite(len(citations) + 1, chunk, s, e))
        lines.append(f"- {label} {marker(len(citations))}")
    return "\n".join(lines), citations


def _first_chunks(chunks: Iterable[Chunk]) -> dict[tuple[str, str, str], Chunk]:
    """The first chunk of every section, keyed by (source, chapter title, section title)."""
    out: dict[tuple[str, str, str], Chunk] = {}
    for c in chunks:
        key = (c.source, c.chapter_title, c.section_title)
        if key not in out or c.position < out[key].position:
            out[key] = c
    return out


def _first_entries(entries: Iterable[TocEntry]) -> list[TocEntry]:
    seen, out = set(), []
    for e in entries:
        key = (e.source, e.chapter_number, e.chapter_title)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
