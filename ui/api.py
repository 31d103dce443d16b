"""The chat server's endpoint for programs: a question (optionally the history and a source selection) in, the
`handbook ask --json` object out, so a program gets over HTTP exactly what the command line prints."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant import Settings, open_assistant
from assistant.errors import HandbookError

if TYPE_CHECKING:
    from assistant import Assistant

BAD_HISTORY = "history must be a list of [question, answer] pairs of strings (or left out)."
BAD_SOURCES = "sources must be a list of document names as `handbook toc` shows them (or left out for all)."


def ask_json(question: Any, history: Any = None, sources: Any = None, *, settings: Settings,
             assistant: Assistant | None = None) -> dict[str, Any]:
    """The --json object for one question; {"question", "error"} (like `handbook ask --json` on standard input)
    when the question, history or selection cannot be used."""
    text = question if isinstance(question, str) else ""
    pairs = _pairs(history)
    if pairs is None:
        return {"question": text.strip(), "error": BAD_HISTORY}
    if sources is not None and not (isinstance(sources, list) and all(isinstance(s, str) for s in sources)):
        return {"question": text.strip(), "error": BAD_SOURCES}
    try:
        return (assistant or open_assistant(settings)).ask(text, pairs, sources or None).to_json()
    except HandbookError as exc:
        return {"question": " ".join(text.split()), "error": str(exc)}


def _pairs(history: Any) -> list[tuple[str, str]] | None:
    if history is None:
        return []
    if not isinstance(history, list):
        return None
    pairs = []
    for turn in history:
        if not (isinstance(turn, (list, tuple)) and len(turn) == 2 and all(isinstance(x, str) for x in turn)):
            return None
        pairs.append((turn[0], turn[1]))
    return pairs
