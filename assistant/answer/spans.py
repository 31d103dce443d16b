"""The answering phrase inside the first quote: the number, name or date the question asks for, to mark it."""
from __future__ import annotations

import re

from assistant.answer.scorer import NUMBER_WORDS, QUANTITY, YEARS

_MONTHS = (r"januar|februar|marts|april|maj|juni|juli|august|september|oktober|november|december|"
           r"january|february|march|may|june|july|october")
DATE = re.compile(rf"\b\d{{1,2}}\.? (?:{_MONTHS}) \d{{4}}\b|\b(?:{_MONTHS}) \d{{4}}\b|\b(?:19|20)\d\d(?:-\d\d)?\b",
                  re.IGNORECASE)
NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b(?:[A-ZÆØÅ][\wæøå-]+(?:\s+(?:[A-ZÆØÅ][\wæøå-]+|for|og|i))*\s+)*"
                  r"[A-ZÆØÅ][\wæøå-]+|\b[A-ZÆØÅ]{2,}\b")
_WHO = re.compile(r"^\W*(hvem|who|whose|hvilken (fond|kommune|skole|organisation|virksomhed|forlag)|"
                  r"hvilket (forlag|firma)|which (foundation|municipality|school|publisher|company))\b", re.I)
_WHEN = re.compile(r"\b(hvornår|when|hvilket år|what year|which year|hvilken dato|what date)\b", re.I)


def answer_span(question: str, quote: str, wants_number: bool) -> tuple[int, int] | None:
    """(start, end) of the phrase in quote that answers question, or None when no phrase stands out."""
    if _WHEN.search(question):
        m = DATE.search(quote)
    elif wants_number:
        m = _quantity(quote)
    elif _WHO.search(question):
        m = next((n for n in NAME.finditer(quote) if n.start() > 0 and len(n.group()) > 2), None)
    else:
        return None
    return (m.start(), m.end()) if m else None


def _quantity(quote: str) -> re.Match | None:
    years = [(y.start(), y.end()) for y in YEARS.finditer(quote)]
    found = [m for pattern in (QUANTITY, NUMBER_WORDS) for m in pattern.finditer(quote)
             if not any(s <= m.start() < e for s, e in years)]
    return min(found, key=lambda m: m.start()) if found else None
