"""How much of a saved web page's main text the HTML loader keeps, and how much site chrome it drops, on pages no
one here wrote: the evaluation pages trafilatura keeps in its repository (tests/cache, tests/eval) with, for each,
snippets that belong to the article ("with") and snippets of the page around it ("without").

    python bench/html_main_content.py TRAFILATURA_TESTS_DIR [--table OUT.md]

TRAFILATURA_TESTS_DIR is that repository's tests/ folder (evaldata.json, cache/, eval/), taken from a `fetch`ed
snapshot; nothing of it is committed. The same pages are read twice in one process: with the main-content filter
(the loader as shipped) and without it (every paragraph outside nav/footer/script, the loader before).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from assistant.errors import IngestError  # noqa: E402
from ingest.loaders import html as html_loader  # noqa: E402


def _norm(text: str) -> str:
    return " ".join(text.split())


def page_text(path: Path) -> str:
    """What the index would hold of the page: every section's heading and text (the page title aside)."""
    sections = html_loader.load_html(path, path.name)
    title = sections[0].chapter_title if sections else ""
    parts = [s.section_title for s in sections if s.section_title != title] + [s.text for s in sections]
    return _norm("\n".join(parts))


def score(text: str, item: dict) -> tuple[int, int, int, int]:
    kept = sum(_norm(w) in text for w in item["with"])
    dropped = sum(_norm(w) not in text for w in item["without"])
    return kept, len(item["with"]), dropped, len(item["without"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tests_dir", type=Path)
    parser.add_argument("--table", type=Path, help="write the per-page table (Markdown) here")
    args = parser.parse_args()
    data = json.loads((args.tests_dir / "evaldata.json").read_text(encoding="utf-8"))
    rows, totals = [], {"new": [0, 0, 0, 0], "old": [0, 0, 0, 0]}
    errors: dict[str, str] = {}
    seconds = {"new": 0.0, "old": 0.0}
    for _url, item in sorted(data.items(), key=lambda kv: kv[1]["file"]):
        path = next((p for p in (args.tests_dir / "cache" / item["file"], args.tests_dir / "eval" / item["file"])
                     if p.exists()), None)
        if path is None:
            continue
        result = {}
        for variant in ("new", "old"):
            started = time.perf_counter()
            try:
                if variant == "old":
                    with mock.patch.object(html_loader, "main_content", lambda _html: None):
                        text = page_text(path)
                else:
                    text = page_text(path)
            except IngestError as exc:
                errors[item["file"]] = exc.reason
                text = ""
            seconds[variant] += time.perf_counter() - started
            result[variant] = score(text, item)
            totals[variant] = [a + b for a, b in zip(totals[variant], result[variant])]
        rows.append((item["file"], result["new"], result["old"]))
    n = len(rows)
    for variant in ("new", "old"):
        k, kn, d, dn = totals[variant]
        print(f"{variant}: {n} pages; main-text snippets kept {k}/{kn} ({k / kn:.1%}); chrome snippets dropped "
              f"{d}/{dn} ({d / dn:.1%}); {seconds[variant] / n * 1000:.0f} ms a page")
    print(f"pages that failed to load: {len(errors)} {errors if errors else ''}")
    if args.table:
        lines = ["| page | main text kept (new) | chrome dropped (new) | main text kept (before) | "
                 "chrome dropped (before) |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {a[0]}/{a[1]} | {a[2]}/{a[3]} | {b[0]}/{b[1]} | {b[2]}/{b[3]} |"
                  for name, a, b in rows]
        args.table.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
