"""HTML pages: h1 starts a chapter, h2-h4 a section; menus, scripts and styles are dropped; text as paragraphs."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from assistant.datamodel import Section
from assistant.errors import IngestError

from .html_main import MainText, main_content
from .structure import (
    chapter_number_from_title,
    is_byline,
    parse_date,
    section_kind,
    with_front_matter,
)
from .textfile import read_text

DROP = {"script", "style", "nav", "noscript", "template", "svg", "canvas", "iframe", "form", "button", "select",
        "footer", "head", "object", "embed", "math"}
BLOCK = {"p", "div", "li", "ul", "ol", "section", "article", "main", "blockquote", "pre", "dl", "dt", "dd",
         "figure", "figcaption", "header", "aside", "address", "body", "html", "details", "summary", "center",
         "h5", "h6", "hr", "caption", "fieldset", "legend"}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}


def load_html(path: Path, source: str) -> list[Section]:
    """Load an HTML file; its headings give the chapter and section structure citations show."""
    from bs4 import BeautifulSoup

    text = read_text(path)
    try:
        soup = BeautifulSoup(text, "html.parser")
    except Exception as exc:  # bs4 rarely fails, but a loader must never leak a parser error
        raise IngestError(str(path), f"the HTML cannot be parsed ({type(exc).__name__}); check the file") from None
    title_tag = soup.find("title")
    main = main_content(text)
    doc_title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    walker = _Walker(source, doc_title or (main.title if main else "") or path.stem.replace("-", " ").replace("_", " "),
                     main)
    try:
        walker.walk(soup.body or soup)
        walker.flush_section()
    except RecursionError:
        raise IngestError(str(path), "the HTML is nested too deeply to read; save the page as simpler HTML "
                          "or as text") from None
    if main is not None and not walker.sections:  # the extractor's idea of the page left nothing: read it whole
        walker = _Walker(source, walker.doc_title, None)
        walker.walk(soup.body or soup)
        walker.flush_section()
    meta = _page_meta(soup)
    if main is not None:  # what trafilatura read from bylines, JSON-LD and the URL, where the page's tags say nothing
        meta = {key: meta[key] or getattr(main, key) for key in ("author", "date")}
    return with_front_matter(walker.sections, **meta)


class _Walker:
    """Walks the tree in document order, collecting paragraphs into the current section."""

    def __init__(self, source: str, doc_title: str, main: MainText | None) -> None:
        self.source, self.sections, self.main, self.doc_title = source, [], main, doc_title
        self.chapter_title, self.chapter_number, self.section_title = doc_title, None, doc_title
        self.paragraphs: list[tuple[str, int | None]] = []
        self.buffer: list[str] = []
        self.buffer_line: int | None = None

    def walk(self, node: Any) -> None:
        from bs4 import Comment, Doctype, NavigableString, Tag

        for child in node.children:
            if isinstance(child, (Comment, Doctype)):
                continue
            if isinstance(child, NavigableString):
                self.buffer.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in DROP or child.get("hidden") is not None or child.get("aria-hidden") == "true":
                continue
            if name in HEADINGS and not is_byline(child.get_text(" ")):  # <h2>Af NAME</h2> is text
                self.flush_paragraph()
                self.heading(HEADINGS[name], " ".join(child.get_text(" ").split()))
            elif name == "table":
                self.flush_paragraph()
                rows = _table_rows(child)
                if rows and (self.main is None or self.main.keeps(rows, table=True)):
                    self.paragraphs.append((rows, child.sourceline))
            elif name == "br":
                self.buffer.append("\u2028")  # a line break the author asked for; source newlines are spaces
            elif name in BLOCK or name in HEADINGS:
                self.flush_paragraph()
                self.buffer_line = child.sourceline
                self.walk(child)
                self.flush_paragraph()
            else:
                if self.buffer_line is None:
                    self.buffer_line = child.sourceline
                self.walk(child)

    def flush_paragraph(self) -> None:
        text = "\n".join(" ".join(part.split()) for part in "".join(self.buffer).split("\u2028"))
        text = re.sub(r"\n{2,}", "\n", text).strip()
        if text and (self.main is None or self.main.keeps(text) or is_byline(text)):
            self.paragraphs.append((text, self.buffer_line))
        self.buffer, self.buffer_line = [], None

    def heading(self, level: int, title: str) -> None:
        if not title:
            return
        self.flush_section()
        if level == 1:
            self.chapter_title, self.chapter_number = title, chapter_number_from_title(title)
        self.section_title = title

    def flush_section(self) -> None:
        self.flush_paragraph()
        if not self.paragraphs:
            return
        text, offsets = "", []
        for para, line in self.paragraphs:
            if text:
                text += "\n\n"
            if line is not None:
                offsets.append((len(text), line))
            text += para
        lines = [line for _, line in self.paragraphs if line is not None]
        self.sections.append(Section(
            source=self.source, text=text, chapter_number=self.chapter_number, chapter_title=self.chapter_title,
            section_title=self.section_title, order=len(self.sections), line_start=min(lines, default=None),
            line_end=max(lines, default=None), kind=section_kind(self.section_title), line_offsets=offsets))
        self.paragraphs = []


def _page_meta(soup: Any) -> dict[str, str]:
    """Author and publication date the page declares: <meta name="author">, <meta property=
    "article:published_time">, or a <time datetime> marked as the publication date or inside the page's header."""
    meta: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = str(tag.get("name") or tag.get("property") or tag.get("itemprop") or "").strip().lower()
        content = " ".join(str(tag.get("content") or "").split())
        if content and key not in meta:
            meta[key] = content
    author = next((meta[k] for k in ("author", "article:author", "dc.creator", "dcterms.creator")
                   if k in meta and "://" not in meta[k]), "")
    date = next((meta[k] for k in ("article:published_time", "datepublished", "dcterms.created", "dc.date",
                                   "dcterms.date", "date") if k in meta and parse_date(meta[k])), "")
    if not date:
        for time in soup.find_all("time", datetime=True, limit=20):
            if (time.has_attr("pubdate") or time.get("itemprop") == "datePublished"
                    or time.find_parent(["header", "address"]) is not None
                    or time.find_parent(class_=re.compile("byline|dateline|published", re.IGNORECASE)) is not None):
                date = str(time["datetime"])
                break
    return {"author": author, "date": date}


def _table_rows(table: Any) -> str:
    """One line per row: 'Header: value; ...' when the table has a header row, else cells joined by '; '."""
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = [(" ".join(c.get_text(" ").split()), c.name) for c in tr.find_all(["th", "td"], recursive=False)]
        if any(text for text, _ in cells):
            rows.append(cells)
    if not rows:
        return ""
    header = [t for t, _ in rows[0]] if all(kind == "th" for _, kind in rows[0]) and len(rows) > 1 else None
    out = []
    for row in rows[1:] if header else rows:
        texts = [t for t, _ in row]
        if header:
            out.append("; ".join(f"{h}: {t}" if h else t for h, t in zip(header, texts) if t))
        else:
            out.append("; ".join(t for t in texts if t))
    return "\n".join(line for line in out if line)
