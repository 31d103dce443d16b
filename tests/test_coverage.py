"""The coverage model: fitted on the bundled corpus as it is, used only where every candidate sentence comes from
the documents it knows, and there it decides refusals with thresholds of its own."""
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from assistant import load_settings, open_assistant
from assistant.answer.coverage import Coverage, coverage_for, save_coverage
from assistant.model.calibration import (
    CALIBRATION_FILE,
    COVERAGE_SUFFIX,
    calibration_key,
)
from evals.train_scorer import fit_coverage

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def assistant(indexed_home):
    return open_assistant(indexed_home)


def test_the_shipped_model_knows_the_bundled_corpus_as_it_is(indexed_home):
    """Editing corpus/ without `python -m evals.train_scorer` would leave a model that no longer applies."""
    coverage = coverage_for(indexed_home.embed_model)
    assert coverage is not None and coverage.vector_weights.shape == (384,)
    corpus = {hashlib.sha256(p.read_bytes()).hexdigest() for p in CORPUS.glob("*.md") if p.name != "README.md"}
    assert coverage.documents == corpus
    record = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))[calibration_key(indexed_home.embed_model)]
    assert {"da" + COVERAGE_SUFFIX, "en" + COVERAGE_SUFFIX} <= set(record["by_language"]), "calibrated thresholds"


def test_it_applies_only_to_documents_it_knows():
    coverage = Coverage(frozenset({"a", "b"}), 1.0, np.zeros(4, dtype=np.float32), 0.0)
    assert coverage.applies({"a"}) and coverage.applies({"a", "b"})
    assert not coverage.applies({"a", "c"}) and not coverage.applies(set())


def test_a_covered_question_in_english_is_answered_and_an_uncovered_one_refused(assistant, indexed_home):
    hard = assistant.retrieve("What makes working with outside partners hard?")
    assert hard.coverage
    assert not assistant.ask("What makes working with outside partners hard?").refused
    assert assistant.ask("Hvad er reglerne for GDPR?").refused
    plain = open_assistant(dataclasses.replace(indexed_home, coverage_model=False))
    assert plain.coverage is None and not plain.retrieve("What makes working with outside partners hard?").coverage
    assert load_settings({"HANDBOOK_COVERAGE_MODEL": "0"}).coverage_model is False


def test_other_documents_keep_the_relevance_score(tmp_path, e5_model_dir):
    from ingest.run import ingest_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notat.md").write_text("# Notat\n\nFonden støtter foreninger på Fanø med 2 mio. kr. om året.\n",
                                   encoding="utf-8")
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    ingest_paths([docs], settings)
    found = open_assistant(settings).retrieve("Hvor mange penge giver fonden?")
    assert found.candidates and not found.coverage


def test_fitting_learns_where_in_the_space_the_covered_questions_lie(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(80, 8)).astype(np.float32)
    covered = (vectors[:, 0] > 0).astype(int)  # the "topic" the documents answer
    relevance = np.full(80, 0.8)  # the relevance score alone cannot tell them apart
    coverage = fit_coverage(relevance, vectors, covered, frozenset({"h"}))
    inside, outside = np.eye(8, dtype=np.float32)[0], -np.eye(8, dtype=np.float32)[0]
    assert coverage.probability(0.8, inside) > 0.8
    assert coverage.probability(0.8, outside) < 0.2
    path = tmp_path / "coverage.json"
    save_coverage("model-a", coverage, {"sets": ["x"]}, path=path)
    again = coverage_for("model-a", path=path)
    assert again is not None and again.documents == {"h"}
    assert abs(again.probability(0.8, inside) - coverage.probability(0.8, inside)) < 1e-4


def test_its_thresholds_stand_under_keys_of_their_own():
    from assistant.model.calibration import threshold_language

    assert threshold_language("da", "da", coverage=True) == "da" + COVERAGE_SUFFIX
    assert threshold_language("en", "da", coverage=True) == "en" + COVERAGE_SUFFIX
    assert threshold_language("en", "da") == "en"
