"""How sentences become an answer: readable quotes only, the asked phrase marked, lists by meaning, best first."""
import pytest

from assistant import open_assistant
from assistant.answer.extractive import readable
from assistant.answer.intents import answer_kind, is_follow_up, refer_to_book, wants_list
from assistant.answer.language import detect_language
from assistant.answer.spans import answer_span, find_phrase


@pytest.fixture(scope="module")
def assistant(indexed_home):
    return open_assistant(indexed_home)


@pytest.mark.parametrize("text", [
    "[ n (Ui j A) ((X A) A) = A",
    "12 | 34 | 56 | 78",
    "https://www.coi.dk/viden-og-vaerktoejer/materialer/innovationsbarometeret/",
    "Side 14",
])
def test_formula_fragments_table_cells_links_and_running_heads_are_no_answer(text):
    assert not readable(text)


@pytest.mark.parametrize("text", [
    "Ifølge håndbogen bliver 79 % af de offentlige innovationer til i samarbejde med eksterne aktører.",
    "Kvaliteten forbedres i tre ud af fire innovationer.",
])
def test_sentences_are_answers(text):
    assert readable(text)


def test_quantities_in_words_count_and_years_do_not():
    assert find_phrase("number", "Borgerinddragelsen forbedres i hver tredje offentlige innovation.")
    assert find_phrase("number", "Kvaliteten forbedres i tre ud af fire innovationer.")
    assert find_phrase("number", "Knap halvdelen af innovationerne bliver mere effektive.")
    assert not find_phrase("number", "Bogen udkom i 2018 som 2. udgave.")


@pytest.mark.parametrize("question,kind", [
    ("Hvornår udkom bogen?", "date"), ("what year did the barometer start?", "date"),
    ("hvor tit bliver kvaliteten bedre?", "number"), ("Who wrote the handbook?", "name"),
    ("Hvilket forlag udgav bogen?", "name"), ("hvorfor er det svært at samarbejde?", None),
    ("virkede det så?", "outcome"), ("did the new toilets actually make the kids cleaner?", "outcome"),
    ("what's required from both sides for the collaboration to work?", None),
    ("who is this handbook actually written for?", None), ("Hvem henvender bogen sig til?", None),
    ("hvem har skrevet forordet til bogen?", "name"), ("Hvem i Aalborg Kommune stod for aftalen?", "name"),
])
def test_questions_name_the_kind_of_phrase_they_ask_for(question, kind):
    assert answer_kind(question) == kind


@pytest.mark.parametrize("question,quote,phrase", [
    ("Hvor mange arbejdspladser svarede?", "Statistikken bygger på svar fra 2.363 arbejdspladser i 2015-16.", "2.363"),
    ("Hvor tit bliver kvaliteten bedre?", "Kvaliteten forbedres i tre ud af fire innovationer.", "tre ud af fire"),
    ("Hvornår udkom bogen?", "Håndbogen udkom den 10. oktober 2018 på Dansk Psykologisk Forlag.", "10. oktober 2018"),
    ("Who wrote the handbook?", "Forfatterne er Ole Bech Lykkebo, Niels Jakobsen og Paul Sauer.", "Ole Bech Lykkebo"),
])
def test_the_answering_phrase_is_found_in_the_quote(question, quote, phrase):
    span = answer_span(answer_kind(question), quote)
    assert span is not None and quote[span[0]:span[1]] == phrase


def test_a_result_is_a_quantity_or_a_change():
    assert find_phrase("outcome", "Fejlene faldt til det halve.").group() == "det halve"
    assert find_phrase("outcome", "Innovationerne fik oftere højere kvalitet.").group() == "oftere"
    assert not find_phrase("outcome", "Personalet deltog i workshops med designmetoder.")


def test_no_phrase_is_marked_when_none_is_asked_for():
    question = "Hvad gik projektet ud på?"
    assert answer_span(answer_kind(question), "Personalet fik bedre overblik over medicinen.") is None


def test_answer_span_in_json_points_into_the_first_quote(assistant):
    data = assistant.ask("Hvornår udkom håndbogen?").to_json()
    span = data["answer_span"]
    assert span is not None and span["citation"] == 1
    quote = data["citations"][0]["quote"]
    assert "2018" in quote[span["start"]:span["end"]]


def test_the_first_sentence_is_the_one_that_answers(assistant):
    answer = assistant.ask("Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?")
    assert "79 %" in answer.citations[0].quote


@pytest.mark.parametrize("question,language,searched", [
    ("hvem har skrevet nyt sammen bedre?", "da", "hvem har skrevet håndbogen?"),
    ('Hvad handler bogen "NYT SAMMEN BEDRE" om?', "da", "Hvad handler håndbogen om?"),
    ("who published the handbook NYT SAMMEN BEDRE?", "en", "who published the handbook?"),
    ("Hvordan arbejder man sammen bedre?", "da", "Hvordan arbejder man sammen bedre?"),
])
def test_the_books_title_in_a_question_is_read_as_the_book(question, language, searched):
    assert refer_to_book(question, language) == searched


def test_a_question_naming_the_book_by_its_title_gets_the_authors_first(assistant):
    answer = assistant.ask("hvem har skrevet nyt sammen bedre?")
    assert "Ole Bech Lykkebo, Niels Jakobsen og Paul Sauer" in answer.citations[0].quote


@pytest.mark.parametrize("question", ["hvilke slags partnere kommer bogen ind på?",
                                      "What kinds of partners does the book cover?"])
def test_lists_of_partner_types_however_phrased(assistant, question):
    answer = assistant.ask(question)
    assert answer.kind == "contents:actors"
    assert all(f"{n}." in answer.answer for n in range(1, 9))


@pytest.mark.parametrize("question,is_list", [
    ("what kinds of partners does the book cover?", True), ("Which cases does the book describe?", True),
    ("hvilke råd giver bogen?", True), ("What makes working with outside partners hard?", False),
    ("what happens when the money runs out?", False),
])
def test_a_plural_after_what_asks_for_a_list_and_a_verb_does_not(question, is_list):
    assert wants_list(question) is is_list


def test_a_list_question_about_something_else_is_not_the_contents(assistant):
    answer = assistant.ask("What barriers to collaboration does the handbook mention?")
    assert answer.kind == "extractive"
    assert wants_list("What barriers to collaboration does the handbook mention?")
    first = answer.citations[0]
    rest = [c for c in answer.citations[1:] if (c.source, c.section) == (first.source, first.section)]
    assert all(a.lines[0] <= b.lines[0] for a, b in zip([first] + rest, rest)), "a list continues in reading order"
    others = [c.section for c in answer.citations if (c.source, c.section) != (first.source, first.section)]
    assert len(others) == len(set(others)), "one passage from each other section"


def test_a_list_written_as_consecutive_sentences_is_kept_whole(assistant):
    answer = assistant.ask("Hvilke funktioner har de nye skoletoiletter?")
    quotes = " ".join(c.quote for c in answer.citations)
    assert "skyl uden berøring" in quotes and "hygiejneø" in quotes


def test_short_questions_that_point_back_are_follow_ups():
    assert is_follow_up("virkede det så?") and is_follow_up("when did they open?")
    assert not is_follow_up("Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?")


def test_a_question_whether_it_worked_gets_the_result_first(assistant):
    history = [("Hvad gik medicinprojektet på plejecentrene i Aalborg ud på?", "")]
    answer = assistant.ask("virkede det så?", history)
    assert "det halve" in answer.citations[0].quote


@pytest.mark.parametrize("question,default,language", [
    ("minimum password length for HPC login nodes?", "en", "en"), ("minimum password length?", "da", "da"),
    ("Hvem har skrevet bogen?", "en", "da"), ("Who wrote the book?", "da", "en"), ("GDPR?", "en", "en"),
])
def test_a_question_without_language_evidence_takes_the_documents_language(question, default, language):
    assert detect_language(question, default=default) == language
