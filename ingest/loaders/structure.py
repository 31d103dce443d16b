"""Helpers every loader shares: heading numbers, section kinds, inline markup removal, bylines and datelines."""
from __future__ import annotations

import re
from collections.abc import Iterable

_CHAPTER_WORD = re.compile(r"^\s*(?:kapitel|chapter|kap\.)\s+(\d+)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*(\d{1,2})(?:\.|\s)\s*\S")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")

SOURCES_TITLES = {"kilder", "sources", "references", "referencer", "litteratur"}


def chapter_number_from_title(title: str) -> int | None:
    """'Kapitel 3 ...', 'Chapter 3', '3. Borgere' -> 3."""
    m = _CHAPTER_WORD.match(title) or _NUMBERED.match(title)
    return int(m.group(1)) if m else None


def section_kind(title: str) -> str:
    low = title.strip().lower()
    if low.startswith(("case", "eksempel:")):
        return "case"
    if low.rstrip(":") in SOURCES_TITLES:
        return "sources"
    return "section"


def clean_inline(line: str) -> str:
    """Drop Markdown links, emphasis and stray tags, keeping their text."""
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub(r"\2", line)
    return _TAG.sub("", line).rstrip()


# -- front matter: bylines and datelines ------------------------------------------------------------------
# A byline ("Af Bettine Romme Andersen 22/10/2018"), a credit ("Foto: Ritzau") or a dateline ("Publiceret
# 22.10.2018 kl. 10.15") is never a heading: loaders keep it as the first line(s) of text, and front_matter()
# reads the author and date from it. The patterns match the whole line, so "Af hensyn til sikkerheden" (a
# lowercase word after "Af") and "Afslutning" stay headings.
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "maj": 5, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "okt": 10, "oct": 10, "nov": 11, "dec": 12}
_MONTH = (r"(?i:jan(?:uar|uary)?|feb(?:ruar|ruary)?|mar(?:ts|ch)?|apr(?:il)?|maj|may|jun[ie]?|jul[iy]?"
          r"|aug(?:ust)?|sep(?:t|tember)?|o[ck]t(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY = r"(?i:(?:man|tirs|ons|tors|fre|lør|søn)dag|(?:mon|tues|wednes|thurs|fri|satur|sun)day)(?:,|\s+den)?\s+"
_CLOCK = r"(?:,?\s*(?i:kl\.?|klokken|at)?\s*\d{1,2}[.:]\d{2}(?:\s*(?i:[ap]\.?m\.?))?)?"
_DATE = (rf"(?:{_WEEKDAY})?(?:(?P<d1>\d{{1,2}})\.?\s+(?P<m1>{_MONTH})\s+(?P<y1>\d{{4}})"
         rf"|(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}}),?\s+(?P<y2>\d{{4}})"
         r"|(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?"
         rf"|(?P<d4>\d{{1,2}})[./-](?P<m4>\d{{1,2}})[./-](?P<y4>\d{{4}}|\d{{2}})){_CLOCK}")
_DATE_WORD = (r"(?:(?i:publiceret|udgivet|offentliggjort|(?:senest\s+)?opdateret|published|updated|posted"
              r"|last\s+updated|dato|date)\s*:?\s*(?:(?i:den|d\.|on)\s+)?)")
_NOT_DATE = rf"(?!{_MONTH}\s*\d|{_WEEKDAY})"
_PARTICLE = r"(?:von|van|de|der|la|le|du|da)(?=(?:\s+[a-z]{2,3})*\s+[A-ZÀ-Þ])"  # "Anne de la Cour"
_NAME_WORD = rf"(?:{_NOT_DATE}[A-ZÀ-Þ][\w'’.-]*|{_PARTICLE})"
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,5}}"
_NAMES = rf"{_NAME}(?:\s*(?:,|/|&|\bog\b|\band\b)\s*{_NAME}){{0,4}}"
_AUTHOR_WORD = r"(?:Af|AF|By|BY|Skrevet af|Written by|(?i:tekst(?: og foto)?|text|forfatter|author)\s*:)"
_CREDIT_WORD = r"(?:(?i:foto|fotos|photo|illustration|grafik)\s*:|Redigeret af)"
_ROLE = r"(?:,\s*(?i:journalist|reporter|redaktør|chefredaktør|korrespondent|fotograf|kommentator|editor))"
_SEP = r"\s*[|·•,–—/-]?\s*"
_EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"
_DATE_AHEAD = rf"(?={_DATE_WORD}?(?:{_WEEKDAY})?(?:\d|{_MONTH}\s+\d))"
_BYLINE = re.compile(
    rf"(?:(?P<credit>{_AUTHOR_WORD}|{_CREDIT_WORD})\s+(?P<names>{_NAMES}){_ROLE}?(?:{_SEP}{_EMAIL})?"  # Af NAME
    rf"|(?P<bare>{_NAME_WORD}(?:\s+{_NAME_WORD}){{1,5}})\s*[|·•,–—-]\s*{_DATE_AHEAD}"  # NAME | <date>
    rf"|{_DATE_WORD}?{_DATE})")  # Publiceret <date>
_PART_SEP = re.compile(rf"{_SEP}")
_DATE_RE = re.compile(_DATE)


def _front_parts(text: str) -> list[re.Match] | None:
    """The byline, credit and date parts that make up the whole line, or None if it is something else."""
    text = " ".join(text.split())
    if not text or len(text) > 160:
        return None
    parts, pos = [], 0
    while pos < len(text):
        if parts:
            pos = _PART_SEP.match(text, pos).end()
        m = _BYLINE.match(text, pos)
        if not m or m.end() == pos:
            return None
        parts.append(m)
        pos = m.end()
    return parts


def is_byline(text: str) -> bool:
    """A byline, credit or dateline ("Af NAME 22/10/2018", "Foto: NAME", "Opdateret 22. oktober 2018 kl. 10.15",
    "NAME | 22.10.2018"): document front matter, never a heading. An all-capitals line counts only with a date,
    so "AF HENSYN TIL SIKKERHEDEN" stays a heading."""
    parts = _front_parts(text)
    if not parts:
        return False
    letters = [c for c in text if c.isalpha()]
    return not (letters and all(c.isupper() for c in letters)) or _DATE_RE.search(text) is not None


def parse_date(text: str) -> str | None:
    """The first date in text as YYYY-MM-DD ('22/10/2018', '22. oktober 2018', '2018-10-22T10:15+02:00')."""
    import datetime

    for m in _DATE_RE.finditer(text or ""):
        g = m.groupdict()
        day, month, year = next((g[f"d{i}"], g[f"m{i}"], g[f"y{i}"]) for i in range(1, 5) if g[f"y{i}"])
        month_no = int(month) if month.isdigit() else _MONTHS.get(month[:3].lower())
        year_no = int(year) + (2000 if len(year) == 2 else 0)
        try:
            return datetime.date(year_no, month_no or 0, int(day)).isoformat()
        except ValueError:
            continue
    return None


def front_matter(lines: Iterable[str], limit: int = 12) -> dict[str, str]:
    """Author and date from the bylines among the first `limit` non-empty lines of a document.

    Returns {"author": "Bettine Romme Andersen", "date": "2018-10-22", "byline": "<the line(s) as printed>"}
    with only the keys it found. Credits (Foto:, Illustration:) are front matter but name no author.
    """
    out: dict[str, str] = {}
    seen = 0
    for line in lines:
        line = " ".join(line.split())
        if not line:
            continue
        seen += 1
        if seen > limit:
            break
        parts = _front_parts(line) if is_byline(line) else None
        if not parts:
            continue
        out["byline"] = f"{out['byline']}\n{line}" if "byline" in out else line
        for m in parts:
            credit = m.group("credit") or ""
            author = m.group("names") if credit and not re.match(_CREDIT_WORD, credit) else m.group("bare")
            if author and "author" not in out:
                out["author"] = author.strip(" ,")
        if "date" not in out and (date := parse_date(line)):
            out["date"] = date
    return out


# What tools write when nobody named an author: not an author.
_NO_AUTHOR = {"anonymous", "unknown", "python-docx", "user", "admin", "administrator", "author", "windows user",
              "microsoft office user", "forfatter", "bruger"}


class Loaded(list):
    """A loader's Sections plus what the document says about itself: `meta` = {"author", "date", "byline"}."""

    meta: dict[str, str]


def with_front_matter(sections: list, **fallback: object) -> Loaded:
    """The sections, with author and date from the byline at the top of the text, else from the file's own
    metadata (fallback author=..., date=...: HTML <meta>, DOCX core properties, PDF /Author)."""
    meta = front_matter(line for s in sections for line in s.text.split("\n"))
    for key, value in fallback.items():
        if key == "date" and value is not None:
            value = parse_date(value.isoformat() if hasattr(value, "isoformat") else str(value))
        value = " ".join(str(value or "").split())
        if value and key not in meta and value.lower() not in _NO_AUTHOR:
            meta[key] = value
    out = Loaded(sections)
    out.meta = meta
    return out
