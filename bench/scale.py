"""Scale: query latency and recall@10 of Chroma as the collection grows, embedded and as a server.

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--with-300k] [--no-server] [--rounds 2]
                                    [--no-write] [--threads N]

The shortcut, documented: embedding 100k+ real chunks would take hours on a laptop CPU, so the collection is
synthetic but built from real embeddings. One to two thousand varied texts (the corpus's sentences, runs of two
and three adjacent sentences, sentences under their section title, clauses) are embedded once with our model
("passage: " prefix; cached in .cache/bench). Vector i is
normalise(E[a] + 0.5 E[b] + 0.5 g) with a, b random base texts and g Gaussian noise of unit expected norm, so
every vector is distinct, near real e5 passages, and neighbourhoods are as crowded as in a big library. Each record
also carries a real chunk text as its document and llama-index-shaped metadata (~1.4 kB, as our store writes).
Queries are the real eval questions embedded with the "query: " prefix.

Per size: exact top-10 by numpy (the baseline and ground truth, same process), then embedded Chroma
(PersistentClient) and a Chroma server (`chroma run`) serving the very same directory after the embedded client
has released it (so the server is not rebuilt: the files are the same, only the access path differs). Two query
shapes: ids+distances only (what our retriever needs, since texts come from the catalog) and with documents and
metadatas (what llama-index's ChromaVectorStore asks for). Sizes grow cumulatively (10k, then +90k, ...).
The collection is made as the product makes it (assistant/store.py: cosine space, HNSW ef_search EF_SEARCH =
400 since 5c8fd17). The embedded collection is also queried with a narrower HNSW search (Chroma's default 100,
the product's setting before, and 200; a collection setting that takes effect when the index is loaded, so the
client is reopened; one round) to show what the wider search buys in recall and costs in time. Target: p95 < 80
ms at 100k.
"""
from __future__ import annotations

import gc
import hashlib
import json
import shutil
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

# common first: importing it pins BLAS/OpenMP threads before numpy loads
from common import (
    CACHE,
    DOC,
    REPO,
    Timer,
    chroma_server,
    fmt,
    indexed_home,
    p50,
    p95,
    questions,
    report,
    table,
    threads_from_argv,
    verdict,
)

# isort: split
import numpy as np

TARGET_P95_MS = 80.0
TARGET_AT = 100_000
K = 10
ADD_BATCH = 2500
COLLECTION = "scale-bench"
NARROWER = (100, 200)  # ef_search values compared with the product's


def base_texts(settings) -> tuple[list[str], list[str]]:
    """(one to two thousand varied texts to embed, the real chunk texts used as documents)."""
    import re

    from assistant.answer.sentences import split_sentences
    from assistant.index.catalog import Catalog
    from assistant.index.store import catalog_path

    catalog = Catalog(catalog_path(settings))
    records = catalog.chunks()
    catalog.close()
    chunks = [c.text for c in records]
    sentences: list[str] = []
    for chunk in records:
        spans = [chunk.text[s:e].strip() for s, e in split_sentences(chunk.text)]
        sentences += spans
        sentences += [f"{a} {b}" for a, b in pairwise(spans)]
        sentences += [f"{a} {b} {c}" for a, b, c in zip(spans, spans[1:], spans[2:])]
        sentences += [f"{chunk.section_title}. {s}" for s in spans]
        sentences += [c.strip() for s in spans for c in re.split(r"[,;:–]", s) if len(c.split()) >= 4]
    unique = list(dict.fromkeys(s for s in sentences if len(s.split()) >= 3))
    return unique, chunks


def base_vectors(embedder, texts: list[str]) -> np.ndarray:
    key = hashlib.sha1(("\n".join(texts) + embedder.name).encode()).hexdigest()[:12]
    path = CACHE / f"scale-base-{key}.npy"
    if path.exists():
        return np.load(path)
    print(f"embedding {len(texts)} base texts (once; cached in {path.relative_to(REPO)})", flush=True)
    vectors = embedder.embed_passages(texts, batch_size=64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _block(base: np.ndarray, first: int) -> np.ndarray:
    """The ADD_BATCH rows from `first` (a multiple of ADD_BATCH), always the same for the same block."""
    rng = np.random.default_rng(first)
    n, d = ADD_BATCH, base.shape[1]
    a, b = rng.integers(len(base), size=n), rng.integers(len(base), size=n)
    v = base[a] + 0.5 * base[b] + 0.5 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def synthetic(base: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows start..stop of the synthetic collection, whatever blocks they were added in."""
    first = start - start % ADD_BATCH
    rows = np.concatenate([_block(base, b) for b in range(first, stop, ADD_BATCH)])
    return rows[start - first:stop - first]


def metadata(i: int, doc: str) -> dict:
    """Shaped like what llama-index's ChromaVectorStore writes for one of our chunks."""
    node = {"id_": f"syn-{i}", "metadata": {"source": f"bog-{i // 400:04d}.pdf"}, "text": "", "class_name": "TextNode",
            "relationships": {}, "excluded_embed_metadata_keys": ["source", "chapter_title", "section_title"],
            "text_template": "{metadata_str}\n\n{content}", "metadata_template": "{key}: {value}",
            "start_char_idx": None, "end_char_idx": None, "mimetype": "text/plain", "metadata_seperator": "\n",
            "padding": "x" * 600}
    return {"_node_content": json.dumps(node), "_node_type": "TextNode", "source": f"bog-{i // 400:04d}.pdf",
            "chapter_title": f"Kapitel {i // 50 % 40 + 1}", "section_title": f"Afsnit {i // 10 % 9 + 1}",
            "chapter_number": i // 50 % 40 + 1, "position": i % 10, "order": i % 90, "kind": "text",
            "file_hash": hashlib.sha1(str(i // 400).encode()).hexdigest(), "line_start": -1, "line_end": -1,
            "doc_id": "None", "document_id": "None", "ref_doc_id": "None"}


def fill(collection, base: np.ndarray, docs: list[str], start: int, stop: int) -> float:
    """Add rows start..stop; returns seconds."""
    with Timer() as t:
        for s in range(start, stop, ADD_BATCH):
            e = min(stop, s + ADD_BATCH)
            collection.add(ids=[f"syn-{i}" for i in range(s, e)], embeddings=synthetic(base, s, e),
                           documents=[docs[i % len(docs)] for i in range(s, e)],
                           metadatas=[metadata(i, docs[i % len(docs)]) for i in range(s, e)])
            print(f"  added {e:,}", end="\r", flush=True)
    print()
    return t.seconds


def exact(matrix: np.ndarray, qs: np.ndarray) -> tuple[list[list[str]], list[float]]:
    """Exact cosine top-K by numpy, one query at a time (timed: the baseline)."""
    ids, ms = [], []
    for q in qs:
        with Timer() as t:
            scores = matrix @ q
            top = np.argpartition(-scores, K)[:K]
            top = top[np.argsort(-scores[top])]
        ms.append(t.ms)
        ids.append([f"syn-{i}" for i in top])
    return ids, ms


def measure(collection, qs: np.ndarray, truth: list[list[str]], rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ids": [], "full": [], "recall": []}
    for q in qs[:5]:  # warm-up
        collection.query(query_embeddings=[q], n_results=K, include=["distances"])
    for _ in range(rounds):
        for q, want in zip(qs, truth):
            with Timer() as t:
                got = collection.query(query_embeddings=[q], n_results=K, include=["distances"])
            out["ids"].append(t.ms)
            out["recall"].append(len(set(got["ids"][0]) & set(want)) / K)
            with Timer() as t:
                collection.query(query_embeddings=[q], n_results=K, include=["documents", "metadatas", "distances"])
            out["full"].append(t.ms)
    return out


def release(client) -> None:
    """Let go of an embedded Chroma directory so a server can open it."""
    import chromadb

    client._system.stop()
    chromadb.api.client.SharedSystemClient.clear_system_cache()
    gc.collect()


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    sizes = [int(x) for x in argv[argv.index("--sizes") + 1].split(",")] if "--sizes" in argv else [10_000, 100_000]
    if "--with-300k" in argv and 300_000 not in sizes:
        sizes.append(300_000)
    sizes.sort()
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 2
    with_server = "--no-server" not in argv

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from assistant.index.store import EF_SEARCH
    from assistant.model.embedding import load_embedder

    settings = indexed_home()
    embedder = load_embedder(settings)
    texts, docs = base_texts(settings)
    with Timer() as base_t:
        base = base_vectors(embedder, texts)
    qs = embedder.embed_queries(questions("dev", "test"))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    path = work / "chroma"
    rows, plot = [], {"exact numpy (baseline)": [], "embedded": [], "server": []}
    try:
        done = 0
        for n in sizes:
            print(f"{n:,} vectors", flush=True)
            client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
            col = client.get_or_create_collection(COLLECTION, embedding_function=None, configuration={
                "hnsw": {"space": "cosine", "ef_search": EF_SEARCH}})  # as assistant/store.py makes it
            assert col.configuration["hnsw"]["ef_search"] == EF_SEARCH
            add_s = fill(col, base, docs, done, n)
            added, done = n - done, n
            assert col.count() == n
            matrix = synthetic(base, 0, n)
            truth, base_ms = exact(matrix, np.tile(qs, (rounds, 1)))
            truth = truth[:len(qs)]
            emb = measure(col, qs, truth, rounds)
            results = [(f"embedded Chroma (ef_search {EF_SEARCH}, the product's)", emb, f"{added / add_s:,.0f}/s")]
            for ef in NARROWER:  # recall against latency: Chroma's search breadth, applied when the index loads
                col.modify(configuration={"hnsw": {"ef_search": ef}})
                del col
                release(client)
                client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
                col = client.get_collection(COLLECTION)
                assert col.configuration["hnsw"]["ef_search"] == ef
                label = f"embedded Chroma, ef_search {ef}" + (" (Chroma's default; before 5c8fd17)" * (ef == 100))
                results.append((label, measure(col, qs, truth, 1), ""))
            col.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})  # back to the product's for the server
            del matrix, col
            release(client)
            if with_server:
                with chroma_server(path) as url:
                    from urllib.parse import urlparse

                    u = urlparse(url)
                    http = chromadb.HttpClient(host=u.hostname, port=u.port,
                                               settings=ChromaSettings(anonymized_telemetry=False))
                    col = http.get_collection(COLLECTION)
                    assert col.count() == n
                    assert col.configuration["hnsw"]["ef_search"] == EF_SEARCH
                    srv = measure(col, qs, truth, rounds)
                    del col, http
                results.append((f"Chroma server (same files, ef_search {EF_SEARCH})", srv, ""))
            b50, b95 = p50(base_ms), p95(base_ms)
            rows.append([f"{n:,}", "**exact numpy (baseline)**", "1.00×", fmt(b50), fmt(b95), "", "", "1.000", ""])
            plot["exact numpy (baseline)"].append((n, b95))
            for label, r, rate in results:
                narrow = label.startswith("embedded Chroma, ef_search")
                at_target = n == TARGET_AT and not narrow
                ok = verdict(p95(r["ids"]) < TARGET_P95_MS) if at_target else ""
                rows.append([f"{n:,}", label, f"{p95(r['ids']) / b95:.2f}×", fmt(p50(r["ids"])),
                             fmt(p95(r["ids"])), fmt(p95(r["full"])), rate, f"{np.mean(r['recall']):.3f}", ok])
                if not narrow:
                    plot["server" if "server" in label else "embedded"].append((n, p95(r["ids"])))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    picture = write_plot(plot) if "--no-write" not in argv else None
    body = "\n".join([
        f"Synthetic collections from real embeddings ({len(texts):,} embedded base texts, {base_t.seconds:.0f} s "
        "or cached; see the docstring of bench/scale.py for the construction), "
        f"{len(qs)} real eval questions × {rounds} rounds, top-{K}, HNSW as the product makes it (cosine, M 16, "
        f"ef_search {EF_SEARCH}; the narrower rows: one round). "
        "Ratios are p95 against exact numpy search measured in the same process; recall@10 is against that exact "
        "search. The server serves the same directory over HTTP on 127.0.0.1.",
        "",
        table(["chunks", "store", "p95 ratio", "p50 ms (ids)", "p95 ms (ids)", "p95 ms (with documents + metadata)",
               "add rate", "recall@10", f"target p95 < {TARGET_P95_MS:.0f} ms"], rows),
        *(["", f"![query p95 against collection size]({picture})"] if picture else []),
    ])
    span = " to ".join(dict.fromkeys(f"{n // 1000}k" for n in (sizes[0], sizes[-1])))
    report("scale", f"Scale: {span} chunks, embedded Chroma and a Chroma server", body,
           write="--no-write" not in argv)


def write_plot(plot: dict[str, list[tuple[int, float]]]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    out = DOC.parent / "bench" / "scale.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, points in plot.items():
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.axhline(TARGET_P95_MS, color="grey", linestyle="--", linewidth=1, label="target")
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the collection")
    ax.set_ylabel("query p95 (ms)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return str(out.relative_to(DOC.parent))


if __name__ == "__main__":
    main(sys.argv[1:])
