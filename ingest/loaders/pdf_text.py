"""From PDF lines to section text: paragraphs, hyphenation, boxes kept whole, page offsets for chunks."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from itertools import pairwise

from .pdf_layout import Line
from .structure import is_byline

_END = (".", "!", "?", ":", "”", "\"", "»", ")")
BULLETS = set("•▪●◦■□➢✓►▸")
_KEEP_HYPHEN_NEXT = {"og", "eller", "samt", "til", "som", "and", "or", "to"}
_WORD = re.compile(r"[A-Za-zÆØÅæøåÄÖÜäöüÉéÈè0-9]+(?:-[A-Za-zÆØÅæøåÄÖÜäöüÉéÈè0-9]+)*")
_LEADERS = re.compile(r"(\.{4,}|·{3,}|…{2,}|_{4,}|(\s\.){3,})\s*\S{0,6}\s*$")


def vocabulary(lines: list[Line]) -> Counter:
    """Every word (and hyphenated compound) the document prints, to decide line-end hyphens."""
    vocab: Counter = Counter()
    for ln in lines:
        for m in _WORD.finditer(ln.text):
            vocab[m.group().lower()] += 1
    return vocab


def join_lines(left: str, right: str, vocab: Counter) -> str:
    """Join two lines of one paragraph; 'samar-' + 'bejde' -> 'samarbejde', 'it-' + 'system' stays 'it-system'."""
    left = left.rstrip()
    right = right.lstrip()
    if right[:1] in BULLETS:
        return f"{left}\n{right}"  # list items stay on their own lines inside the paragraph
    if left.endswith("\u00ad"):
        return left[:-1] + right
    if not (left.endswith("-") and len(left) > 1 and left[-2].isalpha() and right[:1].isalpha()):
        return f"{left} {right}" if left and right else left + right
    head = re.split(r"[\s/(]", left[:-1])[-1]
    first = re.split(r"[\s,.;:!?)]", right)[0]
    if first.lower() in _KEEP_HYPHEN_NEXT or not right[:1].islower():
        return f"{left} {right}"  # "social- og sundhed", "EU-" + "Kommissionen"
    joined, kept = (head + first).lower(), f"{head}-{first}".lower()
    if vocab.get(kept, 0) > vocab.get(joined, 0):
        return left + right
    if vocab.get(joined, 0) == 0 and (len(head.split("-")[-1]) <= 2 or any(c.isupper() or c.isdigit()
                                                                      for c in head[1:])):
        return left + right  # "it-system", "e-mail", "SFI-rapport", "0-18-årige"
    return left[:-1] + right


def is_leader_line(text: str) -> bool:
    """A table-of-contents entry ('Kapitel 3 ..... 12') that would only echo headings."""
    return bool(_LEADERS.search(text))


class TextBuilder:
    """Collects one section's lines into paragraphs joined by blank lines, remembering each page's offset."""

    def __init__(self, pitch: float, vocab: Counter, label: Callable[[int], str | None],
                 right_edge: dict[tuple[int, int], float]) -> None:
        self.pitch, self.vocab, self.label, self.right_edge = pitch, vocab, label, right_edge
        self.paras: list[list[list]] = []  # paragraph -> segments [text, page]
        self.open = False
        self.prev: Line | None = None
        self.pending: list[list[Line]] = []

    def add(self, ln: Line) -> None:
        if ln.role == "table":
            self._close()
            self.paras.append([[ln.text, ln.page]])
            self.prev = None
        elif ln.role == "aside":
            last = self.pending[-1] if self.pending else None
            if last and last[-1].group == ln.group and last[-1].page == ln.page:
                last.append(ln)
            else:
                self.pending.append([ln])
            if not self.open or self._para_text().rstrip().endswith(_END):
                self._close()
        else:
            if self.open and self.prev is not None and not self._breaks(self.prev, ln):
                seg = self.paras[-1][-1]
                if seg[1] == ln.page:
                    seg[0] = join_lines(seg[0], ln.text, self.vocab)
                else:
                    joined = join_lines(seg[0], ln.text, self.vocab)
                    right = ln.text.strip()
                    seg[0] = joined[: len(joined) - len(right)]
                    self.paras[-1].append([right, ln.page])
            else:
                self._close()
                self.paras.append([[ln.text, ln.page]])
                self.open = True
            self.prev = ln

    def _para_text(self) -> str:
        return "".join(s[0] for s in self.paras[-1]) if self.paras else ""

    def _close(self) -> None:
        self.open = False
        self.prev = None
        for group in self.pending:  # a box: its title (a change of style) and each block its own paragraph
            text = group[0].text
            for a, b in pairwise(group):
                if a.style != b.style:
                    self.paras.append([[text, group[0].page]])
                    text = b.text
                else:
                    text = join_lines(text, b.text, self.vocab)
            self.paras.append([[text, group[0].page]])
        self.pending = []

    def _breaks(self, a: Line, b: Line) -> bool:
        if is_byline(a.text) or is_byline(b.text):
            return True  # a byline or dateline is its own paragraph, so it is its own sentence
        ended = a.text.rstrip().endswith(_END)
        if a.page != b.page or a.col != b.col or self.pending:
            return ended and not b.text[:1].islower()
        if abs(a.size - b.size) > 0.6 or a.bold != b.bold or a.italic != b.italic:
            return True
        if b.bottom - a.bottom > self.pitch * 1.35 or b.bottom <= a.top:
            return True
        right = self.right_edge.get((a.page, a.col), a.x1)
        first = b.text.split(" ", 1)[0]
        char_w = (b.x1 - b.x0) / max(1, len(b.text))
        if ended and a.x1 + (len(first) + 2) * char_w < right:
            return True  # the next line's first word would have fitted: the paragraph ended here
        return ended and b.x0 > a.x0 + 0.8 * a.size

    def finish(self) -> tuple[str, list[tuple[int, int, str | None]]]:
        """The section text and its (offset, page index, page label) list."""
        self._close()
        text, offsets = "", []
        for para in self.paras:
            raw = "".join(s[0] for s in para).replace("\u00ad", "-")
            body = raw.strip()
            if not body:
                continue
            if text:
                text += "\n\n"
            pos = len(text) - (len(raw) - len(raw.lstrip()))
            for seg_text, page in para:
                if not offsets or offsets[-1][1] != page:
                    offsets.append((max(pos, len(text)), page, self.label(page)))
                pos += len(seg_text)
            text += body
        return text, offsets
