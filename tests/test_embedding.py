"""The Embedder with the real e5 model: Danish retrieval, prefixes, order, caching, offline loading."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.embedding import Embedder, load_embedder, resolve_model_path
from assistant.errors import ModelError
from assistant.settings import DEFAULT_MODEL, Settings

PASSAGES = [
    "Du har ret til 25 feriedage om året, og ferien skal som hovedregel aftales med din leder i god tid.",
    "Sygdom skal meldes til nærmeste leder telefonisk inden kl. 9 på første sygedag.",
    "Udlæg refunderes, når kvitteringen er uploadet i rejseafregningssystemet senest 30 dage efter købet.",
    "Kantinen har åbent fra 11.30 til 13.00, og der serveres vegetarisk ret hver dag.",
    "Hjemmearbejde kan aftales op til to dage om ugen, hvis opgaverne tillader det.",
]


@pytest.fixture(scope="module")
def embedder(e5_model_dir: Path) -> Embedder:
    return Embedder(e5_model_dir)


def test_danish_query_ranks_matching_passage_first(embedder: Embedder) -> None:
    passages = embedder.embed_passages(PASSAGES)
    queries = embedder.embed_queries([
        "Hvordan melder jeg mig syg?",
        "Hvor mange dages ferie får man?",
        "Hvornår får jeg mine udgifter tilbage?",
    ])
    assert passages.dtype == np.float32 and passages.shape == (5, embedder.dim) and embedder.dim == 384
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    assert (queries @ passages.T).argmax(axis=1).tolist() == [1, 0, 2]


def test_prefixes_applied_for_e5(embedder: Embedder, e5_model_dir: Path) -> None:
    raw = embedder._model
    text = "Hvornår lukker kantinen?"

    def enc(s: str) -> np.ndarray:
        return raw.encode([s], normalize_embeddings=True, convert_to_numpy=True)[0]

    assert "e5" in embedder.name
    assert np.allclose(embedder.embed_queries([text])[0], enc("query: " + text), atol=1e-5)
    assert np.allclose(embedder.embed_passages([text])[0], enc("passage: " + text), atol=1e-5)
    assert not np.allclose(enc("query: " + text), enc(text), atol=1e-3)
    plain = Embedder(e5_model_dir, prefixes=False)
    assert np.allclose(plain.embed_queries([text])[0], enc(text), atol=1e-5)


def test_passages_keep_input_order_and_report_progress(embedder: Embedder) -> None:
    texts = ["kort", PASSAGES[0] * 3, "mellemlang tekst om ferie", PASSAGES[3], "x" * 5]
    seen: list[int] = []
    batched = embedder.embed_passages(texts, batch_size=2, progress=seen.append)
    single = np.stack([embedder.embed_passages([t])[0] for t in texts])
    assert np.allclose(batched, single, atol=1e-4)
    assert seen == [2, 4, 5]
    assert embedder.embed_passages([]).shape == (0, 384)


def test_query_cache_returns_same_vectors_and_is_not_aliased(embedder: Embedder) -> None:
    first = embedder.embed_queries(["Må jeg arbejde hjemme?", "Må jeg arbejde hjemme?"])
    assert np.array_equal(first[0], first[1])
    first[:] = 0.0
    again = embedder.embed_queries(["Må jeg arbejde hjemme?"])
    assert np.isclose(np.linalg.norm(again[0]), 1.0)


def test_resolve_model_path(tmp_path: Path, e5_model_dir: Path) -> None:
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2", tmp_path) == "sentence-transformers/all-MiniLM-L6-v2"
    assert resolve_model_path("/some/local/folder", tmp_path) == "/some/local/folder"
    assert resolve_model_path(DEFAULT_MODEL, e5_model_dir.parent) == e5_model_dir  # prepared already: no rebuild


def test_load_embedder_is_cached_per_model(tmp_path: Path, e5_model_dir: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / DEFAULT_MODEL).symlink_to(e5_model_dir, target_is_directory=True)
    settings = Settings(home=tmp_path)
    first = load_embedder(settings)
    assert first is load_embedder(settings)
    assert first.query_prefix == "query: " and first.dim == 384


def test_unknown_model_fails_offline_with_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="offline"):
        load_embedder(Settings(home=tmp_path, embed_model="no-such-org/no-such-model-xyz"))
