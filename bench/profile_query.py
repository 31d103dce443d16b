"""Where a question's time goes: stage timings, a cProfile of Assistant.ask, and the runtime choices measured.

    .venv/bin/python bench/profile_query.py [--sets dev] [--no-quantized] [--no-onnx] [--no-write] [--threads N]

Stages are timed one question at a time with the caches emptied, in the order Assistant.ask runs them, on the
product's embedder (onnxruntime when the model folder has its ONNX export, which bench/common.py makes sure
of; the output says which). Comparisons measured in the same process (ratios):
- dense search straight from Chroma (ids + distances, `Store.nearest`, the product) against the same search
  through llama-index (`VectorStoreIndex.from_vector_store(ChromaVectorStore(...))`, as before 5c8fd17) and a
  direct Chroma query that also fetches documents and metadatas;
- sentence scoring with the sentence vectors stored at ingest (the product) against embedding every candidate
  sentence at question time (as before 5c8fd17), and the best sentence(s) embedded alone (RELEVANCE_POOL);
- onnxruntime threads: 1 against all cores, with spinning off (the product) and on (onnxruntime's default);
- int8 dynamic quantization of the torch model's Linear layers: speed, and retrieval agreement with fp32;
- onnxruntime (the product) against sentence-transformers on torch (HANDBOOK_EMBED_BACKEND=torch): speed,
  agreement of query, chunk and pooled sentence vectors, and a new process's time to its first query embedding.
The full cProfile listing goes to .cache/bench/profile-ask.txt.
"""
from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import warnings

# common first: importing it pins BLAS/OpenMP threads before numpy loads
from common import (
    CACHE,
    REPO,
    Timer,
    backend_note,
    fmt,
    indexed_home,
    model_dir,
    p50,
    p95,
    questions,
    report,
    table,
    threads_from_argv,
    torch_model,
)

# isort: split
import numpy as np


def llama_index_dense(store, embedder):
    """The dense path as it was before 5c8fd17: llama-index's retriever over the same Chroma collection."""
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from evals.baseline import embedding_adapter

    return VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=store.collection),
                                              embed_model=embedding_adapter(embedder))


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    sets = argv[argv.index("--sets") + 1].split(",") if "--sets" in argv else ["dev"]
    from assistant import open_assistant
    from assistant.answer.extractive import RELEVANCE_POOL
    from assistant.retrieval.retriever import fuse

    settings = indexed_home()
    assistant = open_assistant(settings)
    embedder, retriever = assistant.embedder, assistant.retriever
    collection = assistant.store.collection
    sentences = assistant.vectors.fallback  # SentenceVectors: sentences embedded alone, cached
    li_index = llama_index_dense(assistant.store, embedder)
    k = settings.top_k
    pool = max(k * 3, 20)
    qs = questions(*sets)
    encodes = {"calls": 0, "texts": 0}
    original_encode = embedder._encode

    def counting_encode(texts, batch_size):
        encodes["calls"] += 1
        encodes["texts"] += len(texts)
        return original_encode(texts, batch_size)

    def clear(sentence_cache: bool = True) -> None:
        embedder._cache.clear()
        if sentence_cache:
            sentences._cache.clear()

    for q in qs[:3]:
        clear()
        assistant.ask(q)
        li_index.as_retriever(similarity_top_k=pool).retrieve(q)

    stages: dict[str, list[float]] = {name: [] for name in (
        "embed", "dense", "dense_li", "chroma_full", "bm25", "fuse", "lookup", "alone", "cands_cold",
        "cands_warm", "cands_old", "extract", "ask_cold", "ask_warm")}
    per_ask, n_cands, found = [], [], []
    for q in qs:
        clear()
        with Timer() as t:
            qvec = embedder.embed_queries([q])[0]
        stages["embed"].append(t.ms)
        with Timer() as t:
            dense = retriever.dense(q, pool)  # query vector cached: Store.nearest only
        stages["dense"].append(t.ms)
        with Timer() as t:
            li_index.as_retriever(similarity_top_k=pool).retrieve(q)  # vector cached: llama-index + Chroma
        stages["dense_li"].append(t.ms)
        with Timer() as t:
            collection.query(query_embeddings=[qvec], n_results=pool)
        stages["chroma_full"].append(t.ms)
        with Timer() as t:
            lexical = retriever.lexical(q, pool)
        stages["bm25"].append(t.ms)
        with Timer() as t:
            hits = fuse(dense, lexical)[:k]
            for rank, hit in enumerate(hits, 1):
                hit.rank = rank
        stages["fuse"].append(t.ms)
        with Timer() as t:
            cands = assistant._candidates(q, q, hits, retriever)
        stages["cands_cold"].append(t.ms)
        with Timer() as t:
            assistant._candidates(q, q, hits, retriever)
        stages["cands_warm"].append(t.ms)
        with Timer() as t:
            stored = assistant.vectors.lookup([c.hit.chunk.id for c in cands])
        stages["lookup"].append(t.ms)
        n_cands.append(len(cands))
        found.append(sum((c.start, c.end) in stored.get(c.hit.chunk.id, {}) for c in cands))
        top = [c.text for c in sorted(cands, key=lambda c: -c.score)[:RELEVANCE_POOL]]
        sentences._cache.clear()
        with Timer() as t:
            sentences(top)
        stages["alone"].append(t.ms)
        sentences._cache.clear()
        with Timer() as t:
            sentences([c.text for c in cands])  # before 5c8fd17: every candidate sentence embedded per question
        stages["cands_old"].append(t.ms)
        with Timer() as t:
            assistant._extract(q, "da", hits, cands, 1.0)
        stages["extract"].append(t.ms)
        clear()
        embedder._encode = counting_encode
        encodes.update(calls=0, texts=0)
        with Timer() as t:
            assistant.ask(q)
        del embedder._encode
        stages["ask_cold"].append(t.ms)
        per_ask.append(dict(encodes))
        clear(sentence_cache=False)
        with Timer() as t:
            assistant.ask(q)
        stages["ask_warm"].append(t.ms)

    # cProfile of whole asks, cold caches
    profiler = cProfile.Profile()
    for q in qs:
        clear()
        profiler.enable()
        assistant.ask(q)
        profiler.disable()
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("cumulative").print_stats(60)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "profile-ask.txt").write_text(listing.getvalue(), encoding="utf-8")
    top_own = io.StringIO()
    pstats.Stats(profiler, stream=top_own).sort_stats("tottime").print_stats(12)

    threads_table = ort_threads(qs[:20])
    quant = None if "--no-quantized" in argv else quantized(assistant, qs)
    onnx_part = None if "--no-onnx" in argv else runtimes(assistant, qs)

    e50 = p50(stages["embed"])
    labels = [
        ("embed", "query embedding (one forward pass)"),
        ("dense", f"dense top {pool}, vector cached: `Store.nearest` (Chroma, ids + distances; the product)"),
        ("dense_li", "  same through llama-index (`VectorStoreIndex` over the collection; before 5c8fd17)"),
        ("chroma_full", "  same Chroma query, direct, with documents + metadatas"),
        ("bm25", f"BM25 top {pool} (bm25s, Danish stems)"),
        ("fuse", "reciprocal-rank fusion"),
        ("cands_cold", "sentence scoring, first question about the passages (`Assistant._candidates`)"),
        ("lookup", "  part: stored sentence vectors read from the catalog"),
        ("alone", f"  part: the {RELEVANCE_POOL} best sentence(s) embedded alone (the refusal decision)"),
        ("cands_warm", "sentence scoring, those cached"),
        ("cands_old", "  before 5c8fd17: every candidate sentence embedded at question time"),
        ("extract", "select sentences, citations"),
        ("ask_cold", "**whole `Assistant.ask`, first question about the passages**"),
        ("ask_warm", "**whole `Assistant.ask`, sentence cache warm**"),
    ]
    rows = [[label, fmt(p50(stages[key]), 2), fmt(p95(stages[key]), 2), f"{p50(stages[key]) / e50:.2f}×"]
            for key, label in labels]
    calls = np.mean([a["calls"] for a in per_ask])
    texts = np.mean([a["texts"] for a in per_ask])
    body = [
        f"{len(qs)} questions ({', '.join(sets)}), one at a time, caches emptied per question, embedder on "
        f"{backend_note(embedder)}; the ratio column is each stage's p50 against the query embedding's p50 (the "
        "unavoidable forward pass).",
        "",
        table(["stage", "p50 ms", "p95 ms", "p50 / query embedding"], rows),
        "",
        f"Model calls per first-time `ask`: {calls:.1f} encode calls embedding {texts:.1f} texts on average (1 "
        f"query; the rest are the sentences embedded alone). Candidate sentences per question: "
        f"{np.mean(n_cands):.1f}, of which {sum(found) / max(1, sum(n_cands)):.1%} had a stored vector (the rest "
        "are embedded at question time). Before 5c8fd17: 1.9 calls embedding 34.0 texts.",
        "",
        threads_table,
    ]
    if quant:
        body += ["", quant]
    if onnx_part:
        body += ["", onnx_part]
    body += ["", "Top of the cProfile by own time (whole asks, first question about the passages):", "", "```",
             _trim(top_own.getvalue()), "```"]
    report("profile", "Profile of the query path", "\n".join(body), write="--no-write" not in argv)


THREADS_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import onnxruntime as ort
from assistant.model.onnx_runtime import OnnxEncoder, onnx_file
model, cores, spin = sys.argv[2], int(sys.argv[3]), sys.argv[4]
encoder = OnnxEncoder(model)
sessions = {}
for n in (1, cores):
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = n, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    options.log_severity_level = 3
    sessions[n] = ort.InferenceSession(str(onnx_file(model)), options, providers=["CPUExecutionProvider"])
qs = json.loads(sys.stdin.read())
out = {"1": [], "all": []}
for rnd in range(3):
    for q in qs:
        for n, key in ((1, "1"), (cores, "all")):
            encoder._session = sessions[n]
            t = time.perf_counter()
            encoder.encode(["query: " + q])
            if rnd:  # the first round warms both sessions up
                out[key].append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""


def ort_threads(qs: list[str]) -> str:
    """One query embedding on onnxruntime with 1 thread vs all cores, spinning off (the product) and on.

    A spinning pool keeps its threads busy after a run, which would slow whatever runs next in the process, so
    each spinning setting runs in its own process; inside it the thread counts alternate per question.
    """
    import os
    import subprocess

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rows = []
    for spin, label in (("0", "spinning off (the product's setting)"), ("1", "spinning on (onnxruntime's default)")):
        out = subprocess.run([sys.executable, "-c", THREADS_CHILD, str(REPO), str(model_dir()), str(cores), spin],
                             input=json.dumps(qs), capture_output=True, text=True, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        one, every = got["1"], got["all"]
        rows.append([label, fmt(p50(one), 1), fmt(p95(one), 1), fmt(p50(every), 1), fmt(p95(every), 1),
                     f"**{p50(every) / p50(one):.2f}×**"])
    return "\n".join([
        f"One query embedding on onnxruntime, 1 intra-op thread vs {cores} (all cores: the product's default), "
        f"{len(qs)} questions × 2 rounds after a warm-up round, each spinning setting in its own process, the two "
        "thread counts alternating per question (one session each):",
        "",
        table(["thread pool", "1 thread p50 ms", "1 thread p95 ms", f"{cores} threads p50 ms",
               f"{cores} threads p95 ms", f"p50 ratio {cores} / 1"], rows),
    ])


def _trim(listing: str) -> str:
    lines = [ln.replace(str(REPO) + "/", "").replace(".venv/lib/python3.11/site-packages/", "")
             for ln in listing.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return "\n".join(lines[start:start + 13])


def quantized(assistant, qs: list[str]) -> str:
    """int8 dynamic quantization of the torch model's Linear layers: speed and retrieval agreement with fp32."""
    import copy

    import torch

    embedder = assistant.embedder
    model32 = torch_model()._model  # quantize_dynamic works on torch modules, not on the ONNX graph
    with warnings.catch_warnings():  # torch.ao.quantization warns that it moves to torchao; it still works here
        warnings.simplefilter("ignore")
        model8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model32), {torch.nn.Linear},
                                                        dtype=torch.qint8)
    chunks = list(assistant.retriever.chunks.values())

    texts = [embedder.passage_prefix + c.indexed_text for c in chunks]
    dev = [json.loads(line) for line in (REPO / "evals" / "questions" / "dev.jsonl").read_text().splitlines()
           if line.strip()]
    expected = [{(e["source"], e.get("section")) for e in d.get("expected", [])} for d in dev]

    def enc(model, batch: list[str], bs: int = 32) -> np.ndarray:
        return np.asarray(model.encode(batch, batch_size=bs, convert_to_numpy=True, normalize_embeddings=True,
                                       show_progress_bar=False), dtype=np.float32)

    timing = {"fp32": [], "int8": []}
    for q in qs:  # alternate, one query at a time
        for name, model in (("fp32", model32), ("int8", model8)):
            with Timer() as t:
                enc(model, [embedder.query_prefix + q])
            timing[name].append(t.ms)
    with Timer() as t32:
        c32 = enc(model32, texts)
    with Timer() as t8:
        c8 = enc(model8, texts)
    q32 = enc(model32, [embedder.query_prefix + d["question"] for d in dev])
    q8 = enc(model8, [embedder.query_prefix + d["question"] for d in dev])
    k = 6
    top32, top8 = np.argsort(-(q32 @ c32.T), axis=1)[:, :k], np.argsort(-(q8 @ c8.T), axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(top32, top8)])
    top1 = np.mean(top32[:, 0] == top8[:, 0])

    def hit(top) -> float:
        found = [any((chunks[i].source, chunks[i].section_title) in want or (chunks[i].source, None) in want
                     for i in row) for row, want in zip(top, expected) if want]
        return float(np.mean(found)) if found else float("nan")

    cos = float(np.mean(np.sum(c32 * c8, axis=1)))
    rows = [
        ["fp32 on torch", fmt(p50(timing["fp32"]), 1), fmt(p95(timing["fp32"]), 1), "1.00×",
         fmt(len(texts) / t32.seconds, 1), f"{hit(top32):.3f}", "", ""],
        ["int8 dynamic (Linear layers) on torch", fmt(p50(timing["int8"]), 1), fmt(p95(timing["int8"]), 1),
         f"{p50(timing['int8']) / p50(timing['fp32']):.2f}×", fmt(len(texts) / t8.seconds, 1),
         f"{hit(top8):.3f}", f"{overlap:.3f} / {top1:.3f}", f"{cos:.4f}"],
    ]
    return "\n".join([
        "int8 dynamic quantization (`torch.ao.quantization.quantize_dynamic`) of the torch model, same process, "
        f"dense-only top-6 over the {len(chunks)} corpus chunks, each model with its own chunk vectors (not a "
        "product path; kept to show why the product stays fp32):",
        "",
        table(["model", "query p50 ms", "query p95 ms", "p50 ratio", "chunks/s (batch 32)",
               "dev hit@6 (expected source/section)", "top-6 overlap / top-1 same vs fp32", "mean cos(fp32, int8)"],
              rows),
    ])


FIRST_EMBEDDING = r"""
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from assistant.model.embedding import Embedder
e = Embedder(sys.argv[2], backend=sys.argv[3])
e.embed_queries([sys.argv[4]])
print(e.backend, time.perf_counter() - t0)
"""


def runtimes(assistant, qs: list[str]) -> str:
    """The product's onnxruntime embedder against the same model on sentence-transformers/torch."""
    import os
    import subprocess
    from statistics import median

    from ingest.vectors import sentence_spans

    ours = assistant.embedder
    theirs = torch_model()
    theirs.embed_queries(["warm up"])
    timing: dict[str, list[float]] = {"torch": [], "onnx": []}
    cosines = []
    for q in qs:  # alternating, one query at a time, caches emptied
        ours._cache.clear()
        theirs._cache.clear()
        with Timer() as t:
            a = theirs.embed_queries([q])[0]
        timing["torch"].append(t.ms)
        with Timer() as t:
            b = ours.embed_queries([q])[0]
        timing["onnx"].append(t.ms)
        cosines.append(float(a @ b))
    chunks = list(assistant.retriever.chunks.values())
    texts = [c.indexed_text for c in chunks]
    spans = [sentence_spans(c, t) for c, t in zip(chunks, texts)]
    with Timer() as tt:
        c_torch, s_torch = theirs.embed_passages_with_spans(texts, spans)
    with Timer() as to:
        c_onnx, s_onnx = ours.embed_passages_with_spans(texts, spans)
    passage_cos = float(np.min(np.sum(c_torch * c_onnx, axis=1)))
    span_cos = min(float(s_torch[i][sp] @ s_onnx[i][sp]) for i in range(len(texts)) for sp in s_torch[i])
    n_spans = sum(len(s) for s in s_torch)

    cold: dict[str, list[float]] = {"torch": [], "onnx": []}
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["OMP_NUM_THREADS"] = "1"
    for _ in range(3):
        for name in ("torch", "onnx"):
            out = subprocess.run([sys.executable, "-c", FIRST_EMBEDDING, str(REPO), str(model_dir()), name, qs[0]],
                                 capture_output=True, text=True, env=env, check=True)
            backend, seconds = out.stdout.strip().splitlines()[-1].split()
            assert backend == name, (backend, name)
            cold[name].append(float(seconds))

    rows = [
        ["sentence-transformers on torch (`HANDBOOK_EMBED_BACKEND=torch`)", fmt(p50(timing["torch"]), 1),
         fmt(p95(timing["torch"]), 1), "1.00×", fmt(len(texts) / tt.seconds, 1), fmt(median(cold["torch"]), 2), ""],
        ["onnxruntime, same fp32 weights (the product)", fmt(p50(timing["onnx"]), 1), fmt(p95(timing["onnx"]), 1),
         f"**{p50(timing['onnx']) / p50(timing['torch']):.2f}×**", fmt(len(texts) / to.seconds, 1),
         fmt(median(cold["onnx"]), 2), f"{min(cosines):.6f} / {passage_cos:.6f} / {span_cos:.6f}"],
    ]
    return "\n".join([
        "The product's embedder on onnxruntime (the model exported at setup, `assistant/onnx_encoder.py`) against "
        "the same model folder on sentence-transformers/torch, same process and threads, alternating per "
        "question. Chunks/s is `embed_passages_with_spans` over the corpus chunks (the ingest call: chunk vectors "
        f"plus {n_spans} pooled sentence spans). \"New process\" is a fresh interpreter's time to its first query "
        "embedding through `assistant.model.embedding.Embedder` (imports + load + one forward pass; 1 thread; median "
        "of 3).",
        "",
        table(["runtime", "query p50 ms", "query p95 ms", "p50 ratio", "chunks/s with spans (batch 32)",
               "new process to first embedding, s", "min cos vs torch (queries / chunks / sentence spans)"], rows),
    ])


if __name__ == "__main__":
    main(sys.argv[1:])
