"""The assistant: a question in, a cited Answer out (extractive by default), with refusals when the handbook is silent.

One question takes one path: `retrieve` (the query actually sent, the passages, the scored sentences and the
relevance the refusal reads), then `stream` composes the Answer from exactly that. The evals and benchmarks call
`retrieve` too, so they measure what users get.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from assistant.answer import prompts
from assistant.answer.citations import cite
from assistant.answer.extractive import (
    Candidate,
    CandidateVectors,
    candidates,
    relevance_score,
    score_candidates,
    select,
    sentence_vectors,
)
from assistant.answer.intents import (
    STRUCTURE_EXAMPLES,
    STRUCTURE_SIMILARITY,
    STRUCTURE_WORDS,
    is_follow_up,
    structure_intent,
    switches_topic,
    wants_list,
    wants_number,
)
from assistant.answer.language import detect_language
from assistant.answer.sentences import split_sentences
from assistant.answer.spans import answer_span
from assistant.datamodel import Answer, ChapterRef, Chunk, Citation
from assistant.errors import BackendError, ModelError, QuestionError
from assistant.index.catalog import TocEntry
from assistant.index.store import Store
from assistant.markers import marker
from assistant.model.calibration import refusal_threshold
from assistant.model.embedding import embedding_precision, load_embedder
from assistant.retrieval.retriever import Hit, Retriever, fuse, nearest_chapters
from assistant.settings import Settings

History = list[tuple[str, str]]
PIECE_WORDS = 4  # an extractive answer is shown a few words at a time, like a generated one


@dataclass
class Retrieval:
    """What answering works from: the query actually used, the passages, the scored sentences, the relevance."""

    question: str
    language: str
    query: str
    hits: list[Hit] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    relevance: float = 0.0
    intent: str | None = None
    started: float = 0.0
    seconds: float = 0.0


class Assistant:
    """Everything needed to answer: the store, the embedding model and the retriever, loaded once."""

    def __init__(self, settings: Settings) -> None:
        self.store = Store(settings)
        self._wanted = embedding_precision(settings)
        self._use_index_precision(settings)
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()

    def _use_index_precision(self, settings: Settings) -> None:
        """Queries take the precision the index was embedded with (the other's vectors are not comparable), and so
        does the refusal threshold; answers say so until an ingest re-embeds with the precision asked for."""
        meta = self.store.catalog.get_meta
        precision = meta("embed_precision") or ("fp32" if meta("embed_model") else self._wanted)
        self.settings = replace(settings, embed_precision=precision)
        self.embedder = load_embedder(settings, precision)
        if self.embedder.precision != precision:
            raise ModelError(f"The index was embedded with the {precision} model, which cannot run here "
                             f"({self.embedder.precision_reason}); run `handbook setup`, or `handbook ingest` with "
                             f"HANDBOOK_EMBED_PRECISION={self.embedder.precision} to re-embed it.")
        self.vectors = CandidateVectors(self.store.catalog.sentence_views, sentence_vectors(self.embedder))
        self._examples: list[tuple[str, np.ndarray]] | None = None
        self.precision_notice = None if precision == self._wanted else prompts.PRECISION_NOTICE

    def close(self) -> None:
        self.store.close()

    @property
    def retriever(self) -> Retriever:
        """Rebuilt when an ingest has changed the catalog since it was made."""
        with self._lock:
            gen = self.store.catalog.generation()
            if self._retriever is not None and self._retriever.generation != gen and self._precision_changed():
                self.store.collection = self.store.open_collection()  # re-embedding made a new collection
                self._use_index_precision(replace(self.settings, embed_precision=self._wanted))
            if self._retriever is None or self._retriever.generation != gen:
                self._retriever = Retriever(self.store, self.embedder, self.settings.retrieval)
            return self._retriever

    def _precision_changed(self) -> bool:
        return (self.store.catalog.get_meta("embed_precision") or "fp32") != self.settings.embed_precision

    def chapters(self) -> list[ChapterRef]:
        return self.store.catalog.chapters()

    def document(self, source: str) -> list[dict] | None:
        """The sections of one ingested document, for the reading pane; None for anything not ingested."""
        body = self.store.catalog.document(source)
        return None if body is None else json.loads(body)

    def ask(self, question: str, history: History | None = None) -> Answer:
        """Answer one question; history is the conversation so far as (question, answer) pairs."""
        return self.finish(self.retrieve(question, history), history)

    def stream(self, question: str, history: History | None = None) -> Iterator[Answer]:
        """Yield draft Answers (draft=True) as the text grows, then the finished, cited Answer."""
        return self.compose(self.retrieve(question, history), history)

    def finish(self, found: Retrieval, history: History | None = None) -> Answer:
        """The finished Answer to a retrieval (what `ask` returns), for callers that also read the retrieval."""
        answer = None
        for answer in self.compose(found, history):
            pass
        assert answer is not None and not answer.draft
        return answer

    def retrieve(self, question: str, history: History | None = None) -> Retrieval:
        """The one retrieval step of a question: validated, condensed with the conversation, searched and scored."""
        started = time.perf_counter()
        question = " ".join(question.split())
        lang = detect_language(question)
        if not question:
            raise QuestionError(prompts.EMPTY_QUESTION[lang])
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(prompts.TOO_LONG[lang].format(length=len(question),
                                                               limit=self.settings.max_question_chars))
        found = Retrieval(question, lang, question, intent=structure_intent(question) or self._structure_by_meaning(
            question), started=started)
        retriever = self.retriever
        query = self._query(question, history)
        hits = retriever.retrieve(query, self.settings.top_k)
        if query != question and switches_topic(question):
            hits = fuse(retriever.retrieve(question, self.settings.top_k), hits)[:self.settings.top_k]
            for rank, hit in enumerate(hits, 1):
                hit.rank = rank
        found.query, found.hits = query, hits
        found.candidates = self._candidates(question, query, hits, retriever)
        found.relevance = relevance_score(query, lang, found.candidates, retriever.idf, retriever.known)
        found.seconds = time.perf_counter() - started
        return found

    def _structure_by_meaning(self, question: str) -> str | None:
        """A list of the book's parts asked in other words: the nearest example question, if close enough."""
        if self._examples is None:
            self._examples = [(intent, vec) for intent, texts in STRUCTURE_EXAMPLES.items()
                              for vec in self.embedder.embed_queries(list(texts))]
        qvec = self.embedder.embed_queries([question])[0]
        intent, sim = max(((i, float(v @ qvec)) for i, v in self._examples), key=lambda t: t[1])
        return intent if sim >= STRUCTURE_SIMILARITY and STRUCTURE_WORDS[intent].search(question) else None

    def _query(self, question: str, history: History | None) -> str:
        """What retrieval searches for: a follow-up carries the earlier question (or the LLM's rewrite of both)."""
        if history and self.settings.llm != "extractive":
            from assistant.answer.generative import condense

            return condense(question, history, self.settings)
        if history and is_follow_up(question):
            return f"{question} {history[-1][0]}"
        return question

    def compose(self, found: Retrieval, history: History | None = None) -> Iterator[Answer]:
        """The answer to one retrieval: drafts while it is composed, then the finished Answer."""
        t1 = time.perf_counter()
        answer = self._contents(found) if found.intent else None
        threshold = refusal_threshold(self.settings, found.language)
        if answer is None and (found.relevance < threshold or not found.candidates):
            answer = self._refusal(found)
        elif answer is None and self.settings.llm != "extractive":
            answer = yield from self._generate(found, history or [])
        elif answer is None:
            answer = self._extract(found)
        if answer.kind != "generative":
            words = answer.answer.split(" ")
            for i in range(PIECE_WORDS, len(words), PIECE_WORDS):
                yield Answer(found.question, " ".join(words[:i]) + " ", False, language=found.language, draft=True)
        if self.precision_notice:
            line = self.precision_notice[found.language].format(index=self.settings.embed_precision,
                                                                  wanted=self._wanted)
            answer.notice = line if not answer.notice else f"{answer.notice} {line}"
        answer.timings_ms = {"retrieval": found.seconds * 1000, "answer": _ms(t1), "total": _ms(found.started)}
        yield answer

    def _answer(self, found: Retrieval, text: str, citations: list[Citation] | None = None, *, refused: bool = False,
                kind: str = "extractive", notice: str | None = None, sentences: list[dict] | None = None,
                score: float | None = None) -> Answer:
        """Every Answer is assembled here, from the retrieval it answers."""
        return Answer(question=found.question, answer=text, refused=refused, citations=citations or [],
                      language=found.language, kind=kind, score=found.relevance if score is None else score,
                      nearest=nearest_chapters(found.hits) if refused or kind == "extractive" else [],
                      notice=notice, sentences=sentences or [])

    def _generate(self, found: Retrieval, history: History) -> Iterator[Answer]:
        """An LLM answer streamed token by token; when the backend fails, the extractive answer with a notice."""
        from assistant.answer import generative

        text = ""
        try:
            for token in generative.stream_text(found.question, found.language, found.hits, history, self.settings):
                text += token
                yield Answer(found.question, text, False, language=found.language, kind="generative", draft=True)
            checked = generative.verify(found.question, found.language, text, found.hits, self.settings,
                                        self.embedder)
        except BackendError as exc:
            answer = self._extract(found)
            answer.notice = prompts.FALLBACK_NOTICE[found.language].format(reason=str(exc))
            return answer
        return self._answer(found, checked.text, checked.citations, refused=checked.refused, kind="generative",
                            sentences=checked.sentences)

    def _candidates(self, question: str, query: str, hits: list[Hit], retriever: Retriever) -> list[Candidate]:
        """Score sentences against the question; in a follow-up the earlier question counts half."""
        vecs = self.embedder.embed_queries([question] if query == question else [question, query])
        qvec = vecs[0] if len(vecs) == 1 else _unit(vecs[0] + vecs[1])
        cands = candidates(hits)
        score_candidates(question, qvec, cands, self.vectors, retriever.idf, wants_number(question))
        return cands

    def _extract(self, found: Retrieval) -> Answer:
        citations, parts = [], []
        chosen = select(found.candidates, self.settings.max_sentences, wants_list=wants_list(found.question))
        for n, c in enumerate(chosen, 1):
            citation = cite(n, c.hit.chunk, c.start, c.end)
            citations.append(citation)
            parts.append(f"{citation.quote} {marker(n)}")
        answer = self._answer(found, prompts.ANSWER_INTRO[found.language] + " ".join(parts), citations)
        span = answer_span(found.question, citations[0].quote, wants_number(found.question)) if citations else None
        answer.answer_span = None if span is None else {"citation": 1, "start": span[0], "end": span[1]}
        return answer

    def _refusal(self, found: Retrieval) -> Answer:
        nearest = nearest_chapters(found.hits)
        text = prompts.REFUSAL[found.language]
        if nearest:
            text += prompts.REFUSAL_NEAREST[found.language].format(chapters="; ".join(r.label for r in nearest))
        return self._answer(found, text, refused=True)

    def _contents(self, found: Retrieval) -> Answer | None:
        """Lists of chapters, partner types or cases come from the recorded contents, not from top-k."""
        intent, lang = found.intent, found.language
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
        first_chunks = self._first_chunks()
        for entry in firsts:
            chunk = first_chunks.get((entry.source, entry.chapter_title, entry.section_title))
            label = entry.section_title if intent == "cases" else entry.label
            if intent == "actors":
                label = f"{entry.actor}. {entry.chapter_title}"
            if chunk is None:
                lines.append(f"- {label}")
                continue
            s, e = split_sentences(chunk.text)[0]
            citations.append(cite(len(citations) + 1, chunk, s, e))
            lines.append(f"- {label} {marker(len(citations))}")
        return self._answer(found, "\n".join(lines), citations, kind=f"contents:{intent}", score=1.0)

    def _first_chunks(self) -> dict[tuple[str, str, str], Chunk]:
        """The first chunk of every section, keyed by (source, chapter title, section title)."""
        out: dict[tuple[str, str, str], Chunk] = {}
        for c in self.retriever.chunks.values():
            key = (c.source, c.chapter_title, c.section_title)
            if key not in out or c.position < out[key].position:
                out[key] = c
        return out


def _first_entries(entries) -> list[TocEntry]:
    seen, out = set(), []
    for e in entries:
        key = (e.source, e.chapter_number, e.chapter_title)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
