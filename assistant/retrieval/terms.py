"""Words as BM25 and the sentence scorer see them: lower-cased, Danish stop words out, Danish stems."""
from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

DANISH_STOPWORDS = frozenset([
    "ad", "af", "aldrig", "alle", "alt", "anden", "andet", "andre", "at", "bare", "begge", "blev", "blive", "bliver",
    "da", "de", "dem", "den", "denne", "dens", "der", "deres", "det", "dette", "dig", "din", "dine", "disse", "dit",
    "dog", "du", "efter", "eller", "en", "end", "ene", "eneste", "enhver", "er", "et", "far", "fem", "fik", "fire",
    "flere", "fleste", "for", "fordi", "forrige", "fra", "få", "får", "før", "god", "godt", "ham", "han", "hans", "har",
    "havde", "have", "hej", "helt", "hende", "hendes", "her", "hos", "hun", "hvad", "hvem", "hver", "hvilke", "hvilken",
    "hvilket", "hvis", "hvor", "hvordan", "hvorfor", "hvornår", "i", "ikke", "ind", "ingen", "intet", "ja", "jeg",
    "jer", "jeres", "jo", "kan", "kom", "komme", "kommer", "kun", "kunne", "lad", "lav", "lidt", "lige", "lille", "man",
    "mand", "mange", "med", "meget", "men", "mens", "mere", "mig", "min", "mine", "mit", "mod", "må", "ned", "nej",
    "ni", "nogen", "noget", "nogle", "nu", "ny", "nyt", "når", "nær", "næste", "næsten", "og", "også", "okay", "om",
    "op", "os", "otte", "over", "på", "se", "seks", "selv", "ser", "ses", "sig", "sige", "sin", "sine", "sit", "skal",
    "skulle", "som", "stor", "store", "syv", "så", "sådan", "tag", "tage", "thi", "ti", "til", "to", "tre", "ud",
    "under", "var", "ved", "vi", "vil", "ville", "vor", "vore", "vores", "være", "været", "blevet", "står", "siger",
    "sige", "fortæl", "fortælle",
])
ENGLISH_STOPWORDS = frozenset([
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for",
    "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "say", "says", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you",
    "your", "tell",
])
STOPWORDS = DANISH_STOPWORDS | ENGLISH_STOPWORDS
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("danish")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def terms(text: str) -> list[str]:
    """Stemmed content words; numbers are kept whole ('2.363', '79')."""
    toks = [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return [t if t[0].isdigit() else s for t, s in zip(toks, _stemmer().stemWords(toks))]
