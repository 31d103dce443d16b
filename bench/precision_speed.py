"""fp32 and int8 against today's fp32 path: query embedding, answers, `ask` and `serve` in new processes, ingest.

    .venv/bin/python bench/precision_speed.py [--base-code DIR] [--repeats N] [--pages 150] [--no-serve]
                                              [--no-pdf] [--no-write] [--threads N]

In this process, rotating the order per question: one query through today's fp32 path (178cb93's: the plain
fp32 file, optimized at load, and the HF tokenizer), this tree's fp32 (the run-time copy and the query
tokenizer) and int8 (no cache: the encoder itself); then every dev question answered by an Assistant for each
(today's on this tree's code with today's encoder swapped in; fp32 and int8 indexes; p50/p95 of `ask`). In new
processes, in rotating rounds: `handbook ask` (until it exits), `handbook serve` (until the chat's port
answers, which it opens after loading model and index) and `handbook ingest` of the generated 150-page PDF into
a fresh data dir, each as "today" (the code of --base-code, default a `git archive` of 178cb93, with fp32) and
as now (this tree, fp32 and int8); peak RSS from the kernel. Targets of issue 13: query embedding p50 <= 0.4x,
answer p95 <= 0.5x, ask and serve <= 0.5x today's time; peak RSS serve <= 700 MB, ask <= 600 MB, ingest of the
150-page PDF <= 1.2 GB.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    CACHE,
    REPO,
    fmt,
    free_port,
    git_archive,
    hwm_mb,
    model_dir,
    p50,
    p95,
    process_tree,
    questions,
    report,
    run_to_exit,
    stop,
    table,
    threads_from_argv,
    verdict,
    wait_http,
)

TARGETS = {"query": 0.4, "answer": 0.5, "ask": 0.5, "serve": 0.5}
RSS_MB = {"serve": 700, "ask": 600, "ingest": 1229}
BASE_COMMIT = "178cb93"
def base_code(argv: list[str]) -> Path:
    """Today's code: --base-code DIR, or a `git archive` of BASE_COMMIT kept in .cache/bench."""
    if "--base-code" in argv:
        return Path(argv[argv.index("--base-code") + 1]).resolve()
    return git_archive(BASE_COMMIT)


def home_for(precision: str) -> Path:
    """A data dir with the bundled corpus embedded in this precision, its models linked to the bench model."""
    from assistant.settings import DEFAULT_MODEL, load_settings
    from ingest.run import ingest_paths

    home = CACHE / f"home-{precision}"
    target = home / "models" / DEFAULT_MODEL
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(model_dir(), target_is_directory=True)
    report_ = ingest_paths([], load_settings({}, home=home, embed_precision=precision))
    assert not report_.errors, report_.errors
    return home


def env_for(code: Path, home: Path, precision: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    return env | {"PYTHONPATH": str(code), "HANDBOOK_HOME": str(home), "HANDBOOK_EMBED_PRECISION": precision,
                  "HANDBOOK_LOG_ENABLED": "0"}


def run_serve(env: dict[str, str], cwd: Path, timeout: float = 300) -> tuple[float, float]:
    """(seconds until the chat's port answers, peak RSS MB of serve and its children)."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "handbook", "serve", "--port", str(port)], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout, proc)
        seconds = time.perf_counter() - start
        time.sleep(1.0)
        peak = sum(hwm_mb(pid) for pid in process_tree(proc.pid))
    finally:
        stop(proc)
    return seconds, peak


SIDES = ("today", "fp32", "int8")  # 178cb93's fp32 path, and this tree's two precisions


def _today_encoder():
    """178cb93's query path in this process: the plain fp32 file, optimized at load, and the HF tokenizer."""
    from assistant.model.onnx_runtime import OnnxEncoder

    encoder = OnnxEncoder(model_dir(), optimized=False)
    encoder._tokens.light = None
    return encoder


def _cells(values: dict[str, float], digits: int, unit: str) -> tuple[str, str, str]:
    """now/today ratios for fp32 and int8, and the absolute values."""
    return (f"**{values['fp32'] / values['today']:.2f}×**", f"**{values['int8'] / values['today']:.2f}×**",
            f"{fmt(values['fp32'], digits)} / {fmt(values['int8'], digits)} / {fmt(values['today'], digits)} {unit}")


def _target(values: dict[str, float], limit: float, ratio: bool = True) -> str:
    ok = {s: (values[s] / values["today"] if ratio else values[s]) <= limit for s in ("fp32", "int8")}
    return (f"≤ {limit}{'×' if ratio else ' MB'}: fp32 {verdict(ok['fp32'])}, int8 {verdict(ok['int8'])}")


def in_process(repeats: int) -> list[list[str]]:
    """Query embedding (the encoders alone) and full answers, today's fp32 path and now's fp32 and int8, rotating
    the order per question in this process."""
    from assistant.model import embedding
    from assistant.model.onnx_runtime import OnnxEncoder
    from assistant.model.quantize import int8_file
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings

    qs = questions("dev")
    encoders = {"today": _today_encoder(), "fp32": OnnxEncoder(model_dir()),
                "int8": OnnxEncoder(model_dir(), onnx_path=int8_file(model_dir()))}
    times: dict[str, list[float]] = {s: [] for s in SIDES}
    for enc in encoders.values():
        enc.encode(["query: warm up"], 1)
    for r in range(repeats):
        for i, q in enumerate(qs):
            k = (i + r) % 3
            for name in SIDES[k:] + SIDES[:k]:
                start = time.perf_counter()
                encoders[name].encode(["query: " + q], 1)
                times[name].append((time.perf_counter() - start) * 1000)
    assistants = {}
    for side in SIDES:  # each its own Embedder: the process-wide cache would share one between today and fp32
        embedding._embedders.clear()
        precision = "int8" if side == "int8" else "fp32"
        assistants[side] = Assistant(load_settings({}, home=home_for(precision), embed_precision=precision))
    assistants["today"].embedder._model = _today_encoder()
    answers: dict[str, list[float]] = {s: [] for s in SIDES}
    for a in assistants.values():
        a.ask("warm up: hvad er et partnerskab?")
    for i, q in enumerate(qs):
        for name in SIDES[i % 3:] + SIDES[:i % 3]:
            answers[name].append(assistants[name].ask(q).timings_ms["total"])
    q50 = {s: p50(times[s]) for s in SIDES}
    a95 = {s: p95(answers[s]) for s in SIDES}
    a50 = {s: p50(answers[s]) for s in SIDES}
    return [
        ["query embedding p50 (the encoder, one dev question)", *_cells(q50, 1, "ms"), _target(q50, TARGETS["query"])],
        ["full extractive answer p95 (`Assistant.ask`, 74 dev questions)", *_cells(a95, 1, "ms"),
         _target(a95, TARGETS["answer"])],
        ["  full extractive answer p50", *_cells(a50, 1, "ms"), ""],
    ]


def new_processes(argv: list[str], repeats: int, pages: int) -> list[list[str]]:
    """ask, serve and ingest of the long PDF: today's code on fp32 against this tree on fp32 and int8, rotating."""
    from ingest_speed import long_pdf

    code = {"today": base_code(argv), "fp32": REPO, "int8": REPO}
    precision = {"today": "fp32", "fp32": "fp32", "int8": "int8"}
    homes = {side: home_for(precision[side]) for side in SIDES}
    question = questions("dev")[0]
    pdf = long_pdf(pages) if "--no-pdf" not in argv else None
    results: dict[str, dict[str, list[tuple[float, float]]]] = {k: {s: [] for s in SIDES}
                                                                for k in ("ask", "serve", "ingest")}
    scratch = Path(tempfile.mkdtemp(prefix="bench-precision-"))
    try:
        for i in range(repeats):
            print(f"new processes: round {i + 1}/{repeats}", flush=True)
            for side in SIDES[i % 3:] + SIDES[:i % 3]:
                env = env_for(code[side], homes[side], precision[side])
                results["ask"][side].append(run_to_exit([sys.executable, "-m", "handbook", "ask", question],
                                                        env, code[side]))
                if "--no-serve" not in argv:
                    results["serve"][side].append(run_serve(env, code[side]))
                if pdf is not None and i == 0:  # once per side: each takes minutes on a busy machine
                    home = scratch / f"{side}-{i}"
                    (home / "models").mkdir(parents=True)
                    (home / "models" / "multilingual-e5-small").symlink_to(model_dir(), target_is_directory=True)
                    results["ingest"][side].append(run_to_exit(
                        [sys.executable, "-m", "handbook", "ingest", str(pdf)], env | {"HANDBOOK_HOME": str(home)},
                        code[side]))
                    shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    labels = {"ask": "`handbook ask` one question, new process (until it exits)",
              "serve": "`handbook serve` until the chat's port answers",
              "ingest": f"`handbook ingest` of the {pages}-page PDF, new process, fresh data dir"}
    for kind, label in labels.items():
        if not results[kind]["today"]:
            continue
        seconds = {s: p50([t for t, _ in results[kind][s]]) for s in SIDES}
        rss = {s: p50([m for _, m in results[kind][s]]) for s in SIDES}
        rows.append([label, *_cells(seconds, 2, "s"), _target(seconds, TARGETS[kind]) if kind in TARGETS else ""])
        rows.append([f"  peak RSS of {kind}", *_cells(rss, 0, "MB"), _target(rss, RSS_MB[kind], ratio=False)])
    return rows


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 3
    pages = int(argv[argv.index("--pages") + 1]) if "--pages" in argv else 150
    from assistant.model.quantize import export_int8

    export_int8(model_dir())  # a marker check once it exists
    model_dir()  # and the run-time copies `handbook setup` makes
    load = [os.getloadavg()[0]]
    headers = ["what", "fp32 now / today", "int8 now / today", "absolute (fp32 now / int8 now / today)", "target"]
    rows = in_process(1)
    print(table(headers, rows), flush=True)
    load.append(os.getloadavg()[0])
    rows += new_processes(argv, repeats, pages)
    load.append(os.getloadavg()[0])
    body = "\n".join([
        f"\"today\" is the code of {BASE_COMMIT} (fp32, the only precision then; in this process: the plain fp32 "
        "file, optimized at load, and the HF tokenizer) on an fp32 index of the same corpus; \"now\" is this tree with "
        "fp32 (the default; its run-time copy and the query tokenizer) and with int8 "
        "(`HANDBOOK_EMBED_PRECISION=int8`). In-process rows "
        "rotate the three per question; new-process rows are medians of "
        f"{repeats} rotating rounds (the PDF ingest: one round). The model folder already holds every export, so "
        "no row includes set-up work. "
        f"Load average {load[0]:.1f} at the start, {load[1]:.1f} after the in-process rows, {load[2]:.1f} at the end.",
        "",
        table(headers, rows),
    ])
    report("precision_speed", "fp32 and int8 against today's fp32 path", body, write="--no-write" not in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
