"""Query latency: our retrieval and full extractive answer vs the plain llama-index pipeline, same process.

    .venv/bin/python bench/query_latency.py [--sets dev,test] [--no-write] [--threads N]

The baseline is what the llama-index starter tutorial builds: SimpleDirectoryReader over the same corpus files,
VectorStoreIndex with its defaults (SentenceSplitter 1024/200, in-memory vector store, top-k 2), embedding with
the same loaded model through evals.baseline.embedding_adapter. Without an LLM its answer is its top node,
so its retrieval is its whole answer. Our side: Assistant.retriever.retrieve (hybrid, and dense) and
Assistant.ask, with the model loaded and warmed up. Both sides use the same Embedder, on the product's backend
(onnxruntime when the model folder has its ONNX export, which bench/common.py makes sure of; printed).

Each question is run once per path, interleaved (baseline, ours, ...), with the query-embedding cache emptied
before every call, so every call pays for its forward pass. "Answer, cold" also empties the SentenceVectors cache
(the first time anyone asks about those passages): both views of the candidate sentences (pooled in context and
embedded alone) come from the catalog, made at ingest, as in the product, so an answer costs one forward pass for
the question. "Answer, warm" keeps the caches from the cold run (a server that has seen questions about those
passages). Targets: retrieval p95 < 30 ms, answer p95 < 150 ms.
"""
from __future__ import annotations

import sys

from common import (
    Timer,
    backend_note,
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

TARGET_RETRIEVAL_MS = 30.0
TARGET_ANSWER_MS = 150.0


def baseline_retriever(embedder):
    """The plain llama-index pipeline over the bundled corpus files, defaults everywhere but the model."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    from evals.baseline import embedding_adapter
    from ingest.run import BUNDLED_SKIP, bundled_corpus

    files = sorted(str(p) for p in bundled_corpus().glob("*.md") if p.name not in BUNDLED_SKIP)
    documents = SimpleDirectoryReader(input_files=files).load_data()
    index = VectorStoreIndex.from_documents(documents, embed_model=embedding_adapter(embedder))
    return index.as_retriever()


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    sets = argv[argv.index("--sets") + 1].split(",") if "--sets" in argv else ["dev"]
    from assistant import open_assistant
    from assistant.retrieval.retriever import Retriever

    settings = indexed_home()
    assistant = open_assistant(settings)
    embedder = assistant.embedder
    hybrid = Retriever(assistant.store, embedder, "hybrid")
    dense = Retriever(assistant.store, embedder, "dense")
    with Timer() as build:
        base = baseline_retriever(embedder)
    qs = questions(*sets)

    def fresh(sentences: bool = False) -> None:
        embedder._cache.clear()
        if sentences:
            assistant.vectors.fallback._cache.clear()

    paths = {
        "embed": lambda q: embedder.embed_queries([q]),
        "baseline": lambda q: base.retrieve(q),
        "hybrid": lambda q: hybrid.retrieve(q, settings.top_k),
        "dense": lambda q: dense.retrieve(q, settings.top_k),
        "answer_cold": lambda q: assistant.ask(q),
        "answer_warm": lambda q: assistant.ask(q),
    }
    for q in qs[:3]:  # warm-up: first calls pay for lazy imports and allocator growth
        for name, fn in paths.items():
            fresh(name == "answer_cold")
            fn(q)
    times: dict[str, list[float]] = {name: [] for name in paths}
    refused = 0
    for i, q in enumerate(qs):
        for name, fn in paths.items():
            fresh(name == "answer_cold")
            with Timer() as t:
                out = fn(q)
            times[name].append(t.ms)
            if name == "answer_warm":
                refused += bool(out.refused)
        if (i + 1) % 10 == 0:
            print(f"{i + 1}/{len(qs)} questions", flush=True)

    b50, b95 = p50(times["baseline"]), p95(times["baseline"])
    labels = [
        ("embed", "query embedding alone (the floor: one forward pass)", None),
        ("baseline", "**plain llama-index retrieve (baseline)**", None),
        ("hybrid", "our retrieval, hybrid" + (" (default)" if settings.retrieval == "hybrid" else ""),
         TARGET_RETRIEVAL_MS),
        ("dense", "our retrieval, dense" + (" (default)" if settings.retrieval == "dense" else ""),
         TARGET_RETRIEVAL_MS),
        ("answer_cold", "our full extractive answer, first question about its passages (both views of every "
                        "sentence stored at ingest)", TARGET_ANSWER_MS),
        ("answer_warm", "our full extractive answer, asked again (sentence cache warm)", TARGET_ANSWER_MS),
    ]
    rows = []
    for key, label, target in labels:
        a, b = p50(times[key]), p95(times[key])
        rows.append([label, f"{a / b50:.2f}×", f"{b / b95:.2f}×", fmt(a), fmt(b),
                     f"< {target:.0f} ms: {verdict(b < target)}" if target else ""])
    body = "\n".join([
        f"{len(qs)} questions ({', '.join(sets)}), each once per path, interleaved, query cache emptied before "
        "every call. Ratios are against the plain llama-index pipeline measured in the same loop "
        f"(built in {build.seconds:.1f} s: SimpleDirectoryReader + VectorStoreIndex defaults, top-k 2, the same "
        f"model); ours uses top-k {settings.top_k}. {refused} of the questions were refused (a refusal still "
        f"runs retrieval and sentence scoring). The embedder ran on {backend_note(embedder)}.",
        "",
        table(["path", "p50 ratio", "p95 ratio", "p50 ms", "p95 ms", "target (p95)"], rows),
        "",
        "The query-embedding row is the forward pass of the model alone; everything above it is retrieval and "
        "answer work. On a loaded machine the absolute numbers move with the load; the ratios move much less.",
    ])
    report("query_latency", "Query latency", body, write="--no-write" not in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
