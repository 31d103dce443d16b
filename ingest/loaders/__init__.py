"""One loader per file format; each turns a file into Sections or raises IngestError naming the file."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.datamodel import Section
from assistant.errors import IngestError

Loader = Callable[[Path, str], list[Section]]


def _markdown(path: Path, source: str) -> list[Section]:
    from .markdown import load_markdown

    return load_markdown(path, source)


def _text(path: Path, source: str) -> list[Section]:
    from .text import load_text

    return load_text(path, source)


def _html(path: Path, source: str) -> list[Section]:
    from .html import load_html

    return load_html(path, source)


def _pdf(path: Path, source: str) -> list[Section]:
    from .pdf import load_pdf

    return load_pdf(path, source)


def _docx(path: Path, source: str) -> list[Section]:
    from .docx import load_docx

    return load_docx(path, source)


LOADERS: dict[str, Loader] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _text,
    ".text": _text,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _docx,
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load(path: Path, source: str | None = None) -> list[Section]:
    """Load one file; source is the name citations show (defaults to the file name)."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(str(path), f"unsupported file type {path.suffix!r}; use Markdown, text, HTML, DOCX or PDF")
    sections = loader(path, source or path.name)
    if not any(s.text.strip() for s in sections):
        raise IngestError(str(path), "no text found in the file; check that it is not empty or a scan")
    return sections


def document_meta(sections: list[Section]) -> dict[str, str]:
    """What a loaded document says about itself: {"author", "date" (YYYY-MM-DD), "byline"}, only the keys found.

    PDF, HTML and DOCX loaders attach it (byline first, then the file's own metadata); for other formats it is
    read from the bylines at the top of the text.
    """
    from .structure import front_matter

    meta = getattr(sections, "meta", None)
    return dict(meta) if meta is not None else front_matter(line for s in sections for line in s.text.split("\n"))
