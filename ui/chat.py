"""The chat as plain functions over the core API, so tests call them directly; ui/app.py only wires them up.

The conversation state is a JSON-able dict {"turns": [...]} (kept in the browser, so it survives a reload); the
chat messages (Gradio messages format) are always rendered from it.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from assistant import Answer, Settings, open_assistant
from assistant.answer.render import render_text
from assistant.errors import HandbookError, NoIndexError
from assistant.feedback_log import LogError, QaLog

from . import reader
from .render import answer_html, labels, pending_html, question_html

if TYPE_CHECKING:
    from assistant import Assistant

log = logging.getLogger(__name__)

NO_INDEX = ("Der er ikke indlæst nogen dokumenter endnu: kør `handbook setup` (eller `handbook ingest`) "
            "og indlæs siden igen.")
FAILED = "Noget gik galt, mens svaret blev lavet; prøv igen om lidt."
MAX_TURNS = 40
LINK = re.compile(r"^#?hb:(cite|near|chap|sec):(\d{1,4})(?::(\d{1,4}))?$")

State = dict[str, Any]
Message = dict[str, Any]


def new_state() -> State:
    return {"turns": []}


def clean_state(state: Any) -> State:
    """A usable state from whatever the browser sent back (it may be empty, old or foreign)."""
    if not isinstance(state, dict) or not isinstance(state.get("turns"), list):
        return new_state()
    turns = [t for t in state["turns"] if isinstance(t, dict) and isinstance(t.get("question"), str)
             and (isinstance(t.get("answer"), str) or isinstance(t.get("error"), str))
             and all(_citation_ok(c) for c in t.get("citations") or [])
             and all(isinstance(r, dict) and isinstance(r.get("source"), str) for r in t.get("nearest") or [])]
    return {"turns": turns[-MAX_TURNS:]}


def _citation_ok(c: Any) -> bool:
    return (isinstance(c, dict) and type(c.get("n")) is int and isinstance(c.get("quote"), str)
            and isinstance(c.get("source"), str))


def messages(state: State) -> list[Message]:
    """The whole conversation in Gradio's messages format."""
    out: list[Message] = []
    for t, turn in enumerate(state["turns"]):
        if turn["question"].strip():
            out.append({"role": "user", "content": question_html(turn["question"])})
        out.append({"role": "assistant", "content": answer_html(turn, t)})
    return out


def history_pairs(state: State) -> list[tuple[str, str]]:
    """The conversation as the core wants it for follow-ups: (question, answer) pairs, errors left out."""
    return [(t["question"], t["answer"]) for t in state["turns"] if not t.get("error")]


def turn_from(answer: Answer) -> dict[str, Any]:
    """What the page keeps of an answer: enough to render it, open its sources and rate it."""
    return {
        "question": answer.question, "answer": answer.answer, "refused": answer.refused,
        "citations": [c.to_json() for c in answer.citations],
        "nearest": [{"source": r.source, "chapter_number": r.chapter_number, "title": r.title}
                    for r in answer.nearest],
        "notice": answer.notice, "language": answer.language, "answer_span": answer.answer_span,
        "copy_text": f"{labels(answer.language)['question']}: {answer.question}\n\n{render_text(answer)}",
        "log_id": None,
    }


def respond(message: str, history: list[Message] | None, state: State | None, *, settings: Settings,
            qa_log: QaLog | None = None, assistant: Assistant | None = None,
            sources: list[str] | None = None) -> Iterator[tuple[list[Message], State]]:
    """Yield (messages, state) while the answer is composed, then once more with the finished, cited answer.

    The messages are always rendered from `state` (`history`, what the chat showed, is part of Gradio's call but
    never trusted as HTML); the conversation the core sees for follow-ups comes from the state's turns.
    `assistant` defaults to the process-wide one for `settings`; tests hand in their own. `sources` limits the
    answer to those documents (None: all).
    """
    state = clean_state(state)
    shown = messages(state)
    question = message or ""
    if question.strip():
        shown = shown + [{"role": "user", "content": question_html(question)}]
    yield shown + [{"role": "assistant", "content": pending_html("")}], state
    pairs = history_pairs(state)
    try:
        answer = None
        for answer in (assistant or open_assistant(settings)).stream(question, pairs, sources):
            if answer.draft:
                yield shown + [{"role": "assistant", "content": pending_html(answer.answer)}], state
        assert answer is not None and not answer.draft, "the assistant finished without an Answer"
        turn = turn_from(answer)
        turn["log_id"] = _record(qa_log, answer, settings, pairs)
    except NoIndexError:
        turn = {"question": question, "error": NO_INDEX}
    except HandbookError as exc:
        turn = {"question": question, "error": str(exc)}
    except Exception:  # never a traceback in the chat; the server log has it
        log.exception("answering %r failed", question)
        turn = {"question": question, "error": FAILED}
    state = {"turns": (state["turns"] + [turn])[-MAX_TURNS:]}
    yield messages(state), state


def _record(qa_log: QaLog | None, answer: Answer, settings: Settings, pairs: list[tuple[str, str]]) -> int | None:
    if qa_log is None:
        return None
    try:
        return qa_log.record(answer, settings, pairs)
    except (LogError, OSError) as exc:  # a full disk must not cost the user the answer
        log.warning("could not log the answer: %s", exc)
        return None


def open_link(link: str, state: State | None, *, settings: Settings) -> str | None:
    """The reading pane for a "#hb:..." link from an answer or the contents; None for a link it does not know."""
    m = LINK.match(link or "")
    if not m:
        return None
    kind, a, b = m.group(1), int(m.group(2)), int(m.group(3)) if m.group(3) else None
    turns = clean_state(state)["turns"]
    try:
        assistant = open_assistant(settings)
        if kind == "cite":
            turn = turns[a] if a < len(turns) else {}
            cites = [c for c in turn.get("citations") or [] if c.get("n") == b]
            return reader.citation_pane(assistant, cites[0]) if cites else None
        if kind == "near":
            nearest = (turns[a].get("nearest") or []) if a < len(turns) else []
            if b is None or b >= len(nearest):
                return None
            ref = nearest[b]
            return reader.chapter_pane(assistant, ref["source"], ref.get("chapter_number"), ref.get("title") or "")
        chapters = assistant.chapters()
        if a >= len(chapters):
            return None
        ch = chapters[a]
        section = ch.sections[b] if kind == "sec" and b is not None and b < len(ch.sections) else None
        return reader.chapter_pane(assistant, ch.source, ch.chapter_number, ch.title, section=section)
    except NoIndexError:
        return reader.message_pane(NO_INDEX)
    except HandbookError as exc:
        return reader.message_pane(str(exc))


def turn_of_message(state: State | None, index: int) -> dict[str, Any] | None:
    """The turn an assistant message belongs to (the chat's message index counts user messages too)."""
    i = 0
    for turn in clean_state(state)["turns"]:
        if turn["question"].strip():
            i += 1
        if i == index:
            return turn
        i += 1
    return None


def rating_of(liked: Any) -> int:
    """Gradio's like value as +1 / -1 / 0 (0: the user took the rating back)."""
    if liked is True or liked == "Like":
        return 1
    if liked is False or liked == "Dislike":
        return -1
    return 0


def rate(state: State | None, index: int, liked: Any, qa_log: QaLog | None) -> int | None:
    """Store a thumbs up/down for the answer at message index; returns its log id (None if it cannot be rated)."""
    turn = turn_of_message(state, index)
    if qa_log is None or turn is None or not turn.get("log_id"):
        return None
    qa_log.feedback(int(turn["log_id"]), rating_of(liked))
    return int(turn["log_id"])


def comment(log_id: int | None, text: str, qa_log: QaLog | None) -> bool:
    """Attach the optional comment to the answer just rated; False when there is nothing to attach it to."""
    if qa_log is None or not log_id or not (text or "").strip():
        return False
    qa_log.comment(int(log_id), text)
    return True
