"""The Dokumenter tab's content: the indexed documents (title, kind, pages, chunks, when added), the "Svar fra"
choice turned into the `sources` the core takes, and the upload's progress line."""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant import Settings, open_assistant
from assistant.errors import NoIndexError
from assistant.markers import chapter_label
from ingest.run import bundled_corpus

from .uploads import Upload, pdf_pages

ALL = "Alle dokumenter"
CHOSEN = "Kun de valgte"
KINDS = {".pdf": "PDF", ".docx": "Word (DOCX)", ".html": "HTML", ".htm": "HTML", ".md": "Markdown",
         ".markdown": "Markdown", ".txt": "Tekst", ".text": "Tekst"}
DIGEST_KIND = "Vores sammendrag (ikke bogen)"
OFFER = ("**Du har tilføjet en bog.** Skal svarene kun komme fra den, og ikke fra vores sammendrag "
         "af håndbogen? Du kan altid ændre det under «Svar fra».")


@dataclass
class Document:
    source: str
    title: str
    kind: str
    pages: int | None
    chunks: int
    added: float
    digest: bool


def documents(settings: Settings) -> list[Document]:
    """Every indexed document, the digest's chapters last; empty when nothing is indexed."""
    try:
        catalog = open_assistant(settings).store.catalog  # the chat's own, already open
    except NoIndexError:
        return []
    files, added = catalog.files(), catalog.added()
    titles = {source: _title(catalog.document(source)) for source in files}
    corpus = bundled_corpus().resolve()
    out = []
    for source, record in files.items():
        path = Path(record.path)
        digest = _inside(path, corpus)
        kind = DIGEST_KIND if digest else KINDS.get(path.suffix.lower(), path.suffix.lstrip(".").upper())
        pages = _pages(str(path), _mtime(path)) if path.suffix.lower() == ".pdf" else None
        out.append(Document(source, titles[source] or source, kind, pages, record.chunks, added.get(source, 0.0),
                            digest))
    return sorted(out, key=lambda d: (d.digest, d.source))


def _title(body: str | None) -> str:
    """The document's first chapter (a PDF's title page, a digest file's own chapter)."""
    first = next(iter(json.loads(body or "[]")), None)
    return chapter_label(first.get("chapter_number"), first.get("chapter_title") or "") if first else ""


@lru_cache(maxsize=256)
def _pages(path: str, mtime: float) -> int | None:
    return pdf_pages(Path(path)) if mtime else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder)
    except OSError:
        return False


def selection(scope: str | None, chosen: list[str] | None, known: list[str]) -> list[str] | None:
    """The `sources` for the core: None (all) unless "Kun de valgte" names documents that are still indexed."""
    if scope != CHOSEN:
        return None
    picked = [s for s in chosen or [] if s in known]
    return picked or None


def scope_note(sources: list[str] | None) -> str:
    """Beside the chat: which documents answers come from, when not all of them."""
    if sources is None:
        return ""
    return (f'<div class="hb-scope-note">Svarer kun fra: {_e(", ".join(sources))} '
            '<span class="hb-scope-hint">(skift under Dokumenter)</span></div>')


def table_html(docs: list[Document], sources: list[str] | None) -> str:
    """The list of documents; the ones answers come from are marked."""
    if not docs:
        return '<p class="hb-empty">Der er ikke indlæst nogen dokumenter endnu.</p>'
    rows = []
    for d in docs:
        used = sources is None or d.source in sources
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.added)) if d.added else "–"
        hint = "Svarene kommer også herfra" if used else "Ikke valgt under «Svar fra»"
        rows.append(
            f'<tr class="hb-doc{" hb-doc-digest" if d.digest else ""}{"" if used else " hb-doc-unused"}" '
            f'data-source="{_e(d.source)}" title="{hint}"><td><div class="hb-doc-title">{_e(d.title)}</div>'
            f'<div class="hb-doc-source">{_e(d.source)}</div></td><td>{_e(d.kind)}</td>'
            f'<td class="hb-num">{d.pages if d.pages is not None else "–"}</td><td class="hb-num">{d.chunks}</td>'
            f'<td class="hb-added">{_e(added)}</td></tr>')
    return ('<table class="hb-docs"><thead><tr><th>Titel</th><th>Type</th><th>Sider</th><th>Tekststykker</th>'
            f'<th>Tilføjet</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def progress_html(run: Upload) -> str:
    """The upload's progress line: the file being read (and its pages), then chunks embedded, then the result."""
    lines = [f'<div class="hb-upload-error">{_e(e)}</div>' for e in run.errors]
    if run.finished:
        if run.indexed:
            lines.insert(0, f'<div class="hb-upload-done">Tilføjet: {_e(", ".join(run.indexed))}.</div>')
        elif not run.errors:
            lines.insert(0, '<div class="hb-upload-done">Uændret: dokumentet var allerede indlæst.</div>')
        return f'<div class="hb-upload-result" role="status">{"".join(lines)}</div>'
    if run.stage == "embed":
        text, value, total = f"Indlejrer tekststykker: {run.done} af {run.total}", run.done, run.total
    else:
        pages = run.pages.get(run.current)
        text = f"Læser {run.current or ', '.join(run.names)}" + (f" ({pages} sider)" if pages else "") + " …"
        value, total = (run.done, run.total) if run.stage == "read" else (0, 0)
    bar = (f'<progress value="{value}" max="{total}"></progress>' if total else '<progress></progress>')
    return (f'<div class="hb-upload-progress" role="status">{bar}<span class="hb-upload-step">{_e(text)}</span>'
            f'</div>{"".join(lines)}')


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
