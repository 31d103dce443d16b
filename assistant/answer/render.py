"""Plain-text rendering of an Answer for the terminal: the answer, then one line and quote per source."""
from __future__ import annotations

import textwrap

from assistant.answer import prompts
from assistant.answer.citations import location
from assistant.datamodel import Answer


def render_text(answer: Answer) -> str:
    lines = [answer.answer]
    if answer.notice:
        lines.insert(0, f"({answer.notice})")
    if answer.citations:
        lines += ["", f"{prompts.SOURCES_HEADING[answer.language]}:"]
        for c in answer.citations:
            lines.append(f"[{c.n}] {location(c, answer.language)}")
            lines.append(textwrap.fill(f"«{c.quote}»", width=100, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines) + "\n"
