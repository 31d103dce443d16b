"""Candidate passages for a question: dense (llama-index over Chroma), BM25 with Danish stems, or their fusion."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .documents import ChapterRef, Chunk
from .embedding import Embedder
from .lexical import terms
from .store import Store

RRF_K = 60


@dataclass
class Hit:
    """One retrieved chunk with the scores that put it there."""

    chunk: Chunk
    score: float
    dense: float | None = None
    bm25: float | None = None
    rank: int = 0


def _embedding_adapter(embedder: Embedder) -> Any:
    """Our Embedder as a llama-index embed model, so llama-index never loads a model of its own."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class HandbookEmbedding(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=32)
            self._embedder = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_queries([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embedder.embed_passages([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embedder.embed_passages(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        async def _aget_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embedding(text)

    return HandbookEmbedding(embedder)


class Retriever:
    """Holds the llama-index retriever and the BM25 index for one catalog generation."""

    def __init__(self, store: Store, embedder: Embedder, mode: str = "hybrid") -> None:
        from llama_index.core import VectorStoreIndex

        self.store, self.embedder, self.mode = store, embedder, mode
        self.generation = store.catalog.generation()
        self.chunks: dict[str, Chunk] = {c.id: c for c in store.catalog.chunks()}
        self._ids = list(self.chunks)
        self._lock = threading.Lock()
        self._index = VectorStoreIndex.from_vector_store(store.vector_store(),
                                                         embed_model=_embedding_adapter(embedder))
        self._bm25: Any = None
        self._df: dict[str, int] | None = None

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; unknown terms count as rare."""
        df = self._document_frequencies().get(term, 0)
        n = len(self._ids) or 1
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

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

    def dense(self, question: str, k: int) -> list[Hit]:
        """Nearest chunks by cosine similarity, through llama-index's Chroma vector store."""
        retriever = self._index.as_retriever(similarity_top_k=k)
        hits = []
        for nws in retriever.retrieve(question):
            chunk = self.chunks.get(nws.node.node_id)
            if chunk is not None:
                cosine = _cosine_from_chroma(nws.score)
                hits.append(Hit(chunk, cosine, dense=cosine))
        return hits

    def lexical(self, question: str, k: int) -> list[Hit]:
        """BM25 over Danish stems; empty when the question shares no term with the index."""
        q = terms(question)
        bm25 = self._bm25_index() if q else None
        if bm25 is None:
            return []
        with self._lock:
            scores = np.asarray(bm25.get_scores(q))
        top = np.argsort(-scores)[:k]
        return [Hit(self.chunks[self._ids[i]], float(scores[i]), bm25=float(scores[i])) for i in top if scores[i] > 0]

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """The top k chunks for the configured mode; hybrid fuses ranks (reciprocal-rank fusion)."""
        pool = max(k * 3, 20)
        if self.mode == "dense":
            hits = self.dense(question, k)
        elif self.mode == "bm25":
            hits = self.lexical(question, k)
        else:
            hits = fuse(self.dense(question, pool), self.lexical(question, pool))[:k]
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        return hits[:k]


def _cosine_from_chroma(score: float | None) -> float:
    """llama-index reports exp(-distance) for Chroma; with cosine space that is exp(cos - 1)."""
    return 1.0 + math.log(score) if score and score > 0 else 0.0


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
