"""The catalog: an SQLite file that is the source of truth for which files, chunks and chapters are indexed.

Chroma holds the vectors; the catalog commits last, in one transaction, so a crash mid-ingest leaves the
previous state whole (vectors Chroma got without a catalog entry are ignored and cleaned up next time).
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.datamodel import ChapterRef, Chunk, Section
from assistant.markers import chapter_label

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY, path TEXT, hash TEXT NOT NULL, chunks INTEGER, model TEXT, ingested_at REAL);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, text TEXT NOT NULL, meta TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE TABLE IF NOT EXISTS toc (
    source TEXT NOT NULL, ord INTEGER NOT NULL, chapter_number INTEGER, chapter_title TEXT,
    section_title TEXT, kind TEXT, page INTEGER, page_label TEXT, line_start INTEGER, actor INTEGER);
CREATE INDEX IF NOT EXISTS toc_source ON toc(source);
CREATE TABLE IF NOT EXISTS documents (source TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sentences (
    chunk_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, vector BLOB NOT NULL,
    alone BLOB, PRIMARY KEY (chunk_id, start));
"""
SpanVectors = dict[tuple[int, int], np.ndarray]
# Two views of a sentence: pooled from its chunk's forward pass (read in context), and embedded on its own.
SentenceViews = dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]]


@dataclass
class FileRecord:
    source: str
    path: str
    hash: str
    chunks: int
    model: str
    author: str = ""  # from the document's byline or its own metadata, when it names one
    date: str = ""    # YYYY-MM-DD, likewise
    copy_of: str = ""  # an identical file indexed under another name: this one has no chunks of its own


@dataclass
class TocEntry:
    source: str
    chapter_number: int | None
    chapter_title: str
    section_title: str
    kind: str
    page: int | None
    page_label: str | None
    line_start: int | None
    actor: int | None

    @property
    def label(self) -> str:
        return chapter_label(self.chapter_number, self.chapter_title)


class Catalog:
    """Files, chunks, the table of contents and each document's readable text."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        if "alone" not in {r[1] for r in self.db.execute("PRAGMA table_info(sentences)")}:
            with self.db:  # an index made before sentences were also embedded alone
                self.db.execute("ALTER TABLE sentences ADD COLUMN alone BLOB")
        if "author" not in {r[1] for r in self.db.execute("PRAGMA table_info(files)")}:
            with self.db:  # an index made before documents' authors and dates were kept
                self.db.execute("ALTER TABLE files ADD COLUMN author TEXT DEFAULT ''")
                self.db.execute("ALTER TABLE files ADD COLUMN date TEXT DEFAULT ''")
        if "copy_of" not in {r[1] for r in self.db.execute("PRAGMA table_info(files)")}:
            with self.db:  # an index made before identical files were recorded as copies
                self.db.execute("ALTER TABLE files ADD COLUMN copy_of TEXT DEFAULT ''")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(time.time_ns()),))
        self.db.commit()

    def generation(self) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return row[0] if row else "0"

    def files(self) -> dict[str, FileRecord]:
        rows = self.db.execute("SELECT source, path, hash, chunks, model, COALESCE(author, ''), COALESCE(date, ''), "
                               "COALESCE(copy_of, '') FROM files").fetchall()
        return {r[0]: FileRecord(*r) for r in rows}

    def added(self) -> dict[str, float]:
        """When each document was (last) ingested, as a Unix time, by source."""
        return {r[0]: r[1] or 0.0 for r in self.db.execute("SELECT source, ingested_at FROM files")}

    def replace_file(self, record: FileRecord, chunks: list[Chunk], sections: list[Section], body: str | None
                     ) -> None:
        """Swap one file's chunks, contents entries and text in a single transaction (a copy has none)."""
        with self.transaction() as db:
            self._delete(db, record.source)
            db.execute("INSERT INTO files (source, path, hash, chunks, model, ingested_at, author, date, copy_of) "
                       "VALUES (?,?,?,?,?,?,?,?,?)", (record.source, record.path, record.hash, record.chunks,
                                                      record.model, time.time(), record.author, record.date,
                                                      record.copy_of))
            db.executemany("INSERT OR REPLACE INTO chunks VALUES (?,?,?,?)",
                           [(c.id, c.source, c.text, json.dumps(c.metadata(), ensure_ascii=False)) for c in chunks])
            db.executemany("INSERT INTO toc VALUES (?,?,?,?,?,?,?,?,?,?)", [
                (s.source, s.order, s.chapter_number, s.chapter_title, s.section_title, s.kind, s.page,
                 s.page_label, s.line_start, s.actor) for s in sections])
            if body is not None:
                db.execute("INSERT OR REPLACE INTO documents VALUES (?,?)", (record.source, body))

    def move(self, source: str, path: str) -> None:
        """An unchanged file found at another path (its folder moved): the catalog follows it."""
        with self.transaction() as db:
            db.execute("UPDATE files SET path = ? WHERE source = ?", (path, source))

    def remove_file(self, source: str) -> None:
        with self.transaction() as db:
            self._delete(db, source)

    @staticmethod
    def _delete(db: sqlite3.Connection, source: str) -> None:
        for table in ("files", "chunks", "toc", "documents"):
            db.execute(f"DELETE FROM {table} WHERE source = ?", (source,))

    def chunk_ids(self, source: str | None = None) -> set[str]:
        if source is None:
            return {r[0] for r in self.db.execute("SELECT id FROM chunks")}
        return {r[0] for r in self.db.execute("SELECT id FROM chunks WHERE source = ?", (source,))}

    def sources_of(self, chunk_ids: Iterable[str]) -> set[str]:
        ids = list(chunk_ids)
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            out |= {r[0] for r in self.db.execute(
                f"SELECT DISTINCT source FROM chunks WHERE id IN ({','.join('?' * len(part))})", part)}
        return out

    def mark_changed(self, sources: Iterable[str] | None = None) -> None:
        """The next ingest reads and embeds these files (all when None) again, whatever their hash."""
        with self.transaction() as db:
            if sources is None:
                db.execute("UPDATE files SET hash = ''")
            else:
                db.executemany("UPDATE files SET hash = '' WHERE source = ?", [(s,) for s in sources])

    def chunks(self) -> list[Chunk]:
        rows = self.db.execute("SELECT id, text, meta FROM chunks ORDER BY source, rowid").fetchall()
        return [Chunk.from_metadata(i, t, json.loads(m)) for i, t, m in rows]

    def sentence_vectors(self, chunk_ids: Iterable[str]) -> dict[str, SpanVectors]:
        """Each chunk's pooled sentence vectors made at ingest, by (start, end) in the chunk's text."""
        return {cid: {span: pooled for span, (pooled, _) in views.items()}
                for cid, views in self.sentence_views(chunk_ids).items()}

    def sentence_views(self, chunk_ids: Iterable[str]) -> dict[str, SentenceViews]:
        """Each chunk's sentences in both views (pooled in context, embedded alone), by (start, end)."""
        ids = list(dict.fromkeys(chunk_ids))
        out: dict[str, SentenceViews] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = self.db.execute(f"SELECT chunk_id, start, end, vector, alone FROM sentences WHERE chunk_id IN "
                                   f"({','.join('?' * len(part))})", part).fetchall()
            for cid, start, end, blob, alone in rows:
                out.setdefault(cid, {})[(start, end)] = (
                    np.frombuffer(blob, dtype=np.float16).astype(np.float32),
                    None if alone is None else np.frombuffer(alone, dtype=np.float16).astype(np.float32))
        return out

    def put_sentence_vectors(self, vectors: dict[str, SpanVectors], alone: dict[str, SpanVectors] | None = None
                             ) -> None:
        """Stored before the chunks are catalogued, like the chunk vectors in Chroma, so a kill loses no work."""
        alone = alone or {}
        with self.db:
            for cid, spans in vectors.items():
                own = alone.get(cid, {})
                self.db.execute("DELETE FROM sentences WHERE chunk_id = ?", (cid,))
                self.db.executemany("INSERT INTO sentences VALUES (?,?,?,?,?)", [
                    (cid, s, e, np.asarray(v, dtype=np.float16).tobytes(),
                     None if (s, e) not in own else np.asarray(own[(s, e)], dtype=np.float16).tobytes())
                    for (s, e), v in spans.items()])

    def chunks_with_sentence_vectors(self) -> set[str]:
        """Chunks whose sentences have both views, so ingest can reuse them."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT chunk_id FROM sentences WHERE alone IS NOT NULL")}

    def prune_sentence_vectors(self) -> None:
        """Drop the sentence vectors of chunks no file holds any more."""
        with self.db:
            self.db.execute("DELETE FROM sentences WHERE chunk_id NOT IN (SELECT id FROM chunks)")

    def toc(self) -> list[TocEntry]:
        rows = self.db.execute(
            "SELECT source, chapter_number, chapter_title, section_title, kind, page, page_label, line_start, actor "
            "FROM toc ORDER BY (chapter_number IS NULL), chapter_number, source, ord").fetchall()
        return [TocEntry(*r) for r in rows]

    def chapters(self) -> list[ChapterRef]:
        """Chapters in reading order, each with its section titles."""
        out: dict[tuple[str, int | None, str], ChapterRef] = {}
        for e in self.toc():
            key = (e.source, e.chapter_number, e.chapter_title)
            ref = out.setdefault(key, ChapterRef(e.source, e.chapter_number, e.chapter_title))
            if e.kind != "sources" and e.section_title != e.chapter_title:
                ref.sections.append(e.section_title)
        return list(out.values())

    def document(self, source: str) -> str | None:
        row = self.db.execute("SELECT body FROM documents WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
