"""The baseline: the plain llama-index pipeline a newcomer would write, with no LLM.

SimpleDirectoryReader over the same chapter files, default SentenceSplitter chunking (llama-index's defaults),
an in-memory VectorStoreIndex with the same embedding model (ours, wrapped as a llama-index embed model),
top-k similarity retrieval. With no LLM its "answer" is the top node's text and its one citation is that node's
file. It never refuses and ignores the conversation history. Every report shows it next to the assistant,
scored with the same metrics.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from assistant.answer.sentences import sentences
from assistant.settings import Settings

from .metrics import norm

SKIP = frozenset({"README.md"})


def corpus_files(corpus: Path | None = None) -> list[Path]:
    from ingest.run import bundled_corpus

    folder = Path(corpus) if corpus is not None else bundled_corpus()
    return sorted(p for p in folder.glob("*.md") if p.name not in SKIP)


def section_sentences(path: Path) -> list[tuple[str, list[str]]]:
    """(section title, its sentences) for each '#'/'##' section of a Markdown file; the front matter is skipped."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    out: list[tuple[str, list[str]]] = []
    title, body = "", []
    for line in text.splitlines():
        if line.startswith("#"):
            if body:
                out.append((title, [norm(s) for s in sentences("\n".join(body)) if len(s.split()) >= 3]))
            title, body = line.lstrip("#").strip(), []
        else:
            body.append(line)
    if body:
        out.append((title, [norm(s) for s in sentences("\n".join(body)) if len(s.split()) >= 3]))
    return out




def embedding_adapter(embedder: Any) -> Any:
    """Our Embedder as a llama-index embed model, so llama-index never loads a model of its own."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class HandbookEmbedding(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Any) -> None:
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


class BaselineEngine:
    """VectorStoreIndex over the corpus files, exactly as the llama-index starter tutorial builds it."""

    name = "baseline"

    def __init__(self, settings: Settings, corpus: Path | None = None) -> None:
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        from assistant.model.embedding import load_embedder

        self.settings = settings
        self.embedder = load_embedder(settings)
        files = corpus_files(corpus)
        reader_log = logging.getLogger("llama_index.core.readers.file.base")
        level = reader_log.level
        reader_log.setLevel(logging.ERROR)  # its hint about llama-index-readers-file is noise: Markdown reads as text
        try:
            documents = SimpleDirectoryReader(input_files=[str(p) for p in files]).load_data()
        finally:
            reader_log.setLevel(level)
        nodes = SentenceSplitter().get_nodes_from_documents(documents)  # defaults: 1024 tokens, 200 overlap
        self.index = VectorStoreIndex(nodes, embed_model=embedding_adapter(self.embedder), show_progress=False)
        self._sections = {p.name: section_sentences(p) for p in files}

    def sections_of(self, source: str, text: str) -> list[str]:
        """The sections of source that the node holds at least one whole sentence of, in file order."""
        body = norm(text)
        return [title for title, sents in self._sections.get(source, []) if any(s in body for s in sents)]

    def _passages(self, question: str, k: int) -> list[dict[str, Any]]:
        out = []
        for rank, nws in enumerate(self.index.as_retriever(similarity_top_k=k).retrieve(question), 1):
            source = nws.node.metadata.get("file_name", "")
            sections = self.sections_of(source, nws.node.get_content())
            out.append({"rank": rank, "source": source, "section": sections[0] if sections else "",
                        "sections": sections, "chunk_id": nws.node.node_id, "score": float(nws.score or 0.0),
                        "text": nws.node.get_content()})
        return out

    def run(self, question: str, history: list[tuple[str, str]] | None, k: int
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The top node as the answer, and the top k nodes as the retrieval (history is not used)."""
        return self.answer(question), self._passages(question, k)

    def answer(self, question: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        top = self._passages(question, 1)
        t1 = time.perf_counter()
        if not top:
            return {"question": question, "answer": "", "refused": True, "citations": [], "score": None,
                    "kind": "baseline", "timings_ms": {"retrieval": (t1 - t0) * 1000, "answer": 0.0,
                                                       "total": (t1 - t0) * 1000}}
        node = top[0]
        text = " ".join(node["text"].split())
        citation = {"n": 1, "source": node["source"], "chapter": "", "section": node["section"],
                    "sections": node["sections"], "page": None, "lines": None, "quote": text,
                    "chunk_id": node["chunk_id"]}
        t2 = time.perf_counter()
        return {"question": question, "answer": f"{text} [1]", "refused": False, "citations": [citation],
                "score": node["score"], "kind": "baseline",
                "timings_ms": {"retrieval": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}}
