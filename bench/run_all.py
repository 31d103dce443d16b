"""Run every benchmark, one new process each, in sequence; each prints its table and updates docs/benchmarks.md.

    .venv/bin/python bench/run_all.py [--quick] [--with-300k] [--no-write] [--threads N] [--only a,b]

--quick: one round each, no PDF, scale at 10k only (a smoke run of a few minutes). The full run takes
roughly 20 minutes on a 2-core machine (ingest ~9 min, most of it the 150-page PDF three times over; scale
~6 min); --with-300k adds ~10 min and needs ~4 GB of free disk for the temporary collection.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["ingest_speed", "ingest_memory", "query_latency", "profile_query", "cold_start", "precision_speed",
         "int8_table", "scale"]
QUICK = {"ingest_speed": ["--no-pdf", "--repeats", "1"], "cold_start": ["--repeats", "1"],
         "scale": ["--sizes", "10000", "--rounds", "1"], "profile_query": ["--no-quantized"],
         "precision_speed": ["--repeats", "1", "--no-pdf"], "ingest_memory": ["--pages", "30"],
         "int8_table": ["--repeats", "1"]}


def main(argv: list[str]) -> int:
    shared = [a for a in ("--no-write",) if a in argv]
    if "--threads" in argv:
        shared += ["--threads", argv[argv.index("--threads") + 1]]
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else ORDER
    failed = []
    for name in [n for n in ORDER if n in only]:
        extra = list(QUICK.get(name, [])) if "--quick" in argv else []
        if name == "scale" and "--with-300k" in argv:
            extra.append("--with-300k")
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra, *shared]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"=== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
