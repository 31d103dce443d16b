"""What kind of question this is: about the book's structure, a follow-up, or asking for a number."""
from __future__ import annotations

import re

_CHAPTERS = re.compile(
    r"(hvilke|hvad (er|hedder)|list\w*|nævn|vis)\b.{0,30}\bkapitl|\bkapitlerne\b|indholdsfortegnelse|"
    r"table of contents|\b(which|what) (are the )?chapters|\blist (the |all )?chapters|\bchapters (are|does)",
    re.IGNORECASE)
_ACTORS = re.compile(
    r"\b(otte|8)\s+(typer|slags|kategorier|former)\b|"
    r"\bhvilke\s+(typer|slags|former)\s+(af\s+)?(eksterne\s+)?(aktører|partnere|samarbejdspart\w*|samarbejdspartnere)|"
    r"\bhvilke\s+(eksterne\s+)?(aktører|samarbejdspart\w*)\b.{0,40}\b(beskriver|nævner|handler|dækker)|"
    r"\b(eight|8)\s+(kinds|types|categories)\b|"
    r"\b(which|what)\s+(kinds|types|sorts)\s+of\s+(external\s+)?(partners|actors|collaborators)",
    re.IGNORECASE)
_CASES = re.compile(
    r"\b(hvilke|alle|list\w*|nævn)\b.{0,20}\b(cases|eksempler|casene)\b|\b(which|what|list)\b.{0,20}\bcases\b",
    re.IGNORECASE)
_FOLLOW_UP = re.compile(
    r"^\s*(og|men|hvad med|hvad så med|gælder det også|også|and|what about|how about|and what about|same for)\b",
    re.IGNORECASE)
_NUMBER = re.compile(
    r"\bhvor (mange|stor|meget|ofte)\b|\bprocent|\bandel|\bantal|\btal\b|\bhow (many|much|often)\b|"
    r"\bshare\b|\bpercent|\bproportion|\bnumber of\b|\bhvilke tal|\bfigures?\b", re.IGNORECASE)


def structure_intent(question: str) -> str | None:
    """'actors', 'cases' or 'chapters' when the question asks about the book's structure."""
    if _ACTORS.search(question):
        return "actors"
    if _CASES.search(question):
        return "cases"
    if _CHAPTERS.search(question):
        return "chapters"
    return None


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 3


def wants_number(question: str) -> bool:
    return bool(_NUMBER.search(question))
