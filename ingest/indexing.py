"""Incremental, crash-safe indexing: hash files, embed only what changed, commit the catalog last."""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from assistant.answer.sentences import clean_sentence, split_sentences
from assistant.datamodel import Chunk, Section
from assistant.errors import IndexBusyError, IngestError
from assistant.hashing import file_sha256
from assistant.index.catalog import FileRecord, SpanVectors
from assistant.index.lock import exclusive
from assistant.index.store import Store
from assistant.model.embedding import embedding_precision, load_embedder, prepare_model, vector_space
from assistant.settings import Settings

from .chunking import chunk_sections
from .discovery import discover
from .loaders import document_meta, load

Progress = Callable[[str, int, int], None]
log = logging.getLogger("handbook.ingest")
MAX_CHUNK_CHARS = 100_000  # a normal chunk is ~1,000 characters; this is a "sentence" with no breaks at all
INDEX_FORMAT = "3"  # 2: sentence vectors made at ingest and kept in the catalog; 3: also each sentence alone


@dataclass
class IngestReport:
    """What one ingest did; printed as the summary at the end."""

    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chapters: int = 0
    sections: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    seconds: float = 0.0
    errors: list[IngestError] = field(default_factory=list)
    indexed_sources: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        # not asdict(): it deep-copies the IngestErrors, which cannot be rebuilt from their args
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["errors"] = [{"path": e.path, "reason": e.reason} for e in self.errors]
        data["indexed_sources"] = list(self.indexed_sources)
        data["seconds"] = round(self.seconds, 3)
        return data


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per data directory; a second one refuses at once."""
    with exclusive(settings.index_dir) as held:
        if not held:
            raise IndexBusyError("Another ingest is running on this index; wait for it to finish.")
        yield


def ingest(paths: list[Path], settings: Settings, *, prune: bool = False, progress: Progress | None = None,
           skip_names: frozenset[str] = frozenset()) -> IngestReport:
    """Bring the index in line with the given files and folders; bad files are reported, not fatal."""
    started = time.perf_counter()
    report = IngestReport()
    with ingest_lock(settings):
        store = Store(settings, create=True)
        try:
            _ingest(paths, settings, store, report, prune, progress, skip_names)
        finally:
            store.close()
    report.seconds = time.perf_counter() - started
    return report


def _ingest(paths: list[Path], settings: Settings, store: Store, report: IngestReport, prune: bool,
            progress: Progress | None, skip_names: frozenset[str]) -> None:
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
    found, errors = discover(paths, skip_names)
    report.errors.extend(_one_line(e) for e in errors)
    report.files = len(found)
    pending: list[tuple[FileRecord, list[Section], list[Chunk]]] = []
    for i, (path, source) in enumerate(found):
        if progress:
            progress("read", i + 1, len(found))
        try:
            digest = file_sha256(path)
            old = known.get(source)
            if old and old.hash == digest and old.model == model_key:
                report.unchanged += 1
                continue
            sections = load(path, source)
            chunks = chunk_sections(sections, digest)
            if not chunks:
                raise IngestError(str(path), "no text to index after reading the file; check that it is not a scan")
            _check_chunk_sizes(chunks, path)
        except IngestError as exc:
            report.errors.append(_one_line(exc))
            continue
        except OSError as exc:
            report.errors.append(IngestError(str(path), f"cannot read the file ({exc.strerror}); check permissions"))
            continue
        except (Exception, RecursionError) as exc:  # a loader bug must cost one file, never the whole batch
            log.exception("%s: unexpected error while reading", path)
            report.errors.append(_one_line(IngestError(
                str(path), f"the file could not be read ({type(exc).__name__}: {exc}); check or re-save it")))
            continue
        meta = document_meta(sections)
        pending.append((FileRecord(source, str(path), digest, len(chunks), model_key, meta.get("author", ""),
                                   meta.get("date", "")), sections, chunks))

    # Vectors already in Chroma are reused: the catalog's, and orphans an interrupted ingest left (same ids,
    # same text, same model: a model change empties the collection), so a resumed ingest does not embed twice.
    # Sentence vectors live in the catalog (written before the chunks), so a chunk is reusable when both exist.
    old_ids = catalog.chunk_ids() | (store.vector_ids() if pending else set())
    all_new = [c for _, _, cs in pending for c in cs]
    with_sentences = catalog.chunks_with_sentence_vectors() if all_new else set()
    reuse_ids = [c.id for c in all_new if c.id in old_ids and c.id in with_sentences]
    reused = store.vectors_for(reuse_ids) if reuse_ids else {}
    to_embed = [c for c in all_new if c.id not in reused]
    done = {"n": 0}

    def tick(n: int) -> None:
        done["n"] = n
        if progress:
            progress("embed", n, len(to_embed))

    vectors = None
    if to_embed:
        texts = [c.indexed_text for c in to_embed]
        spans = [sentence_spans(c, t) for c, t in zip(to_embed, texts)]
        embedder = load_embedder(settings, precision)
        vectors, span_vectors = embedder.embed_passages_with_spans(texts, spans, progress=tick)
        catalog.put_sentence_vectors({c.id: _to_chunk_offsets(sv, len(t) - len(c.text))
                                      for c, t, sv in zip(to_embed, texts, span_vectors)},
                                     _alone_vectors(embedder, to_embed))
    by_id = dict(reused)
    if vectors is not None:
        by_id.update({c.id: v for c, v in zip(to_embed, vectors)})
    report.embedded, report.reused = len(to_embed), len(reused)

    # Vectors first, in large batches (one upsert per file made thousands of small files crawl); until the
    # catalog below names them they are orphans that retrieval ignores, so a kill here loses nothing.
    if all_new:
        store.add(all_new, np.stack([by_id[c.id] for c in all_new]), [c.indexed_text for c in all_new])
    live = catalog.chunk_ids()
    for record, sections, chunks in pending:
        previous = catalog.chunk_ids(record.source)
        new_ids = {c.id for c in chunks}
        catalog.replace_file(record, chunks, sections, _document_body(sections))
        live = (live - previous) | new_ids
        stale = previous - live
        if stale:
            store.delete(stale)
        report.indexed += 1
        report.indexed_sources.append(record.source)

    if prune:
        present = {source for _, source in found}
        roots = [str(p.resolve()) for p in paths]
        for source, record in known.items():
            gone = not Path(record.path).exists() or (source not in present and _under(record.path, roots))
            if gone:
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


def _redo_files_missing_vectors(store: Store) -> None:
    """Files whose vectors Chroma no longer has (a deleted or replaced store) are embedded again, not skipped."""
    ids = store.catalog.chunk_ids()
    if ids and store.count() != len(ids):
        missing = ids - store.vector_ids()
        if missing:
            store.catalog.mark_changed(store.catalog.sources_of(missing))


def sentence_spans(chunk: Chunk, text: str) -> list[tuple[int, int]]:
    """The chunk's sentences as spans of its embedded text, which ends with the chunk's own text."""
    offset = len(text) - len(chunk.text)
    return [(s + offset, e + offset) for s, e in split_sentences(chunk.text)]


def _alone_vectors(embedder: Any, chunks: list[Chunk]) -> dict[str, SpanVectors]:
    """Every sentence embedded on its own: the second view the answer scorer reads beside the pooled one."""
    spans = [(c.id, s, e, clean_sentence(c.text[s:e])) for c in chunks for s, e in split_sentences(c.text)]
    vectors = embedder.embed_passages([t for *_, t in spans], batch_size=64) if spans else []
    out: dict[str, SpanVectors] = {}
    for (cid, s, e, _), v in zip(spans, vectors):
        out.setdefault(cid, {})[(s, e)] = v
    return out


def _to_chunk_offsets(spans: SpanVectors, offset: int) -> SpanVectors:
    return {(s - offset, e - offset): v for (s, e), v in spans.items()}


def _one_line(error: IngestError) -> IngestError:
    """Each rejected file is reported on exactly one line, whatever a parser put into the reason."""
    reason = " ".join(error.reason.split())
    return error if reason == error.reason else IngestError(error.path.replace("\n", " "), reason)


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
