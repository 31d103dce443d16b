"""int8 or fp32: the same eval on every question set with each precision, and whether int8 answers as well.

    python bench/precision_quality.py --work DIR [--models DIR] [--calibrate [int8 fp32]] [--sets SET...] [--reuse]

For each precision: a data dir DIR/home-<precision> (models hard-linked from --models, default
$HANDBOOK_HOME/models), `handbook setup` with HANDBOOK_EMBED_PRECISION set, with --calibrate `handbook eval
--calibrate` (dev sets only; records the precision's threshold in assistant/model/calibration.json), then
`handbook eval SETS --out DIR/eval-<precision>`. Prints the table for docs/evals.md and the verdict of the rule:
int8 is the default only if on every set key facts are within 1 point of fp32, refusal accuracy within 1 point
and false answers not higher. Rerun it after any change to answer selection.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = ("dev", "test", "blind-dev", "blind-test")
PRECISIONS = ("fp32", "int8")
METRICS = (("key_fact_recall", "key facts"), ("refusal_accuracy", "refusal acc."),
           ("false_answer_rate", "false answers"), ("hit@k", "hit@k"), ("total_ms_p50", "p50 ms"))
TOLERANCE = 0.01  # one point


def handbook(args: list[str], home: Path, precision: str) -> None:
    env = {**os.environ, "HANDBOOK_HOME": str(home), "HANDBOOK_EMBED_PRECISION": precision,
           "PYTHONPATH": str(REPO)}
    env.pop("HANDBOOK_EMBED_MODEL", None)
    print(f"$ HANDBOOK_HOME={home} HANDBOOK_EMBED_PRECISION={precision} handbook {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "handbook", *args], env=env, cwd=REPO, check=True)


def prepare_home(home: Path, models: Path) -> None:
    """A data dir of its own whose models are hard links to the given ones (no copy of 600 MB, nothing written to
    the source: exports are written to new files beside them)."""
    if not (home / "models").exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(models, home / "models", copy_function=os.link)


def summaries(report: Path) -> dict[str, dict]:
    result = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return {run["set"]: run["summary"] for run in result["runs"]}


def verdict(fp32: dict[str, dict], int8: dict[str, dict], sets: list[str]) -> tuple[bool, list[str]]:
    """Whether int8 holds the rule on every set, and each shortfall in points."""
    misses = []
    for name in sets:
        a, b = fp32[name], int8[name]
        for key, title in (("key_fact_recall", "key facts"), ("refusal_accuracy", "refusal accuracy")):
            gap = (a.get(key) or 0.0) - (b.get(key) or 0.0)
            if gap > TOLERANCE + 1e-9:
                misses.append(f"{name}: {title} {100 * gap:.1f} points below fp32 (allowed 1)")
        more = (b.get("false_answer_rate") or 0.0) - (a.get("false_answer_rate") or 0.0)
        if more > 1e-9:
            misses.append(f"{name}: false answers {100 * more:.1f} points above fp32")
    return not misses, misses


def table(fp32: dict[str, dict], int8: dict[str, dict], sets: list[str]) -> str:
    lines = ["| set | precision | " + " | ".join(t for _, t in METRICS) + " |",
             "| --- | --- |" + " ---: |" * len(METRICS)]
    for name in sets:
        for precision, runs in (("fp32", fp32), ("int8", int8)):
            s = runs[name]
            cells = [("–" if s.get(k) is None else f"{s[k]:.0f}" if k.endswith("_ms_p50") else f"{100 * s[k]:.1f} %")
                     for k, _ in METRICS]
            lines.append(f"| {name} | {precision} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="Folder for the two data dirs and the reports.")
    parser.add_argument("--models", type=Path, default=None, help="A models/ folder `handbook setup` made.")
    parser.add_argument("--calibrate", nargs="*", choices=PRECISIONS, default=[],
                        help="Calibrate these precisions' thresholds first (no name: both).")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--reuse", action="store_true", help="Only compare the reports already in --work.")
    opts = parser.parse_args()
    models = opts.models or Path(os.environ.get("HANDBOOK_HOME", "")) / "models"
    results = {}
    for precision in PRECISIONS:
        home, report = opts.work / f"home-{precision}", opts.work / f"eval-{precision}"
        if not opts.reuse:
            prepare_home(home, models)
            handbook(["setup"], home, precision)
            if precision in (opts.calibrate or (PRECISIONS if opts.calibrate == [] and "--calibrate" in sys.argv
                                                else ())):
                handbook(["eval", "--calibrate", "--no-progress"], home, precision)
            handbook(["eval", *opts.sets, "--out", str(report), "--no-progress"], home, precision)
        results[precision] = summaries(report)
    print()
    print(table(results["fp32"], results["int8"], opts.sets))
    ok, misses = verdict(results["fp32"], results["int8"], opts.sets)
    print()
    print("int8 answers as well as fp32 on every set: make it the default." if ok else
          "int8 falls short; keep fp32:\n- " + "\n- ".join(misses))


if __name__ == "__main__":
    main()
