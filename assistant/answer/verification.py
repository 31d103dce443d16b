"""Checks every sentence of a generated answer against the passages it cites, so unsupported claims show."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from assistant.answer import prompts
from assistant.markers import LEADING_MARKERS, parse_markers, strip_markers
from assistant.model.embedding import Embedder
from assistant.answer.extractive import sentence_vectors
from assistant.retrieval.terms import terms, words
from assistant.answer.sentences import clean_sentence, split_sentences

# A sentence is supported when it cites only existing passages, has content words, every number in it and half its
# names stand in the cited passages, and one of the two thresholds passes. Calibrated on the 48 labelled pairs in
# tests/fixtures/verification_pairs.json (docs/generative.md): 0.87 is the lowest cosine that catches every
# unsupported pair but the two hard ones; the lexical threshold is flat from 0.5 to 0.75 there, 0.6 as in the evals.
LEXICAL_THRESHOLD = 0.6    # share of the sentence's content words (Danish stems) found in the cited passages
SEMANTIC_THRESHOLD = 0.87  # cosine (multilingual-e5) between the sentence and the best sentence of a cited passage
NAME_SHARE = 0.5           # share of the sentence's capitalised words (names) that must occur in the cited passages
# A passage sentence that tells the reader to ignore the question is an injected instruction, never evidence.
INSTRUCTION = re.compile(r"\b(?:ignor\w*|disregard|forget|glem)\b.{0,80}?\b(?:spørgsmål\w*|instru[kc]\w*|question\w*|"
                         r"prompt\w*|tidligere|ovenstående|previous|above)\b", re.I | re.S)

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<=[\s(\"“„'])[A-ZÆØÅÉÜÖÄ][\w-]*")


@dataclass
class SentenceCheck:
    """One sentence of the answer: where it stands, what it cites, and how well the citations carry it."""

    start: int
    end: int
    text: str
    citations: list[int]
    supported: bool = False
    lexical: float = 0.0
    semantic: float = 0.0
    reason: str = ""
    refusal: bool = False
    best: dict[int, tuple[int, int]] = field(default_factory=dict)  # passage n -> span of its best sentence

    def to_json(self) -> dict[str, Any]:
        """The per-sentence record of Answer.sentences (and the --json output)."""
        return {"text": self.text, "citations": self.citations, "supported": self.supported,
                "lexical": round(self.lexical, 4), "semantic": round(self.semantic, 4), "reason": self.reason}


def split_claims(text: str) -> list[SentenceCheck]:
    """Sentences of the answer; markers that open a sentence ('... X. [1] Y') belong to the one before."""
    spans = split_sentences(text)
    out: list[SentenceCheck] = []
    for s, e in spans:
        lead = LEADING_MARKERS.match(text, s, e)
        if lead and out:
            out[-1].end = lead.end()
            s = lead.end()
            while s < e and text[s].isspace():
                s += 1
        if s < e:
            out.append(SentenceCheck(s, e, "", []))
    for c in out:
        c.text = clean_sentence(text[c.start:c.end])
        c.citations = list(dict.fromkeys(parse_markers(c.text)))
    return out


def is_refusal(sentence: str) -> bool:
    """The prompt's fixed refusal (in either language) needs no citation."""
    said = " ".join(words(strip_markers(sentence)))
    return any(said == " ".join(words(r)) for r in prompts.REFUSAL.values())


def _numbers(text: str) -> set[str]:
    return {re.sub(r"[.,]", "", n) for n in _NUMBER.findall(text)}


def _names_found(sentence: str, passage: str) -> float:
    """Share of capitalised words after the first (names, mostly) that stand in the passage; 1.0 with none."""
    names = {n.lower() for n in _NAME.findall(sentence)}
    low = passage.lower()
    return sum(n in low for n in names) / len(names) if names else 1.0


def evidence(passage: str) -> list[tuple[int, int]]:
    """Sentence spans of a passage that may support a claim: injected instructions are left out."""
    return [(s, e) for s, e in split_sentences(passage) if not INSTRUCTION.search(passage[s:e])]


def check(text: str, passages: Sequence[str], embedder: Embedder) -> list[SentenceCheck]:
    """Verify each sentence of text against passages (numbered from 1, as in the prompt)."""
    claims = split_claims(text)
    spans = {n: evidence(p) for n, p in enumerate(passages, 1)}
    pending: list[SentenceCheck] = []
    for c in claims:
        bare = strip_markers(c.text)
        if not c.citations:
            c.refusal = is_refusal(c.text)
            c.supported, c.reason = c.refusal, "refusal" if c.refusal else "no citation"
            continue
        if any(n not in spans for n in c.citations):
            c.reason = "cites a passage that does not exist"
            continue
        cited = " ".join(passages[n - 1][s:e] for n in c.citations for s, e in spans[n])
        own = set(terms(bare))
        c.lexical = len(own & set(terms(cited))) / len(own) if own else 0.0
        if not {t for t in own if len(t) > 1}:  # a lone '2' is a list label or an echoed heading, not a claim
            c.reason = "no content words to check"
        elif not _numbers(bare) <= _numbers(cited):
            c.reason = "a number is not in the cited passage"
        elif _names_found(bare, cited) < NAME_SHARE:
            c.reason = "a name is not in the cited passage"
        pending.append(c)
    if pending:
        _semantic(pending, passages, spans, embedder)
    for c in pending:
        if c.reason:
            continue
        c.supported = c.lexical >= LEXICAL_THRESHOLD or c.semantic >= SEMANTIC_THRESHOLD
        c.reason = "supported" if c.supported else "weak support"
    return claims


def _semantic(claims: list[SentenceCheck], passages: Sequence[str], spans: dict[int, list[tuple[int, int]]],
              embedder: Embedder) -> None:
    """Cosine of each claim to the best sentence of each passage it cites; remembers that best sentence."""
    cited = sorted({n for c in claims for n in c.citations})
    texts = [passages[n - 1][s:e] for n in cited for s, e in spans[n]]
    owners = [(n, span) for n in cited for span in spans[n]]
    bare = [strip_markers(c.text) or c.text for c in claims]
    vecs = sentence_vectors(embedder)(bare + texts)  # one batched forward pass
    sims = vecs[:len(bare)] @ vecs[len(bare):].T
    for i, c in enumerate(claims):
        best = 0.0
        for n in c.citations:
            idx = [j for j, (m, _) in enumerate(owners) if m == n]
            if not idx:
                continue
            j = max(idx, key=lambda k: sims[i, k])
            c.best[n] = owners[j][1]
            best = max(best, float(sims[i, j]))
        c.semantic = best


def render(text: str, claims: Sequence[SentenceCheck], mode: str, lang: str) -> str:
    """The answer as shown: unsupported sentences marked (mode 'mark') or cut out (mode 'remove')."""
    out, pos = [], 0
    mark = prompts.UNSUPPORTED_MARKS.get(lang, prompts.UNSUPPORTED_MARK)
    for c in claims:
        out.append(text[pos:c.start])
        if c.supported:
            out.append(text[c.start:c.end])
        elif mode == "mark":
            out.append(text[c.start:c.end] + mark)
        pos = c.end
    out.append(text[pos:])
    shown = "".join(out)
    if mode == "remove":
        shown = re.sub(r"[ \t]{2,}", " ", re.sub(r"\n{3,}", "\n\n", shown))
    return shown.strip()


def verification_rate(answers: Iterable[Any]) -> float:
    """Share of generated sentences that verification supported (Answer objects or their to_json dicts)."""
    supported = total = 0
    for a in answers:
        kind = a.get("kind") if isinstance(a, dict) else getattr(a, "kind", "")
        sentences = a.get("sentences", []) if isinstance(a, dict) else getattr(a, "sentences", [])
        if kind != "generative":
            continue
        for s in sentences:
            total += 1
            supported += bool(s.get("supported"))
    return supported / total if total else 0.0
