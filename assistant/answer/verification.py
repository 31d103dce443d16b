"""Checks every sentence of a generated answer against the passages it cites, so unsupported claims show."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from assistant.answer import prompts
from assistant.answer.extractive import sentence_vectors
from assistant.answer.sentences import clean_sentence, split_sentences
from assistant.markers import LEADING_MARKERS, parse_markers, strip_markers
from assistant.model.embedding import Embedder
from assistant.retrieval.terms import STOPWORDS, terms, words

# A sentence is supported when it cites only existing passages, has content words, every number, name and quoted
# title in it stands in the quotes it cites, and one of the two thresholds passes. Calibrated on the 48 labelled pairs
# in tests/fixtures/verification_pairs.json (docs/generative.md): 0.87 is the lowest cosine that catches every
# unsupported pair but the hard ones; the lexical threshold is flat from 0.5 to 0.75 there, 0.6 as in the evals.
LEXICAL_THRESHOLD = 0.6    # share of the sentence's content words (Danish stems) found in the cited passages
SEMANTIC_THRESHOLD = 0.87  # cosine (multilingual-e5) between the sentence and the best sentence of a cited passage
# A number, name or title is quoted when it stands in a cited passage's sentence most similar to the whole sentence
# (the quote its citation shows) or in the cited sentence most similar to its clause, cut at WINDOW words each side.
WINDOW = 6
# Cited sentences within QUOTE_TIE of the clause's best count as its quote too: a 1e-4 change of model (model.onnx vs
# its int8-table twin) flipped such a tie on the labelled pairs; 0.005 lets the 81 % example of
# tests/test_verification.py through.
QUOTE_TIE = 0.002
# A passage sentence that tells the reader to ignore the question is an injected instruction, never evidence.
INSTRUCTION = re.compile(r"\b(?:ignor\w*|disregard|forget|glem)\b.{0,80}?\b(?:spørgsmål\w*|instru[kc]\w*|question\w*|"
                         r"prompt\w*|tidligere|ovenstående|previous|above)\b", re.I | re.S)
# A number with its range end and unit: "81 %", "81 procent", "2.363", "2 363", "0,5 mio. kr.", "2015-16".
_NUMBER = re.compile(r"(?<![^\W_])(\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)|\d+(?:[.,]\d+)*)"
                     r"(?:\s?[-–]\s?(\d+(?:[.,]\d+)*))?(?:\s*(%|procent\b|pct\b\.?|per ?cent\b))?"
                     r"(?:\s*(mio\b\.?|million(?:er|s)?\b|mia\b\.?|milliard(?:er)?\b|billions?\b))?"
                     r"(?:\s*(kr\b\.?|kroner\b|dkk\b|crowns?\b|euro\b|eur\b|€))?", re.I)
_SCALE = {"mio": 10 ** 6, "mil": 10 ** 6, "mia": 10 ** 9, "bil": 10 ** 9}
# Number words a quote may use for a digit of the answer ("én ud af fire" holds 1 and 4); never read in answers.
_NUMBER_WORDS = dict(w.split(":") for w in [
    "én:1", "ét:1", "one:1", "to:2", "two:2", "tre:3", "three:3", "fire:4", "four:4", "fem:5", "five:5", "seks:6",
    "six:6", "syv:7", "seven:7", "otte:8", "eight:8", "ni:9", "nine:9", "ti:10", "ten:10", "tolv:12", "twelve:12",
])
# English words of names an answer may translate, and the Danish stem a quote has for them.
_TRANSLATIONS = dict(w.split(":") for w in [
    "public:offentlig", "statistics:statisti", "denmark:danmark", "danish:dansk", "norway:norge", "norwegian:norsk",
    "sweden:sverige", "swedish:svensk", "nordic:nordisk", "europe:europa", "european:europæ", "copenhagen:københavn",
    "municipality:kommun", "municipal:kommun", "foundation:fond", "university:universitet", "school:skole",
    "ministry:minister", "publishing:forlag", "publisher:forlag", "psychological:psykolog", "handbook:håndbog",
    "january:januar", "february:februar", "march:marts", "may:maj", "june:juni", "july:juli", "october:oktober",
])
_POSSESSIVE = re.compile(r"(?:['’]s?|-)$")
_ACRONYM = re.compile(r"[A-ZÆØÅ][A-ZÆØÅ-]*[A-ZÆØÅ]")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_TITLE = re.compile(r"[\"“„«»]([^\"“”„«»]{2,200}?)[\"”“»«]")
_CLAUSE = re.compile(r"[,;:](?=\s)|\s(?=(?:og|men|mens|samt|and|but|while|whereas)\s)", re.I)  # where clauses end
_STARTERS = {"ifølge", "iflg", "according", "ligesom", "blandt", "hos", "både"}


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


def _values(raw: str) -> set[Decimal]:
    """What a written number can mean: '2.363' is 2363 or 2.363, '0,5' is 0.5, '1.234,5' is 1234.5."""
    *head, last = re.split(r"[.,]", re.sub(r"\s", "", raw))
    mixed = "." in raw and "," in raw  # both marks: the last one is the decimal mark
    grouped = not head or (not mixed and (len(head) > 1 or len(last) == 3))
    decimal = bool(head) and (mixed or len(head) == 1)
    return {Decimal("".join(head) + sep + last) for sep, ok in (("", grouped), (".", decimal)) if ok}


def _numbers(text: str) -> list[tuple[str, int, str, list[set[Decimal]]]]:
    """Each number of text: as written, where, its unit ('%', 'kr', 'eur' or '') and the values of its ends."""
    out = []
    for m in _NUMBER.finditer(text):
        first, last, pct, scale, money = m.groups()
        if last and last.isdigit() and first.isdigit() and len(last) < len(first):
            last = first[:len(first) - len(last)] + last  # 2015-16 is 2015-2016
        factor = _SCALE[scale[:3].lower()] if scale else 1
        unit = "%" if pct else ("kr" if money and money[0] in "kKdDcC" else "eur" if money else "")
        ends = [{v * factor for v in _values(n)} for n in (first, last) if n]
        out.append((m.group(0).strip(), m.start(), unit, ends))
    return out


def _names(sentence: str) -> list[tuple[str, int, list[str]]]:
    """Runs of capitalised words outside quoted titles (the run, where it starts, its words); see docs/generative.md."""
    skip = {i for rx in (_TITLE, _NUMBER) for m in rx.finditer(sentence) for i in range(*m.span())}  # and units
    runs: list[list[re.Match[str]]] = []
    for m in _WORD.finditer(sentence):
        word = _POSSESSIVE.sub("", m.group())
        if len(word) < 2 or not word[0].isupper() or word.lower() in STOPWORDS or m.start() in skip:
            continue
        if runs and sentence[runs[-1][-1].end():m.start()] == " ":
            runs[-1].append(m)
        else:
            runs.append([m])
    lead = _WORD.search(sentence)
    head = runs[0] if runs and lead and runs[0][0].start() == lead.start() else []
    first = _POSSESSIVE.sub("", head[0].group()) if head else ""
    if head and not _ACRONYM.fullmatch(first) and (len(head) == 1 or first.lower() in _STARTERS):
        head.pop(0)  # the sentence's first word is a name only as an acronym or a multiword name's start
    return [(_POSSESSIVE.sub("", sentence[r[0].start():r[-1].end()]), r[0].start(), [m.group() for m in r])
            for r in runs if r]


def _name_found(word: str, low: str) -> bool:
    """An acronym as a whole word; other names' capitalised parts anywhere, maybe without -s or translated."""
    if _ACRONYM.fullmatch(base := _POSSESSIVE.sub("", word)):
        return re.search(r"(?<![^\W_])" + re.escape(base.lower()) + r"(?![^\W_])", low) is not None
    parts = [p.lower() for p in base.split("-") if p[:1].isupper()]
    return all(p in low or (p[-1] == "s" and len(p) > 3 and p[:-1] in low) or _TRANSLATIONS.get(p, "\0") in low
               for p in parts)


def _unquoted(sentence: str, quote: str) -> list[tuple[str, int]]:
    """Each number, quoted title and name of sentence that the quote does not hold: what it is, and where."""
    held = {(v, unit) for _, _, unit, ends in _numbers(quote) for end in ends for v in end}
    held |= {(Decimal(_NUMBER_WORDS[w]), "") for w in words(quote) if w in _NUMBER_WORDS}
    values = {v for v, _ in held}
    low = " ".join(quote.lower().split())
    out = [(f"number {shown}", pos) for shown, pos, unit, ends in _numbers(sentence)
           if not all(any((v, unit) in held if unit else v in values for v in end) for end in ends)]
    out += [(f"title {m.group(0)}", m.start()) for m in _TITLE.finditer(sentence)
            if " ".join(m.group(1).lower().split()).strip(" .,;:!?") not in low]
    out += [(f"name {name}", pos) for name, pos, parts in _names(sentence)
            if not all(_name_found(w, low) for w in parts)]
    return sorted(out, key=lambda item: item[1])


def _window(sentence: str, pos: int) -> str:
    """The words of the clause around the word at pos, at most WINDOW on either side."""
    start = max([m.end() for m in _CLAUSE.finditer(sentence, 0, pos)], default=0)
    end = next((m.start() for m in _CLAUSE.finditer(sentence, pos)), len(sentence))
    return " ".join(sentence[start:pos].split()[-WINDOW:] + sentence[pos:end].split()[:WINDOW + 1])


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
        pending.append(c)
    if pending:
        _quotes(pending, passages, spans, embedder)
    for c in pending:
        if not c.reason:
            c.supported = c.lexical >= LEXICAL_THRESHOLD or c.semantic >= SEMANTIC_THRESHOLD
            c.reason = "supported" if c.supported else "weak support"
    return claims


def _quotes(claims: list[SentenceCheck], passages: Sequence[str], spans: dict[int, list[tuple[int, int]]],
            embedder: Embedder) -> None:
    """Each claim's cosine to its quotes (best sentences of the passages it cites), and numbers or names unquoted."""
    owners = [(n, span) for n in sorted({n for c in claims for n in c.citations}) for span in spans[n]]
    texts = [passages[n - 1][s:e] for n, (s, e) in owners]
    bare = [strip_markers(c.text) or c.text for c in claims]
    vectors = sentence_vectors(embedder)
    vecs = vectors(bare + texts)  # one batched forward pass
    sims = vecs[:len(bare)] @ vecs[len(bare):].T
    missing: list[tuple[int, list[int], str, int]] = []
    for i, c in enumerate(claims):
        mine = [j for j, (n, _) in enumerate(owners) if n in c.citations]
        best = [max((j for j in mine if owners[j][0] == n), key=lambda j: sims[i, j]) for n in c.citations
                if any(owners[j][0] == n for j in mine)]
        c.best = {owners[j][0]: owners[j][1] for j in best}
        c.semantic = max((float(sims[i, j]) for j in best), default=0.0)
        if not c.reason and mine:
            missing += [(i, mine, *item) for item in _unquoted(bare[i], " ".join(texts[j] for j in best))]
    if not missing:
        return
    near = vectors([_window(bare[i], pos) for i, _, _, pos in missing]) @ vecs[len(bare):].T
    for k, (i, mine, what, pos) in enumerate(missing):
        top = max(float(near[k, j]) for j in mine)
        close = [j for j in mine if near[k, j] >= top - QUOTE_TIE]
        if not claims[i].reason and all((what, pos) in _unquoted(bare[i], texts[j]) for j in close):
            claims[i].reason = f"{what} not in the cited quote"


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
