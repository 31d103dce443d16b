"""Does the fp32 model with the int8 word table answer as well as plain fp32? Every question set, same rule as int8.

    python bench/int8_table_quality.py --work DIR [--models DIR] [--base COMMIT] [--sets SET...] [--reuse]

"fp32" is the code of --base (default ce35e4c, before the int8 table existed: it loads onnx/model.onnx); "int8
table" is this tree (it loads onnx/model.int8-table.onnx). Each gets a data dir DIR/home-<side> (models hard-linked
from --models, default $HANDBOOK_HOME/models), `handbook setup`, then `handbook eval SETS --out DIR/eval-<side>`,
both with fp32's calibrated threshold. Then the refusal threshold is calibrated for the int8-table index the way
`handbook eval --calibrate` does (not written): if the table model is the fp32 model, it picks fp32's threshold.
Prints the table for docs/evals.md and the verdict of the rule: on every set key facts and refusal accuracy within
1 point, false answers not higher.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from common import REPO, git_archive
from precision_quality import METRICS, SETS, prepare_home, summaries, verdict

ALL_SETS = (*SETS, "blind2-dev", "blind2-test")
SIDES = ("fp32", "int8 table")


def handbook(args: list[str], home: Path, code: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    env |= {"HANDBOOK_HOME": str(home), "HANDBOOK_EMBED_PRECISION": "fp32", "PYTHONPATH": str(code)}
    print(f"$ PYTHONPATH={code} HANDBOOK_HOME={home} handbook {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "handbook", *args], env=env, cwd=code, check=True)


def table(runs: dict[str, dict[str, dict]], sets: list[str]) -> str:
    lines = ["| set | model | " + " | ".join(t for _, t in METRICS) + " |",
             "| --- | --- |" + " ---: |" * len(METRICS)]
    for name in sets:
        for side in SIDES:
            s = runs[side][name]
            cells = [("–" if s.get(k) is None else f"{s[k]:.0f}" if k.endswith("_ms_p50") else f"{100 * s[k]:.1f} %")
                     for k, _ in METRICS]
            lines.append(f"| {name} | {side} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def calibration(home: Path) -> str:
    """The threshold calibration would choose on the int8-table index, beside the one recorded for fp32."""
    from assistant.model.calibration import CALIBRATION_FILE
    from assistant.settings import load_settings
    from evals.calibrate import calibrate

    record = calibrate(load_settings({"HANDBOOK_EMBED_PRECISION": "fp32"}, home=home), write=False)
    recorded = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["multilingual-e5-small"]
    return (f"calibrated on {record['set']} with the int8 table: threshold {record['threshold']} "
            f"(by language {record['by_language']}); recorded for fp32: {recorded['threshold']} "
            f"(by language {recorded['by_language']}, interval {recorded['chosen']['interval']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--base", default="ce35e4c")
    parser.add_argument("--sets", nargs="+", default=list(ALL_SETS))
    parser.add_argument("--reuse", action="store_true", help="Only compare the reports already in --work.")
    parser.add_argument("--no-calibration", action="store_true")
    opts = parser.parse_args()
    models = opts.models or Path(os.environ.get("HANDBOOK_HOME", "")) / "models"
    code = {"fp32": git_archive(opts.base), "int8 table": REPO}
    runs = {}
    for side in SIDES:
        slug = side.replace(" ", "-")
        home, report = opts.work / f"home-{slug}", opts.work / f"eval-{slug}"
        if not opts.reuse:
            prepare_home(home, models)
            handbook(["setup"], home, code[side])
            handbook(["eval", *opts.sets, "--out", str(report), "--no-progress"], home, code[side])
        runs[side] = summaries(report)
    print()
    print(table(runs, opts.sets))
    ok, misses = verdict(runs["fp32"], runs["int8 table"], opts.sets)
    print()
    print("The int8 table answers as well as fp32 on every set." if ok else
          "The int8 table falls short:\n- " + "\n- ".join(misses))
    if not opts.no_calibration:
        print(calibration(opts.work / "home-int8-table"))


if __name__ == "__main__":
    main()
