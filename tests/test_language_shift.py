"""Questions in another language than the documents': moved toward the documents' language with the real e5 model,
and what counts as unknown to the documents across languages."""
from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.answer.scorer import checkable_terms
from assistant.model.embedding import Embedder
from assistant.model.language_shift import BANK_FILE, LanguageShift

# Translated pairs on topics the bank does not hold, so the check is not on the bank's own questions.
PAIRS = [
    ("Hvor mange borgere deltog i workshoppen om den nye cykelsti?",
     "How many citizens took part in the workshop about the new cycle path?"),
    ("Hvem betaler for vedligeholdelsen af legepladsen ved skolen?",
     "Who pays for the upkeep of the playground at the school?"),
    ("Hvornår åbnede det nye bibliotek i byen?", "When did the new library in town open?"),
    ("Hvorfor blev projektet med elcykler til hjemmeplejen stoppet?",
     "Why was the project with e-bikes for home care stopped?"),
]


@pytest.fixture(scope="module")
def embedder(e5_model_dir) -> Embedder:
    return Embedder(e5_model_dir)


def test_the_bank_is_translated_pairs_in_both_languages():
    pairs = [json.loads(line) for line in BANK_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(pairs) >= 200 and all(set(p) == {"da", "en"} and p["da"] and p["en"] for p in pairs)


def test_an_english_question_moves_closer_to_its_danish_translation(embedder, tmp_path):
    shift = LanguageShift(embedder, tmp_path)
    da = embedder.embed_queries([d for d, _ in PAIRS])
    en = embedder.embed_queries([e for _, e in PAIRS])
    moved = np.stack([shift.toward(v, "en", "da") for v in en])
    assert np.allclose(np.linalg.norm(moved, axis=1), 1.0, atol=1e-5)
    before, after = np.sum(da * en, axis=1), np.sum(da * moved, axis=1)
    assert (after > before).all(), (before, after)
    # ... and the translation stays the nearest of the Danish questions
    assert (np.argmax(moved @ da.T, axis=1) == np.arange(len(PAIRS))).all()


def test_same_language_and_unknown_languages_are_left_alone(embedder, tmp_path):
    shift = LanguageShift(embedder, tmp_path)
    vec = embedder.embed_queries(["Hvem skrev bogen?"])[0]
    assert shift.toward(vec, "da", "da") is vec
    assert shift.toward(vec, "de", "da") is vec


def test_the_means_are_kept_in_the_models_folder_and_read_back(embedder, tmp_path):
    first = LanguageShift(embedder, tmp_path).means()
    files = list(tmp_path.glob("language-means-*.npz"))
    assert len(files) == 1
    again = LanguageShift(embedder, tmp_path)
    assert again._load() is not None
    assert all(np.array_equal(first[k], again.means()[k]) for k in first)


def test_setup_computes_the_offsets_so_no_question_does(tmp_path, onnx_model_dir):
    from assistant.settings import DEFAULT_MODEL, Settings
    from ingest.setup import setup

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / DEFAULT_MODEL).symlink_to(onnx_model_dir, target_is_directory=True)
    lines = setup(Settings(home=tmp_path))  # a generator: stopping before the last line skips the ingest
    assert [next(lines) for _ in range(4)][-1].startswith("Language offsets for questions in another language")
    assert len(list((tmp_path / "models").glob("language-means-*.npz"))) == 1


def test_across_languages_only_names_and_numbers_are_checked_against_the_documents():
    assert checkable_terms("what did the 2023 innovation barometer find?", True) == ["2023"]
    assert checkable_terms("how does this compare to Geoff Mulgan's books?", True) == ["geof", "mulgan"]
    assert checkable_terms("Who wrote the book?", True) == []
    assert "overenskomst" in " ".join(checkable_terms("hvad siger overenskomsten om arbejdstid?", False))


def test_an_english_question_about_a_year_the_handbook_never_mentions_is_refused(indexed_home):
    from assistant import open_assistant

    assistant = open_assistant(indexed_home)
    answer = assistant.ask("What did the 2031 innovation barometer find?")
    assert answer.refused and answer.answer.startswith("The handbook does not say")
    assert not assistant.ask("What did the 2015-16 innovation barometer find?").refused


def test_the_documents_language_is_that_of_the_chosen_documents(tmp_path, e5_model_dir):
    from assistant import load_settings, open_assistant
    from ingest.run import ingest_paths

    da = tmp_path / "docs" / "vejledning.md"
    en = tmp_path / "docs" / "guide.md"
    da.parent.mkdir()
    da.write_text("# Vejledning\n\n" + "Kommunen samarbejder med borgerne om nye løsninger på ældreområdet. " * 40
                  + "\n\n## Økonomi\n\n" + "Udgifterne deles mellem de parter, der er med i projektet. " * 40,
                  encoding="utf-8")
    en.write_text("# Guide\n\nThe council works with residents on new ideas for libraries and parks.\n",
                  encoding="utf-8")
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    assert not ingest_paths([da, en], settings).errors
    assistant = open_assistant(settings)
    retriever = assistant.retriever
    assert assistant.documents_language(retriever) == "da"
    assert assistant.documents_language(retriever, ["guide.md"]) == "en"
    question = "Who do the council work with on libraries?"
    plain = assistant.embedder.embed_queries([question])[0]
    for sources, moved in ((["guide.md"], False), (None, True)):
        found = assistant.retrieve(question, sources=sources)
        _, alone = assistant.vectors(found.candidates)
        unshifted = np.allclose([c.alone for c in found.candidates], alone @ plain, atol=1e-5)
        assert unshifted != moved, sources  # the English question is moved only toward Danish documents
