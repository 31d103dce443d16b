"""Cold start: `handbook ask` and `handbook serve` from a new process, and the peak memory of serve.

    .venv/bin/python bench/cold_start.py [--repeats N] [--no-serve] [--no-write] [--threads N]

Baselines, run alternately with ours so they see the same load: a bare interpreter (`python -c pass`) and
`python -c "import torch"` (the least a process that embeds with torch must do; kept as the unit since the first
runs, though queries now run on onnxruntime without torch). The same commands with HANDBOOK_EMBED_BACKEND=torch
(sentence-transformers, the path before 5c8fd17) run in the same rounds. `handbook ask` is timed until it exits
(model and index loaded, one question answered and printed); `handbook serve --port N` until its HTTP port
answers (it loads the model and index before it listens). Peak RSS comes from the kernel (ru_maxrss via a small
launcher for the processes that exit, VmHWM for serve, plus any children). Targets: < 10 s each, serve < 1.5 GB.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from common import (
    VENV_BIN,
    fmt,
    free_port,
    hwm_mb,
    indexed_home,
    median,
    model_dir,
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

TARGET_S = 10.0
TARGET_RSS_MB = 1536
HEAVY = ("torch", "sentence_transformers", "transformers", "sklearn", "llama_index.core", "onnxruntime",
         "chromadb", "tokenizers")

# `handbook ask` in-process, reporting at exit which heavy packages it imported (run once, not timed)
IMPORTED = r"""
import atexit, sys
heavy = sys.argv[1].split(",")
atexit.register(lambda: sys.stderr.write("\nIMPORTED " + ",".join(m for m in heavy if m in sys.modules) + "\n"))
from handbook.cli import main
sys.argv = ["handbook", *sys.argv[2:]]
sys.exit(main())
"""


def imported_by_ask(env: dict[str, str], question: str) -> list[str]:
    """The heavy packages a `handbook ask` process imports."""
    out = subprocess.run([sys.executable, "-c", IMPORTED, ",".join(HEAVY), "ask", question], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = next((ln for ln in reversed(out.stderr.splitlines()) if ln.startswith("IMPORTED")), "IMPORTED ")
    return [m for m in line.split(" ", 1)[1].split(",") if m]


def run_serve(env: dict[str, str], timeout: float = 300) -> tuple[float, float]:
    """(seconds until the chat's port answers, peak RSS in MB of serve and its children)."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([str(VENV_BIN / "handbook"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout, proc)
        seconds = time.perf_counter() - start
        time.sleep(1.0)  # let the first page's assets settle before reading the high-water mark
        peak = sum(hwm_mb(pid) for pid in process_tree(proc.pid))
    finally:
        stop(proc)
    return seconds, peak


def serve_available() -> bool:
    out = subprocess.run([str(VENV_BIN / "handbook"), "--help"], capture_output=True, text=True)
    return out.returncode == 0 and " serve " in out.stdout


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 3
    settings = indexed_home()
    env = dict(os.environ, HANDBOOK_HOME=str(settings.home), HANDBOOK_EMBED_MODEL=str(model_dir()),
               HANDBOOK_LOG_ENABLED="0")
    for name in ("HANDBOOK_CHROMA_URL", "HANDBOOK_RETRIEVAL", "HANDBOOK_TOP_K", "HANDBOOK_LLM",
                 "HANDBOOK_EMBED_BACKEND"):
        env.pop(name, None)
    env_torch = dict(env, HANDBOOK_EMBED_BACKEND="torch")
    imported = {"auto": imported_by_ask(env, questions()[0]), "torch": imported_by_ask(env_torch, questions()[0])}
    py = sys.executable
    question = questions()[0]
    cases = {
        "bare": [py, "-c", "pass"],
        "torch": [py, "-c", "import torch"],
        "ask": [str(VENV_BIN / "handbook"), "ask", question],
        "ask_torch": [str(VENV_BIN / "handbook"), "ask", question],
        # what the cold start is made of: the heavy imports, each alone in a new process
        "imp_st": [py, "-c", "import sentence_transformers"],
        "imp_li": [py, "-c", "import llama_index.core, llama_index.vector_stores.chroma"],
        "imp_chroma": [py, "-c", "import chromadb"],
        "imp_ort": [py, "-c", "import onnxruntime, tokenizers"],
        "imp_answering": [py, "-c", "import assistant.pipeline"],
    }
    with_serve = "--no-serve" not in argv and serve_available()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in [*cases, "serve", "serve_torch"]}
    for i in range(repeats):
        print(f"round {i + 1}/{repeats}", flush=True)
        for name, cmd in cases.items():
            results[name].append(run_to_exit(cmd, env_torch if name.endswith("_torch") else env))
        if with_serve:
            results["serve"].append(run_serve(env))
            results["serve_torch"].append(run_serve(env_torch))

    def med(name: str, j: int) -> float:
        return median(r[j] for r in results[name]) if results[name] else float("nan")

    t_torch, m_torch, t_bare = med("torch", 0), med("torch", 1), med("bare", 0)
    rows = [
        ["bare interpreter (`python -c pass`)", f"{t_bare / t_torch:.2f}×", fmt(t_bare, 2), fmt(med("bare", 1), 0),
         ""],
        ["**`python -c \"import torch\"` (baseline)**", "1.00×", fmt(t_torch, 2), fmt(m_torch, 0), ""],
        ["`handbook ask` one question", f"{med('ask', 0) / t_torch:.2f}×", fmt(med("ask", 0), 2),
         fmt(med("ask", 1), 0), f"< {TARGET_S:.0f} s: {verdict(med('ask', 0) < TARGET_S)}"],
        ["  same with `HANDBOOK_EMBED_BACKEND=torch` (before 5c8fd17)", f"{med('ask_torch', 0) / t_torch:.2f}×",
         fmt(med("ask_torch", 0), 2), fmt(med("ask_torch", 1), 0), ""],
    ]
    if with_serve:
        rows.append(["`handbook serve` until the port answers", f"{med('serve', 0) / t_torch:.2f}×",
                     fmt(med("serve", 0), 2), fmt(med("serve", 1), 0),
                     f"< {TARGET_S:.0f} s: {verdict(med('serve', 0) < TARGET_S)}; "
                     f"< {TARGET_RSS_MB / 1024:.1f} GB: {verdict(med('serve', 1) < TARGET_RSS_MB)}"])
        rows.append(["  same with `HANDBOOK_EMBED_BACKEND=torch`", f"{med('serve_torch', 0) / t_torch:.2f}×",
                     fmt(med("serve_torch", 0), 2), fmt(med("serve_torch", 1), 0), ""])
    parts = [("imp_answering", "`import assistant.pipeline` (the query path's own imports)"),
             ("imp_st", "`import sentence_transformers` (pulls in torch, transformers, scikit-learn)"),
             ("imp_li", "`import llama_index.core` + its Chroma store"),
             ("imp_chroma", "`import chromadb`"),
             ("imp_ort", "`import onnxruntime, tokenizers`")]
    for key, label in parts:
        rows.append([f"  part: {label}", f"{med(key, 0) / t_torch:.2f}×", fmt(med(key, 0), 2), fmt(med(key, 1), 0),
                     ""])
    body = "\n".join([
        f"New processes, medians of {repeats} alternating rounds; the indexed bundled corpus, the model already "
        "prepared on disk (a first `handbook setup` that builds the model is not a cold start). Ratios are "
        "against `python -c \"import torch\"` measured in the same rounds.",
        "",
        table(["process", "time ratio", "seconds", "peak RSS MB", "target"], rows),
        "",
        f"Heavy packages a `handbook ask` process imports: {', '.join(imported['auto']) or 'none of ' + str(HEAVY)} "
        f"(with `HANDBOOK_EMBED_BACKEND=torch`: {', '.join(imported['torch'])}).",
        *([] if with_serve else ["", "`handbook serve` was not measured: the chat (ui/) is not available here."]),
    ])
    report("cold_start", "Cold start and memory", body, write="--no-write" not in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
