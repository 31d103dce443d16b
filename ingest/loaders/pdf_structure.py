"""Chapters and sections of a PDF: from its bookmarks when it has them, else from heading layout and numbering."""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from .pdf_layout import Line, PageLayout
from .structure import chapter_number_from_title, is_byline

_KAPITEL = re.compile(r"^\s*(?:kapitel|chapter|kap\.)\s+(\d+)\s*[.:]?\s*(.*)$", re.IGNORECASE)
_BARE = re.compile(r"^\s*(\d{1,2})\s*$")
_DOTTED = re.compile(r"^\s*\d+\.\d+")
_SINGLE = re.compile(r"^\s*(\d{1,2})\.?\s+\S")
_NUM_PREFIX = re.compile(r"^\s*(?:(?:kapitel|chapter|kap\.)\s+)?\d+(?:\.\d+)*\.?\s+", re.IGNORECASE)


@dataclass
class Mark:
    """Where a chapter (level 0) or section (level 1) starts in the flow of lines, and which lines are its heading."""

    start: int
    level: int
    title: str
    number: int | None = None
    consumed: set[int] = field(default_factory=set)


def _norm(text: str) -> str:
    text = _NUM_PREFIX.sub("", text.lower())
    return " ".join(re.findall(r"\w+", text))


def heading_like(ln: Line, body: float) -> bool:
    """Bigger or bold, short, not ending like a sentence: what a heading looks like in a designed book."""
    text = ln.text.strip()
    if ln.role == "body" and _BARE.match(text) and ln.size >= 1.5 * body:
        return True  # a big chapter number standing alone above the title
    if ln.role != "body" or len(text) > 120 or len(text.split()) > 15 or not re.search(r"[^\W\d_]", text):
        return False
    if text.endswith((".", ",", ";")) and not _KAPITEL.match(text):
        return False
    return (ln.size >= 1.12 * body or ln.bold) and not is_byline(text)  # "Af NAME 22/10/2018" is text


def _chapter_title(title: str) -> tuple[str, int | None]:
    number = chapter_number_from_title(title)
    m = _KAPITEL.match(title)
    if m and m.group(2):
        return m.group(2).strip(" ·-–:"), int(m.group(1))
    if number is not None:
        stripped = _NUM_PREFIX.sub("", title).strip()
        return stripped or title, number
    return title.strip(), None


def _outline(reader: Any) -> list[tuple[int, str, int, float | None]]:
    out: list[tuple[int, str, int, float | None]] = []

    def walk(items: list, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                top = item.get("/Top")
                title = str(item.title or "").strip()
            except Exception:
                continue
            if page is not None and page >= 0 and title:
                out.append((level, title, page + 1, float(top) if isinstance(top, (int, float)) else None))

    try:
        walk(list(reader.outline), 0)
    except Exception:
        return []
    roots = [e for e in out if e[0] == 0]
    if len(roots) == 1 and len(out) > 1:  # one bookmark for the whole book, chapters under it
        out = [(lvl - 1, t, p, y) for lvl, t, p, y in out if lvl > 0]
    return out


def outline_marks(reader: Any, flow: list[Line], pages: list[PageLayout], body: float) -> list[Mark]:
    """Marks from the PDF's bookmarks; each finds its heading line on its page, else its position."""
    entries = _outline(reader)
    if not entries:
        return []
    page_of = [ln.page for ln in flow]
    marks: list[Mark] = []
    used: set[int] = set()
    floor = 0
    for level, title, page, top in entries:
        lo, hi = bisect.bisect_left(page_of, page), bisect.bisect_left(page_of, page + 1)
        y_top = pages[page - 1].y_top if 0 < page <= len(pages) else 0.0
        y = y_top - top if top is not None and y_top else None
        lo = max(lo, floor)
        want = _norm(title)
        start = next((i for i in range(lo, hi) if i not in used and heading_like(flow[i], body)
                      and (y is None or flow[i].bottom >= y - 3) and _starts(flow[i].text, want)), None)
        consumed: set[int] = set()
        if start is None:
            start = next((i for i in range(lo, hi) if y is None or flow[i].bottom >= y - 3), hi if hi > lo else lo)
        else:
            acc, j = "", start
            while j < hi and acc != want and heading_like(flow[j], body):
                nxt = (acc + " " + _norm(flow[j].text)).strip()
                if not want.startswith(nxt):
                    break
                acc, j = nxt, j + 1
                consumed.add(j - 1)
        number = None
        if level == 0:
            title, number = _chapter_title(title)
            k = start - 1
            if k >= floor and k not in used and (m := _KAPITEL.match(flow[k].text)) and not m.group(2):
                consumed.add(k)
                start, number = k, number if number is not None else int(m.group(1))
        used |= consumed
        floor = start
        marks.append(Mark(start, 0 if level == 0 else 1, title, number, consumed))
    return marks


def _starts(text: str, want: str) -> bool:
    got = _norm(text)
    return bool(got) and (got == want or (len(got) >= 4 and want.startswith(got)))


def layout_marks(flow: list[Line], body: float) -> list[Mark]:
    """Marks from heading layout: 'Kapitel N' and the biggest style are chapters, smaller headings sections."""
    groups: list[list[int]] = []
    for i, ln in enumerate(flow):
        if not heading_like(ln, body):
            continue
        if groups:
            prev = flow[groups[-1][-1]]
            if (groups[-1][-1] == i - 1 and prev.page == ln.page and prev.col == ln.col and prev.style == ln.style
                    and ln.top - prev.bottom < ln.size and not _KAPITEL.match(prev.text)):
                groups[-1].append(i)
                continue
        groups.append([i])
    if not groups:
        return []
    heads = []  # (start, consumed, text, size, kapitel number)
    k = 0
    while k < len(groups):
        g = groups[k]
        text = " ".join(flow[i].text.strip() for i in g)
        bare = _BARE.match(text)
        m = _KAPITEL.match(text) or bare
        if m and (bare or not m.group(2)) and k + 1 < len(groups) and groups[k + 1][0] == g[-1] + 1:
            nxt = groups[k + 1]
            heads.append((g[0], set(g) | set(nxt), " ".join(flow[i].text.strip() for i in nxt),
                          flow[nxt[0]].size, int(m.group(1))))
            k += 2
            continue
        if not bare:
            heads.append((g[0], set(g), text, flow[g[0]].size, int(m.group(1)) if m else None))
        k += 1
    kapitel_sizes = [h[3] for h in heads if h[4] is not None]
    sizes = sorted({round(h[3] * 2) / 2 for h in heads}, reverse=True)
    if kapitel_sizes:
        chapter_size = min(kapitel_sizes)
    elif any(_SINGLE.match(h[2]) and not _DOTTED.match(h[2]) for h in heads):
        chapter_size = min(h[3] for h in heads if _SINGLE.match(h[2]) and not _DOTTED.match(h[2]))
    else:
        chapter_size = sizes[0] if len(sizes) > 1 else float("inf")
    marks = []
    for start, consumed, text, size, kap in heads:
        chapter = kap is not None or (size >= chapter_size - 0.5 and not _DOTTED.match(text))
        if chapter:
            title, number = _chapter_title(text)
            marks.append(Mark(start, 0, title, kap if kap is not None else number, consumed))
        else:
            marks.append(Mark(start, 1, text, None, consumed))
    return marks


def page_marks(flow: list[Line], labels: list[str]) -> list[Mark]:
    """No headings at all: one section per page, named by the page a reader sees."""
    marks, last = [], None
    for i, ln in enumerate(flow):
        if ln.page != last:
            last = ln.page
            label = labels[ln.page - 1] if 0 < ln.page <= len(labels) else str(ln.page)
            marks.append(Mark(i, 1, f"Side {label}"))
    return marks if len(marks) > 1 else []
