"""The extractive answer: pick the few sentences of the retrieved passages that answer the question."""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from assistant.index.catalog import SpanVectors
from assistant.model.embedding import Embedder
from assistant.retrieval.terms import terms
from assistant.retrieval.retriever import Hit
from assistant.answer.sentences import split_sentences

# The scorer's constants, chosen one at a time on the dev set (docs/evals.md, "Ablation"): each kept the value that
# raised dev key-fact recall without raising false answers; the test set was run once per change, never tuned on.
SENTENCE_POOL_HITS = 5      # sentences come from the best this many passages
RELEVANCE_POOL = 1          # sentences embedded alone for the refusal decision
LEXICAL_WEIGHT = 0.06       # term overlap in the refusal's relevance score
CROSS_LINGUAL_OFFSET = {"en": 0.03}  # English questions share no words with the Danish text
MIN_WORDS = 4               # shorter sentences are candidates only when they hold a number
QUESTION_TERM_WEIGHT = 1.0  # idf weight of a question term in the sentence's term overlap
CONTEXT_TERM_WEIGHT = 0.5   # ... and of a term of the earlier question in a follow-up
SCORE_LEXICAL = 0.03        # term overlap in the sentence score
SCORE_RANK = 0.03           # the passage's retrieval rank, as 1 / (1 + RANK_DECAY * (rank - 1))
RANK_DECAY = 0.25
NUMBER_BONUS = 0.03         # a quantity in the sentence when the question asks for one
SIGNPOST_PENALTY = 0.03     # "Dette kapitel ..." sentences announce content rather than state it
SELECT_MARGIN = 0.035       # sentences within this of the best one join the answer
DUPLICATE_OVERLAP = 0.7     # share of shared terms above which a sentence repeats one already chosen
_DIGIT = re.compile(r"\d")
_SIGNPOST = re.compile(r"^\W*(dette kapitel|kapitlet|i dette kapitel|dette afsnit|afsnittet|i dette afsnit|"
                       r"this chapter|in this chapter|this section)\b", re.IGNORECASE)
_YEARS = re.compile(r"\(?\b(?:19|20)\d\d(?:-\d\d)?\)?|\b\d\. udgave")
_QUANTITY = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:%|procent|pct|mio|mia|kr)|\b(?!(?:19|20)\d\d\b)\d+(?:[.,]\d+)?\b(?!\.\s*udgave)(?!-\d)|"
    r"\b(hver|hvert) (anden|andet|tredje|fjerde|femte|sjette)\b|\b(en|et|to|tre|fire|fem) ud af (to|tre|fire|fem|seks)\b|"
    r"\bhalvdel|\btredjedel|\bfjerdedel|\bprocent\b|\bflertal", re.IGNORECASE)


@dataclass
class Candidate:
    """One sentence of a retrieved chunk and how well it answers the question."""

    hit: Hit
    start: int
    end: int
    text: str
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0
    alone: float | None = None


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
    """Sentence vectors made at ingest, pooled from each chunk's own forward pass; embeds only what is missing.

    Looking them up instead of embedding ~34 sentences per question took a first answer from 1.2 s to the
    cost of one query embedding (docs/benchmarks.md); an index made before they existed still works.
    """

    def __init__(self, lookup: Callable[[list[str]], dict[str, SpanVectors]], fallback: SentenceVectors) -> None:
        self.lookup, self.fallback = lookup, fallback

    def __call__(self, cands: list["Candidate"]) -> np.ndarray:
        stored = self.lookup([c.hit.chunk.id for c in cands])
        found = [stored.get(c.hit.chunk.id, {}).get((c.start, c.end)) for c in cands]
        missing = [c.text for c, v in zip(cands, found) if v is None]
        fresh = iter(self.fallback(missing)) if missing else iter(())
        return np.stack([v if v is not None else next(fresh) for v in found])


_SHARED: dict[int, SentenceVectors] = {}
_SHARED_LOCK = threading.Lock()


def sentence_vectors(embedder: Embedder) -> SentenceVectors:
    """One sentence-vector cache per embedder, shared by extraction and verification."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(id(embedder), SentenceVectors(embedder))


def candidates(hits: list[Hit]) -> list[Candidate]:
    out = []
    for hit in hits[:SENTENCE_POOL_HITS]:
        for s, e in split_sentences(hit.chunk.text):
            text = hit.chunk.text[s:e]
            if len(text.split()) >= MIN_WORDS or _DIGIT.search(text):
                out.append(Candidate(hit, s, e, text))
    return out


def score_candidates(question: str, query_vec: np.ndarray, cands: list[Candidate],
                     vectors: Callable[[list[Candidate]], np.ndarray], idf: Callable[[str], float], wants_number: bool,
                     context: str = "") -> None:
    """Score = similarity to the question + weighted term overlap + the passage's rank + a number bonus."""
    if not cands:
        return
    sims = vectors(cands) @ query_vec
    weights = {t: CONTEXT_TERM_WEIGHT * idf(t) for t in terms(context)}
    weights.update({t: QUESTION_TERM_WEIGHT * idf(t) for t in terms(question)})
    total = sum(weights.values()) or 1.0
    for c, sim in zip(cands, sims):
        s_terms = set(terms(c.text))
        c.dense = float(sim)
        c.lexical = sum(w for t, w in weights.items() if t in s_terms) / total
        prior = 1.0 / (1.0 + RANK_DECAY * (c.hit.rank - 1))
        bonus = NUMBER_BONUS if wants_number and _QUANTITY.search(_YEARS.sub("", c.text)) else 0.0
        signpost = SIGNPOST_PENALTY if _SIGNPOST.search(c.text) else 0.0
        c.score = c.dense + SCORE_LEXICAL * c.lexical + SCORE_RANK * prior + bonus - signpost


def score_alone(cands: list[Candidate], query_vec: np.ndarray, vectors: SentenceVectors,
                n: int = RELEVANCE_POOL) -> None:
    """Similarity of the n best sentences embedded on their own, which is what the refusal decision reads.

    Read inside its passage, a sentence resembles any question on that passage's topic, so out-of-scope
    questions scored too high on the stored vectors (dev: false answers 0 -> 0.2); a few sentences alone cost
    one small forward pass.
    """
    top = sorted(cands, key=lambda c: -c.score)[:n]
    if top:
        for c, sim in zip(top, vectors([c.text for c in top]) @ query_vec):
            c.alone = float(sim)


def select(cands: list[Candidate], max_sentences: int, margin: float = SELECT_MARGIN) -> list[Candidate]:
    """The best sentence and those close to it, without near-duplicates, in reading order per passage."""
    ranked = sorted(cands, key=lambda c: -c.score)
    if not ranked:
        return []
    chosen: list[Candidate] = []
    for c in ranked:
        if len(chosen) >= max_sentences or c.score < ranked[0].score - margin:
            break
        if any(_overlap(c.text, o.text) > DUPLICATE_OVERLAP for o in chosen):
            continue
        chosen.append(c)
    first_seen = {id(c.hit): i for i, c in reversed(list(enumerate(chosen)))}
    return sorted(chosen, key=lambda c: (first_seen[id(c.hit)], c.start))


def _overlap(a: str, b: str) -> float:
    ta, tb = set(terms(a)), set(terms(b))
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


def relevance_score(cands: list[Candidate], language: str) -> float:
    """How well the best passage sentence matches the question; below the calibrated threshold we refuse.

    Questions in another language than the text score lower on cosine and share no words with it, so they
    get a calibrated offset instead of the lexical term.
    """
    if not cands:
        return 0.0
    rated = [c.alone for c in cands if c.alone is not None]
    dense = max(rated) if rated else max(c.dense for c in cands)
    lexical = max(c.lexical for c in cands)
    return dense + LEXICAL_WEIGHT * lexical + CROSS_LINGUAL_OFFSET.get(language, 0.0)
