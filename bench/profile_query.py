"""Where a question's time goes: stage timings, a cProfile of Assistant.ask, and candidate fixes measured.

    .venv/bin/python bench/profile_query.py [--sets dev] [--no-quantized] [--no-onnx] [--no-write] [--threads N]

Stages are timed one question at a time with the caches emptied, in the order Assistant.ask runs them. The
candidate fixes are measured in the same process against the current code path (ratios):
- querying Chroma directly for ids + distances instead of through llama-index (which also fetches documents and
  metadatas, and builds a retriever object per call);
- torch threads: 1 against all cores (the Embedder's default) for one query embedding, with OpenMP's default
  (spinning) and passive wait policy;
- sentence vectors kept from ingest instead of embedded at question time (cold vs warm sentence cache);
- int8 dynamic quantization of the model's Linear layers: speed, and retrieval agreement with the fp32 model;
- the same fp32 model exported to ONNX and run by onnxruntime (already installed with chromadb): speed, agreement,
  and a new process's time to first embedding. Exporting needs the `onnx` package, which is not a dependency:
  `pip install onnx` once (or put it on PYTHONPATH) to include this part; without it the part is skipped.
The full cProfile listing goes to .cache/bench/profile-ask.txt.
"""
from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import warnings

from common import (CACHE, REPO, Timer, fmt, indexed_home, p50, p95, questions, report, table,
                    threads_from_argv)  # first: it pins BLAS/OpenMP threads before numpy loads

import numpy as np  # noqa: E402


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    sets = argv[argv.index("--sets") + 1].split(",") if "--sets" in argv else ["dev"]
    from assistant import open_assistant
    from assistant.retrieval import fuse

    settings = indexed_home()
    assistant = open_assistant(settings)
    embedder, retriever = assistant.embedder, assistant.retriever
    collection = assistant.store.collection
    k = settings.top_k
    pool = max(k * 3, 20)
    qs = questions(*sets)
    encodes = {"calls": 0, "texts": 0}
    original_encode = embedder._encode

    def counting_encode(texts, batch_size):
        encodes["calls"] += 1
        encodes["texts"] += len(texts)
        return original_encode(texts, batch_size)

    def clear(sentences: bool = True) -> None:
        embedder._cache.clear()
        if sentences:
            assistant.vectors._cache.clear()

    for q in qs[:3]:
        clear()
        assistant.ask(q)

    stages: dict[str, list[float]] = {name: [] for name in (
        "embed", "as_retriever", "dense_li", "chroma_full", "chroma_ids", "bm25", "fuse", "cands_cold",
        "cands_warm", "extract", "ask_cold", "ask_warm")}
    per_ask = []
    for q in qs:
        clear()
        with Timer() as t:
            qvec = embedder.embed_queries([q])[0]
        stages["embed"].append(t.ms)
        with Timer() as t:
            retriever._index.as_retriever(similarity_top_k=pool)
        stages["as_retriever"].append(t.ms)
        with Timer() as t:
            dense = retriever.dense(q, pool)  # query vector cached: llama-index + Chroma only
        stages["dense_li"].append(t.ms)
        with Timer() as t:
            collection.query(query_embeddings=[qvec], n_results=pool)
        stages["chroma_full"].append(t.ms)
        with Timer() as t:
            collection.query(query_embeddings=[qvec], n_results=pool, include=["distances"])
        stages["chroma_ids"].append(t.ms)
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
        clear(sentences=False)
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

    quant = None if "--no-quantized" in argv else quantized(assistant, qs)
    onnx_part = None if "--no-onnx" in argv else onnx_runtime(assistant, qs)

    e50 = p50(stages["embed"])
    labels = [
        ("embed", "query embedding (one forward pass)"),
        ("as_retriever", "`VectorStoreIndex.as_retriever()` built per call in `Retriever.dense`"),
        ("dense_li", f"llama-index dense retrieve, top {pool}, vector cached (retriever + Chroma + nodes)"),
        ("chroma_full", "  same Chroma query, direct (documents + metadatas + distances)"),
        ("chroma_ids", "  same Chroma query, direct, ids + distances only"),
        ("bm25", f"BM25 top {pool} (bm25s, Danish stems)"),
        ("fuse", "reciprocal-rank fusion"),
        ("cands_cold", "sentence scoring, cold: embeds the candidate sentences"),
        ("cands_warm", "sentence scoring, warm: sentence vectors cached"),
        ("extract", "select sentences, citations"),
        ("ask_cold", "**whole `Assistant.ask`, cold caches**"),
        ("ask_warm", "**whole `Assistant.ask`, warm sentence cache**"),
    ]
    rows = [[label, fmt(p50(stages[key]), 2), fmt(p95(stages[key]), 2), f"{p50(stages[key]) / e50:.2f}×"]
            for key, label in labels]
    calls = np.mean([a["calls"] for a in per_ask])
    texts = np.mean([a["texts"] for a in per_ask])
    threads_table = thread_policies(qs[:20])
    body = [
        f"{len(qs)} questions ({', '.join(sets)}), one at a time, caches emptied per question; the ratio column is "
        "each stage's p50 against the query embedding's p50 (the unavoidable forward pass).",
        "",
        table(["stage", "p50 ms", "p95 ms", "p50 / query embedding"], rows),
        "",
        f"Model calls per cold `ask`: {calls:.1f} encode calls embedding {texts:.1f} texts on average (1 query; "
        "the rest are candidate sentences). The question is embedded once per ask: the second use in "
        "`_candidates` hits the query cache.",
        "",
        threads_table,
    ]
    if quant:
        body += ["", quant]
    if onnx_part:
        body += ["", onnx_part]
    body += ["", "Top of the cProfile by own time (whole asks, cold caches):", "", "```",
             _trim(top_own.getvalue()), "```"]
    report("profile", "Profile of the query path", "\n".join(body), write="--no-write" not in argv)


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import torch  # first: assistant.embedding sets OMP_WAIT_POLICY=PASSIVE unless OpenMP is already loaded
from assistant.embedding import Embedder
cores = int(sys.argv[3])
e = Embedder(sys.argv[2])
qs = json.loads(sys.stdin.read())
out = {"1": [], "all": []}
for _ in range(2):
    for n, key in ((1, "1"), (cores, "all")):
        torch.set_num_threads(n)
        e._encode(["query: warm up"], 1)
        for q in qs:
            t = time.perf_counter()
            e._encode(["query: " + q], 32)
            out[key].append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""


def thread_policies(qs: list[str]) -> str:
    """One query embedding with 1 thread vs all cores, under libgomp's default (spinning) and passive waiting.

    OMP_WAIT_POLICY is read when torch's OpenMP runtime loads, so each policy runs in a new process; inside a
    process the thread counts alternate, so the ratio column compares like with like.
    """
    import os
    import subprocess

    from common import model_dir

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rows = []
    for label, policy in (("libgomp's default (threads spin while waiting)", None),
                          ("`OMP_WAIT_POLICY=PASSIVE` (the Embedder's setting)", "PASSIVE")):
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                                  "OMP_WAIT_POLICY")}
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(model_dir()), str(cores)],
                             input=json.dumps(qs), capture_output=True, text=True, env=env, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        one, every = got["1"], got["all"]
        rows.append([label, fmt(p50(one), 1), fmt(p95(one), 1), fmt(p50(every), 1), fmt(p95(every), 1),
                     f"**{p50(every) / p50(one):.2f}×**"])
    return "\n".join([
        f"One query embedding, torch threads 1 vs {cores} (all cores: the Embedder's default), {len(qs)} questions "
        "× 2 rounds per setting, each OpenMP wait policy in its own process:",
        "",
        table(["OpenMP wait policy", "1 thread p50 ms", "1 thread p95 ms", f"{cores} threads p50 ms",
               f"{cores} threads p95 ms", f"p50 ratio {cores} / 1"], rows),
    ])


def _trim(listing: str) -> str:
    lines = [ln.replace(str(REPO) + "/", "").replace(".venv/lib/python3.11/site-packages/", "")
             for ln in listing.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return "\n".join(lines[start:start + 13])


def quantized(assistant, qs: list[str]) -> str:
    """int8 dynamic quantization of the Linear layers: speed and retrieval agreement with fp32."""
    import copy

    import torch

    embedder = assistant.embedder
    model32 = embedder._model
    with warnings.catch_warnings():  # torch.ao.quantization warns that it moves to torchao; it still works here
        warnings.simplefilter("ignore")
        model8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model32), {torch.nn.Linear},
                                                        dtype=torch.qint8)
    chunks = list(assistant.retriever.chunks.values())
    from ingest.chunking import embed_text

    texts = [embedder.passage_prefix + embed_text(c) for c in chunks]
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
        ["fp32 (current)", fmt(p50(timing["fp32"]), 1), fmt(p95(timing["fp32"]), 1), "1.00×",
         fmt(len(texts) / t32.seconds, 1), f"{hit(top32):.3f}", "", ""],
        ["int8 dynamic (Linear layers)", fmt(p50(timing["int8"]), 1), fmt(p95(timing["int8"]), 1),
         f"{p50(timing['int8']) / p50(timing['fp32']):.2f}×", fmt(len(texts) / t8.seconds, 1),
         f"{hit(top8):.3f}", f"{overlap:.3f} / {top1:.3f}", f"{cos:.4f}"],
    ]
    return "\n".join([
        "int8 dynamic quantization (`torch.ao.quantization.quantize_dynamic`), same process, dense-only top-6 over "
        f"the {len(chunks)} corpus chunks, each model with its own chunk vectors:",
        "",
        table(["model", "query p50 ms", "query p95 ms", "p50 ratio", "chunks/s (batch 32)",
               "dev hit@6 (expected source/section)", "top-6 overlap / top-1 same vs fp32", "mean cos(fp32, int8)"],
              rows),
    ])


ORT_CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[2] + "/tokenizer.json")
tok.enable_truncation(512)
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
sess = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
enc = tok.encode("query: " + sys.argv[3])
ids = np.array([enc.ids], dtype=np.int64); mask = np.array([enc.attention_mask], dtype=np.int64)
h = sess.run(None, {"ids": ids, "mask": mask})[0]
v = h.mean(1)[0]; v /= np.linalg.norm(v)
print(time.perf_counter() - t0)
"""

ST_CHILD = r"""
import sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[2], device="cpu", local_files_only=True)
m.encode(["query: " + sys.argv[3]], normalize_embeddings=True)
print(time.perf_counter() - t0)
"""


def onnx_runtime(assistant, qs: list[str]) -> str | None:
    """The fp32 model exported to ONNX and run by onnxruntime, against sentence-transformers on torch."""
    import os
    import subprocess

    import torch

    try:
        import onnx  # noqa: F401 - only torch.onnx.export needs it
    except ImportError:
        return ("ONNX Runtime: not measured here (the export needs `pip install onnx`; see the docstring of "
                "bench/profile_query.py).")
    import onnxruntime as ort

    from common import model_dir

    embedder = assistant.embedder
    st = embedder._model
    path = CACHE / "e5-small-fp32.onnx"
    if not path.exists():
        class Encoder(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, ids, mask):
                return self.inner(input_ids=ids, attention_mask=mask).last_hidden_state

        sample = st[0].tokenizer(["query: eksempel"], return_tensors="pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Encoder(st[0].auto_model).eval(), (sample["input_ids"], sample["attention_mask"]),
                              str(path), input_names=["ids", "mask"], output_names=["hidden"],
                              dynamic_axes={"ids": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"},
                                            "hidden": {0: "b", 1: "s"}}, opset_version=17, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = st[0].tokenizer

    def ort_encode(texts: list[str]) -> np.ndarray:
        enc = tokenizer(texts, padding=True, truncation=True, max_length=st.max_seq_length, return_tensors="np")
        hidden = session.run(None, {"ids": enc["input_ids"].astype(np.int64),
                                    "mask": enc["attention_mask"].astype(np.int64)})[0]
        mask = enc["attention_mask"][..., None].astype(np.float32)
        v = (hidden * mask).sum(1) / mask.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    timing: dict[str, list[float]] = {"torch": [], "ort": []}
    cosines = []
    for q in qs:
        text = [embedder.query_prefix + q]
        with Timer() as t:
            a = st.encode(text, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        timing["torch"].append(t.ms)
        with Timer() as t:
            b = ort_encode(text)
        timing["ort"].append(t.ms)
        cosines.append(float(a[0] @ b[0]))
    from ingest.chunking import embed_text

    texts = [embedder.passage_prefix + embed_text(c) for c in assistant.retriever.chunks.values()]
    with Timer() as tt:
        c_torch = np.asarray(st.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False))
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    c_ort = np.empty_like(c_torch)
    with Timer() as to:
        for s in range(0, len(order), 32):
            idx = order[s:s + 32]
            c_ort[idx] = ort_encode([texts[i] for i in idx])
    passage_cos = float(np.min(np.sum(c_torch * c_ort, axis=1)))

    cold: dict[str, list[float]] = {"torch": [], "ort": []}
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["OMP_NUM_THREADS"] = "1"
    for _ in range(3):
        for name, script, args in (("torch", ST_CHILD, [str(path), str(model_dir()), qs[0]]),
                                   ("ort", ORT_CHILD, [str(path), str(model_dir()), qs[0]])):
            out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                                 check=True)
            cold[name].append(float(out.stdout.strip().splitlines()[-1]))
    from statistics import median

    rows = [
        ["sentence-transformers on torch (current)", fmt(p50(timing["torch"]), 1), fmt(p95(timing["torch"]), 1),
         "1.00×", fmt(len(texts) / tt.seconds, 1), fmt(median(cold["torch"]), 2), ""],
        ["onnxruntime, same fp32 weights", fmt(p50(timing["ort"]), 1), fmt(p95(timing["ort"]), 1),
         f"**{p50(timing['ort']) / p50(timing['torch']):.2f}×**", fmt(len(texts) / to.seconds, 1),
         fmt(median(cold["ort"]), 2), f"{min(cosines):.6f} / {passage_cos:.6f}"],
    ]
    return "\n".join([
        "The same fp32 model exported to ONNX (torch.onnx.export, opset 17) and run by onnxruntime with the same "
        "tokenizer and mean pooling, against sentence-transformers on torch, same process and threads, alternating "
        "per question. \"New process\" is a fresh interpreter's time to its first query embedding (imports + load "
        "+ one forward pass; 1 thread; median of 3).",
        "",
        table(["runtime", "query p50 ms", "query p95 ms", "p50 ratio", "chunks/s (batch 32)",
               "new process to first embedding, s", "min cos vs torch (queries / chunks)"], rows),
    ])


if __name__ == "__main__":
    main(sys.argv[1:])
