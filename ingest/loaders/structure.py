"""Helpers every loader shares: heading numbers, section kinds, inline markup removal."""
from __future__ import annotations

import re

_CHAPTER_WORD = re.compile(r"^\s*(?:kapitel|chapter|kap\.)\s+(\d+)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*(\d{1,2})(?:\.|\s)\s*\S")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")

SOURCES_TITLES = {"kilder", "sources", "references", "referencer", "litteratur"}


def chapter_number_from_title(title: str) -> int | None:
    """'Kapitel 3 ...', 'Chapter 3', '3. Borgere' -> 3."""
    m = _CHAPTER_WORD.match(title) or _NUMBERED.match(title)
    return int(m.group(1)) if m else None


def section_kind(title: str) -> str:
    low = title.strip().lower()
    if low.startswith("case") or low.startswith("eksempel:"):
        return "case"
    if low.rstrip(":") in SOURCES_TITLES:
        return "sources"
    return "section"


def clean_inline(line: str) -> str:
    """Drop Markdown links, emphasis and stray tags, keeping their text."""
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub(r"\2", line)
    return _TAG.sub("", line).rstrip()
