"""Every PDF of a folder through the PDF loader alone (no embedding): indexed / needs OCR / failed, per file.

    python bench/pdf_loader_outcomes.py FOLDER --out OUT.json

Quicker than bench/corpus_run.py (no index, no model), for comparing two versions of the loader on the same
folder: run it with PYTHONPATH pointing at each tree. Per file: status, characters of text, the pages reported
as needing OCR, the pages whose text came from pypdf (logged by ingest/loaders/pdf_fallback.py), the reason.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from assistant.errors import IngestError  # noqa: E402
from ingest.loaders.pdf import load_pdf  # noqa: E402


class _Pages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.ocr: list[int] = []
        self.pypdf: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.ocr += getattr(record, "ocr_pages", [])
        self.pypdf += getattr(record, "pypdf_pages", [])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    log = logging.getLogger("handbook.ingest")
    log.setLevel(logging.INFO)
    log.propagate = False
    out = {}
    for path in sorted(args.folder.rglob("*.pdf")):
        handler = _Pages()
        log.addHandler(handler)
        started = time.perf_counter()
        try:
            sections = load_pdf(path, path.name)
            row = {"status": "indexed", "chars": sum(len(s.text) for s in sections), "reason": ""}
        except IngestError as exc:
            row = {"status": "failed", "chars": 0, "reason": exc.reason}
        finally:
            log.removeHandler(handler)
        row.update(ocr_pages=handler.ocr, pypdf_pages=handler.pypdf, seconds=round(time.perf_counter() - started, 2))
        out[path.name] = row
        print(path.name, row, flush=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    rows = out.values()
    print(f"{len(out)} PDFs: indexed {sum(r['status'] == 'indexed' for r in rows)} "
          f"(with OCR pages {sum(bool(r['ocr_pages']) and r['status'] == 'indexed' for r in rows)}), "
          f"failed {sum(r['status'] == 'failed' for r in rows)} (of them 'run OCR' "
          f"{sum('OCR' in r['reason'] for r in rows)}); pages from pypdf {sum(len(r['pypdf_pages']) for r in rows)} "
          f"in {sum(bool(r['pypdf_pages']) for r in rows)} files")


if __name__ == "__main__":
    main()
