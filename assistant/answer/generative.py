"""Generated answers from an LLM endpoint the user runs, streamed, then checked sentence by sentence.

Both backends go through llama-index's OpenAILike: any OpenAI-compatible server (vLLM, llama.cpp server, a hosted
API) and Ollama, whose OpenAI-compatible API lives under /v1 (so no llama-index Ollama package is needed).
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from assistant.answer import prompts
from assistant.answer.citations import cite
from assistant.answer.sentences import split_sentences
from assistant.answer.verification import SentenceCheck, check, render
from assistant.datamodel import Citation
from assistant.errors import BackendError
from assistant.markers import strip_markers
from assistant.model.embedding import Embedder
from assistant.retrieval.retriever import Hit
from assistant.retrieval.terms import terms
from assistant.settings import Settings

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434/v1"
MAX_TOKENS = 512            # an answer of a few cited sentences
CONDENSE_MAX_TOKENS = 96
TEMPERATURE = 0.1           # near-deterministic: we want the passages restated, not creativity
HISTORY_TURNS = 1           # earlier turns shown to the model; retrieval already used the conversation
MAX_HISTORY_CHARS = 600

History = list[tuple[str, str]]
_ANSWER_LABEL = re.compile(r"^\s*(?:svar|answer)\s*:\s*", re.I)  # small models echo the prompt's "Svar:"


def _reason(key: str, lang: str, **values: Any) -> str:
    return prompts.BACKEND_REASONS[key].get(lang, prompts.BACKEND_REASONS[key]["en"]).format(**values)


def endpoint_url(settings: Settings, lang: str = "en") -> str:
    """The base URL of the OpenAI-compatible API; an Ollama URL gets its /v1 suffix when it lacks one."""
    if settings.llm == "ollama":
        url = (settings.llm_url or DEFAULT_OLLAMA_URL).rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"
    if not settings.llm_url:
        raise BackendError(_reason("no_url", lang))
    return settings.llm_url.rstrip("/")


def _where(url: str) -> str:
    """host:port only, so a URL with credentials in it never reaches a message."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname or url)


def make_llm(settings: Settings, max_tokens: int | None = None, lang: str = "en") -> Any:
    """A llama-index OpenAILike client for the configured backend; the key comes from the named variable."""
    from llama_index.llms.openai_like import OpenAILike

    url = endpoint_url(settings, lang)
    if not settings.llm_model:
        raise BackendError(_reason("no_model", lang))
    key = os.environ.get(settings.llm_api_key_env or "", "") or "none"
    tokens = max_tokens or MAX_TOKENS
    return OpenAILike(model=settings.llm_model, api_base=url, api_key=key, is_chat_model=True, max_retries=0,
                      timeout=settings.llm_timeout, max_tokens=tokens, temperature=TEMPERATURE)


def _stream(llm: Any, messages: list[Any], settings: Settings, lang: str) -> Iterator[str]:
    """Token deltas; every transport failure becomes a BackendError with one short reason."""
    import httpx
    import openai

    where, seconds = _where(str(llm.api_base)), settings.llm_timeout
    deadline = time.monotonic() + seconds
    try:
        for chunk in llm.stream_chat(messages):
            if chunk.delta:
                yield chunk.delta
            if time.monotonic() > deadline:
                raise BackendError(_reason("timeout", lang, seconds=seconds))
    except (openai.APITimeoutError, httpx.TimeoutException):
        raise BackendError(_reason("timeout", lang, seconds=seconds)) from None
    except (openai.APIConnectionError, httpx.TransportError, ConnectionError):
        raise BackendError(_reason("unreachable", lang, where=where)) from None
    except openai.APIStatusError as exc:
        raise BackendError(_reason("refused", lang, where=where, status=exc.status_code)) from None
    except (openai.OpenAIError, httpx.HTTPError, OSError, ValueError) as exc:
        raise BackendError(_reason("failed", lang, where=where, kind=type(exc).__name__)) from None


def passages_block(hits: list[Hit]) -> str:
    """The numbered passages of the prompt; [n] here is the n the answer must cite."""
    blocks = []
    for n, hit in enumerate(hits, 1):
        c = hit.chunk
        titles = [c.chapter_title] + ([c.section_title] if c.section_title != c.chapter_title else [])
        where = " – ".join(t for t in titles if t) or c.source  # no chapter number: small models echo it
        blocks.append(prompts.GENERATIVE_PASSAGE.format(n=n, where=where, text=c.text.strip()))
    return "\n\n".join(blocks)


def _short(answer: str) -> str:
    text = " ".join(strip_markers(answer).split())
    return text if len(text) <= MAX_HISTORY_CHARS else text[:MAX_HISTORY_CHARS].rsplit(" ", 1)[0] + " …"


def build_messages(question: str, lang: str, hits: list[Hit], history: History) -> list[Any]:
    """System prompt, then one user message: earlier turn(s), numbered passages, the question, the language."""
    from llama_index.core.llms import ChatMessage

    turns = [prompts.HISTORY_TURN.format(question=q, answer=_short(a)) for q, a in history[-HISTORY_TURNS:]]
    user = prompts.GENERATIVE_USER_PROMPT.format(passages=passages_block(hits), question=question,
                                                 language=prompts.ANSWER_LANGUAGE.get(lang, ""))
    return [ChatMessage(role="system", content=prompts.GENERATIVE_SYSTEM_PROMPT),
            ChatMessage(role="user", content="\n\n".join(turns + [user]))]


def stream_text(question: str, lang: str, hits: list[Hit], history: History, settings: Settings, *,
                max_tokens: int | None = None) -> Iterator[str]:
    """Yield the model's text as it writes it; BackendError when the backend fails."""
    if not hits:
        raise BackendError(_reason("empty", lang))
    llm = make_llm(settings, max_tokens, lang)
    yield from _stream(llm, build_messages(question, lang, hits, history), settings, lang)


@dataclass
class Checked:
    """A generated answer after verification: what is shown, and the evidence for it."""

    text: str
    refused: bool
    citations: list[Citation]
    sentences: list[dict[str, Any]]


def verify(question: str, lang: str, generated: str, hits: list[Hit], settings: Settings,
           embedder: Embedder) -> Checked:
    """Check every sentence against the passages it cites; mark or remove the unsupported ones."""
    text = _ANSWER_LABEL.sub("", generated).strip()
    if not strip_markers(text):
        raise BackendError(_reason("empty", lang))
    claims = check(text, [h.chunk.text for h in hits], embedder)
    shown = render(text, claims, settings.unsupported, lang)
    kept = claims if settings.unsupported == "mark" else [c for c in claims if c.supported]
    if not strip_markers(shown):
        raise BackendError(_reason("unsupported", lang))
    refused = bool(kept) and all(c.refusal for c in kept)
    return Checked(shown, refused, _citations(kept, hits), [c.to_json() for c in claims])


def _citations(claims: list[SentenceCheck], hits: list[Hit]) -> list[Citation]:
    """One citation per passage cited; its quote is the passage sentence that best supports a citing sentence."""
    out: list[Citation] = []
    order = list(dict.fromkeys(n for c in claims for n in c.citations if 1 <= n <= len(hits)))
    for n in order:
        citing = [c for c in claims if n in c.citations]
        best = max(citing, key=lambda c: (c.supported, n in c.best, c.semantic))
        chunk = hits[n - 1].chunk
        spans = split_sentences(chunk.text) or [(0, len(chunk.text))]
        start, end = best.best.get(n, spans[0])
        citation = cite(n, chunk, start, end)
        citation.supported = any(c.supported for c in citing)
        out.append(citation)
    return out


def condense(question: str, history: History, settings: Settings) -> str:
    """A follow-up rewritten to stand alone, for retrieval; the question itself when there is nothing to do or
    the backend fails (generate will then report the failure) or the rewrite shares no word with the conversation."""
    if not history or settings.llm == "extractive":
        return question
    turns = [prompts.CONDENSE_HISTORY_TURN.format(question=q, answer=_short(a)) for q, a in history[-2:]]
    prompt = prompts.CONDENSE_PROMPT.format(history="\n".join(turns), question=question)
    try:
        from llama_index.core.llms import ChatMessage

        llm = make_llm(settings, CONDENSE_MAX_TOKENS)
        text = "".join(_stream(llm, [ChatMessage(role="user", content=prompt)], settings, "en"))
    except BackendError:
        return question
    lines = [line.strip().strip('"“”') for line in text.strip().splitlines() if line.strip()]
    rewrite = lines[0] if lines else ""
    known = set(terms(question + " " + " ".join(q for q, _ in history[-2:])))
    if not rewrite or len(rewrite) > max(300, 4 * len(question)) or not set(terms(rewrite)) & known:
        return question
    return rewrite
