"""The assistant: a question in, a cited Answer out (extractive by default), with refusals when the handbook is silent."""
from __future__ import annotations

import json
import threading
import time
from typing import Iterator

import numpy as np

from . import prompts
from .catalog import TocEntry
from .citations import cite
from .documents import Answer, ChapterRef, Chunk, Citation
from .embedding import load_embedder
from .errors import BackendError, QuestionError
from .extractive import (Candidate, CandidateVectors, candidates, relevance_score, score_alone, score_candidates,
                         select, sentence_vectors)
from .intents import is_follow_up, structure_intent, switches_topic, wants_number
from .language import detect_language
from .retrieval import Hit, Retriever, fuse, nearest_chapters
from .sentences import split_sentences
from .settings import Settings
from .store import Store

History = list[tuple[str, str]]


class Assistant:
    """Everything needed to answer: the store, the embedding model and the retriever, loaded once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings)
        self.embedder = load_embedder(settings)
        self.vectors = CandidateVectors(self.store.catalog.sentence_vectors, sentence_vectors(self.embedder))
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    @property
    def retriever(self) -> Retriever:
        """Rebuilt when an ingest has changed the catalog since it was made."""
        with self._lock:
            gen = self.store.catalog.generation()
            if self._retriever is None or self._retriever.generation != gen:
                self._retriever = Retriever(self.store, self.embedder, self.settings.retrieval)
            return self._retriever

    def chapters(self) -> list[ChapterRef]:
        return self.store.catalog.chapters()

    def document(self, source: str) -> list[dict] | None:
        """The sections of one ingested document, for the reading pane; None for anything not ingested."""
        body = self.store.catalog.document(source)
        return None if body is None else json.loads(body)

    def ask(self, question: str, history: History | None = None) -> Answer:
        """Answer one question; history is the conversation so far as (question, answer) pairs."""
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: History | None = None) -> Iterator[str | Answer]:
        """Yield pieces of answer text as they are composed, then the finished Answer."""
        t0 = time.perf_counter()
        question = " ".join(question.split())
        lang = detect_language(question)
        if not question:
            raise QuestionError(prompts.EMPTY_QUESTION[lang])
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(prompts.TOO_LONG[lang].format(length=len(question),
                                                               limit=self.settings.max_question_chars))
        retriever = self.retriever
        intent = structure_intent(question)
        if intent:
            answer = self._structure_answer(question, lang, intent, retriever)
            if answer is not None:
                answer.timings_ms = {"retrieval": 0.0, "answer": _ms(t0), "total": _ms(t0)}
                yield answer.answer
                yield answer
                return
        query = question
        if history and self.settings.llm != "extractive":
            from .generative import condense

            query = condense(question, history, self.settings)
        elif history and is_follow_up(question):
            query = f"{question} {history[-1][0]}"
        hits = retriever.retrieve(query, self.settings.top_k)
        if query != question and switches_topic(question):
            hits = fuse(retriever.retrieve(question, self.settings.top_k), hits)[:self.settings.top_k]
            for rank, hit in enumerate(hits, 1):
                hit.rank = rank
        t1 = time.perf_counter()
        cands = self._candidates(question, query, hits, retriever)
        relevance = relevance_score(cands, lang)
        if relevance < self.settings.refusal_threshold or not cands:
            answer = self._refusal(question, lang, hits, relevance)
        elif self.settings.llm != "extractive":
            answer = yield from self._generate(question, lang, hits, cands, relevance, history or [])
        else:
            answer = self._extract(question, lang, hits, cands, relevance)
        answer.timings_ms = {"retrieval": (t1 - t0) * 1000, "answer": _ms(t1), "total": _ms(t0)}
        if answer.kind != "generative":
            for piece in _pieces(answer.answer):
                yield piece
        yield answer

    def _generate(self, question: str, lang: str, hits: list[Hit], cands: list[Candidate], relevance: float,
                  history: History) -> Iterator[str | Answer]:
        """An LLM answer streamed token by token; when the backend fails, the extractive answer with a notice."""
        from .generative import generate

        try:
            answer = None
            for item in generate(question, lang, hits, history, self.settings, self.embedder):
                if isinstance(item, Answer):
                    answer = item
                else:
                    yield item
            if answer is None:
                raise BackendError("the backend returned no answer")
            answer.score = relevance
            return answer
        except BackendError as exc:
            answer = self._extract(question, lang, hits, cands, relevance)
            answer.notice = prompts.FALLBACK_NOTICE[lang].format(reason=str(exc))
            return answer

    def _candidates(self, question: str, query: str, hits: list[Hit], retriever: Retriever) -> list[Candidate]:
        """Score sentences against the question; in a follow-up the earlier question counts half."""
        vecs = self.embedder.embed_queries([question] if query == question else [question, query])
        qvec = vecs[0] if len(vecs) == 1 else _unit(vecs[0] + vecs[1])
        context = "" if query == question else query.removeprefix(question)
        cands = candidates(hits)
        score_candidates(question, qvec, cands, self.vectors, retriever.idf, wants_number(question), context)
        score_alone(cands, qvec, self.vectors.fallback)
        return cands

    def _extract(self, question: str, lang: str, hits: list[Hit], cands: list[Candidate],
                 relevance: float) -> Answer:
        chosen = select(cands, self.settings.max_sentences)
        citations: list[Citation] = []
        parts: list[str] = []
        for n, c in enumerate(chosen, 1):
            citation = cite(n, c.hit.chunk, c.start, c.end)
            citations.append(citation)
            parts.append(f"{citation.quote} [{n}]")
        text = prompts.ANSWER_INTRO[lang] + " ".join(parts)
        return Answer(question=question, answer=text, refused=False, citations=citations, language=lang,
                      score=relevance, nearest=nearest_chapters(hits))

    def _refusal(self, question: str, lang: str, hits: list[Hit], relevance: float) -> Answer:
        nearest = nearest_chapters(hits)
        text = prompts.REFUSAL[lang]
        if nearest:
            text += prompts.REFUSAL_NEAREST[lang].format(chapters="; ".join(r.label for r in nearest))
        return Answer(question=question, answer=text, refused=True, language=lang, score=relevance, nearest=nearest)

    def _structure_answer(self, question: str, lang: str, intent: str, retriever: Retriever) -> Answer | None:
        """Lists of chapters, partner types or cases come from the recorded contents, not from top-k."""
        toc = self.store.catalog.toc()
        if intent == "actors":
            firsts = _first_entries(e for e in toc if e.actor)
            firsts.sort(key=lambda e: e.actor or 0)
            heading = prompts.TOC_ACTORS[lang]
        elif intent == "cases":
            firsts = [e for e in toc if e.kind == "case"]
            heading = prompts.TOC_CASES[lang]
        else:
            firsts = _first_entries(toc)
            heading = prompts.TOC_CHAPTERS[lang]
        if not firsts:
            return None
        lines, citations = [heading], []
        for n, entry in enumerate(firsts, 1):
            chunk = _first_chunk(retriever, entry)
            label = entry.section_title if intent == "cases" else _chapter_label(entry)
            if intent == "actors":
                label = f"{entry.actor}. {entry.chapter_title}"
            if chunk is None:
                lines.append(f"- {label}")
                continue
            s, e = split_sentences(chunk.text)[0]
            citations.append(cite(len(citations) + 1, chunk, s, e))
            lines.append(f"- {label} [{len(citations)}]")
        return Answer(question=question, answer="\n".join(lines), refused=False, citations=citations,
                      language=lang, kind=f"contents:{intent}", score=1.0)


def _chapter_label(e: TocEntry) -> str:
    return f"{e.chapter_number}. {e.chapter_title}" if e.chapter_number is not None else e.chapter_title


def _first_entries(entries) -> list[TocEntry]:
    seen, out = set(), []
    for e in entries:
        key = (e.source, e.chapter_number, e.chapter_title)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _first_chunk(retriever: Retriever, entry: TocEntry) -> Chunk | None:
    best = None
    for c in retriever.chunks.values():
        if c.source == entry.source and c.section_title == entry.section_title and c.chapter_title == entry.chapter_title:
            if best is None or c.position < best.position:
                best = c
    return best


def _pieces(text: str) -> Iterator[str]:
    words = text.split(" ")
    for i in range(0, len(words), 4):
        yield " ".join(words[i:i + 4]) + (" " if i + 4 < len(words) else "")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
