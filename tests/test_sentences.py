from assistant.answer.sentences import sentences, split_sentences


def test_danish_abbreviations_and_dates_do_not_split():
    text = "Bogen udkom den 10. oktober 2018 hos forlaget. Den har bl.a. cases, fx. fra Aalborg. Hele 79 % svarede!"
    assert sentences(text) == [
        "Bogen udkom den 10. oktober 2018 hos forlaget.",
        "Den har bl.a. cases, fx. fra Aalborg.",
        "Hele 79 % svarede!",
    ]


def test_numbers_with_thousand_separators_stay_whole():
    assert sentences("I alt svarede 2.363 arbejdspladser. Det er hver sjette.") == [
        "I alt svarede 2.363 arbejdspladser.", "Det er hver sjette."]


def test_list_items_and_paragraphs_stand_alone():
    text = "De otte typer er:\n- borgere\n- fonde\n\nNyt afsnit her."
    assert sentences(text) == ["De otte typer er:", "borgere", "fonde", "Nyt afsnit her."]


def test_spans_point_into_the_text():
    text = "  Første sætning. Anden sætning.  "
    assert [text[s:e] for s, e in split_sentences(text)] == ["Første sætning.", "Anden sætning."]


def test_a_sentence_that_opens_with_a_date_keeps_its_day():
    from assistant.answer.sentences import clean_sentence

    assert clean_sentence("22. oktober 2018 omtalte VPT bogen.") == "22. oktober 2018 omtalte VPT bogen."
    assert clean_sentence("2. Find en partner.") == "Find en partner."
