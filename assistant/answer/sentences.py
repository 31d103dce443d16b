"""Sentence splitting for Danish and English prose, aware of common abbreviations and list items."""
from __future__ import annotations

import re

ABBREVIATIONS = {
    "fx", "f.eks", "bl.a", "ca", "mio", "mia", "kr", "nr", "pct", "dvs", "jf", "osv", "mv", "m.v", "evt", "inkl",
    "ekskl", "etc", "e.g", "i.e", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "s", "pp", "ed", "vol", "no", "f",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "okt", "oct", "nov", "dec", "kl", "tlf",
    "ang", "vedr", "hhv", "iflg", "m.fl", "o.l", "t.o.m", "u.å", "a/s",
}
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+(?=[\"“„(\[]?[A-ZÆØÅÉÜÖÄ0-9])")
_MONTHS = ("januar|februar|marts|april|maj|juni|juli|august|september|oktober|november|december|january|february|"
           "march|may|june|july|october")
_BULLET = re.compile(rf"^\s*(?:[-*•]|\d+[.)](?!\s+(?:{_MONTHS})\b))\s+", re.IGNORECASE)  # "22. oktober" is a date


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) character spans of the sentences in text; list items and lines stand alone."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for block in re.split(r"(\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s))", text):
        if not block or not block.strip():
            offset += len(block)
            continue
        spans.extend((offset + s, offset + e) for s, e in _split_block(block))
        offset += len(block)
    return spans


def _split_block(block: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _BOUNDARY.finditer(block):
        cut = m.start()
        before = block[start:cut].rstrip()
        last = before.split()[-1] if before.split() else ""
        token = last.rstrip(".!?…\"”’)]").lower().lstrip("(\"“„")
        if last.endswith(".") and (token in ABBREVIATIONS or (len(token) == 1 and token.isalpha())):
            continue
        spans.append((start, cut))
        start = m.end()
    spans.append((start, len(block)))
    out = []
    for s, e in spans:
        piece = block[s:e]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if piece.strip():
            out.append((s + lead, s + trail))
    return out


def sentences(text: str) -> list[str]:
    """The sentences of text, whitespace-normalized, bullets removed."""
    return [clean_sentence(text[s:e]) for s, e in split_sentences(text)]


def clean_sentence(sentence: str) -> str:
    return _BULLET.sub("", re.sub(r"\s+", " ", sentence)).strip()
