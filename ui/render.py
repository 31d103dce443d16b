"""HTML for the chat: questions, answers with [n] links, the "Kilder" panel, refusals and errors.

Every string that comes from a question or a document goes through html.escape, so markup or script in either
is shown as text. The chat renders messages as Markdown; each message here is one HTML block without newlines,
which Markdown passes through untouched (so `*`, `_` or `#` in a quote are not formatted either).
Links use "#hb:..." fragments that the page script (ui/app.py) turns into reading-pane events.
"""
from __future__ import annotations

import html
import re
from typing import Any

from assistant.answer.prompts import ANSWER_INTRO
from assistant.markers import chapter_label, link_markers

CONTEXT_CHARS = 220
# The words that frame an answer, in the question's language (the quotes themselves stay in the book's Danish).
LABELS = {
    "da": {"refusal": "Det står ikke i håndbogen", "sources": "Kilder", "nearest": "Læs de nærmeste kapitler:",
           "copy": "Kopiér svar med kilder", "copied": "Kopieret ✓", "chapter": "Kap.", "page": "s.",
           "line": "linje", "open": "Åbn i læsevinduet", "show": "Vis kilde", "question": "Spørgsmål"},
    "en": {"refusal": "Not in the handbook", "sources": "Sources", "nearest": "Read the nearest chapters:",
           "copy": "Copy answer with sources", "copied": "Copied ✓", "chapter": "Ch.", "page": "p.",
           "line": "line", "open": "Open in the reading pane", "show": "Show source", "question": "Question"},
}
REFUSAL_TITLE = LABELS["da"]["refusal"]


def labels(lang: str | None) -> dict[str, str]:
    """The page's framing words for an answer in `lang` (Danish for anything else)."""
    return LABELS.get(lang or "da", LABELS["da"])


def esc(text: str | None) -> str:
    """Escape for HTML text and attributes; newlines become entities so no Markdown blank line can appear."""
    return html.escape(text or "", quote=True).replace("\r", "").replace("\n", "&#10;")


def _flat(text: str) -> str:
    """Escaped text with every run of whitespace as one space (ends kept), for inline pieces."""
    return html.escape(re.sub(r"\s+", " ", text or ""), quote=True)


def _inline(text: str) -> str:
    """Escaped text on one line (newlines become spaces) for places where a line break means nothing."""
    return _flat(text).strip()


def question_html(question: str) -> str:
    return f'<div class="hb-q">{_inline(question)}</div>'


def pending_html(text: str) -> str:
    """The answer while it is being composed: plain escaped text, no links yet."""
    body = _inline(text) if text.strip() else '<span class="hb-wait">Søger i håndbogen …</span>'
    return f'<div class="hb-answer hb-streaming">{body}</div>'


def error_html(message: str) -> str:
    return f'<div class="hb-error" role="alert">{_inline(message)}</div>'


def answer_html(turn: dict[str, Any], t: int) -> str:
    """A finished answer (turn t of the conversation): text, sources panel or refusal, copy link, framed in the
    question's language."""
    if turn.get("error"):
        return error_html(turn["error"])
    lang = turn.get("language") or "da"
    words = labels(lang)
    notice = f'<div class="hb-notice">{_inline(turn["notice"])}</div>' if turn.get("notice") else ""
    copy = (f'<div class="hb-actions"><a class="hb-copy" href="#hb:copy:{t}" data-done="{words["copied"]}">'
            f'{words["copy"]}</a><span class="hb-copytext">{esc(turn.get("copy_text", ""))}</span></div>')
    if turn.get("refused"):
        return f'<div class="hb-answer hb-refusal" lang="{_lang(lang)}">{notice}{refusal_body(turn, t)}{copy}</div>'
    text = turn["answer"]
    intro = next((i for i in ANSWER_INTRO.values() if text.startswith(i)), "")
    if intro:  # "the handbook is in Danish ...": a notice above the quotes
        notice += f'<div class="hb-notice hb-lang-notice">{_inline(intro.strip())}</div>'
        text = text[len(intro):]
    body = body_html(text, t, {c["n"] for c in turn.get("citations", [])}, _phrase(turn), lang)
    return (f'<div class="hb-answer" lang="{_lang(lang)}">{notice}<div class="hb-body">{body}</div>'
            f'{sources_html(turn, t)}{copy}</div>')


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "da"


def _phrase(turn: dict[str, Any]) -> str | None:
    """The answering phrase (Answer.answer_span) as text, so the body can set it in bold."""
    span = turn.get("answer_span") or {}
    quote = next((c.get("quote") or "" for c in turn.get("citations", []) if c.get("n") == span.get("citation")), "")
    return quote[span["start"]:span["end"]] or None if quote and "start" in span else None


def body_html(text: str, t: int, known: set[int], phrase: str | None = None, lang: str = "da") -> str:
    """Answer text with each [n] as a link to its source, the answering phrase in bold; "- " lines: a list."""
    paragraphs: list[str] = []
    items: list[str] = []
    for line in (text or "").split("\n"):
        if line.startswith("- "):
            items.append(f"<li>{_markers(line[2:], t, known, lang)}</li>")
            continue
        if items:
            paragraphs.append(f'<ul>{"".join(items)}</ul>')
            items = []
        if line.strip():
            paragraphs.append(f"<p>{_markers(line, t, known, lang)}</p>")
    if items:
        paragraphs.append(f'<ul>{"".join(items)}</ul>')
    out = "".join(paragraphs)
    if phrase and _flat(phrase) in out:
        out = out.replace(_flat(phrase), f'<strong class="hb-span">{_flat(phrase)}</strong>', 1)
    return out


def _markers(line: str, t: int, known: set[int], lang: str = "da") -> str:
    show = labels(lang)["show"]

    def link(n: int) -> str | None:
        return f'<a class="hb-cite" href="#hb:cite:{t}:{n}" title="{show} {n}">[{n}]</a>' if n in known else None
    return link_markers(line, _flat, link).strip()


def sources_html(turn: dict[str, Any], t: int) -> str:
    """The "Kilder" ("Sources") panel: one entry per citation with where it stands and the quote in its passage."""
    citations = turn.get("citations") or []
    if not citations:
        return ""
    lang = turn.get("language") or "da"
    words = labels(lang)
    entries = []
    for c in citations:
        entries.append(
            f'<li class="hb-source"><a class="hb-source-head" href="#hb:cite:{t}:{c["n"]}" title="{words["open"]}">'
            f'<span class="hb-n">[{c["n"]}]</span> {where_html(c, lang)}</a>'
            f'<div class="hb-passage" lang="da">{passage_excerpt(c.get("passage") or "", c["quote"])}</div></li>')
    return (f'<div class="hb-sources"><div class="hb-sources-title">{words["sources"]}</div>'
            f'<ol class="hb-source-list">{"".join(entries)}</ol></div>')


def where_html(c: dict[str, Any], lang: str = "da") -> str:
    """Chapter, section, then page (or lines) and the file, for one citation."""
    parts = [f'<span class="hb-chapter">{labels(lang)["chapter"]} '
             f'{_inline(c.get("chapter") or c.get("chapter_title") or "")}</span>']
    if c.get("section") and c["section"] != c.get("chapter_title"):
        parts.append(f'<span class="hb-section">{_inline(c["section"])}</span>')
    parts.append(f'<span class="hb-page">{_inline(place(c, lang))}</span>')
    return " · ".join(parts) + f' <span class="hb-file">{_inline(c.get("source", ""))}</span>'


def place(c: dict[str, Any], lang: str = "da") -> str:
    """"s. 34" for a page a reader finds, else "linje 12-14", else nothing ("p. 34", "line 12-14" in English)."""
    words = labels(lang)
    if c.get("page") is not None:
        return f"{words['page']} {c['page']}"
    lines = c.get("lines")
    if lines:
        return f"{words['line']} {lines[0]}" + (f"-{lines[1]}" if lines[1] != lines[0] else "")
    return ""


def passage_excerpt(passage: str, quote: str, context: int = CONTEXT_CHARS) -> str:
    """The quote marked inside the text around it, cut to a few hundred characters at word boundaries."""
    start, end = find_span(passage, quote)
    if start < 0:
        return f"<mark>{_inline(quote)}</mark>"
    left = passage[max(0, start - context):start]
    right = passage[end:end + context]
    if start - context > 0:
        left = "… " + left.split(" ", 1)[-1]
    if end + context < len(passage):
        right = right.rsplit(" ", 1)[0] + " …"
    before, after = _inline(left), _inline(right)
    return ((before + " " if before else "") + f"<mark>{_inline(passage[start:end])}</mark>"
            + (" " + after if after else ""))


def find_span(text: str, needle: str) -> tuple[int, int]:
    """Where needle stands in text, ignoring differences in whitespace; (-1, -1) when it does not."""
    if not needle:
        return -1, -1
    i = text.find(needle)
    if i >= 0:
        return i, i + len(needle)
    words = needle.split()
    if not words:
        return -1, -1
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (m.start(), m.end()) if m else (-1, -1)


def refusal_body(turn: dict[str, Any], t: int) -> str:
    """A refusal looks different: a heading, the handbook's own sentence, and the nearest chapters as links."""
    words = labels(turn.get("language"))
    links = "".join(f'<a class="hb-chip" href="#hb:near:{t}:{i}">{_inline(_label(r))}</a>'
                    for i, r in enumerate(turn.get("nearest") or []))
    nearest = f'<div class="hb-nearest"><span>{words["nearest"]}</span>{links}</div>' if links else ""
    return (f'<div class="hb-refusal-title">{words["refusal"]}</div>'
            f'<p class="hb-refusal-text">{_inline(turn["answer"])}</p>{nearest}')


def _label(ref: dict[str, Any]) -> str:
    return chapter_label(ref.get("chapter_number"), ref.get("title", ""))


def toc_html(chapters: list[Any], sources: list[str] | None = None) -> str:
    """The table of contents as links that open a chapter (or a section) in the reading pane; only the chosen
    documents' chapters when `sources` is given (links keep their place in the whole list)."""
    if not chapters:
        return '<p class="hb-empty">Der er ikke indlæst noget endnu.</p>'
    items = []
    for k, ch in enumerate(chapters):
        if sources is not None and ch.source not in sources:
            continue
        sections = "".join(f'<li><a href="#hb:sec:{k}:{s}">{_inline(title)}</a></li>'
                           for s, title in enumerate(ch.sections))
        items.append(f'<li class="hb-toc-chapter"><a class="hb-toc-title" href="#hb:chap:{k}">{_inline(ch.label)}</a>'
                     f'<ul class="hb-toc-sections">{sections}</ul></li>')
    return f'<nav class="hb-toc"><ol>{"".join(items)}</ol></nav>'
