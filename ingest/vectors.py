"""Vectors for the chunks of the files being ingested: reused where Chroma has them, else embedded, then added."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.answer.sentences import clean_sentence, split_sentences
from assistant.datamodel import Chunk, Section
from assistant.errors import IngestError
from assistant.index.catalog import FileRecord, SpanVectors
from assistant.index.store import Store
from assistant.model.embedding import embedding_precision, load_embedder
from assistant.settings import Settings

from .report import FileOutcome, IngestReport

Progress = Callable[[str, int, int], None]
log = logging.getLogger("handbook.ingest")


@dataclass
class Pending:
    """A file read and chunked, waiting for its vectors and its catalog rows."""

    record: FileRecord
    sections: list[Section]
    chunks: list[Chunk]
    outcome: FileOutcome


def stored(store: Store, settings: Settings, pending: list[Pending], report: IngestReport,
            progress: Progress | None) -> list[Pending]:
    """Vectors for every pending file in one batch; if the batch fails, file by file, so a bad one costs itself."""
    seen: set[str] = set()
    unique: list[Pending] = []
    for p in pending:  # ids are unique per file and the file's source is in them; this guard keeps it so
        ids = {c.id for c in p.chunks}
        if ids & seen:
            report.fail(IngestError(p.record.path, "its passages collide with another file's; rename the file and "
                                                   "ingest it again"), p.record.source)
            continue
        seen |= ids
        unique.append(p)
    if not unique:
        return []
    try:
        _store_vectors(store, settings, unique, report, progress)
        return unique
    except Exception:
        log.exception("storing the batch's vectors failed; trying file by file")
    ok: list[Pending] = []
    for p in unique:
        try:
            _store_vectors(store, settings, [p], report, progress)
            ok.append(p)
        except Exception as exc:
            log.exception("%s: storing its vectors failed", p.record.path)
            report.fail(IngestError(p.record.path, f"its passages could not be embedded or stored "
                                                   f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                                                   "check the file and ingest it again"), p.record.source)
    return ok


def _store_vectors(store: Store, settings: Settings, pending: list[Pending], report: IngestReport,
                   progress: Progress | None) -> None:
    # Vectors already in Chroma are reused: the catalog's, and orphans an interrupted ingest left (same ids,
    # same text, same model: a model change empties the collection), so a resumed ingest does not embed twice.
    # Sentence vectors live in the catalog (written before the chunks), so a chunk is reusable when both exist.
    catalog = store.catalog
    all_new = [c for p in pending for c in p.chunks]
    old_ids = catalog.chunk_ids() | store.vector_ids()
    with_sentences = catalog.chunks_with_sentence_vectors()
    reuse_ids = [c.id for c in all_new if c.id in old_ids and c.id in with_sentences]
    reused = store.vectors_for(reuse_ids) if reuse_ids else {}
    to_embed = [c for c in all_new if c.id not in reused]

    def tick(n: int) -> None:
        if progress:
            progress("embed", n, len(to_embed))

    by_id = dict(reused)
    if to_embed:
        texts = [c.indexed_text for c in to_embed]
        spans = [sentence_spans(c, t) for c, t in zip(to_embed, texts)]
        embedder = load_embedder(settings, embedding_precision(settings))
        vectors, span_vectors = embedder.embed_passages_with_spans(texts, spans, progress=tick)
        catalog.put_sentence_vectors({c.id: _to_chunk_offsets(sv, len(t) - len(c.text))
                                      for c, t, sv in zip(to_embed, texts, span_vectors)},
                                     _alone_vectors(embedder, to_embed))
        by_id.update({c.id: v for c, v in zip(to_embed, vectors)})
    report.embedded += len(to_embed)
    report.reused += len(reused)
    # Vectors first, in large batches (one upsert per file made thousands of small files crawl); until the
    # catalog names them they are orphans that retrieval ignores, so a kill here loses nothing.
    store.add(all_new, np.stack([by_id[c.id] for c in all_new]), [c.indexed_text for c in all_new])


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
