"""Structure-aware chunking: paragraphs packed into chunks that never cross a section."""
from __future__ import annotations

import bisect
import hashlib
import re

from assistant.answer.sentences import split_sentences
from assistant.datamodel import Chunk, Section

TARGET_WORDS = 110
MAX_WORDS = 180


def chunk_sections(sections: list[Section], file_hash: str = "", *, target_words: int = TARGET_WORDS,
                   max_words: int = MAX_WORDS) -> list[Chunk]:
    """Split each section into chunks of whole paragraphs (or sentences, for long paragraphs)."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for section in sections:
        if section.kind == "sources" or not section.text.strip():
            continue
        for position, (start, end) in enumerate(_pieces(section.text, target_words, max_words)):
            text = section.text[start:end].strip()
            if not text:
                continue
            page, label = _page_at(section, start)
            line_start, line_end = _lines_at(section, start, end)
            base = chunk_id(section, position, text)
            occurrence = seen[base] = seen.get(base, -1) + 1
            chunks.append(Chunk(
                id=base if not occurrence else chunk_id(section, position, text, occurrence), text=text,
                source=section.source,
                chapter_number=section.chapter_number, chapter_title=section.chapter_title,
                section_title=section.section_title, order=section.order, position=position,
                page=page, page_label=label, line_start=line_start, line_end=line_end,
                kind=section.kind, file_hash=file_hash))
    return chunks


def chunk_id(section: Section, position: int, text: str, occurrence: int = 0) -> str:
    """Stable across runs: the same text in the same place gets the same id; a repeat of it in the same file (a
    page printed twice, two sections of one title) counts its occurrence, so ids are unique per file."""
    parts = [section.source, str(section.chapter_number), section.section_title, str(position), text]
    key = "\x00".join(parts + ([str(occurrence)] if occurrence else []))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def _words(text: str) -> int:
    return len(text.split())


def _pieces(text: str, target: int, maximum: int) -> list[tuple[int, int]]:
    units: list[tuple[int, int]] = []
    for m in re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*$)", text, flags=re.S):
        if _words(m.group()) <= maximum:
            units.append((m.start(), m.end()))
        else:
            units.extend((m.start() + s, m.start() + e) for s, e in split_sentences(m.group()))
    pieces: list[tuple[int, int]] = []
    cur_start, cur_end, cur_words = None, None, 0
    for s, e in units:
        w = _words(text[s:e])
        if cur_start is not None and (cur_words + w > maximum or cur_words >= target):
            pieces.append((cur_start, cur_end))
            cur_start, cur_words = None, 0
        if cur_start is None:
            cur_start = s
        cur_end, cur_words = e, cur_words + w
    if cur_start is not None:
        if pieces and cur_words < target // 4 and _words(text[pieces[-1][0]:cur_end]) <= maximum:
            pieces[-1] = (pieces[-1][0], cur_end)
        else:
            pieces.append((cur_start, cur_end))
    return pieces


def _page_at(section: Section, offset: int) -> tuple[int | None, str | None]:
    if not section.page_offsets:
        return section.page, section.page_label
    starts = [p[0] for p in section.page_offsets]
    i = max(0, bisect.bisect_right(starts, offset) - 1)
    return section.page_offsets[i][1], section.page_offsets[i][2]


def _lines_at(section: Section, start: int, end: int) -> tuple[int | None, int | None]:
    if not section.line_offsets:
        return section.line_start, section.line_end
    starts = [p[0] for p in section.line_offsets]
    i = max(0, bisect.bisect_right(starts, start) - 1)
    j = max(0, bisect.bisect_right(starts, max(start, end - 1)) - 1)
    return section.line_offsets[i][1], section.line_offsets[j][1]
