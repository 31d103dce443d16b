"""The assistant: a question in, a cited Answer out (extractive by default), with refusals when the handbook is silent.

One question takes one path: `retrieve` (the query actually sent, the passages, the scored sentences and the
relevance the refusal reads), then `stream` composes the Answer from exactly that. The evals and benchmarks call
`retrieve` too, so they measure what users get.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice

import numpy as np

from assistant.answer import prompts
from assistant.answer.adapter import adapt, adapter_for
from assistant.answer.citations import cite
from assistant.answer.contents import contents_answer
from assistant.answer.coverage import coverage_for
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
    answer_kind,
    is_follow_up,
    refer_to_book,
    structure_intent,
    switches_topic,
    wants_list,
)
from assistant.answer.language import detect_language, majority_language
from assistant.answer.spans import answer_span
from assistant.datamodel import Answer, ChapterRef, Citation
from assistant.errors import BackendError, ModelError, QuestionError
from assistant.index.store import Store
from assistant.markers import marker
from assistant.model.calibration import refusal_threshold, threshold_language
from assistant.model.embedding import embedding_precision, load_embedder
from assistant.model.language_shift import LanguageShift
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
    coverage: bool = False  # whether relevance is the coverage model's (answer/coverage.py), not the scorer's alone
    vector: np.ndarray | None = None  # the query vector searched
    intent: str | None = None
    sources: list[str] | None = None  # the documents answers may come from; None: all
    documents: str = "da"  # the language most of those documents are written in
    started: float = 0.0
    seconds: float = 0.0


class Assistant:
    """Everything needed to answer: the store, the embedding model and the retriever, loaded once."""

    def __init__(self, settings: Settings) -> None:
        self.store = Store(settings)
        self._wanted = embedding_precision(settings)
        self._use_index_precision(settings)
        self.shift = LanguageShift(self.embedder, settings.models_dir)
        self._retriever: Retriever | None = None
        self._languages: dict[tuple[str, tuple[str, ...] | None], str] = {}
        self._lock = threading.Lock()
        self.adapter = adapter_for(settings.embed_model) if settings.query_adapter else None
        self.coverage = (coverage_for(settings.embed_model, self.settings.embed_precision)
                         if settings.coverage_model else None)
        self._hashes: tuple[str, dict[str, str]] = ("", {})

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

    def warm_up(self) -> None:
        """Load the model and open the index now, so that the first question is not the slow one."""
        _ = self.retriever

    def _precision_changed(self) -> bool:
        return (self.store.catalog.get_meta("embed_precision") or "fp32") != self.settings.embed_precision

    def chapters(self) -> list[ChapterRef]:
        return self.store.catalog.chapters()

    def document(self, source: str) -> list[dict] | None:
        """The sections of one ingested document, for the reading pane; None for anything not ingested."""
        body = self.store.catalog.document(source)
        return None if body is None else json.loads(body)

    def ask(self, question: str, history: History | None = None, sources: Sequence[str] | None = None) -> Answer:
        """Answer one question; history is the conversation so far as (question, answer) pairs; sources: see
        `retrieve`."""
        return self.finish(self.retrieve(question, history, sources), history)

    def stream(self, question: str, history: History | None = None,
               sources: Sequence[str] | None = None) -> Iterator[Answer]:
        """Yield draft Answers (draft=True) as the text grows, then the finished, cited Answer."""
        return self.compose(self.retrieve(question, history, sources), history)

    def finish(self, found: Retrieval, history: History | None = None) -> Answer:
        """The finished Answer to a retrieval (what `ask` returns), for callers that also read the retrieval."""
        answer = None
        for step in self.compose(found, history):
            answer = step
        assert answer is not None and not answer.draft
        return answer

    def sources(self) -> list[str]:
        """The documents in the index, by the source names citations show."""
        return sorted(self.store.catalog.files())

    def retrieve(self, question: str, history: History | None = None,
                 sources: Sequence[str] | None = None) -> Retrieval:
        """The one retrieval step of a question: validated, condensed with the conversation, searched and scored.

        `sources` (names as `handbook toc` shows them) restricts passages, citations, refusals and contents to
        those documents; None or empty means every document.
        """
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
        found.sources = self._checked_sources(sources, lang)
        retriever = self.retriever
        documents = found.documents = self.documents_language(retriever, found.sources)
        lang = found.language = detect_language(question, default=documents)
        conversational = self._query(question, history)
        query = refer_to_book(conversational, lang)
        found.vector = self._vector(query, lang, documents)
        hits = retriever.retrieve(query, self.settings.top_k, found.sources, found.vector)
        if conversational != question and switches_topic(question):
            hits = fuse(retriever.retrieve(question, self.settings.top_k, found.sources,
                                           self._vector(question, lang, documents)), hits)[:self.settings.top_k]
            for rank, hit in enumerate(hits, 1):
                hit.rank = rank
        found.query, found.hits = query, hits
        found.candidates = self._candidates(question, query, lang, documents, hits, retriever)
        crosslingual = lang != documents
        found.relevance = relevance_score(query, crosslingual, found.candidates, retriever.idf, retriever.known)
        if found.candidates and self.coverage_applies({c.hit.chunk.source for c in found.candidates},
                                                      retriever.generation):
            found.relevance, found.coverage = self.coverage.probability(found.relevance, found.vector), True
        found.seconds = time.perf_counter() - started
        return found

    def coverage_applies(self, sources: Iterable[str] | None = None, generation: str | None = None) -> bool:
        """Whether the coverage model knows these documents (None: all indexed), so gives the relevance of a question
        whose candidate sentences all come from them."""
        return self.coverage is not None and self.coverage.applies(self._documents(sources, generation))

    def _documents(self, sources: Iterable[str] | None, generation: str | None = None) -> set[str]:
        """The content hashes of these documents (None: all indexed), read once per catalog generation (the caller's
        retriever knows it already)."""
        generation = generation or self.store.catalog.generation()
        if self._hashes[0] != generation:
            self._hashes = (generation, {s: r.hash for s, r in self.store.catalog.files().items()})
        wanted = None if sources is None else set(sources)
        return {h for s, h in self._hashes[1].items() if wanted is None or s in wanted}

    def _checked_sources(self, sources: Sequence[str] | None, lang: str) -> list[str] | None:
        """The selection as sorted names; None for all; QuestionError naming any document not in the index."""
        if not sources:
            return None
        chosen = sorted(set(sources))
        unknown = [s for s in chosen if s not in self.store.catalog.files()]
        if unknown:
            raise QuestionError(prompts.UNKNOWN_SOURCES[lang].format(sources=", ".join(unknown)))
        return chosen

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
        threshold = refusal_threshold(self.settings, threshold_language(found.language, found.documents,
                                                                        found.coverage))
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
                      notice=notice, sentences=sentences or [], sources=found.sources)

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

    def _vector(self, text: str, language: str, documents: str) -> np.ndarray:
        """The query vector of text; a question in another language than the documents is moved toward theirs
        (model/language_shift.py)."""
        return self.shift.toward(self.embedder.embed_queries([text])[0], language, documents)

    def _candidates(self, question: str, query: str, language: str, documents: str, hits: list[Hit],
                    retriever: Retriever) -> list[Candidate]:
        """Score sentences against the question; in a follow-up the earlier question counts half."""
        qvec = self.question_vector(question, query, language, documents)
        cands = candidates(hits)
        score_candidates(question, qvec, cands, self.vectors, retriever.idf, answer_kind(question),
                         None if self.adapter is None else adapt(qvec, self.adapter))
        return cands

    def question_vector(self, question: str, query: str, language: str, documents: str) -> np.ndarray:
        """What sentences are compared with before the adapter: the question, blended with the query searched where that
        differs (a follow-up carries the earlier question; the book's title is searched as the book)."""
        qvec = self._vector(question, language, documents)
        if query != question:
            qvec = _unit(qvec + self._vector(query, language, documents))
        return qvec

    def documents_language(self, retriever: Retriever, sources: Sequence[str] | None = None) -> str:
        """The language most of the passages answers come from are written in, once per catalog generation."""
        key = (retriever.generation, tuple(sorted(sources)) if sources else None)
        if key not in self._languages:
            texts = (c.text for c in retriever.chunks.values() if not sources or c.source in sources)
            self._languages = {k: v for k, v in self._languages.items() if k[0] == retriever.generation}
            self._languages[key] = majority_language(islice(texts, 500))
        return self._languages[key]

    def _extract(self, found: Retrieval) -> Answer:
        citations, parts = [], []
        chosen = select(found.candidates, self.settings.max_sentences, wants_list=wants_list(found.question))
        for n, c in enumerate(chosen, 1):
            citation = cite(n, c.hit.chunk, c.start, c.end)
            citations.append(citation)
            parts.append(f"{citation.quote} {marker(n)}")
        quoted = majority_language((c.quote for c in citations), default=found.language)
        intro = prompts.ANSWER_INTRO.get((found.language, quoted), "")
        answer = self._answer(found, intro + " ".join(parts), citations)
        span = answer_span(answer_kind(found.question), citations[0].quote) if citations else None
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
        toc = [e for e in self.store.catalog.toc() if found.sources is None or e.source in found.sources]
        listed = contents_answer(found.intent or "", found.language, toc, self.retriever.chunks.values())
        if listed is None:
            return None
        return self._answer(found, listed[0], listed[1], kind=f"contents:{found.intent}", score=1.0)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
