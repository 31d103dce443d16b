"""The phrases a question can ask for (a quantity, a date, a result, a name): found in a sentence to rank it and to
mark it."""
from __future__ import annotations

import re

YEARS = re.compile(r"\(?\b(?:19|20)\d\d(?:-\d\d)?\)?|\b\d\. udgave")
QUANTITY = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:%|procent|pct|mio|mia|kr)|\b(?!(?:19|20)\d\d\b)\d+(?:[.,]\d+)?\b(?!\.\s*udgave)(?!-\d)|"
    r"\bprocent\b", re.IGNORECASE)
NUMBER_WORDS = re.compile(
    r"\b(?:hver|hvert) (?:anden|andet|tredje|fjerde|femte|sjette|tiende)\b|"
    r"\b(?:en|én|et|to|tre|fire|fem) ud af (?:to|tre|fire|fem|seks|ti)\b|\bhalvdel\w*|\btredjedel\w*|\bfjerdedel\w*|"
    r"\bflertal\w*|\bdet halve\b|\bhalvt\b|\bdobbelt\w*|\bde fleste\b|\bknap hver\b|\bnæsten alle\b|\bmere end halv\w*",
    re.IGNORECASE)
CHANGE = re.compile(r"\b(steg|faldt|stiger|falder|bedre|højere|lavere|færre|oftere|forbedre\w*|reducere\w*|halver\w*|"
                    r"increase[ds]?|decrease[ds]?|improve[ds]?|reduce[ds]?|higher|lower|fewer|better|halved)\b", re.I)
_MONTHS = (r"januar|februar|marts|april|maj|juni|juli|august|september|oktober|november|december|"
           r"january|february|march|may|june|july|october")
DATE = re.compile(rf"\b\d{{1,2}}\.? (?:{_MONTHS}) \d{{4}}\b|\b(?:{_MONTHS}) \d{{4}}\b|\b(?:19|20)\d\d(?:-\d\d)?\b",
                  re.IGNORECASE)
NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b(?:[A-ZÆØÅ][\wæøå-]+(?:\s+(?:[A-ZÆØÅ][\wæøå-]+|for|og|i))*\s+)*"
                  r"[A-ZÆØÅ][\wæøå-]+|\b[A-ZÆØÅ]{2,}\b")


def find_phrase(kind: str | None, text: str) -> re.Match | None:
    """The first phrase of the asked kind ('number', 'date', 'outcome' or 'name') in text."""
    if kind == "date":
        return DATE.search(text)
    if kind == "number":
        return _quantity(text)
    if kind == "outcome":
        return _quantity(text) or CHANGE.search(text)
    if kind == "name":
        return next((n for n in NAME.finditer(text) if n.start() > 0 and len(n.group()) > 2), None)
    return None


def answer_span(kind: str | None, quote: str) -> tuple[int, int] | None:
    """(start, end) of the phrase in quote that answers a question asking for kind, or None."""
    m = find_phrase(kind, quote)
    return (m.start(), m.end()) if m else None


def _quantity(quote: str) -> re.Match | None:
    years = [(y.start(), y.end()) for y in YEARS.finditer(quote)]
    found = [m for pattern in (QUANTITY, NUMBER_WORDS) for m in pattern.finditer(quote)
             if not any(s <= m.start() < e for s, e in years)]
    return min(found, key=lambda m: m.start()) if found else None
