"""The extractive answer: pick the few sentences of the retrieved passages that answer the question, best first."""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.answer.scorer import (
    mixed,
    question_features,
    question_model,
    sentence_bonus,
)
from assistant.answer.sentences import clean_sentence, split_sentences
from assistant.index.catalog import SentenceViews
from assistant.model.embedding import Embedder
from assistant.retrieval.retriever import Hit
from assistant.retrieval.terms import terms

# Chosen on the dev sets (docs/evals.md, "Ablation"); the test sets were run once per change, never tuned on.
MIN_WORDS = 3               # shorter sentences are candidates only when they hold a number
POOL_HITS = 6               # sentences come from the best this many passages
SELECT_MARGIN = 0.03        # a further sentence joins the answer only when it scores this close to the best one
LIST_MARGIN = 0.05          # a question that asks for a list takes in more of what is close
LIST_SENTENCES = 6          # ... and up to this many sentences
CONTINUE_MARGIN = 0.08      # the sentences after the best one in its passage continue a list while this close
DUPLICATE_OVERLAP = 0.7     # share of shared terms above which a sentence repeats one already chosen
_DIGIT = re.compile(r"\d")
_URL = re.compile(r"https?://\S+|www\.\S+")


@dataclass
class Candidate:
    """One sentence of a retrieved chunk and how likely it is to hold what the question asks."""

    hit: Hit
    start: int
    end: int
    text: str
    alone: float = 0.0
    pooled: float = 0.0
    score: float = 0.0
    lead: float = 0.0   # the score against the adapted question: which chosen sentence goes first


class SentenceVectors:
    """Embeddings of sentences, cached, so a popular passage is embedded only once per process."""

    def __init__(self, embedder: Embedder, size: int = 20000) -> None:
        self.embedder, self.size = embedder, size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(missing, self.embedder.embed_passages(missing, batch_size=64))) if missing else {}
        with self._lock:
            self._cache.update(fresh)
            out = np.stack([self._cache[t] if t in self._cache else fresh[t] for t in texts])
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return out


class CandidateVectors:
    """Both views of each candidate sentence, made at ingest; embeds only what an older index lacks.

    Looking them up instead of embedding ~40 sentences per question keeps an answer at the cost of one query
    embedding (docs/benchmarks.md).
    """

    def __init__(self, lookup: Callable[[list[str]], dict[str, SentenceViews]], fallback: SentenceVectors) -> None:
        self.lookup, self.fallback = lookup, fallback

    def __call__(self, cands: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """(pooled, alone) rows; a sentence without a stored view gets its alone vector in both."""
        stored = self.lookup([c.hit.chunk.id for c in cands])
        views = [stored.get(c.hit.chunk.id, {}).get((c.start, c.end), (None, None)) for c in cands]
        missing = [c.text for c, (_, alone) in zip(cands, views) if alone is None]
        fresh = iter(self.fallback(missing)) if missing else iter(())
        alone = [a if a is not None else next(fresh) for _, a in views]
        pooled = [p if p is not None else a for (p, _), a in zip(views, alone)]
        return np.stack(pooled), np.stack(alone)


_SHARED: dict[int, SentenceVectors] = {}
_SHARED_LOCK = threading.Lock()


def sentence_vectors(embedder: Embedder) -> SentenceVectors:
    """One sentence-vector cache per embedder, shared by extraction and verification."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(id(embedder), SentenceVectors(embedder))


def readable(text: str) -> bool:
    """A sentence a reader can take as an answer: words, not a formula fragment, table row, link list or stray line."""
    words = text.split()
    if len(words) < MIN_WORDS and not (_DIGIT.search(text) and len(words) >= 2):
        return False
    bare = _URL.sub(" ", text)
    if len(bare.strip()) < 0.6 * len(text.strip()):
        return False
    chars = [ch for ch in bare if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in chars)
    wordlike = sum(1 for w in bare.split() if sum(ch.isalpha() for ch in w) >= 2)
    return bool(chars) and letters >= 0.65 * len(chars) and wordlike >= 0.6 * max(1, len(bare.split()))


def candidates(hits: list[Hit]) -> list[Candidate]:
    """The readable sentences of all retrieved passages."""
    out = []
    for hit in hits[:POOL_HITS]:
        for s, e in split_sentences(hit.chunk.text):
            text = clean_sentence(hit.chunk.text[s:e])
            if readable(text):
                out.append(Candidate(hit, s, e, text))
    return out


def score_candidates(question: str, query_vec: np.ndarray, cands: list[Candidate], vectors: CandidateVectors,
                     idf: Callable[[str], float], kind: str | None, rank_vec: np.ndarray | None = None) -> None:
    """Each candidate's cosines (both views, what answerability reads) and its score for holding what is asked
    (scorer.mixed + scorer.sentence_bonus), computed against rank_vec (the adapted question) where given."""
    if not cands:
        return
    pooled_vecs, alone_vecs = vectors(cands)
    pooled, alone = pooled_vecs @ query_vec, alone_vecs @ query_vec
    bonus = sentence_bonus(question, [c.text for c in cands], idf, kind)
    scores = mixed(alone, pooled) + bonus
    leads = scores if rank_vec is None else mixed(alone_vecs @ rank_vec, pooled_vecs @ rank_vec) + bonus
    for c, p, a, score, lead in zip(cands, pooled, alone, scores, leads):
        c.pooled, c.alone, c.score, c.lead = float(p), float(a), float(score), float(lead)


def relevance_score(question: str, crosslingual: bool, cands: list[Candidate], idf: Callable[[str], float],
                    known: Callable[[str], bool]) -> float:
    """The probability that the handbook answers the question; below the calibrated threshold we refuse."""
    if not cands:
        return 0.0
    x = question_features(question, crosslingual, *candidate_arrays(cands), idf, known)
    return float(question_model().probability(x[None, :])[0])


def candidate_arrays(cands: list[Candidate]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alone cosines, pooled cosines, passage cosines) of the candidates, what the question model reads."""
    return (np.asarray([c.alone for c in cands]), np.asarray([c.pooled for c in cands]),
            np.asarray([c.hit.dense if c.hit.dense is not None else c.hit.score for c in cands]))


def select(cands: list[Candidate], max_sentences: int, *, wants_list: bool = False) -> list[Candidate]:
    """The best sentence first, then only those nearly as likely to hold a fact, without near-duplicates.

    A list is usually written as consecutive sentences, so a list question first takes the sentences that follow
    the best one in its passage, then the best of other sections. Outside lists the sentence that the adapted
    question ranks best (`lead`, answer/adapter.py) goes first, joining the answer if the plain score left it out.
    A sentence that asks ("Should Ki67 be tested on request?") is no answer, and one that only announces what
    follows ("Examples include:") is quoted only in a list, after which its items come.
    """
    cands = [c for c in cands if not (asks(c.text) or (announces(c.text) and not wants_list))] or cands
    ranked = sorted(cands, key=lambda c: -c.score)
    if not ranked:
        return []
    best = ranked[0]
    chosen = [best]
    limit = max(max_sentences, LIST_SENTENCES) if wants_list else max_sentences
    if wants_list:
        after = sorted((c for c in cands if c.hit.chunk.id == best.hit.chunk.id and c.start > best.start),
                       key=lambda c: c.start)
        for c in after:
            if len(chosen) >= limit or c.score < best.score - CONTINUE_MARGIN:
                break
            chosen.append(c)
    floor = best.score - (LIST_MARGIN if wants_list else SELECT_MARGIN)
    for c in ranked[1:]:
        if len(chosen) >= limit or c.score < floor:
            break
        if c in chosen or (wants_list and any(_section(c) == _section(o) for o in chosen)):
            continue  # the items of a list stand in different sections: one passage from each
        if not any(_overlap(c.text, o.text) > DUPLICATE_OVERLAP for o in chosen):
            chosen.append(c)
    first = max(cands, key=lambda c: c.lead)
    if first is not best and not wants_list:
        rest = [c for c in chosen if c is not first and _overlap(c.text, first.text) <= DUPLICATE_OVERLAP]
        chosen = [first] + rest[:limit - 1]
    return chosen


def asks(sentence: str) -> bool:
    """Whether a sentence is itself a question (a document's question heading or rhetorical question)."""
    return sentence.rstrip().rstrip("\"'”’»)").endswith("?")


def announces(sentence: str) -> bool:
    """Whether a sentence ends by pointing at what follows it (a colon), so that alone it tells nothing."""
    return sentence.rstrip().endswith(":")


def _section(c: Candidate) -> tuple[str, str]:
    return c.hit.chunk.source, c.hit.chunk.section_title


def _overlap(a: str, b: str) -> float:
    ta, tb = set(terms(a)), set(terms(b))
    return len(ta & tb) / max(1, min(len(ta), len(tb)))
