"""Candidate passages for a question: dense (Chroma), BM25 with Danish stems, or their fusion."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.datamodel import ChapterRef, Chunk
from assistant.index.store import Store
from assistant.model.embedding import Embedder
from assistant.retrieval.terms import terms

RRF_K = 60


@dataclass
class Hit:
    """One retrieved chunk with the scores that put it there."""

    chunk: Chunk
    score: float
    dense: float | None = None
    bm25: float | None = None
    rank: int = 0


class Retriever:
    """Dense search in Chroma and the BM25 index, for one catalog generation."""

    def __init__(self, store: Store, embedder: Embedder, mode: str = "hybrid") -> None:
        self.store, self.embedder, self.mode = store, embedder, mode
        self.generation = store.catalog.generation()
        self.chunks: dict[str, Chunk] = {c.id: c for c in store.catalog.chunks()}
        self._ids = list(self.chunks)
        self._lock = threading.Lock()
        self._bm25: Any = None
        self._df: dict[str, int] | None = None

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; unknown terms count as rare."""
        df = self._document_frequencies().get(term, 0)
        n = len(self._ids) or 1
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def known(self, term: str) -> bool:
        """Whether any indexed passage holds the term."""
        return term in self._document_frequencies()

    def _corpus_terms(self) -> list[list[str]]:
        return [terms(self.chunks[i].indexed_text) or ["_"] for i in self._ids]

    def _document_frequencies(self) -> dict[str, int]:
        with self._lock:
            if self._df is None:
                df: dict[str, int] = {}
                for doc in self._corpus_terms():
                    for t in set(doc):
                        df[t] = df.get(t, 0) + 1
                self._df = df
            return self._df

    def _bm25_index(self) -> Any:
        """Built on first use: dense, the default, never needs it."""
        import bm25s

        with self._lock:
            if self._bm25 is None and self._ids:
                self._bm25 = bm25s.BM25()
                self._bm25.index(self._corpus_terms(), show_progress=False)
            return self._bm25

    def dense(self, question: str, k: int, sources: list[str] | None = None,
              vector: np.ndarray | None = None) -> list[Hit]:
        """Nearest chunks by cosine similarity, straight from Chroma (llama-index's retriever cost 6 ms more)."""
        if vector is None:
            vector = self.embedder.embed_queries([question])[0]
        return [Hit(self.chunks[i], cos, dense=cos) for i, cos in self.store.nearest(vector, k, sources)
                if i in self.chunks]

    def lexical(self, question: str, k: int, sources: list[str] | None = None) -> list[Hit]:
        """BM25 over Danish stems (only chunks of `sources` when given); empty when no term is shared."""
        q = terms(question)
        bm25 = self._bm25_index() if q else None
        if bm25 is None:
            return []
        with self._lock:
            scores = np.asarray(bm25.get_scores(q))
        if sources is not None:
            scores = np.where([self.chunks[i].source in sources for i in self._ids], scores, 0.0)
        top = np.argsort(-scores)[:k]
        return [Hit(self.chunks[self._ids[i]], float(scores[i]), bm25=float(scores[i])) for i in top if scores[i] > 0]

    def retrieve(self, question: str, k: int, sources: list[str] | None = None,
                 vector: np.ndarray | None = None) -> list[Hit]:
        """The top k chunks for the configured mode (from `sources` only, when given); hybrid fuses ranks (RRF).
        `vector` is the question's query vector when the caller has made it already."""
        pool = max(k * 3, 20)
        if self.mode == "dense":
            hits = self.dense(question, k, sources, vector)
        elif self.mode == "bm25":
            hits = self.lexical(question, k, sources)
        else:
            hits = fuse(self.dense(question, pool, sources, vector), self.lexical(question, pool, sources))[:k]
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        return hits[:k]


def fuse(*rankings: list[Hit]) -> list[Hit]:
    """Reciprocal-rank fusion that keeps each hit's dense and BM25 scores."""
    merged: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            cur = merged.setdefault(hit.chunk.id, Hit(hit.chunk, 0.0))
            cur.score += 1.0 / (RRF_K + rank)
            cur.dense = hit.dense if hit.dense is not None else cur.dense
            cur.bm25 = hit.bm25 if hit.bm25 is not None else cur.bm25
    return sorted(merged.values(), key=lambda h: -h.score)


def nearest_chapters(hits: list[Hit], n: int = 3) -> list[ChapterRef]:
    """The distinct chapters of the best hits, for refusals that point the reader somewhere."""
    out: list[ChapterRef] = []
    for h in hits:
        c = h.chunk
        if not any(r.source == c.source and r.title == c.chapter_title for r in out):
            out.append(ChapterRef(c.source, c.chapter_number, c.chapter_title))
        if len(out) == n:
            break
    return out
