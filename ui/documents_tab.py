"""The Dokumenter tab: layout and wiring (upload with progress, "Svar fra", the list, remove); behaviour lives in
ui/uploads.py and ui/documents.py."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import Settings, open_assistant
from assistant.errors import HandbookError

from . import documents, uploads
from .documents import ALL, CHOSEN

FILE_TYPES = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]


@dataclass
class DocumentsTab:
    upload: Any
    status: Any
    offer: Any
    offer_yes: Any
    offer_no: Any
    offered: Any
    scope: Any
    chosen: Any
    table: Any
    remove_choice: Any
    remove: Any


def keep_uploads_in_home(settings: Settings) -> None:
    """Gradio writes uploads to GRADIO_TEMP_DIR before our handler sees them: keep them under the data directory."""
    incoming = uploads.upload_dir(settings) / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(incoming)


def layout(settings: Settings, allowed: bool) -> DocumentsTab:
    """The tab's components, made inside the caller's `gr.Tab`."""
    gr.HTML('<p class="hb-docs-intro">Tilføj håndbogen (fx den gratis PDF) eller andre dokumenter, og vælg, hvilke '
            'dokumenter svarene skal komme fra.</p>', js_on_load=None)
    upload = gr.File(label=f"Tilføj dokumenter (PDF, DOCX, HTML, Markdown, tekst; højst {settings.max_upload_mb:g} MB "
                           "pr. fil): klik eller træk filerne herind", file_count="multiple", file_types=FILE_TYPES,
                     elem_id="hb-upload", visible=allowed, height=120)
    status = gr.HTML("" if allowed else f'<div class="hb-upload-error">'
                     f'{documents._e(uploads.NO_UPLOADS.format(host=settings.host))}</div>',
                     elem_id="hb-upload-status", js_on_load=None)
    with gr.Group(visible=False, elem_id="hb-digest-offer") as offer:
        gr.Markdown(documents.OFFER)
        with gr.Row():
            offer_yes = gr.Button("Ja, svar kun fra bogen", size="sm", variant="primary", elem_id="hb-offer-yes")
            offer_no = gr.Button("Nej tak", size="sm", elem_id="hb-offer-no")
    scope = gr.Radio([ALL, CHOSEN], value=ALL, label="Svar fra", elem_id="hb-scope")
    chosen = gr.CheckboxGroup([], label="Dokumenterne svarene kommer fra (ingen valgt: alle)", visible=False,
                              elem_id="hb-chosen")
    table = gr.HTML("", elem_id="hb-docs", js_on_load=None)
    with gr.Row(equal_height=True, elem_id="hb-remove-row"):
        remove_choice = gr.Dropdown([], value=None, label="Fjern et dokument fra indekset", scale=4,
                                    elem_id="hb-remove-choice")
        remove = gr.Button("Fjern", variant="stop", scale=1, min_width=70, elem_id="hb-remove")
    return DocumentsTab(upload, status, offer, offer_yes, offer_no, gr.State(False), scope, chosen, table,
                        remove_choice, remove)


def current(settings: Settings, scope: str | None, chosen: list[str] | None) -> list[str] | None:
    """The sources a question is answered from, given the tab's choice (one catalog read, on every question)."""
    if scope != CHOSEN:
        return None
    try:
        known = open_assistant(settings).sources()
    except HandbookError:
        return None
    return documents.selection(scope, chosen, known)


def refreshed(settings: Settings, scope: str | None, chosen: list[str] | None) -> tuple[Any, Any, Any, Any]:
    """(list, choice of documents, remove choice, scope) after the index or the choice changed."""
    docs = documents.documents(settings)
    known = [d.source for d in docs]
    kept = [s for s in chosen or [] if s in known]
    scope = scope if scope == CHOSEN and kept else (scope if scope != CHOSEN else ALL)
    sources = documents.selection(scope, kept, known)
    return (documents.table_html(docs, sources),
            gr.CheckboxGroup(choices=[(f"{d.title} ({d.source})", d.source) for d in docs], value=kept,
                             visible=scope == CHOSEN),
            gr.Dropdown(choices=known, value=None), scope)


def wire(tab: DocumentsTab, settings: Settings, toc: Any, note: Any, allowed: bool, contents: Any) -> None:
    """Events of the tab; `contents(sources)` renders the contents view for the choice, `note` (beside the chat)
    says when answers come from chosen documents only."""
    quiet: dict[str, Any] = dict(show_progress="hidden", api_visibility="undocumented")
    lists = [tab.table, tab.chosen, tab.remove_choice, tab.scope, toc, note]

    def refresh(scope: str, chosen: list[str]) -> tuple[Any, ...]:
        table, choices, remove, scope = refreshed(settings, scope, chosen)
        sources = current(settings, scope, chosen)
        return table, choices, remove, scope, contents(sources), documents.scope_note(sources)

    def on_upload(files: list[Any] | None, scope: str, chosen: list[str], offered: bool) -> Iterator[tuple]:
        pairs = [(Path(f), Path(f).name) for f in (files if isinstance(files, list) else [files]) if f]
        run = None
        for run in uploads.run_upload(pairs, settings, allowed=allowed):
            if not run.finished:
                yield (documents.progress_html(run),) + (gr.skip(),) * (len(lists) + 3)
        for path, _ in pairs:  # Gradio's copy (in its own folder); ours is under uploads/
            path.unlink(missing_ok=True)
            if path.parent.parent == Path(os.environ.get("GRADIO_TEMP_DIR", "")):
                shutil.rmtree(path.parent, ignore_errors=True)
        assert run is not None
        docs = documents.documents(settings)
        offer = (not offered and scope == ALL and any(d.digest for d in docs)
                 and any(s in {d.source for d in docs if not d.digest and d.kind == "PDF"} for s in run.indexed))
        yield (documents.progress_html(run), *refresh(scope, chosen), gr.Group(visible=offer), offered or offer,
               None)

    def accept(chosen: list[str]) -> tuple[Any, ...]:
        books = [d.source for d in documents.documents(settings) if not d.digest]
        return (*refresh(CHOSEN, books), gr.Group(visible=False))

    def on_remove(source: str | None, scope: str, chosen: list[str]) -> tuple[Any, ...]:
        if not source:
            return ('<div class="hb-upload-error">Vælg først det dokument, der skal fjernes.</div>',
                    *(gr.skip(),) * len(lists))
        try:
            count = uploads.remove_document(source, settings)
        except HandbookError as exc:
            return (f'<div class="hb-upload-error">{documents._e(exc)}</div>', *(gr.skip(),) * len(lists))
        note = f'<div class="hb-upload-done">Fjernet: {documents._e(source)} ({count} tekststykker).</div>'
        return (note, *refresh(scope, [s for s in chosen or [] if s != source]))

    def on_choice(scope: str, chosen: list[str]) -> tuple[Any, Any, Any, Any]:
        sources = current(settings, scope, chosen)
        return (documents.table_html(documents.documents(settings), sources),
                gr.CheckboxGroup(visible=scope == CHOSEN), contents(sources), documents.scope_note(sources))

    tab.upload.upload(on_upload, [tab.upload, tab.scope, tab.chosen, tab.offered],
                      [tab.status, *lists, tab.offer, tab.offered, tab.upload], concurrency_id="ingest",
                      concurrency_limit=1, **quiet)
    tab.offer_yes.click(accept, [tab.chosen], [*lists, tab.offer], **quiet)
    tab.offer_no.click(lambda: gr.Group(visible=False), None, [tab.offer], **quiet)
    tab.remove.click(on_remove, [tab.remove_choice, tab.scope, tab.chosen], [tab.status, *lists],
                     concurrency_id="ingest", concurrency_limit=1, **quiet)
    gr.on([tab.scope.input, tab.chosen.input], on_choice, [tab.scope, tab.chosen],
          [tab.table, tab.chosen, toc, note], **quiet)
