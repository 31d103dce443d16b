"""Where the index lives: Chroma (embedded or a server) for vectors, the catalog for everything else."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from assistant.datamodel import Chunk
from assistant.errors import NoIndexError, SettingsError
from assistant.index import recovery
from assistant.index.catalog import Catalog
from assistant.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# HNSW's default ef_search of 100 kept recall@10 at .91 (100k chunks) and .83 (300k) against exact search;
# 400 gives .98 / .94 for 1-2 ms more (docs/benchmarks.md, "Scale").
EF_SEARCH = 400


def catalog_path(settings: Settings) -> Path:
    return settings.index_dir / "catalog.sqlite"


def has_index(settings: Settings) -> bool:
    return catalog_path(settings).exists()


def chroma_client(settings: Settings) -> Any:
    """An embedded PersistentClient under HANDBOOK_HOME, or an HttpClient for HANDBOOK_CHROMA_URL."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url if "://" in settings.chroma_url else f"http://{settings.chroma_url}")
        if not url.hostname:
            raise SettingsError(f"HANDBOOK_CHROMA_URL {settings.chroma_url!r} is not a URL like http://127.0.0.1:8000.")
        try:
            return chromadb.HttpClient(host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https",
                                       settings=chroma_settings)
        except Exception as exc:  # chromadb raises ValueError (and others) when nothing answers there
            raise SettingsError(
                f"Cannot reach a Chroma server at HANDBOOK_CHROMA_URL {settings.chroma_url!r} ({exc}). Start one "
                "(`chroma run --path DIR --host 127.0.0.1 --port 8000`) or unset HANDBOOK_CHROMA_URL to use the "
                "embedded store.") from None
    path = settings.index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class Store:
    """The vectors in Chroma plus the catalog; Chroma never embeds anything itself."""

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        if not create and not has_index(settings):
            raise NoIndexError("Nothing is indexed yet: run `handbook ingest` first.")
        self.settings = settings
        self.catalog = Catalog(catalog_path(settings))
        self.client = chroma_client(settings)
        self.collection = self.open_collection()

    def open_collection(self) -> Any:
        """The settings' collection (made with cosine space and EF_SEARCH); an embedded one a kill tore is repaired."""
        collection = self.client.get_or_create_collection(
            name=self.settings.collection, embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}})
        if not self.settings.chroma_url:
            recovery.repair(collection, self.settings.index_dir / "chroma")
            recovery.ensure_readable(collection, self.settings.index_dir / "chroma")
        with warnings.catch_warnings():  # chromadb warns about its own legacy config on every read
            warnings.simplefilter("ignore", DeprecationWarning)
            hnsw = (collection.configuration or {}).get("hnsw") or {}
        if hnsw.get("ef_search", EF_SEARCH) < EF_SEARCH:  # made before EF_SEARCH was set
            collection.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})
        return collection

    def close(self) -> None:
        self.catalog.close()

    def add(self, chunks: list[Chunk], vectors: np.ndarray, texts: list[str]) -> None:
        """Upsert chunks with our own vectors through llama-index's Chroma store."""
        from llama_index.core.schema import TextNode

        nodes = [TextNode(id_=c.id, text=t, metadata=c.metadata(), embedding=v.tolist(),
                          excluded_embed_metadata_keys=list(c.metadata()),
                          excluded_llm_metadata_keys=list(c.metadata()))
                 for c, v, t in zip(chunks, vectors, texts)]
        for start in range(0, len(nodes), 1000):
            self.vector_store().add(nodes[start:start + 1000])

    def delete(self, ids: set[str] | list[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), 5000):
            self.collection.delete(ids=ids[start:start + 5000])

    def vector_ids(self) -> set[str]:
        return set(self.collection.get(include=[])["ids"])

    def vectors_for(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    def vector_store(self) -> Any:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    def nearest(self, vector: np.ndarray, k: int, sources: list[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the k nearest vectors, only from `sources` when given; texts live in the catalog."""
        where = None if sources is None else {"source": {"$in": list(sources)}}
        got = self.collection.query(query_embeddings=[vector], n_results=k, include=["distances"], where=where)
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

    def count(self) -> int:
        return self.collection.count()
