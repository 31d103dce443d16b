"""Shared helpers for the benchmarks: the test model, an indexed home, timing, tables, docs/benchmarks.md.

Every benchmark runs its baseline in the same process (or right next to it) and reports ratios, because the
machines these run on are shared and noisy: an absolute millisecond figure says little, a ratio against a
baseline measured under the same load says more.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import functools
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

DOC = REPO / "docs" / "benchmarks.md"
CACHE = REPO / ".cache" / "bench"
VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------- model, settings, data

def model_dir() -> Path:
    """The prepared multilingual-e5-small (the same folder the tests use) with its ONNX export.

    Built once, then a marker check. A model given by path runs on onnxruntime only if its folder holds
    onnx/model.onnx, so the export is made here too (as `handbook setup` does for the default model): the
    benchmarks measure the product's path, not the torch fallback.
    """
    from assistant.model.build import prepare_e5_model
    from assistant.model.onnx_runtime import export_onnx
    from assistant.settings import DEFAULT_MODEL

    cache = Path(os.environ.get("HANDBOOK_TEST_MODEL_DIR", REPO / ".cache" / "test-model"))
    path = prepare_e5_model(cache / DEFAULT_MODEL)
    export_onnx(path)  # a marker check once it exists
    if os.environ.get("HANDBOOK_EMBED_PRECISION") == "int8":
        from assistant.model.quantize import export_int8

        export_int8(path)
    from assistant.model.embedding import _ensure_optimized

    _ensure_optimized(path)  # the run-time copies `handbook setup` makes (marker checks once they exist)
    return path


@functools.cache
def torch_model():
    """The same model on sentence-transformers/torch, loaded once (the ceiling and the comparison rows)."""
    from assistant.model.embedding import Embedder

    return Embedder(model_dir(), backend="torch")


def backend_note(embedder) -> str:
    """Which runtime an Embedder uses, for the benchmark's text."""
    return f"`{embedder.backend}` ({embedder.backend_reason})".replace(str(REPO) + "/", "")


def settings_for(home: Path, **options):
    from assistant.settings import load_settings

    precision = {k: v for k, v in os.environ.items() if k == "HANDBOOK_EMBED_PRECISION"}  # int8 or fp32 runs
    return load_settings(precision, home=home, embed_model=str(model_dir()), **options)


def indexed_home(name: str = "corpus-home"):
    """Settings for a home with the bundled corpus ingested, kept in .cache/bench (re-ingest is a no-op)."""
    from assistant.errors import IndexBusyError
    from ingest.run import ingest_paths

    settings = settings_for(CACHE / name)
    for _ in range(1200):  # another benchmark may be ingesting it right now: wait for it (up to 20 min)
        try:
            report = ingest_paths([], settings)
            break
        except IndexBusyError:
            time.sleep(1)
    else:
        raise SystemExit(f"{settings.home} stayed locked by another ingest")
    if report.errors:
        raise SystemExit(f"ingest failed: {report.errors}")
    return settings


def questions(*sets: str) -> list[str]:
    """Questions from evals/questions/<set>.jsonl (default: dev)."""
    out: list[str] = []
    for name in sets or ("dev",):
        for line in (REPO / "evals" / "questions" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out


def threads_from_argv(argv: list[str]) -> None:
    """Model threads for this benchmark (onnxruntime and torch/OpenMP); must run before either loads.

    Both runtimes read OMP_NUM_THREADS (onnxruntime through assistant.model.onnx_runtime.usable_threads). Default 1:
    these machines are shared, and with other busy processes every core made one forward pass 1.3-28x slower
    and mostly measured the neighbours (see the profile section of docs/benchmarks.md). `--threads N` pins N;
    `--threads 0` keeps the product's default (all cores).
    """
    n = argv[argv.index("--threads") + 1] if "--threads" in argv else "1"
    if n != "0":
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = n


threads_from_argv(sys.argv[1:])  # at import, before numpy/torch load their thread pools (import common first)


# ---------------------------------------------------------------- timing and statistics

class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        self.ms = self.seconds * 1000


def pct(values: Sequence[float], p: float) -> float:
    """Percentile with linear interpolation (p in 0..100)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def p50(values: Sequence[float]) -> float:
    return pct(values, 50)


def p95(values: Sequence[float]) -> float:
    return pct(values, 95)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}×" if base else "n/a"


def fmt(x: float, digits: int = 1) -> str:
    if x != x:  # NaN
        return "n/a"
    return f"{x:,.{digits}f}".replace(",", " ")


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


# ---------------------------------------------------------------- output

def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line describing the machine and the load it was under."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, AttributeError):
        pass
    load = ", load avg {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    versions = []
    for mod in ("onnxruntime", "torch", "chromadb", "sentence_transformers", "llama_index.core"):
        try:
            versions.append(f"{mod.split('.')[0]} {__import__(mod, fromlist=['__version__']).__version__}")
        except Exception:  # a missing module is just left out
            pass
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    return (f"{cpu}, {cores} cores{mem}{load}; Python {platform.python_version()}, {', '.join(versions)}; "
            f"OMP_NUM_THREADS={threads}")


def now() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section between <!-- bench:NAME --> markers in docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n## {title}\n\n_{now()} · {machine()}_\n\n{body.strip()}\n{end}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "benchmarks.md.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        DOC.write_text(text, encoding="utf-8")


def report(name: str, title: str, body: str, *, write: bool = True) -> None:
    print(f"\n## {title}\n\n{body.strip()}\n")
    if write:
        write_section(name, title, body)
        print(f"(written to {DOC.relative_to(REPO)}, section '{name}')")


# ---------------------------------------------------------------- processes and servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> float:
    """Poll url until it answers (any HTTP status); returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.perf_counter() - start
        except urllib.error.HTTPError:
            return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


@contextmanager
def chroma_server(path: Path, port: int | None = None, timeout: float = 120) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1; yields its URL and stops it at the end."""
    port = port or free_port()
    path.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"chroma-{port}.log", "wb") as log:
        proc = subprocess.Popen([str(VENV_BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout, proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(proc)


def git_archive(commit: str) -> Path:
    """The code of an earlier commit, unpacked once into .cache/bench: the "before" side of a bench."""
    path = CACHE / f"code-{commit}"
    if not (path / "assistant").is_dir():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive.stdout, check=True)
    return path


# A small launcher forks the command and reports its peak RSS: the kernel's ru_maxrss also counts the memory
# image of whoever forked it (kept at exec), so it must be forked from a small process, not from a bench.
LAUNCHER = r"""
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("\nLAUNCHER %f %d\n" % (time.perf_counter() - start, usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_to_exit(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """(seconds until exit, peak RSS in MB) of a new process, forked from the small launcher."""
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("LAUNCHER "):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    _, seconds, kb = lines[-1].split()
    return float(seconds), int(kb) / 1024


def hwm_mb(pid: int) -> float:
    """A live process's peak resident memory (VmHWM) in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_tree(pid: int) -> list[int]:
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
