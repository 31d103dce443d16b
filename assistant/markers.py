"""Citation markers ("[1]", "[1, 2]", "[1][2]") and chapter labels ("3. Title"): written, parsed and linked here
only."""
from __future__ import annotations

import re
from collections.abc import Callable

MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
MARKER_RUN = re.compile(r"((?:[ \t]*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])+)")  # markers side by side, as one piece
LEADING_MARKERS = re.compile(r"(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])+")


def marker(n: int) -> str:
    return f"[{n}]"


def numbers(group: str) -> list[int]:
    """The numbers of one marker's inside, "1, 2" -> [1, 2]."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", group.strip())]


def parse_markers(text: str) -> list[int]:
    """Citation numbers in order of appearance; accepts [1], [1][2], [1, 2] and [1; 2]."""
    return [n for group in MARKER.findall(text) for n in numbers(group)]


def strip_markers(text: str) -> str:
    """The text without its markers, whitespace collapsed and no space left before punctuation."""
    return " ".join(MARKER.sub("", text).split()).replace(" .", ".").replace(" ,", ",")


def link_markers(text: str, plain: Callable[[str], str], link: Callable[[int], str | None]) -> str:
    """Text with each marker's numbers made links: `plain` escapes the text between, `link(n)` the number
    (None keeps "[n]" unlinked, for numbers no citation has)."""
    out, last = [], 0
    for m in MARKER.finditer(text):
        out.append(plain(text[last:m.start()]))
        out.append("".join(link(n) or marker(n) for n in numbers(m.group(1))))
        last = m.end()
    out.append(plain(text[last:]))
    return "".join(out)


def chapter_label(number: int | None, title: str) -> str:
    """How a chapter is named everywhere: "3. Title", or the title alone for a document without numbers or whose
    title already starts with its number ("3. Title", not "3. 3. Title")."""
    if number is None or re.match(rf"\s*{number}(?:\.(?!\d)|\s)", title):
        return title
    return f"{number}. {title}".strip()
