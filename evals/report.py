"""The report folder: results.json (every answer and score), summary.md, and report.html with embedded plots."""
from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (key in a summary, column title, format); rates shown as percentages, times in ms.
COLUMNS = [
    ("hit@1", "hit@1", "pct"), ("hit@k", "hit@k", "pct"), ("mrr", "MRR", "f3"), ("ndcg@k", "nDCG@k", "f3"),
    ("facts_in_passages", "facts in top-k", "pct"), ("key_fact_recall", "key facts", "pct"),
    ("facts_kept", "kept", "pct"), ("first_sentence_fact", "1st sentence", "pct"),
    ("covered_answered", "covered answered", "pct"), ("citation_precision", "cit. prec.", "pct"),
    ("citation_recall", "cit. recall", "pct"), ("cited_hit", "cited right §", "pct"),
    ("refusal_accuracy", "refusal acc.", "pct"), ("false_refusal_rate", "false refusals", "pct"),
    ("false_answer_rate", "false answers", "pct"), ("verified", "verified", "pct"), ("fallback", "fallbacks", "pct"),
    ("words", "words", "f0"), ("sentences_median", "sentences (median)", "f0"),
    ("total_ms_p50", "p50 ms", "f0"), ("total_ms_p95", "p95 ms", "f0"),
]
KIND_COLUMNS = ["questions", "hit@k", "facts_in_passages", "key_fact_recall", "first_sentence_fact",
                "covered_answered", "refusal_accuracy", "correct", "words", "total_ms_p50"]
TITLES = {k: t for k, t, _ in COLUMNS} | {"questions": "n", "correct": "correct"}
FORMATS = {k: f for k, _, f in COLUMNS} | {"questions": "int", "correct": "pct"}
WORST = 12


def fmt(value: Any, kind: str = "f3") -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "int":
        return str(int(value))
    if kind == "f0":
        return f"{value:.0f}"
    return f"{value:.3f}"


def quality(row: dict[str, Any]) -> tuple:
    """Sort key for 'worst first': correctness, then citation precision, then retrieval."""
    s = row["scores"]
    return (s["correct"], s["citation_precision"] if s["citation_precision"] is not None else 1.0,
            s["mrr"] if s["mrr"] is not None else 1.0)


def worst(rows: Sequence[dict[str, Any]], n: int = WORST) -> list[dict[str, Any]]:
    bad = [r for r in rows if quality(r) < (1.0, 1.0, 1.0)]
    return sorted(bad, key=quality)[:n]


# ---------------------------------------------------------------------------------------------------- markdown

def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(result: dict[str, Any], set_name: str) -> str:
    """One row per configuration: the metrics of COLUMNS (also printed by the gate test)."""
    rows = [[run["config"]] + [fmt(run["summary"].get(k), f) for k, _, f in COLUMNS]
            for run in result["runs"] if run["set"] == set_name]
    return _md_table(["config"] + [t for _, t, _ in COLUMNS], rows)


def kind_table(run: dict[str, Any]) -> str:
    rows = [[kind] + [fmt(s.get(k), FORMATS.get(k, "f3")) for k in KIND_COLUMNS] for kind, s in run["by_kind"].items()]
    return _md_table(["kind"] + [TITLES.get(k, k) for k in KIND_COLUMNS], rows)


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def summary_markdown(result: dict[str, Any]) -> str:
    out = [f"# Eval report ({result['created']})", "",
           f"Sets: {', '.join(result['sets'])}. Configurations: "
           + "; ".join(f"**{c['name']}** ({c.get('description') or c.get('retrieval', '')})" for c in result["configs"])
           + f". k = {result['k']}. Run time {result['seconds']} s.", "",
           "Metric definitions: docs/evals.md. hit@k/MRR/nDCG against the expected sections; key facts: share of "
           "expected facts present in the answer; citation precision/recall: lexical support of each cited "
           "sentence by its quote; latency: total per question.", ""]
    for set_name in result["sets"]:
        out += [f"## Set `{set_name}`", "", summary_table(result, set_name), ""]
        first = next(r for r in result["runs"] if r["set"] == set_name)
        out += [f"### By kind ({first['config']})", "", kind_table(first), ""]
        out += [f"### Worst questions ({first['config']})", ""]
        for r in worst(first["rows"]):
            s = r["scores"]
            verdict = "refused" if s["refused"] else "answered"
            miss = "; ".join(" / ".join(f) for f in s.get("missing_facts") or [])
            out.append(f"- `{r['id']}` ({r['kind']}, {'covered' if r['covered'] else 'not covered'}, {verdict}, "
                       f"correct {fmt(s['correct'], 'pct')}): {r['question']}"
                       + (f" — missing: {miss}" if miss else "")
                       + f"\n  - answer: {_short(r['answer'].get('answer', ''))}")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------- plots

def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_configs(result: dict[str, Any], set_name: str) -> str:
    plt = _pyplot()
    keys = [("hit@k", "hit@k"), ("mrr", "MRR"), ("key_fact_recall", "key facts"),
            ("citation_precision", "cit. precision"), ("citation_recall", "cit. recall"),
            ("refusal_accuracy", "refusal acc.")]
    runs = [r for r in result["runs"] if r["set"] == set_name]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        xs = [j + i * width for j in range(len(keys))]
        ax.bar(xs, [run["summary"].get(k) or 0 for k, _ in keys], width, label=run["config"])
    ax.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(keys))], [t for _, t in keys])
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Configurations side by side ({set_name})")
    ax.legend(fontsize=8, ncols=min(4, len(runs)))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_kinds(run: dict[str, Any]) -> str:
    plt = _pyplot()
    kinds = list(run["by_kind"])
    keys = [("hit@k", "hit@k"), ("key_fact_recall", "key facts"), ("citation_precision", "cit. precision"),
            ("correct", "correct")]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(keys)
    for i, (k, title) in enumerate(keys):
        vals = [run["by_kind"][kind].get(k) for kind in kinds]
        ax.bar([j + i * width for j in range(len(kinds))], [v or 0 for v in vals], width, label=title)
    ax.set_xticks([j + width * (len(keys) - 1) / 2 for j in range(len(kinds))], kinds, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Scores by kind ({run['set']}, {run['config']}); n/a shown as 0")
    ax.legend(fontsize=8, ncols=4)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_latency(result: dict[str, Any], set_name: str) -> str:
    plt = _pyplot()
    runs = [r for r in result["runs"] if r["set"] == set_name]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    data = [[r["scores"]["total_ms"] for r in run["rows"] if r["scores"].get("total_ms") is not None] for run in runs]
    ax.boxplot(data, orientation="horizontal", showfliers=True)
    ax.set_yticks(range(1, len(runs) + 1), [r["config"] for r in runs])
    ax.set_xlabel("total ms per question")
    ax.set_title(f"Latency distribution ({set_name})")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def plot_refusal_scores(run: dict[str, Any], threshold: float | None) -> str:
    plt = _pyplot()
    cov = [r["answer"].get("score") for r in run["rows"] if r["covered"] and r["answer"].get("score") is not None
           and r["answer"].get("score") < 0.999]
    unc = [r["answer"].get("score") for r in run["rows"] if not r["covered"] and r["answer"].get("score") is not None]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    lo = min(cov + unc, default=0.0)
    hi = max(cov + unc, default=1.0)
    bins = [lo + (hi - lo) * i / 30 for i in range(31)] if hi > lo else 10
    ax.hist(cov, bins=bins, alpha=0.6, label=f"covered (n={len(cov)})")
    ax.hist(unc, bins=bins, alpha=0.6, label=f"not covered (n={len(unc)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel("relevance score (Answer.score)")
    ax.set_title(f"Refusal scores ({run['set']}, {run['config']})")
    ax.legend(fontsize=8)
    return _png(fig)


# ---------------------------------------------------------------------------------------------------- html

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top;overflow-wrap:break-word;text-align:left}
th{background:#f2f2f2}td.n{text-align:right;white-space:nowrap}
tr>:first-child{white-space:nowrap}
table.configs td{min-width:7rem;max-width:24rem;overflow-wrap:anywhere}
img{max-width:100%;display:block;margin:.5rem 0 1.5rem}
.bad{color:#a00}.ok{color:#070}.q{font-weight:600}.small{font-size:.8rem;color:#555}
blockquote{margin:.2rem 0 .2rem .5rem;padding-left:.5rem;border-left:3px solid #ddd;font-size:.85rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(header: list[str], rows: list[list[str]], first_text: bool = True) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" if (i == 0 and first_text) else f"<td class=n>{_e(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def config_table(configs: Sequence[dict[str, Any]]) -> str:
    """The configurations side by side: one column each, one row per setting, so no name is squeezed."""
    keys = list(dict.fromkeys(k for c in configs for k in c if k != "name"))
    head = "<tr><th>setting</th>" + "".join(f"<th>{_e(c['name'])}</th>" for c in configs) + "</tr>"
    rows = "".join(f"<tr><th>{_e(k)}</th>" + "".join(f"<td>{_e(_setting(c.get(k)))}</td>" for c in configs) + "</tr>"
                   for k in keys)
    return f"<table class=configs>{head}{rows}</table>"


def metrics_table(runs: Sequence[dict[str, Any]]) -> str:
    """A set's metrics with the configurations as columns (twenty metrics side by side did not fit a page)."""
    head = "<tr><th>metric</th>" + "".join(f"<th>{_e(r['config'])}</th>" for r in runs) + "</tr>"
    rows = "".join(f"<tr><th>{_e(title)}</th>" + "".join(f"<td class=n>{_e(fmt(r['summary'].get(k), f))}</td>"
                                                          for r in runs) + "</tr>" for k, title, f in COLUMNS)
    return f"<table class=metrics>{head}{rows}</table>"


def _setting(value: Any) -> str:
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _worst_html(rows: Sequence[dict[str, Any]]) -> str:
    out = ["<table><tr><th>id</th><th>question</th><th>scores</th><th>answer and citations</th></tr>"]
    for r in worst(rows):
        s, a = r["scores"], r["answer"]
        scores = (f"correct {fmt(s['correct'], 'pct')}<br>{'refused' if s['refused'] else 'answered'}"
                  f" ({'covered' if r['covered'] else 'not covered'})<br>key facts {fmt(s['key_fact_recall'], 'pct')}"
                  f"<br>cit. prec. {fmt(s['citation_precision'], 'pct')}<br>MRR {fmt(s['mrr'])}"
                  f"<br>score {fmt(a.get('score'))}")
        miss = "".join(f"<li>{_e(' / '.join(f))}</li>" for f in s.get("missing_facts") or [])
        cites = "".join(f"<blockquote>[{_e(c.get('n'))}] {_e(c.get('source'))} · {_e(c.get('section'))}<br>"
                        f"{_e(_short(c.get('quote', ''), 300))}</blockquote>" for c in a.get("citations") or [])
        expected = "; ".join(f"{e['source']}" + (f" · {e['section']}" if e.get("section") else "")
                             for e in r["expected"])
        hist = "".join(f"<div class=small>earlier: {_e(h[0])}</div>" for h in r.get("history") or [])
        out.append(
            f"<tr><td>{_e(r['id'])}<br><span class=small>{_e(r['kind'])}</span></td>"
            f"<td>{hist}<span class=q>{_e(r['question'])}</span>"
            + (f"<div class=small>expected: {_e(expected)}</div>" if expected else "")
            + (f"<div class=small>missing facts:<ul>{miss}</ul></div>" if miss else "")
            + f"</td><td class=small>{scores}</td><td>{_e(a.get('answer', ''))}{cites}</td></tr>")
    out.append("</table>")
    return "".join(out)


def report_html(result: dict[str, Any], threshold: float | None = None) -> str:
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8><title>Eval report {_e(result['created'])}</title>"
             f"<style>{CSS}</style><h1>Eval report</h1>",
             f"<p class=small>{_e(result['created'])} · sets: {_e(', '.join(result['sets']))} · k = {_e(result['k'])}"
             f" · {_e(result['seconds'])} s · Python {_e(result['machine']['python'])}</p>",
             "<h2>Configurations</h2>", config_table(result["configs"])]
    for set_name in result["sets"]:
        runs = [r for r in result["runs"] if r["set"] == set_name]
        first = runs[0]
        parts.append(f"<h2>Set “{_e(set_name)}”</h2>")
        parts.append(metrics_table(runs))
        parts.append(_img(plot_configs(result, set_name), f"configurations on {set_name}"))
        parts.append(f"<h3>By kind ({_e(first['config'])})</h3>")
        parts.append(_html_table(["kind"] + [TITLES.get(k, k) for k in KIND_COLUMNS],
                                 [[kind] + [fmt(s.get(k), FORMATS.get(k, "f3")) for k in KIND_COLUMNS]
                                  for kind, s in first["by_kind"].items()]))
        parts.append(_img(plot_kinds(first), f"scores by kind on {set_name}"))
        parts.append("<h3>Latency</h3>")
        parts.append(_img(plot_latency(result, set_name), f"latency on {set_name}"))
        parts.append("<h3>Refusal scores: covered vs not covered</h3>")
        cfg = next((c for c in result["configs"] if c["name"] == first["config"]), {})
        parts.append(_img(plot_refusal_scores(first, threshold if threshold is not None
                                              else cfg.get("refusal_threshold")), f"refusal scores on {set_name}"))
        parts.append(f"<h3>Worst questions ({_e(first['config'])})</h3>")
        parts.append(_worst_html(first["rows"]))
    parts.append("</html>")
    return "\n".join(parts)


def write_report(result: dict[str, Any], out_dir: str | Path, *, gate: list[str] | None = None) -> Path:
    """Write results.json, summary.md and report.html into out_dir; return the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = dict(result)
    if gate is not None:
        data["gate"] = {"failures": gate, "passed": not gate}
    (out / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n",
                                      encoding="utf-8")
    md = summary_markdown(result)
    if gate is not None:
        md += "\n## Gate\n\n" + ("passed" if not gate else "\n".join(f"- FAILED: {g}" for g in gate)) + "\n"
    (out / "summary.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(report_html(result), encoding="utf-8")
    return out
