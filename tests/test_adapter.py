"""The query adapter: fitted per model, near the identity, deciding only which chosen sentence goes first."""
import dataclasses

import numpy as np
import pytest

from assistant import load_settings, open_assistant
from assistant.answer.adapter import ADAPTER_FILE, adapt, adapter_for, save_adapter
from assistant.answer.extractive import select
from evals.train_adapter import best_holds_fact, fit


@pytest.fixture(scope="module")
def assistant(indexed_home):
    return open_assistant(indexed_home)


def test_the_shipped_map_belongs_to_the_default_model_and_stays_near_the_identity(indexed_home):
    matrix = adapter_for(indexed_home.embed_model)  # the test model's folder counts as the model it was built from
    assert matrix is not None and matrix.shape == (384, 384)
    assert np.linalg.norm(matrix - np.eye(384)) < 0.5 * np.linalg.norm(np.eye(384))
    assert adapter_for("some-other-model", ADAPTER_FILE) is None


def test_adapted_vectors_keep_unit_length_and_no_map_changes_nothing():
    v = np.random.default_rng(0).normal(size=384).astype(np.float32)
    v /= np.linalg.norm(v)
    assert adapt(v, None) is v
    out = adapt(v, np.eye(384, dtype=np.float32) + 0.01)
    assert abs(np.linalg.norm(out) - 1) < 1e-5 and not np.allclose(out, v)


def test_saved_maps_are_kept_per_model(tmp_path):
    path = tmp_path / "adapter.npz"
    save_adapter("model-a", np.eye(4), path)
    save_adapter("model-b", 2 * np.eye(4), path)
    assert np.allclose(adapter_for("model-a", path), np.eye(4))
    assert np.allclose(adapter_for("model-b", path), 2 * np.eye(4))


def test_switched_off_by_setting(indexed_home):
    settings = dataclasses.replace(indexed_home, query_adapter=False)
    assert open_assistant(settings).adapter is None
    assert load_settings({"HANDBOOK_QUERY_ADAPTER": "0"}).query_adapter is False


def test_the_lead_sentence_goes_first_and_the_rest_follow_the_plain_score(assistant):
    cands = assistant.retrieve("Hvor mange offentlige arbejdspladser svarede på Innovationsbarometeret?").candidates
    for c in cands:
        c.lead = c.score
    plain = select(cands, 4)
    outsider = min(cands, key=lambda c: c.score)
    outsider.lead = max(c.score for c in cands) + 1
    chosen = select(cands, 4)
    assert outsider not in plain and chosen[0] is outsider
    assert chosen[1:] == [c for c in plain if c is not outsider][:3]


def test_fitting_moves_the_question_toward_the_sentence_that_holds_the_fact():
    e = np.eye(8, dtype=np.float32)
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    restates, answers = unit(e[0] + 0.1 * e[2]), unit(e[0] + 0.15 * e[1])
    rows = [{"query": e[0], "alone": np.stack([restates, answers]), "pooled": np.stack([restates, answers]),
             "bonus": np.zeros(2, dtype=np.float32), "labels": np.array([False, True])}]
    assert best_holds_fact(rows, None) == 0.0
    assert best_holds_fact(rows, fit(rows, strength=0.0)) == 1.0
