"""fp32 with an int8 word-embedding table against plain fp32: file, load, memory, query time and closeness.

    .venv/bin/python bench/int8_table.py [--repeats N] [--threads N] [--no-write]

Both are the test model's ONNX exports (onnx/model.onnx and onnx/model.int8-table.onnx, made by
assistant/model/int8_table.py). In this process, alternating: the onnxruntime session load (the product's
session options), and one query through each encoder per dev question (the encoder alone, no cache). In new
processes, alternating rounds: import, load the encoder and embed one query, then report the settled RSS
(VmRSS after the query) and, through the small launcher of bench/common.py, the peak RSS and the seconds until
exit. Closeness: every question of evals/questions/*.jsonl as a query, and every chunk of the bundled corpus with
its sentence spans (`embed_passages_with_spans`, the ingest call), cosine of each row to plain fp32's; and how far
the scores move that answers compare (question x chunk, question x sentence span).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import LAUNCHER, REPO, fmt, model_dir, p50, report, table

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from assistant.model.onnx_runtime import OnnxEncoder
enc = OnnxEncoder(Path(sys.argv[2]), onnx_path=Path(sys.argv[3]))
enc.encode(["query: " + sys.argv[4]], 1)
rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1]
sys.stderr.write("SETTLED %s\n" % rss)
"""



def files() -> dict[str, Path]:
    from assistant.model.int8_table import export_table
    from assistant.model.onnx_runtime import onnx_file

    folder = model_dir()
    return {"fp32": onnx_file(folder), "int8 table": export_table(folder)}  # a marker check once it exists


def session_loads(paths: dict[str, Path], repeats: int) -> dict[str, list[float]]:
    """Seconds to open each model's onnxruntime session with the product's options, alternating."""
    import onnxruntime as ort

    from assistant.model.onnx_runtime import usable_threads

    options = ort.SessionOptions()
    options.intra_op_num_threads = usable_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    out: dict[str, list[float]] = {k: [] for k in paths}
    for i in range(repeats):
        for name in list(paths) if i % 2 == 0 else list(paths)[::-1]:
            start = time.perf_counter()
            session = ort.InferenceSession(str(paths[name]), options, providers=["CPUExecutionProvider"])
            out[name].append(time.perf_counter() - start)
            del session
    return out


def new_process(path: Path, question: str) -> tuple[float, float, float]:
    """(seconds until exit, peak RSS MB, settled RSS MB) of a fresh interpreter that loads path and embeds one query."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    cmd = [sys.executable, "-c", LAUNCHER, sys.executable, "-c", CHILD, str(REPO), str(model_dir()), str(path),
           question]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode != 0 or not lines[-1].startswith("LAUNCHER "):
        raise SystemExit(f"child failed: {proc.stderr[-2000:]}")
    settled = next(int(line.split()[1]) for line in lines if line.startswith("SETTLED "))
    _, seconds, kb = lines[-1].split()
    return float(seconds), int(kb) / 1024, settled / 1024


def corpus_chunks() -> list:
    from ingest.chunking import chunk_sections
    from ingest.loaders import load
    from ingest.run import bundled_corpus

    return [c for path in sorted(bundled_corpus().iterdir()) if path.is_file()
            for c in chunk_sections(load(path, path.name), path.name)]


def closeness(paths: dict[str, Path]) -> tuple[list[list[str]], dict[str, float]]:
    """Cosines of every question and chunk (and sentence span) to plain fp32, and how far the scores move."""
    from common import questions

    from assistant.model.embedding import Embedder
    from assistant.model.onnx_runtime import OnnxEncoder
    from ingest.vectors import sentence_spans

    sets = sorted(p.stem for p in (REPO / "evals" / "questions").glob("*.jsonl"))
    qs = questions(*sets)
    chunks = corpus_chunks()
    texts = [c.indexed_text for c in chunks]
    spans = [sentence_spans(c, t) for c, t in zip(chunks, texts)]
    rows: dict[str, tuple] = {}
    for name, path in paths.items():
        embedder = Embedder(model_dir(), backend="onnx", precision="fp32")
        embedder._model = OnnxEncoder(model_dir(), onnx_path=path)  # the file under test, whatever fp32_file picks
        q = embedder.embed_queries(qs)
        c, s = embedder.embed_passages_with_spans(texts, spans)
        rows[name] = (q, c, np.stack([v for d in s for _, v in sorted(d.items())]))
    base, ours = rows["fp32"], rows["int8 table"]
    cos = [np.sum(a * b, axis=1) for a, b in zip(base, ours)]
    chunk_scores = (base[0] @ base[1].T, ours[0] @ ours[1].T)
    span_scores = (base[0] @ base[2].T, ours[0] @ ours[2].T)
    same_top = float(np.mean(np.argmax(chunk_scores[0], 1) == np.argmax(chunk_scores[1], 1)))
    out = []
    for label, c in zip((f"{len(qs)} questions (all sets)", f"{len(texts)} corpus chunks",
                         f"{len(cos[2])} sentence spans"), cos):
        out.append([label, f"{c.min():.7f}", f"{c.mean():.7f}"])
    stats = {"chunk_delta_max": float(np.abs(chunk_scores[0] - chunk_scores[1]).max()),
             "chunk_delta_mean": float(np.abs(chunk_scores[0] - chunk_scores[1]).mean()),
             "span_delta_max": float(np.abs(span_scores[0] - span_scores[1]).max()),
             "span_delta_mean": float(np.abs(span_scores[0] - span_scores[1]).mean()),
             "same_top": same_top, "min": float(min(c.min() for c in cos))}
    return out, stats


def main(argv: list[str]) -> None:
    from common import questions

    from assistant.model.onnx_runtime import OnnxEncoder

    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 3
    load_avg = os.getloadavg()[0]
    paths = files()
    sizes = {k: p.stat().st_size / 1e6 for k, p in paths.items()}
    loads = session_loads(paths, 2 * repeats)
    encoders = {k: OnnxEncoder(model_dir(), onnx_path=p) for k, p in paths.items()}
    qs = questions("dev")
    times: dict[str, list[float]] = {k: [] for k in paths}
    for enc in encoders.values():
        enc.encode(["query: warm up"], 1)
    for i, q in enumerate(qs * repeats):
        for name in list(paths) if i % 2 == 0 else list(paths)[::-1]:
            start = time.perf_counter()
            encoders[name].encode(["query: " + q], 1)
            times[name].append((time.perf_counter() - start) * 1000)
    del encoders
    cold: dict[str, list[tuple[float, float, float]]] = {k: [] for k in paths}
    for i in range(repeats):
        for name in list(paths) if i % 2 == 0 else list(paths)[::-1]:
            cold[name].append(new_process(paths[name], qs[0]))
    close_rows, stats = closeness(paths)

    def row(label: str, values: dict[str, float], digits: int, unit: str) -> list[str]:
        a, b = values["int8 table"], values["fp32"]
        return [label, f"{fmt(a, digits)} {unit}", f"{fmt(b, digits)} {unit}", f"**{a / b:.2f}×**"]

    speed = [
        row("ONNX file", sizes, 0, "MB"),
        row("session load (onnxruntime, the product's options), median", {k: p50(v) for k, v in loads.items()}, 2, "s"),
        row(f"query embedding p50 (encoder alone, {len(qs)} dev questions x {repeats})",
            {k: p50(v) for k, v in times.items()}, 1, "ms"),
        row("new process: import, load, one query, until exit (median)",
            {k: p50([c[0] for c in v]) for k, v in cold.items()}, 2, "s"),
        row("  its peak RSS", {k: p50([c[1] for c in v]) for k, v in cold.items()}, 0, "MB"),
        row("  its settled RSS (after the query)", {k: p50([c[2] for c in v]) for k, v in cold.items()}, 0, "MB"),
    ]
    body = "\n".join([
        "The fp32 model with its word-embedding table (250,037 x 384) stored as int8, one symmetric scale per row, "
        "looked up and multiplied back to fp32 (`Gather` int8 -> `Cast` -> `Mul` by the row's scale); every other "
        "weight and all compute stay fp32 (`assistant/model/int8_table.py`, `onnx/model.int8-table.onnx`). "
        f"Same process and machine, alternating; {repeats} rounds (session loads: {2 * repeats}); 1 thread unless "
        f"`--threads`; load average at the start {load_avg:.1f}. `bench/int8_table.py`.",
        "",
        table(["what", "int8 table", "fp32 (model.onnx)", "ratio"], speed),
        "",
        "Closeness to plain fp32 (cosine of each row to the same row from model.onnx; queries with `query: `, chunks "
        "and their sentences as ingest embeds them):",
        "",
        table(["rows", "min cosine", "mean cosine"], close_rows),
        "",
        f"Scores that answers compare move by {stats['chunk_delta_mean']:.1e} on average and "
        f"{stats['chunk_delta_max']:.1e} at most (question x chunk), {stats['span_delta_mean']:.1e} / "
        f"{stats['span_delta_max']:.1e} (question x sentence span); the top chunk is the same for "
        f"{100 * stats['same_top']:.1f} % of the questions. For scale: int8 compute moved them by 2e-3 on average "
        "(docs/evals.md), and the refusal threshold's calibration interval is ±2.5e-3 wide.",
    ])
    report("int8_table", "fp32 with an int8 word-embedding table", body, write="--no-write" not in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
