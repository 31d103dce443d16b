"""The eval report's HTML read in a real browser: the configuration table and the score tables keep every first
column (names, settings, kinds, ids) on one line, and the page does not scroll sideways."""
from __future__ import annotations

from pathlib import Path

import pytest

from evals.metrics import summarize, summarize_by_kind
from evals.report import config_table, report_html

CHROMIUM = Path("/usr/bin/chromium")
SCORES = {"covered": True, "refused": False, "refusal_correct": True, "words": 30, "hit@1": 1.0, "hit@3": 1.0,
          "hit@k": 1.0, "mrr": 1.0, "ndcg@k": 1.0, "key_fact_recall": 1.0, "missing_facts": [],
          "citation_precision": 1.0, "citation_recall": 1.0, "claims": 1.0, "cited_hit": 1.0, "correct": 1.0,
          "retrieval_ms": 10.0, "answer_ms": 5.0, "total_ms": 15.0}
MODEL = "/home/someone/.local/share/handbook/models/multilingual-e5-small-with-a-long-folder-name"


def result() -> dict:
    configs = [{"name": name, "baseline": name == "baseline", "description": f"retrieval={name}, the description "
                "that runs on for a while to fill the cell", "retrieval": name, "top_k": 6,
                "refusal_threshold": 0.41, "max_sentences": 4, "embed_model": MODEL, "llm": "extractive"}
               for name in ("dense", "hybrid", "bm25", "dense@0.5", "baseline")]
    scored = [SCORES | {"kind": "fact"}]
    runs = [{"set": "dev", "config": c["name"], "summary": summarize(scored), "by_kind": summarize_by_kind(scored),
             "rows": []} for c in configs]
    return {"created": "2026-11-30", "seconds": 1.0, "machine": {"python": "3.11"}, "k": 6, "sets": ["dev"],
            "configs": configs, "runs": runs}


def test_configurations_are_columns_with_one_row_per_setting():
    table = config_table(result()["configs"])
    assert table.count("<tr>") == 1 + 8 and "<th>dense@0.5</th>" in table and "<td>0.41</td>" in table
    assert "<th>embed_model</th>" in table and "baseline=" not in table


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)")
def test_tables_are_readable_in_a_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    page_html = report_html(result(), threshold=0.41)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_page(viewport={"width": 1000, "height": 800})
        pg.set_content(page_html)
        lines = pg.evaluate("""() => [...document.querySelectorAll('table tr > :first-child')].map(cell => {
            const r = document.createRange(); r.selectNodeContents(cell);
            return [cell.innerText, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })""")
        widths = pg.evaluate("[document.documentElement.scrollWidth, "
                             "document.querySelector('table.configs').getBoundingClientRect().width]")
        browser.close()
    wrapped = [text for text, n in lines if n > 1]
    assert lines and not wrapped, f"first-column cells broken over several lines: {wrapped}"
    assert widths[0] <= 1000 and widths[1] <= 1000, widths
