"""Incremental, crash-safe indexing: hash files, embed only what changed, commit the catalog last."""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.datamodel import Chunk, Section
from assistant.errors import IndexBusyError, IngestError
from assistant.hashing import file_sha256
from assistant.index.catalog import FileRecord
from assistant.index.lock import exclusive
from assistant.index.store import Store
from assistant.model.embedding import embedding_precision, prepare_model, vector_space
from assistant.settings import Settings

from . import copies
from .chunking import chunk_sections
from .discovery import discover
from .loaders import document_meta, load
from .notices import collect
from .report import DUPLICATE, FAILED, INDEXED, UNCHANGED, FileOutcome, IngestReport
from .vectors import Pending, Progress, stored

log = logging.getLogger("handbook.ingest")
MAX_CHUNK_CHARS = 100_000  # a normal chunk is ~1,000 characters; this is a "sentence" with no breaks at all
INDEX_FORMAT = "3"  # 2: sentence vectors made at ingest and kept in the catalog; 3: also each sentence alone


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per data directory; a second one refuses at once."""
    with exclusive(settings.index_dir) as held:
        if not held:
            raise IndexBusyError("Another ingest is running on this index; wait for it to finish.")
        yield


def ingest(paths: list[Path], settings: Settings, *, prune: bool = False, progress: Progress | None = None,
           skip_names: frozenset[str] = frozenset(), files: list[tuple[Path, str]] | None = None) -> IngestReport:
    """Bring the index in line with the given files and folders (and `files`, as (path, source) pairs); a bad
    file costs only itself."""
    started = time.perf_counter()
    report = IngestReport()
    with ingest_lock(settings):
        store = Store(settings, create=True)
        try:
            _ingest(paths, settings, store, report, prune, progress, skip_names, files or [])
        finally:
            store.close()
    report.seconds = time.perf_counter() - started
    return report


def _ingest(paths: list[Path], settings: Settings, store: Store, report: IngestReport, prune: bool,
            progress: Progress | None, skip_names: frozenset[str], extra: list[tuple[Path, str]]) -> None:
    prepare_model(settings)
    precision = embedding_precision(settings)
    model_key = vector_space(settings.embed_model, precision)  # another model or precision: every vector again
    catalog = store.catalog
    if catalog.get_meta("embed_model") not in (None, model_key):
        _reset(store)
    catalog.set_meta("embed_model", model_key)
    catalog.set_meta("embed_precision", precision)
    if catalog.get_meta("index_format") != INDEX_FORMAT:
        catalog.mark_changed()  # an older index: every file is read and embedded once more
        catalog.set_meta("index_format", INDEX_FORMAT)
    _redo_files_missing_vectors(store)
    known = catalog.files()
    taken = {s: os.path.realpath(r.path) for s, r in known.items() if r.path and os.path.exists(r.path)}
    found, errors = discover(paths, skip_names, taken, lambda name, real: _same_content(known[name], real))
    found += [(p, s) for p, s in extra if s not in {x for _, x in found}]
    for error in errors:
        report.fail(error)
    leaving = _leaving(known, found, paths) if prune else set()
    digests = _digests(found, report)
    for source in copies.orphaned(known, digests, leaving):
        path = Path(known[source].path)
        if path.exists():
            found.append((path, source))
            digests.update(_digests([(path, source)], report))
        else:
            leaving.add(source)
    report.files = len(found)
    pending, new_copies = _read(found, digests, known, copies.owners(known, digests, leaving, model_key),
                                model_key, report, progress)
    reading = {p.record.source for p in pending}
    for path, source in found:
        if source in known and source not in reading and known[source].path != str(path):
            catalog.move(source, str(path))
    pending = stored(store, settings, pending, report, progress)
    committed = _commit(store, pending, report)
    _commit_copies(store, new_copies, known, committed, leaving, report)

    for source in leaving:
        if source in catalog.files():
            remove_source(store, source)
            report.removed += 1
    orphans = store.vector_ids() - catalog.chunk_ids()
    if orphans:
        store.delete(orphans)
    catalog.prune_sentence_vectors()
    chapters = catalog.chapters()
    report.chapters = len(chapters)
    report.sections = sum(max(1, len(c.sections)) for c in chapters)
    report.chunks = len(catalog.chunk_ids())
    position = {str(path): i for i, (path, _) in enumerate(found)}
    report.outcomes.sort(key=lambda o: position.get(o.path, -1))


def _leaving(known: dict[str, FileRecord], found: list[tuple[Path, str]], paths: list[Path]) -> set[str]:
    """With --prune: indexed files that are gone, or no longer under the given folders (a file found this run
    under the same name, e.g. in a moved folder, stays)."""
    present = {source for _, source in found}
    roots = [str(p.resolve()) for p in paths]
    return {source for source, record in known.items()
            if source not in present and (not Path(record.path).exists() or _under(record.path, roots))}


def _same_content(record: FileRecord, real: str) -> bool:
    try:
        return record.hash == file_sha256(Path(real))
    except OSError:
        return False


def _digests(found: list[tuple[Path, str]], report: IngestReport) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, source in found:
        try:
            out[source] = file_sha256(path)
        except OSError as exc:
            report.fail(IngestError(str(path), f"cannot read the file ({exc.strerror}); check permissions"), source)
    return out


def _read(found: list[tuple[Path, str]], digests: dict[str, str], known: dict[str, FileRecord],
          owner: dict[str, str], model_key: str, report: IngestReport, progress: Progress | None
          ) -> tuple[list[Pending], list[FileRecord]]:
    """Load and chunk each new or changed file; unchanged files and copies of indexed content are not read."""
    pending: list[Pending] = []
    new_copies: list[FileRecord] = []
    for i, (path, source) in enumerate(found):
        if progress:
            progress("read", i + 1, len(found))
        digest = digests.get(source)
        if digest is None:
            continue
        old = known.get(source)
        original = owner.get(digest, source)
        if original != source:
            record = FileRecord(source, str(path), digest, 0, model_key, copy_of=original)
            if not (old and (old.copy_of, old.hash, old.model) == (original, digest, model_key)):
                new_copies.append(record)
            report.duplicates += 1
            report.outcomes.append(FileOutcome(source, str(path), DUPLICATE, copy_of=original))
            continue
        if old and old.hash == digest and old.model == model_key and not old.copy_of:
            report.unchanged += 1
            report.outcomes.append(FileOutcome(source, str(path), UNCHANGED, chunks=old.chunks))
            continue
        try:
            with collect(path) as notices:
                sections = load(path, source)
            chunks = chunk_sections(sections, digest)
            if not chunks:
                raise IngestError(str(path), "no text to index after reading the file; check that it is not a scan")
            _check_chunk_sizes(chunks, path)
        except IngestError as exc:
            report.fail(exc, source)
            continue
        except OSError as exc:
            report.fail(IngestError(str(path), f"cannot read the file ({exc.strerror}); check permissions"), source)
            continue
        except (Exception, RecursionError) as exc:  # a loader bug must cost one file, never the whole batch
            log.exception("%s: unexpected error while reading", path)
            report.fail(IngestError(str(path), f"the file could not be read ({type(exc).__name__}: {exc}); "
                                               "check or re-save it"), source)
            continue
        owner[digest] = source
        meta = document_meta(sections)
        pages = max([s.page_end or s.page or 0 for s in sections] + notices.ocr_pages) or None
        pending.append(Pending(
            FileRecord(source, str(path), digest, len(chunks), model_key, meta.get("author", ""),
                       meta.get("date", "")), sections, chunks,
            FileOutcome(source, str(path), INDEXED, pages=pages, chunks=len(chunks),
                        ocr_pages=sorted(set(notices.ocr_pages)), notes=notices.notes)))
    return pending, new_copies


def _commit(store: Store, pending: list[Pending], report: IngestReport) -> set[str]:
    """Each file's catalog rows in its own transaction, then its stale vectors go; returns the committed sources."""
    catalog = store.catalog
    live = catalog.chunk_ids()
    committed: set[str] = set()
    for p in pending:
        source = p.record.source
        try:
            previous = catalog.chunk_ids(source)
            catalog.replace_file(p.record, p.chunks, p.sections, _document_body(p.sections))
        except Exception as exc:
            log.exception("%s: the catalog could not record it", p.record.path)
            report.fail(IngestError(p.record.path, f"the catalog could not record it ({type(exc).__name__}); "
                                                   "ingest it again"), source)
            continue
        live = (live - previous) | {c.id for c in p.chunks}
        stale = previous - live
        if stale:
            store.delete(stale)
        committed.add(source)
        report.indexed += 1
        report.indexed_sources.append(source)
        report.outcomes.append(p.outcome)
    return committed


def _commit_copies(store: Store, new_copies: list[FileRecord], known: dict[str, FileRecord], committed: set[str],
                   leaving: set[str], report: IngestReport) -> None:
    """A copy is recorded once its original is indexed; if the original failed, so does the copy."""
    failed = {o.source: o.reason for o in report.outcomes if o.status == FAILED}
    for record in new_copies:
        original = record.copy_of
        if original in committed or (original in known and original not in leaving and original not in failed):
            previous = store.catalog.chunk_ids(record.source)
            store.catalog.replace_file(record, [], [], None)
            if previous:
                store.delete(previous - store.catalog.chunk_ids())
            continue
        report.duplicates -= 1
        report.fail(IngestError(record.path, f"same file as {original}, which could not be indexed: "
                                             f"{failed.get(original, 'see above')}"), record.source)


def _redo_files_missing_vectors(store: Store) -> None:
    """Files whose vectors Chroma no longer has (a deleted or replaced store) are embedded again, not skipped."""
    ids = store.catalog.chunk_ids()
    if ids and store.count() != len(ids):
        missing = ids - store.vector_ids()
        if missing:
            store.catalog.mark_changed(store.catalog.sources_of(missing))


def _check_chunk_sizes(chunks: list[Chunk], path: Path) -> None:
    longest = max(len(c.text) for c in chunks)
    if longest > MAX_CHUNK_CHARS:
        raise IngestError(str(path), f"it has a passage of {longest:,} characters without paragraph or sentence "
                          "breaks, so it looks like data, not a document; add line breaks or punctuation")


def remove_source(store: Store, source: str) -> int:
    """Drop one document from the index; returns how many chunks went."""
    ids = store.catalog.chunk_ids(source)
    store.catalog.remove_file(source)
    store.catalog.prune_sentence_vectors()
    if ids:
        store.delete(ids)
    return len(ids)


def _reset(store: Store) -> None:
    """A different embedding model: every vector must be made again."""
    store.client.delete_collection(store.settings.collection)
    store.collection = store.open_collection()
    store.catalog.mark_changed()


def _under(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)


def _document_body(sections: list[Section]) -> str:
    """The readable text of a document for the reading pane, section by section."""
    return json.dumps([
        {"chapter_number": s.chapter_number, "chapter_title": s.chapter_title, "section_title": s.section_title,
         "kind": s.kind, "page": s.page, "page_label": s.page_label, "line_start": s.line_start, "text": s.text}
        for s in sections], ensure_ascii=False)
