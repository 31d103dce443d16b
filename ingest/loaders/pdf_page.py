"""Raw page content for PDF ingestion: words with font and position, rectangles, rules, images, ruled tables.

Reads pdfminer.six's layout objects (MIT, pure Python) with no layout analysis, which is three times faster
than pdfplumber's per-character dicts on the same engine; docs/pdf.md has the measurements.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

_CID = re.compile(r"\(cid:\d+\)")


@dataclass
class PageObjects:
    """What one page draws: words (dicts with text, x0, x1, top, bottom, fontname, size) and shapes."""

    width: float = 0.0
    height: float = 0.0
    y_top: float = 0.0  # PDF y of the page's top edge, to place bookmark targets
    words: list[dict] = field(default_factory=list)
    rects: list[tuple[float, float, float, float]] = field(default_factory=list)
    hrules: list[tuple[float, float, float]] = field(default_factory=list)  # (y, x0, x1)
    vrules: list[tuple[float, float, float]] = field(default_factory=list)  # (x, top, bottom)
    has_images: bool = False
    unmapped: int = 0  # glyphs without a Unicode mapping: '(cid:12)' in pdfminer's output


def iter_pages(fh: BinaryIO, password: str = "") -> Iterator[PageObjects]:
    """Open with pdfminer and yield each page's objects; raises pdfminer's errors for the caller to word."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from pdfminer.utils import apply_matrix_rect, mult_matrix

    class ClippingAggregator(PDFPageAggregator):
        """Records where each form XObject is visible: pdfminer keeps every glyph of a form, also those its /BBox
        clips away (and reads that BBox as x, y, width, height), so a page that shows a cut-out of another page as a
        figure read as both pages' text, interleaved letter by letter."""

        def begin_figure(self, name: str, bbox: Any, matrix: Any) -> None:
            super().begin_figure(name, bbox, matrix)
            self.cur_item.clip = apply_matrix_rect(mult_matrix(matrix, self.ctm), tuple(bbox))

    document = PDFDocument(PDFParser(fh), password=password)
    manager = PDFResourceManager(caching=True)
    device = ClippingAggregator(manager, laparams=None)
    interpreter = PDFPageInterpreter(manager, device)
    for page in PDFPage.create_pages(document):
        interpreter.process_page(page)
        yield _collect(device.get_result())


def _collect(ltpage: Any) -> PageObjects:
    from pdfminer.layout import LTChar, LTCurve, LTImage, LTLine, LTRect

    top = float(ltpage.y1)
    out = PageObjects(float(ltpage.width), float(ltpage.height), top)
    glyphs: list[tuple[Any, str]] = []
    stack: list[tuple[Any, tuple | None]] = [(obj, None) for obj in ltpage]
    while stack:
        obj, clip = stack.pop()
        if clip is not None and not hasattr(obj, "__iter__") and not _visible(obj, clip):
            continue  # (a container's own bbox is pdfminer's misread one; its clip is tested on what it holds)
        if isinstance(obj, LTChar):
            glyphs.append((obj, obj.get_text()))
        elif isinstance(obj, (LTRect, LTLine)):
            x0, t, x1, b = obj.x0, top - obj.y1, obj.x1, top - obj.y0
            if b - t < 2.5:
                out.hrules.append(((t + b) / 2, x0, x1))
            elif x1 - x0 < 2.5:
                out.vrules.append(((x0 + x1) / 2, t, b))
            elif isinstance(obj, LTRect):
                out.rects.append((x0, t, x1, b))
                out.hrules += [(t, x0, x1), (b, x0, x1)]
                out.vrules += [(x0, t, b), (x1, t, b)]
        elif isinstance(obj, LTImage):
            out.has_images = True
        elif isinstance(obj, LTCurve):
            continue
        elif hasattr(obj, "__iter__"):
            inner = getattr(obj, "clip", None)
            if inner is not None and clip is not None:
                inner = (max(inner[0], clip[0]), max(inner[1], clip[1]), min(inner[2], clip[2]), min(inner[3], clip[3]))
            stack.extend((child, inner or clip) for child in obj)
    if len({(text, round(g.x0), round(g.y0)) for g, text in glyphs}) < len(glyphs):  # some glyph drawn over another
        seen: dict[tuple, list[tuple[float, float]]] = {}
        glyphs = [(g, text) for g, text in glyphs if not _drawn_before(seen, g, text)]
    chars: list[tuple] = []
    for g, text in glyphs:
        if _CID.fullmatch(text):
            out.unmapped += 1
        elif g.upright:
            chars.append((text, g.x0, g.x1, top - g.y1, top - g.y0, g.fontname, g.size))
    out.words = _words(chars)
    return out


def _drawn_before(seen: dict[tuple, list[tuple[float, float]]], obj: Any, text: str) -> bool:
    """Whether this glyph was already drawn at (nearly) the same place in the same font: a heading drawn four times
    over itself (fake bold, a fill then a stroke, a shadow) read as "CCCCaaaattttssss"; it is one glyph."""
    tol = min(1.0, 0.5 * (obj.x1 - obj.x0) or 1.0)
    key = (text, obj.fontname, round(obj.size, 1))
    bx, by = int(obj.x0), int(obj.y0)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if any(abs(x - obj.x0) <= tol and abs(y - obj.y0) <= tol for x, y in seen.get((key, bx + dx, by + dy), ())):
                return True
    seen.setdefault((key, bx, by), []).append((obj.x0, obj.y0))
    return False


def _visible(obj: Any, clip: tuple, tol: float = 1.0) -> bool:
    """Whether the middle of a drawn object lies inside a form's clip rectangle (PDF coordinates)."""
    x, y = (obj.x0 + obj.x1) / 2, (obj.y0 + obj.y1) / 2
    return clip[0] - tol <= x <= clip[2] + tol and clip[1] - tol <= y <= clip[3] + tol


def _words(chars: list[tuple]) -> list[dict]:
    """Characters on one baseline, split at spaces and at gaps wider than 0.15 em (tight justified spaces)."""
    chars.sort(key=lambda c: (round(c[4]), c[1]))
    rows: list[list[tuple]] = []
    for c in chars:
        if rows and abs(rows[-1][-1][4] - c[4]) <= max(1.0, 0.2 * c[6]):
            rows[-1].append(c)
        else:
            rows.append([c])
    words: list[dict] = []
    for row in rows:
        row.sort(key=lambda c: c[1])
        cur: list[tuple] = []
        for c in row:
            if c[0].isspace() or (cur and (c[1] - cur[-1][2] > 0.15 * c[6] or c[1] < cur[-1][1] - 0.5)):
                _flush(cur, words)
                cur = []
            if not c[0].isspace():
                cur.append(c)
        _flush(cur, words)
    return words


def _flush(cur: list[tuple], words: list[dict]) -> None:
    if cur:
        sizes = sorted(c[6] for c in cur)
        words.append({"text": "".join(c[0] for c in cur), "x0": cur[0][1], "x1": max(c[2] for c in cur),
                      "top": min(c[3] for c in cur), "bottom": max(c[4] for c in cur),
                      "fontname": cur[len(cur) // 2][5], "size": sizes[len(sizes) // 2]})


def boxes(objs: PageObjects) -> list[tuple]:
    """Fact boxes: rectangles big enough to hold text but not the whole page."""
    found = [r for r in objs.rects if r[2] - r[0] > 60 and r[3] - r[1] > 18
             and (r[2] - r[0]) * (r[3] - r[1]) < 0.6 * objs.width * objs.height]
    return found if len(found) <= 40 else []  # dozens of panels is a diagram, not fact boxes


def tables(objs: PageObjects) -> list[tuple[tuple, list[list[str]]]]:
    """Ruled tables as (bbox, rows of cell texts): grids of at least three horizontal and three vertical rules."""
    if len(objs.hrules) < 3 or len(objs.vrules) < 3 or len(objs.hrules) * len(objs.vrules) > 250_000:
        return []  # too few rules for a grid, or a drawing (chart, map) rather than a table
    out = []
    for hs, vs in _grids(objs.hrules, objs.vrules):
        ys, xs = _distinct(h[0] for h in hs), _distinct(v[0] for v in vs)
        if len(ys) < 3 or len(xs) < 3:
            continue
        cells: list[list[list[dict]]] = [[[] for _ in xs[1:]] for _ in ys[1:]]
        for w in objs.words:
            cx, cy = (w["x0"] + w["x1"]) / 2, (w["top"] + w["bottom"]) / 2
            r = next((i for i in range(len(ys) - 1) if ys[i] <= cy <= ys[i + 1]), None)
            c = next((i for i in range(len(xs) - 1) if xs[i] <= cx <= xs[i + 1]), None)
            if r is not None and c is not None:
                cells[r][c].append(w)
        rows = [[" ".join(w["text"] for w in sorted(cell, key=lambda w: (round(w["top"]), w["x0"])))
                 for cell in row] for row in cells]
        rows = [r for r in rows if any(r)]
        if len(rows) >= 2 and sum(1 for c in rows[0] if c) >= 2:
            out.append(((xs[0], ys[0], xs[-1], ys[-1]), rows))
    return out


def _grids(hrules: list, vrules: list) -> list[tuple[list, list]]:
    """Connected groups of crossing rules (union-find); each group is one candidate table."""
    segs = [("h", h) for h in hrules] + [("v", v) for v in vrules]
    parent = list(range(len(segs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (ki, h) in enumerate(segs):
        if ki != "h":
            continue
        for j, (kj, v) in enumerate(segs):
            if kj == "v" and h[1] - 2 <= v[0] <= h[2] + 2 and v[1] - 2 <= h[0] <= v[2] + 2:
                parent[find(i)] = find(j)
    groups: dict[int, tuple[list, list]] = {}
    for i, (kind, seg) in enumerate(segs):
        g = groups.setdefault(find(i), ([], []))
        (g[0] if kind == "h" else g[1]).append(seg)
    return list(groups.values())


def _distinct(values: Any, tol: float = 2.0) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def table_text(rows: list[list[str]]) -> str:
    """Rows with their headers: 'Aktør: Kommunen; Rolle: Koordinerer' per row, one row a line."""
    header, body = rows[0], rows[1:]
    lines = []
    for row in body:
        cells = [f"{h}: {c}" if h else c for h, c in zip(header, row) if c]
        lines.append("; ".join(cells))
    return "\n".join(line for line in lines if line)
