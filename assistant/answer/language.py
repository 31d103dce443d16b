"""Which language a question is in: Danish letters or more Danish than English function words make it Danish, more
English ones English; a question with no evidence either way ("minimum password length for login nodes?") is taken
to be in the documents' language, as keyword queries usually are."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from assistant.retrieval.terms import words

_EN = frozenset([
    "the", "what", "which", "who", "how", "why", "does", "do", "did", "it", "they", "their", "is", "are", "of", "and",
    "in", "with", "for", "about", "book", "handbook", "tell", "list", "many", "much", "share", "when", "where", "was",
    "were", "can", "should", "give", "name", "kinds", "types", "partners", "say", "says", "this", "that", "from",
])
_DA = frozenset([
    "hvad", "hvilke", "hvilken", "hvem", "hvordan", "hvorfor", "er", "og", "i", "med", "for", "om", "bogen",
    "håndbogen", "hvor", "mange", "kan", "skal", "der", "det", "den", "de", "til", "af", "på", "at", "som", "ikke",
    "en", "et", "giver", "siger", "står", "nævn",
])


def detect_language(text: str, default: str = "da") -> str:
    """'en' or 'da'; `default` when the function words tie."""
    toks = words(text)
    if any(ch in text.lower() for ch in "æøå"):
        return "da"
    en = sum(t in _EN for t in toks)
    da = sum(t in _DA for t in toks)
    return "en" if en > da else "da" if da > en else default


def majority_language(texts: Iterable[str], default: str = "da") -> str:
    """The language most of the texts are in (each judged on its first 1,000 characters)."""
    votes = Counter(detect_language(t[:1000]) for t in texts)
    return votes.most_common(1)[0][0] if votes else default
