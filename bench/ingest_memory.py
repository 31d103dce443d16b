"""Peak memory of embedding a long document's chunks: batches bounded by characters against 32 at a time.

    .venv/bin/python bench/ingest_memory.py [--pages 150] [--precisions fp32,int8] [--no-write] [--threads N]

Each configuration runs in a new process (peak RSS is per process): the generated PDF's chunk texts, longest
first, through `OnnxEncoder.encode_with_tokens` (what ingest runs) in batches of at most 32 texts and, for "bounded",
at most `BATCH_CHARS` characters (assistant/model/embedding.py); with the onnxruntime arena on (the default) and
off. The baseline is the unbounded batch of 32 with the arena on, in the same run.
"""
from __future__ import annotations

import os
import subprocess
import sys

from common import model_dir, report, table, threads_from_argv

CHILD = r"""
import resource, sys, time
from pathlib import Path
from assistant.model.onnx_runtime import OnnxEncoder
from assistant.model.quantize import int8_file
from ingest.chunking import chunk_sections
from ingest.loaders import load
pdf, model, precision, arena, chars = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
texts = sorted(("passage: " + c.indexed_text for c in chunk_sections(load(Path(pdf), "long.pdf"), "x")),
               key=len, reverse=True)
encoder = OnnxEncoder(model, onnx_path=int8_file(model) if precision == "int8" else None, arena=arena)
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start, i = time.perf_counter(), 0
while i < len(texts):
    n = min(32, max(1, chars // len(texts[i])))
    encoder.encode_with_tokens(texts[i:i + n])
    i += n
print(len(texts), loaded, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - start)
"""


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    from ingest_speed import long_pdf

    from assistant.model.embedding import BATCH_CHARS
    from assistant.model.quantize import export_int8

    pages = int(argv[argv.index("--pages") + 1]) if "--pages" in argv else 150
    precisions = argv[argv.index("--precisions") + 1].split(",") if "--precisions" in argv else ["fp32", "int8"]
    pdf, model = long_pdf(pages), model_dir()
    if "int8" in precisions:
        export_int8(model)
    configs = [("32 a batch (before)", "1", "100000000"),
               (f"bounded ({BATCH_CHARS:,} chars)", "1", str(BATCH_CHARS)),
               ("bounded, arena off", "0", str(BATCH_CHARS))]
    rows = []
    for precision in precisions:
        base = None
        for label, arena, chars in configs:
            out = subprocess.run([sys.executable, "-c", CHILD, str(pdf), str(model), precision, arena, chars],
                                 capture_output=True, text=True, env=dict(os.environ), check=True)
            n, loaded, peak, seconds = (float(x) for x in out.stdout.split())
            base = base or (peak, seconds)
            rows.append([precision, label, f"{peak:.0f}", f"{peak / base[0]:.2f}×", f"{loaded:.0f}",
                         f"{n / seconds:.1f}", f"{base[1] / seconds:.2f}×"])
            print(rows[-1], flush=True)
    body = "\n".join([
        f"The {pages}-page generated PDF's chunks ({int(n)}), longest first, through the encoder as ingest runs it, "
        "one new process per row; peak RSS of the process (the model's load is its floor: \"after load\").",
        "",
        table(["precision", "batches", "peak RSS MB", "peak / before", "after load MB", "chunks/s",
               "throughput / before"], rows),
    ])
    report("ingest_memory", "Ingest memory", body, write="--no-write" not in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
