"""A public document collection through `handbook ingest`, whole and then file by file, into a per-file table.

    python bench/corpus_run.py FOLDER --name NAME [--table OUT.md] [--alone-limit N]

1. A fresh HANDBOOK_HOME gets the bundled corpus (`handbook ingest`), then `handbook ingest --json FOLDER` runs
   as a child process, the way a user runs it: its exit status, its stderr (tracebacks? lines that are not ours?)
   and its per-file outcomes are kept.
2. Each file is then ingested alone (in this process, a fresh home each), and its outcome compared with the one
   it had in the folder run: a file that fails alone must fail the same way in the batch, and one that is
   indexed alone must be indexed (or recorded as a duplicate) in the batch.
3. The home of step 1 is asked a question of the bundled corpus: it must still answer, citing the handbook.

FOLDER comes from a `fetch`ed snapshot (PDF libraries' sample and test folders); nothing of it is committed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from assistant.settings import load_settings  # noqa: E402
from ingest.indexing import ingest  # noqa: E402

KNOWN_QUESTION = "Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?"
OURS = re.compile(r"^(skipped|partly indexed) ")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    env.update(HANDBOOK_HOME=str(home), HANDBOOK_EMBED_MODEL=os.environ["HANDBOOK_EMBED_MODEL"],
               PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "handbook", *args], env=env, cwd=str(REPO), capture_output=True,
                          text=True)


def _label(o: dict) -> str:
    if o["status"] == "indexed":
        return "indexed" + (f", OCR p. {','.join(map(str, o['ocr_pages']))}" if o["ocr_pages"] else "")
    if o["status"] == "duplicate":
        return f"duplicate of {o['copy_of']}"
    return o["status"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--table", type=Path)
    parser.add_argument("--one-home", action="store_true",
                        help="ingest the files alone one after another into one fresh home (quicker; an identical "
                             "file then shows as a duplicate of the earlier one)")
    args = parser.parse_args()
    folder = args.folder.resolve()
    work = Path(tempfile.mkdtemp(prefix="corpus-run-"))
    home = work / "home"
    started = time.perf_counter()
    bundled = _cli(home, "ingest")
    assert bundled.returncode == 0, bundled.stderr[-2000:]
    whole = _cli(home, "ingest", "--json", str(folder))
    whole_seconds = time.perf_counter() - started
    report = json.loads(whole.stdout)
    stray = [ln for ln in whole.stderr.splitlines() if ln.strip() and not OURS.match(ln)]
    batch = {o["source"] or o["path"]: o for o in report["outcomes"]}

    alone: dict[str, dict] = {}
    settings_of = lambda h: load_settings({}, home=h, embed_model=os.environ["HANDBOOK_EMBED_MODEL"])  # noqa: E731
    started = time.perf_counter()
    for i, (source, outcome) in enumerate(sorted(batch.items())):
        path = Path(outcome["path"])
        one = ingest([path], settings_of(work / ("alone" if args.one_home else f"alone-{i}")))
        alone[source] = one.outcomes[0].to_json() if one.outcomes else {"status": "missing", "reason": ""}
    alone_seconds = time.perf_counter() - started

    asked = _cli(home, "ask", "--json", KNOWN_QUESTION)
    answer = json.loads(asked.stdout.strip().splitlines()[-1])
    answers = not answer["refused"] and answer["citations"][0]["source"].endswith(".md")

    mismatches = []
    for source, o in batch.items():
        a = alone[source]
        same = (a["status"] == o["status"] or {a["status"], o["status"]} == {"indexed", "duplicate"}) and \
            (o["status"] != "failed" or a["reason"] == o["reason"])
        if not same:
            mismatches.append(source)
    failed = [o for o in batch.values() if o["status"] == "failed"]
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf")
    print(f"{args.name}: {len(files)} PDFs under the folder, {len(batch)} in the summary; exit {whole.returncode}; "
          f"tracebacks {whole.stderr.count('Traceback')}; stderr lines not ours {len(stray)}; "
          f"indexed {sum(o['status'] == 'indexed' for o in batch.values())}, "
          f"duplicates {sum(o['status'] == 'duplicate' for o in batch.values())}, failed {len(failed)} "
          f"(all with a one-line reason: {all(o['reason'] and chr(10) not in o['reason'] for o in failed)}); "
          f"alone == batch for {len(batch) - len(mismatches)}/{len(batch)} {mismatches or ''}; "
          f"bundled corpus still answers: {answers}; folder run {whole_seconds:.0f} s (with the bundled corpus), "
          f"file-by-file {alone_seconds:.0f} s")
    for line in stray[:20]:
        print("  stray:", line)
    if args.table:
        lines = ["| file | pages | chunks | in the folder run | alone | reason |", "|---|---|---|---|---|---|"]
        for source, o in sorted(batch.items()):
            a = alone[source]
            lines.append(f"| {source} | {o['pages'] or ''} | {o['chunks'] or ''} | {_label(o)} | {_label(a)} | "
                         f"{(o['reason'] or a['reason']).replace('|', '/')} |")
        args.table.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
