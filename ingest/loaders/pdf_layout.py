"""Page geometry for PDF ingestion: words into lines in reading order, with tables, boxes and furniture marked.

Works on pdfminer.six page objects (MIT, pure Python); docs/pdf.md says why this library and not another.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

from .pdf_page import PageObjects, boxes, table_text, tables
from .structure import is_byline

SOFT_HYPHEN = re.compile("\u00ad(?!$)")
LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st",
             "\u00a0": " ", "\u2010": "-", "\u2011": "-"}
_LIG_RE = re.compile("|".join(LIGATURES))
ROMAN = re.compile(r"^(?=[ivxlcdm]+$)m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$", re.IGNORECASE)
PAGE_NO = re.compile(r"^(?:side\s+|s\.\s*|page\s+)?(\d{1,4}|[ivxlcdm]{1,7})$", re.IGNORECASE)


@dataclass
class Line:
    """One printed line (or a table, or a line of a box) with what reading order and structure need."""

    text: str
    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool = False
    italic: bool = False
    col: int = 0
    role: str = "body"  # body | aside | table | furniture
    group: int = -1  # the box an aside line belongs to

    @property
    def style(self) -> tuple[float, bool]:
        return round(self.size * 2) / 2, self.bold


@dataclass
class PageLayout:
    """One page's lines in reading order, plus what the page-label and scan checks need."""

    number: int
    width: float
    height: float
    lines: list[Line] = field(default_factory=list)
    has_images: bool = False
    unmapped: int = 0
    y_top: float = 0.0
    plain: bool = False  # lines from pypdf's plain text (pdf_fallback): no real geometry, no furniture test


def fix_ligatures(text: str) -> str:
    """NFKC for ligatures and odd spaces/hyphens only; Danish letters and everything else stay as printed."""
    return _LIG_RE.sub(lambda m: LIGATURES[m.group()], text)


def roman_value(token: str) -> int | None:
    if not token or not ROMAN.match(token):
        return None
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    total, prev = 0, 0
    for ch in reversed(token.lower()):
        v = values[ch]
        total, prev = (total - v, prev) if v < prev else (total + v, v)
    return total


def _font_flags(fontname: str) -> tuple[bool, bool]:
    name = fontname.lower().split("+")[-1]
    return (any(k in name for k in ("bold", "black", "heavy", "semibold", "demi")),
            any(k in name for k in ("italic", "oblique")))


def read_page(objs: PageObjects, number: int) -> PageLayout:
    """Turn one page's objects into lines; tables become one line each, box text is marked 'aside'."""
    layout = PageLayout(number, objs.width, objs.height, has_images=objs.has_images, unmapped=objs.unmapped,
                        y_top=objs.y_top)
    if not objs.words:
        return layout
    found = tables(objs)
    frames = [b for b in boxes(objs) if not any(_inside(b, t[0], 2) for t in found)]
    free: list[dict] = []
    for w in objs.words:
        if any(_inside_word(w, t[0]) for t in found):
            continue
        w["group"] = next((i for i, b in enumerate(frames) if _inside_word(w, b)), -1)
        free.append(w)
    gutter = _gutter(free, layout.width)
    lines = _lines(free, gutter, number)
    for bbox, rows in found:
        lines.append(Line(fix_ligatures(table_text(rows)), number, bbox[0], bbox[2], bbox[1], bbox[3], 0.0,
                          col=_col_of(bbox[0], bbox[2], gutter), role="table"))
    layout.lines = _reading_order(lines, gutter)
    return layout


def _inside(a: tuple, b: tuple, tol: float = 0.5) -> bool:
    return a[0] >= b[0] - tol and a[1] >= b[1] - tol and a[2] <= b[2] + tol and a[3] <= b[3] + tol


def _inside_word(w: dict, box: tuple) -> bool:
    cx, cy = (w["x0"] + w["x1"]) / 2, (w["top"] + w["bottom"]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def _gutter(words: list[dict], width: float) -> float | None:
    """The x of the gap between two columns, if the page has two; full-width lines may cross it."""
    body = [w for w in words if w["group"] < 0]
    if len(body) < 40:
        return None
    xs = list(range(int(width * 0.35), int(width * 0.65)))
    if not xs:
        return None
    cover = [0] * (len(xs) + 1)
    for w in body:  # how many words cross each x, by a difference array
        a, b = max(xs[0], int(w["x0"]) + 1), min(xs[-1] + 1, int(w["x1"]) + 1)
        if a < b:
            cover[a - xs[0]] += 1
            cover[b - xs[0]] -= 1
    counts, run = [], 0
    for c in cover[:-1]:
        run += c
        counts.append(run)
    best_cross = min(counts)
    if best_cross > 0.03 * len(body):
        return None
    runs, start = [], None
    for i, c in enumerate(counts + [best_cross + 1]):
        if c == best_cross and start is None:
            start = i
        elif c != best_cross and start is not None:
            runs.append((i - start, start, i - 1))
            start = None
    _, a, b = max(runs)
    best = xs[0] + (a + b) / 2
    sides: list[Counter] = [Counter(), Counter()]
    chars = [0, 0]
    for w in body:
        if not w["x0"] < best < w["x1"]:
            side = 0 if w["x1"] <= best else 1
            sides[side][round(w["bottom"])] += 1
            chars[side] += len(w["text"])
    rows = [sum(1 for n in c.values() if n >= 3) for c in sides]
    balanced = min(chars) >= 0.2 * sum(chars)
    return best if balanced and min(rows) >= 5 and len(set(sides[0]) & set(sides[1])) >= 3 else None


def _col_of(x0: float, x1: float, gutter: float | None) -> int:
    if gutter is None:
        return 0
    if x0 < gutter < x1:
        return -1  # spans both columns
    return 0 if x1 <= gutter else 1


def _lines(words: list[dict], gutter: float | None, number: int) -> list[Line]:
    """Group words on one baseline (and column, and box) into lines; superscripts join their line."""
    spanning = set()
    if gutter is not None:
        for w in words:
            if w["x0"] < gutter < w["x1"]:
                spanning.add(round(w["bottom"]))
    buckets: list[dict] = []
    for w in sorted(words, key=lambda w: (w["bottom"], w["x0"])):
        col = -1 if round(w["bottom"]) in spanning else _col_of(w["x0"], w["x1"], gutter)
        home = None
        for b in buckets[-6:]:
            if b["group"] != w["group"] or b["col"] != col:
                continue
            same = abs(b["base"] - w["bottom"]) <= max(1.5, 0.3 * w["size"])
            small = min(b["size"], w["size"]) < 0.8 * max(b["size"], w["size"])
            if same or (small and w["top"] < b["bottom"] and w["bottom"] > b["top"]):
                home = b
                break
        if home is None:
            home = {"group": w["group"], "col": col, "base": w["bottom"], "top": w["top"], "bottom": w["bottom"],
                    "size": w["size"], "words": []}
            buckets.append(home)
        elif w["size"] > home["size"]:
            home.update(base=w["bottom"], size=w["size"])
        home["top"], home["bottom"] = min(home["top"], w["top"]), max(home["bottom"], w["bottom"])
        home["words"].append(w)
    lines = []
    for b in buckets:
        ws = sorted((w for w in b["words"] if not _footnote_mark(w, b)), key=lambda w: w["x0"])
        if not ws:
            continue
        text = SOFT_HYPHEN.sub("", fix_ligatures(" ".join(w["text"] for w in ws)))
        sizes: Counter = Counter()
        for w in ws:
            sizes[round(float(w["size"]), 1)] += len(w["text"])
        flags = [_font_flags(w["fontname"]) for w in ws]
        lines.append(Line(text, number, min(w["x0"] for w in ws), max(w["x1"] for w in ws),
                          min(w["top"] for w in ws), max(w["bottom"] for w in ws), sizes.most_common(1)[0][0],
                          bold=all(f[0] for f in flags), italic=all(f[1] for f in flags), col=b["col"],
                          role="aside" if b["group"] >= 0 else "body", group=b["group"]))
    return lines


def _footnote_mark(w: dict, line: dict) -> bool:
    """A raised, smaller number or asterisk inside a line: a footnote reference, noise for retrieval."""
    return (w["size"] < 0.8 * line["size"] and w["bottom"] < line["base"] - 1
            and re.fullmatch(r"[\d*†,]+", w["text"]) is not None)


def _reading_order(lines: list[Line], gutter: float | None) -> list[Line]:
    """Top to bottom; on two-column pages each band between full-width lines is read left then right."""
    lines.sort(key=lambda ln: (ln.top, ln.x0))
    if gutter is None:
        return lines
    out: list[Line] = []
    band: list[Line] = []
    for ln in lines:
        if ln.col == -1:
            out.extend(sorted(band, key=lambda b: (b.col, b.top, b.x0)))
            band = []
            out.append(ln)
        else:
            band.append(ln)
    out.extend(sorted(band, key=lambda b: (b.col, b.top, b.x0)))
    return out


def body_size(pages: list[PageLayout]) -> float:
    """The most common font size of running text, weighted by characters."""
    sizes: Counter = Counter()
    for p in pages:
        for ln in p.lines:
            if ln.role == "body":
                sizes[round(ln.size * 2) / 2] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def mark_furniture(pages: list[PageLayout], body: float) -> dict[int, str]:
    """Mark running headers/footers and page numbers; return the printed page number found per page."""
    def key(ln: Line) -> str:
        return re.sub(r"\d+|\b[ivxlcdm]+\b", "#", ln.text.lower()).strip()

    candidates: list[tuple[PageLayout, Line, str]] = []
    for p in pages:
        flow = [ln for ln in p.lines if ln.role != "table"]
        if not flow or p.plain:
            continue
        by_top = sorted(flow, key=lambda ln: ln.top)
        edge = {id(ln) for ln in by_top[:2] + by_top[-2:]}
        for ln in flow:
            outer = ln.top < 0.14 * p.height or ln.bottom > 0.86 * p.height
            if id(ln) in edge and outer:
                candidates.append((p, ln, key(ln)))
    seen: dict[str, list[float]] = {}
    for _, ln, k in candidates:
        seen.setdefault(k, []).append(ln.top)
    printed: dict[int, tuple[int, str]] = {}
    for p, ln, k in candidates:
        tops = seen[k]
        repeated = sum(1 for t in tops if abs(t - ln.top) < 6) >= 2 and len(k) < 100 and ln.size <= 1.05 * body
        bare = PAGE_NO.match(ln.text.strip()) and ln.size <= 1.3 * body  # not a big chapter number
        small = (ln.size < 0.9 * body and len(ln.text) < 60 and not ln.text.rstrip().endswith(".")
                 and not (ln.page == 1 and is_byline(ln.text)))  # a small dateline under the title is text
        if repeated or bare or small:
            ln.role = "furniture"
            tokens = ln.text.split()
            # a bare number is the page number; else a number opening or closing a header ("12 · Titel")
            for rank, token in ((0, ln.text.strip()), (1, tokens[0]), (1, tokens[-1])):
                m = PAGE_NO.match(token) if token else None
                if m and (rank == 0 or not ROMAN.match(token)) and printed.get(p.number, (9, ""))[0] > rank:
                    printed[p.number] = (rank, m.group(1))
    for p in pages:
        p.lines = [ln for ln in p.lines if ln.role != "furniture"]
    return {page: token for page, (_, token) in printed.items()}


def line_pitch(pages: list[PageLayout]) -> float:
    """The usual distance between baselines of running text, to tell line breaks from paragraph breaks."""
    deltas = []
    for p in pages:
        body = [ln for ln in p.lines if ln.role == "body"]
        for a, b in pairwise(body):
            d = b.bottom - a.bottom
            if a.col == b.col and 0 < d < 3 * a.size:
                deltas.append(round(d, 1))
    return statistics.median(deltas) if deltas else 14.0
