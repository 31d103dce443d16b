"""int8 against today's fp32 path: query embedding, answers, `ask` and `serve` in new processes, ingest memory.

    .venv/bin/python bench/precision_speed.py [--base-code DIR] [--repeats N] [--pages 150] [--no-serve]
                                              [--no-pdf] [--no-write] [--threads N]

In this process, alternately: one query through the fp32 and the int8 ONNX model (no cache: the encoder
itself), and every dev question answered by an Assistant on an fp32 index and one on an int8 index (p50/p95 of
`ask`). In new processes, in alternating rounds: `handbook ask` (until it exits), `handbook serve` (until the
chat's port answers, which it opens after loading model and index) and `handbook ingest` of the generated
150-page PDF into a fresh data dir, each as "today" (the code of --base-code, default a `git archive` of
178cb93, with fp32) and as now (this tree, int8); peak RSS from the kernel. Targets of issue 13: query
embedding p50 <= 0.4x, answer p95 <= 0.5x, ask and serve <= 0.5x today's time; peak RSS serve <= 700 MB,
ask <= 600 MB, ingest of the 150-page PDF <= 1.2 GB.
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
    hwm_mb,
    model_dir,
    p50,
    p95,
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
    path = CACHE / f"code-{BASE_COMMIT}"
    if not (path / "assistant").is_dir():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", BASE_COMMIT], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive.stdout, check=True)
    return path


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
        peak = sum(hwm_mb(pid) for pid in _tree(proc.pid))
    finally:
        stop(proc)
    return seconds, peak


def _tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo.extend(parents.get(out[-1], []))
    return out


def in_process(repeats: int) -> list[list[str]]:
    """Query embedding (the encoders alone) and full answers, fp32 vs int8, alternating in this process."""
    from assistant.model.onnx_runtime import OnnxEncoder
    from assistant.model.quantize import int8_file
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings

    qs = questions("dev")
    encoders = {"fp32": OnnxEncoder(model_dir()), "int8": OnnxEncoder(model_dir(), onnx_path=int8_file(model_dir()))}
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for enc in encoders.values():
        enc.encode(["query: warm up"], 1)
    for _ in range(repeats):
        for q in qs:
            for name in ("fp32", "int8") if len(times["fp32"]) % 2 else ("int8", "fp32"):
                start = time.perf_counter()
                encoders[name].encode(["query: " + q], 1)
                times[name].append((time.perf_counter() - start) * 1000)
    assistants = {p: Assistant(load_settings({}, home=home_for(p), embed_precision=p)) for p in ("fp32", "int8")}
    answers: dict[str, list[float]] = {"fp32": [], "int8": []}
    for name, a in assistants.items():
        a.ask("warm up: hvad er et partnerskab?")
    for i, q in enumerate(qs):
        for name in ("fp32", "int8") if i % 2 else ("int8", "fp32"):
            answers[name].append(assistants[name].ask(q).timings_ms["total"])
    q_ratio = p50(times["int8"]) / p50(times["fp32"])
    a_ratio = p95(answers["int8"]) / p95(answers["fp32"])
    return [
        ["query embedding p50 (the encoder, one dev question)", f"**{q_ratio:.2f}×**",
         f"{fmt(p50(times['int8']), 1)} vs {fmt(p50(times['fp32']), 1)} ms",
         f"≤ {TARGETS['query']}×: {verdict(q_ratio <= TARGETS['query'])}"],
        ["full extractive answer p95 (`Assistant.ask`, 74 dev questions)", f"**{a_ratio:.2f}×**",
         f"{fmt(p95(answers['int8']), 1)} vs {fmt(p95(answers['fp32']), 1)} ms "
         f"(p50 {fmt(p50(answers['int8']), 1)} vs {fmt(p50(answers['fp32']), 1)})",
         f"≤ {TARGETS['answer']}×: {verdict(a_ratio <= TARGETS['answer'])}"],
    ]


def new_processes(argv: list[str], repeats: int, pages: int) -> list[list[str]]:
    """ask, serve and ingest of the long PDF: today's code on fp32 against this tree on int8, alternating."""
    from ingest_speed import long_pdf

    code = {"today": base_code(argv), "now": REPO}
    precision = {"today": "fp32", "now": "int8"}
    homes = {side: home_for(precision[side]) for side in code}
    question = questions("dev")[0]
    pdf = long_pdf(pages) if "--no-pdf" not in argv else None
    results: dict[str, dict[str, list[tuple[float, float]]]] = {k: {"today": [], "now": []}
                                                                for k in ("ask", "serve", "ingest")}
    scratch = Path(tempfile.mkdtemp(prefix="bench-precision-"))
    try:
        for i in range(repeats):
            print(f"new processes: round {i + 1}/{repeats}", flush=True)
            for side in ("today", "now") if i % 2 == 0 else ("now", "today"):
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
        today, now = results[kind]["today"], results[kind]["now"]
        if not today:
            continue
        t_ratio = p50([s for s, _ in now]) / p50([s for s, _ in today])
        rss_now, rss_today = p50([m for _, m in now]), p50([m for _, m in today])
        target = f"≤ {TARGETS[kind]}×: {verdict(t_ratio <= TARGETS[kind])}" if kind in TARGETS else ""
        rows.append([label, f"**{t_ratio:.2f}×**", f"{fmt(p50([s for s, _ in now]), 2)} vs "
                     f"{fmt(p50([s for s, _ in today]), 2)} s", target])
        rows.append([f"  peak RSS of {kind}", f"{rss_now / rss_today:.2f}×", f"{rss_now:.0f} vs {rss_today:.0f} MB",
                     f"≤ {RSS_MB[kind]} MB: {verdict(rss_now <= RSS_MB[kind])}"])
    return rows


def main(argv: list[str]) -> None:
    threads_from_argv(argv)
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 3
    pages = int(argv[argv.index("--pages") + 1]) if "--pages" in argv else 150
    from assistant.model.quantize import export_int8

    export_int8(model_dir())  # a marker check once it exists
    load = os.getloadavg()
    rows = in_process(1)
    print(table(["what", "now / today", "absolute (now vs today)", "target"], rows), flush=True)
    rows += new_processes(argv, repeats, pages)
    body = "\n".join([
        f"\"now\" is this tree with the int8 model (`HANDBOOK_EMBED_PRECISION=int8`); \"today\" is the code of "
        f"{BASE_COMMIT} (fp32, the only precision then) on an fp32 index of the same corpus. In-process rows "
        "alternate the two per question; new-process rows are medians of "
        f"{repeats} alternating rounds (the PDF ingest: one round). The model folder already holds both exports, so "
        "no row includes set-up work (a first ingest after a format change also quantizes, ~2.6 GB once). "
        f"Load average at the start {load[0]:.1f}.",
        "",
        table(["what", "now / today", "absolute (now vs today)", "target"], rows),
    ])
    report("precision_speed", "int8 against today's fp32 path", body, write="--no-write" not in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
