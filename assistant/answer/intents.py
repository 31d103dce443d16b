"""What kind of question this is: about the book's structure, a follow-up, a list, or asking for a number, date or
name; and the book's title in it read as the book."""
from __future__ import annotations

import re

_CHAPTERS = re.compile(
    r"(hvilke|hvad (er|hedder)|list\w*|nævn|vis)\b.{0,30}\bkapitl|\bkapitlerne\b|indholdsfortegnelse|"
    r"table of contents|\bhvor mange kapitler|\bhow many chapters|"
    r"\b(which|what) (are the )?chapters|\blist (the |all )?chapters|\bchapters (are|does)",
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
_TOPIC_SWITCH = re.compile(
    r"^\s*(og\s+|men\s+)?(hvad|hvordan)\s+(så\s+)?(med|ved)\b|^\s*(and\s+|but\s+)?(what|how)\s+about\b|"
    r"^\s*(og|and)\s+(for|ved|i|med|with|for)\b|^\s*(gælder det også|same for|also for)\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"\bhvor (mange|stor|meget|ofte|tit)\b|\bprocent|\bandel|\bantal|\btal\b|\bhow (many|much|often)\b|"
    r"\bshare\b|\bpercent|\bproportion|\bnumber of\b|\bhvilke tal|\bfigures?\b", re.IGNORECASE)


_FRAME_WORDS = frozenset([
    "bog", "bogen", "håndbog", "håndbogen", "beskriv", "beskriver", "gennemgå", "gennemgår", "nævn", "nævner",
    "omtal", "omtaler", "handl", "handler", "dækker", "indeholder", "find", "findes", "står", "med", "er", "der",
    "de", "alle", "hver", "book", "handbook", "describe", "describes", "cover", "covers", "list", "name", "mention",
    "mentions", "contain", "contains", "discuss", "discusses", "does", "the", "in", "are", "there", "all", "each",
    "eksterne", "external", "otte", "eight", "8", "typer", "slags", "kinds", "types", "aktører", "partnere",
    "actors", "partners", "samarbejdspartnere", "kapitler", "chapters", "cases", "eksempler", "examples", "og",
    "and", "hvad", "what", "which", "hvilke", "nyt", "sammen", "bedre", "kapitel", "chapter", "have", "has", "har",
    "består", "consist", "consists", "of", "af", "indgår", "included", "mange", "many", "how", "hvor",
])


def structure_intent(question: str) -> str | None:
    """'actors', 'cases' or 'chapters' when the question only asks to list part of the book's structure."""
    for intent, pattern in (("actors", _ACTORS), ("cases", _CASES), ("chapters", _CHAPTERS)):
        m = pattern.search(question)
        if m:
            rest = question[:m.start()] + " " + question[m.end():]
            extra = [w for w in re.findall(r"[^\W\d_]+|\d+", rest.lower()) if w not in _FRAME_WORDS and len(w) > 2]
            return intent if not extra else None
    return None


# Questions that ask for a list of the book's parts, in other words than the patterns above expect; a question
# whose embedding is this close to one of them gets the contents answer (threshold chosen on the dev sets).
STRUCTURE_EXAMPLES = {
    "actors": ("Hvilke typer eksterne partnere beskriver bogen?", "Hvilke slags samarbejdspartnere handler bogen om?",
               "Hvem kan man ifølge bogen samarbejde med?", "What kinds of partners does the book cover?",
               "Which types of external actors does the handbook describe?"),
    "cases": ("Hvilke cases er der i bogen?", "Hvilke eksempler på samarbejder fremhæver bogen?",
              "Which cases does the book describe?", "What examples of collaborations does the handbook give?"),
    "chapters": ("Hvilke kapitler har bogen?", "Hvordan er bogen bygget op?", "What chapters does the book have?",
                 "How is the handbook structured?"),
}
STRUCTURE_SIMILARITY = 0.94
STRUCTURE_WORDS = {  # ... and it must name what it lists, so "which barriers does it mention?" is not a list of cases
    "actors": re.compile(r"partner|aktør|samarbejdspart|actor|collaborator", re.I),
    "cases": re.compile(r"\bcase|eksempl|example", re.I),
    "chapters": re.compile(r"kapitl|kapitel|chapter|indhold|contents|opbyg|structur", re.I),
}


_ANAPHOR = re.compile(r"\b(det|den|dem|de|denne|dette|disse|han|hun|deres|it|its|they|them|their|this|that|these|"
                      r"those|he|she|one|ones)\b", re.IGNORECASE)
FOLLOW_UP_WORDS = 8  # a short question that points back ("virkede det?", "when did they open?") is a follow-up


def is_follow_up(question: str) -> bool:
    """Whether a question in a conversation needs the earlier question to be understood."""
    words = question.split()
    return (bool(_FOLLOW_UP.search(question)) or len(words) <= 3
            or (len(words) <= FOLLOW_UP_WORDS and bool(_ANAPHOR.search(question))))


def switches_topic(question: str) -> bool:
    """'And what about foundations?': the same question asked of a new subject."""
    return bool(_TOPIC_SWITCH.search(question))


_VERBS_IN_S = (
    "is|was|does|has|makes|means|happens|causes|helps|works|matters|"
    "counts|leads|gets|goes|needs|takes|seems|keeps")
_LIST = re.compile(  # "what barriers ...", "which cases ...": a plural after what/which; "what makes ..." is no list
    r"^\W*(hvilke|hvad er de|hvad var de|nævn|list|opremse|which|what are the|what were the|name the)\b|"
    rf"\b(hvilke|which)\s+\w+(er|ne|s)\b|\b(what|which)\s+(?!({_VERBS_IN_S})\b)\w{{3,}}s\b|"
    r"\b(alle|all)\s+(de|the)\b|\bnævn\b|\blist\b", re.IGNORECASE)


def wants_list(question: str) -> bool:
    """Whether the question asks for several things (kinds, features, barriers, pieces of advice)."""
    return bool(_LIST.search(question))


def wants_number(question: str) -> bool:
    return bool(_NUMBER.search(question))


_WHO = re.compile(r"^\W*(hvem|who|whose|hvilken (fond|kommune|skole|organisation|virksomhed|forlag)|"
                  r"hvilket (forlag|firma)|which (foundation|municipality|school|publisher|company))\b", re.I)
# "Who is the book for?", "hvem er bogen skrevet til?": who it is addressed to, a group of readers, not a name.
_RECIPIENT = re.compile(r"\b(for|to|til|mod)\W*$|\b(intended|meant|aimed|written|designed) (for|at)\b|"
                        r"\b(henvender|retter)\b|\b(tænkt|skrevet|beregnet|lavet|målrettet) (til|for)\b", re.I)
_WHEN = re.compile(r"\b(hvornår|when|hvilket år|what year|which year|hvilken dato|what date)\b", re.I)


# "Did it work?", "virkede det?", "did the toilets make the kids cleaner?": a yes/no question about an effect is
# answered by the result, which is usually a quantity or a change ("fra 26 % til 85 %", "det halve", "oftere").
_YES_NO = re.compile(r"^\W*(did|does|do|has|have|is|was|are|were|will|virkede|virker|gjorde|gør|hjalp|hjælper|"
                     r"blev|bliver|kan|er|var|har|havde|førte|fører)\b", re.I)
_EFFECT = re.compile(
    r"\b(work(ed|s)?|help(ed|s)?|pay(s)? off|improve[ds]?|better|worse|cleaner|safer|fewer|less|more|reduce[ds]?|"
    r"increase[ds]?|effect\w*|virke(de|r)?|hjalp|hjælpe\w*|nytte\w*|betale sig|bedre|værre|færre|mindre|mere|"
    r"renere|sikrere|effekt\w*|resultat\w*|forbedr\w*|mindsk\w*|øge\w*)\b", re.I)


def answer_kind(question: str) -> str | None:
    """The kind of phrase the question asks for: 'date', 'number', 'outcome' or 'name'; None for why, how and the
    rest."""
    if _WHEN.search(question):
        return "date"
    if wants_number(question):
        return "number"
    if _YES_NO.search(question) and _EFFECT.search(question):
        return "outcome"
    return "name" if _WHO.search(question) and not _RECIPIENT.search(question) else None


# The book's title in a question names the book, as "the handbook" does; left in, its words ("sammen", "bedre") pull
# sentences that use them ("arbejder sammen med andre", "bedre kvalitet") ahead of the one that answers.
BOOK_TITLE = "NYT SAMMEN BEDRE"
_BOOK_REFERENCE = {"da": "håndbogen", "en": "the handbook"}
_TITLE = re.compile(r"\b(?:(?:hånd)?bogen |the (?:hand)?book )?[\"'“”«»]?" + r"\s+".join(BOOK_TITLE.split())
                    + r"\b[\"'“”«»]?", re.IGNORECASE)


def refer_to_book(question: str, language: str) -> str:
    """The question with the book's title read as a reference to the book ("hvem har skrevet håndbogen?")."""
    return _TITLE.sub(_BOOK_REFERENCE.get(language, _BOOK_REFERENCE["da"]), question)

