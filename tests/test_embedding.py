"""The Embedder with the real e5 model on torch and onnxruntime: Danish retrieval, prefixes, order, caching,
offline loading, the ONNX export and how a backend is chosen."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from linked import linked_copy as _linked_copy

from assistant.errors import ModelError, SettingsError
from assistant.model import embedding
from assistant.model import onnx_runtime as onnx_encoder
from assistant.model.embedding import Embedder, choose_backend, load_embedder, model_path, prepare_model
from assistant.model.int8_table import table_file
from assistant.model.onnx_runtime import EXPORT_MARKER, MIN_COSINE, export_onnx, onnx_file
from assistant.settings import DEFAULT_MODEL, Settings, load_settings
from ingest.setup import setup

PASSAGES = [
    "Du har ret til 25 feriedage om året, og ferien skal som hovedregel aftales med din leder i god tid.",
    "Sygdom skal meldes til nærmeste leder telefonisk inden kl. 9 på første sygedag.",
    "Udlæg refunderes, når kvitteringen er uploadet i rejseafregningssystemet senest 30 dage efter købet.",
    "Kantinen har åbent fra 11.30 til 13.00, og der serveres vegetarisk ret hver dag.",
    "Hjemmearbejde kan aftales op til to dage om ugen, hvis opgaverne tillader det.",
]


LONG = " ".join(["Ferie skal aftales med lederen i god tid, og sygdom meldes inden kl. 9."] * 60)


def _home_with(model: Path, home: Path) -> Path:
    """A data directory whose default model is the given folder (linked, not copied)."""
    (home / "models").mkdir(parents=True)
    (home / "models" / DEFAULT_MODEL).symlink_to(model, target_is_directory=True)
    return home


@pytest.fixture(scope="module")
def torch_embedder(e5_model_dir: Path) -> Embedder:
    return Embedder(e5_model_dir, backend="torch")


@pytest.fixture(scope="module")
def onnx_embedder(onnx_model_dir: Path) -> Embedder:
    return Embedder(onnx_model_dir, backend="onnx")


@pytest.fixture(params=["torch", "onnx"])
def embedder(request) -> Embedder:
    return request.getfixturevalue(f"{request.param}_embedder")


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


def test_prefixes_applied_for_e5(torch_embedder: Embedder, e5_model_dir: Path) -> None:
    embedder = torch_embedder
    raw = embedder._model
    text = "Hvornår lukker kantinen?"

    def enc(s: str) -> np.ndarray:
        return raw.encode([s], normalize_embeddings=True, convert_to_numpy=True)[0]

    assert "e5" in embedder.name
    assert np.allclose(embedder.embed_queries([text])[0], enc("query: " + text), atol=1e-5)
    assert np.allclose(embedder.embed_passages([text])[0], enc("passage: " + text), atol=1e-5)
    assert not np.allclose(enc("query: " + text), enc(text), atol=1e-3)
    plain = Embedder(e5_model_dir, prefixes=False, backend="torch")
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


def test_prepare_model_builds_and_model_path_only_finds(tmp_path: Path, e5_model_dir: Path,
                                                       onnx_model_dir: Path) -> None:
    named = Settings(home=tmp_path, embed_model="sentence-transformers/all-MiniLM-L6-v2")
    assert prepare_model(named) == model_path(named) == "sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(ModelError, match="handbook setup"):  # a question's path never builds the model
        model_path(Settings(home=tmp_path))
    assert not (tmp_path / "models").exists()
    linked = Settings(home=_home_with(e5_model_dir, tmp_path / "torch-home"), embed_backend="torch")
    assert prepare_model(linked).resolve() == model_path(linked).resolve() == e5_model_dir.resolve()  # no rebuild
    exported = Settings(home=_home_with(onnx_model_dir, tmp_path / "onnx-home"))
    started = time.perf_counter()
    assert prepare_model(exported).resolve() == onnx_model_dir.resolve()  # exported already
    assert time.perf_counter() - started < 2.0
    assert (onnx_model_dir / "model.safetensors").is_symlink(), "the export must not invalidate the model's marker"


def test_load_embedder_is_cached_per_model_and_backend(tmp_path: Path, onnx_model_dir: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / DEFAULT_MODEL).symlink_to(onnx_model_dir, target_is_directory=True)
    settings = Settings(home=tmp_path)
    first = load_embedder(settings)
    assert first is load_embedder(settings)
    assert first.query_prefix == "query: " and first.dim == 384 and first.backend == "onnx"
    on_torch = load_embedder(Settings(home=tmp_path, embed_backend="torch"))
    assert on_torch is not first and on_torch.backend == "torch"


def test_unknown_model_fails_offline_with_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="offline"):
        load_embedder(Settings(home=tmp_path, embed_model="no-such-org/no-such-model-xyz"))


def test_backend_setting() -> None:
    assert load_settings({}).embed_backend == "auto"
    assert load_settings({"HANDBOOK_EMBED_BACKEND": "torch"}).embed_backend == "torch"
    with pytest.raises(SettingsError, match="HANDBOOK_EMBED_BACKEND"):
        load_settings({"HANDBOOK_EMBED_BACKEND": "gpu"})


def test_setup_reports_the_fast_query_model(tmp_path: Path, onnx_model_dir: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / DEFAULT_MODEL).symlink_to(onnx_model_dir, target_is_directory=True)
    lines = setup(Settings(home=tmp_path))  # a generator: stopping after two lines skips the ingest step
    assert next(lines).startswith("Embedding model ready:")
    assert next(lines) == f"Fast query model ready: {table_file(tmp_path / 'models' / DEFAULT_MODEL)}"
    lines = setup(Settings(home=tmp_path, embed_backend="torch"))
    next(lines)
    assert next(lines) == "Queries run on torch: HANDBOOK_EMBED_BACKEND=torch."


def test_export_is_verified_and_done_once(onnx_model_dir: Path) -> None:
    path = onnx_file(onnx_model_dir)
    marker = json.loads((onnx_model_dir / EXPORT_MARKER).read_text())
    assert path.stat().st_size == marker["onnx_size"] > 100_000_000
    assert marker["verification_cosine"] >= MIN_COSINE and marker["opset"] == 17
    before = path.stat().st_mtime_ns
    started = time.perf_counter()
    assert export_onnx(onnx_model_dir) == path
    assert time.perf_counter() - started < 2.0 and path.stat().st_mtime_ns == before
    names = sorted(p.name for p in path.parent.iterdir())  # the run-time copies too, once a set-up test made them
    assert {"export.json", "int8-table.json", "int8.json", "model.int8-table.onnx", "model.int8.onnx",
            "model.onnx"} <= set(names)
    assert not [n for n in names if n.startswith(".")], "temp files left behind"


def test_export_that_disagrees_is_removed(tmp_path: Path, onnx_model_dir: Path, monkeypatch) -> None:
    folder = _linked_copy(onnx_model_dir, tmp_path / "model")
    monkeypatch.setattr(onnx_encoder, "_export", lambda model, path: path.hardlink_to(onnx_file(onnx_model_dir)))
    monkeypatch.setattr(onnx_encoder, "_verify", lambda model, model_dir, path: 0.999)
    with pytest.raises(ModelError, match=r"cosine 0\.999000 < 0\.9999"):
        export_onnx(folder)
    assert list(onnx_file(folder).parent.iterdir()) == []
    assert choose_backend(folder)[0] == "torch"


def test_onnx_vectors_match_torch(torch_embedder: Embedder, onnx_embedder: Embedder) -> None:
    queries = ["Hvor mange feriedage har jeg?", "How do I report sick leave?", "Må jeg arbejde hjemme?", ""]
    passages = [*PASSAGES, LONG, "kort"]
    for method, texts in ((Embedder.embed_queries, queries), (Embedder.embed_passages, passages)):
        a, b = method(torch_embedder, texts), method(onnx_embedder, texts)
        assert a.shape == b.shape and b.dtype == np.float32
        assert np.min(np.sum(a * b, axis=1)) >= MIN_COSINE


def test_onnx_tokenizer_truncates_like_sentence_transformers(torch_embedder: Embedder, onnx_embedder: Embedder) -> None:
    texts = ["passage: " + LONG, "query: æøå ÆØÅ ﬁ 😊", "x"]
    theirs = torch_embedder._model.tokenizer(texts, truncation=True, max_length=512)["input_ids"]
    encodings = onnx_embedder._model._tokens.hf().encode_batch(texts)
    ours = [[i for i, m in zip(e.ids, e.attention_mask) if m] for e in encodings]
    assert ours == theirs and len(ours[0]) == 512
    light = onnx_embedder._model._tokens.light
    assert [light.encode(t, 512) for t in texts] == theirs


def test_auto_picks_onnx_only_for_a_current_export(tmp_path: Path, onnx_model_dir: Path) -> None:
    assert choose_backend(onnx_model_dir) == ("onnx", str(onnx_file(onnx_model_dir)))
    assert Embedder(onnx_model_dir).backend == "onnx"
    assert choose_backend(onnx_model_dir, "torch")[0] == "torch"
    bare = _linked_copy(onnx_model_dir, tmp_path / "bare")
    backend, why = choose_backend(bare)
    assert backend == "torch" and "onnx/model.onnx does not exist" in why
    with pytest.raises(ModelError, match="HANDBOOK_EMBED_BACKEND=onnx"):
        choose_backend(bare, "onnx")
    stale = _linked_copy(onnx_model_dir, tmp_path / "stale", skip=(str(EXPORT_MARKER),))
    marker = json.loads((onnx_model_dir / EXPORT_MARKER).read_text())
    (stale / EXPORT_MARKER).write_text(json.dumps({**marker, "weights_size": 1}))
    backend, why = choose_backend(stale)
    assert backend == "torch" and "other weights" in why


def test_only_mean_pooled_models_run_on_onnx(tmp_path: Path, onnx_model_dir: Path) -> None:
    cls = _linked_copy(onnx_model_dir, tmp_path / "cls", skip=("1_Pooling",))
    config = json.loads((onnx_model_dir / "1_Pooling" / "config.json").read_text())
    (cls / "1_Pooling").mkdir()
    (cls / "1_Pooling" / "config.json").write_text(json.dumps(
        {**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    backend, why = choose_backend(cls)
    assert backend == "torch" and "mean pooling" in why


def test_default_model_stays_on_torch_without_the_onnx_package(tmp_path: Path, onnx_model_dir: Path,
                                                              monkeypatch) -> None:
    models = tmp_path / "models"
    folder = _linked_copy(onnx_model_dir, models / DEFAULT_MODEL)
    real = embedding.importlib.util.find_spec
    monkeypatch.setattr(embedding.importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnx" else real(name, *args))
    assert prepare_model(Settings(home=tmp_path)) == folder
    assert not onnx_file(folder).exists()
    backend, why = choose_backend(folder)
    assert backend == "torch" and "pip install onnx==" in why


def test_corrupt_onnx_file_is_one_clear_model_error(tmp_path: Path, onnx_model_dir: Path) -> None:
    broken = _linked_copy(onnx_model_dir, tmp_path / "broken")
    onnx_file(broken).parent.mkdir()
    onnx_file(broken).write_bytes(b"\x08\x07 not an onnx model " * 64)
    with pytest.raises(ModelError) as err:
        Embedder(broken)
    message = str(err.value)
    assert str(onnx_file(broken)) in message and "handbook setup" in message and "\n" not in message


NO_TORCH = r"""
import json, sys
from pathlib import Path
from assistant.model.embedding import load_embedder
from assistant.settings import Settings
import assistant.pipeline  # what `handbook ask` loads
e = load_embedder(Settings(home=Path(sys.argv[2]), embed_model=sys.argv[1]))
v = e.embed_queries(["Hvor mange feriedage har jeg?"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
print(json.dumps([e.backend, v.shape[1], heavy]))
"""


def test_new_process_on_onnx_never_imports_torch(tmp_path: Path, onnx_model_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-c", NO_TORCH, str(onnx_model_dir), str(tmp_path)], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["onnx", 384, []]


def test_span_vectors_come_from_the_passage_pass_and_agree_across_backends(torch_embedder: Embedder,
                                                                          onnx_embedder: Embedder) -> None:
    text = PASSAGES[0] + " " + PASSAGES[1]
    spans = [(0, len(PASSAGES[0])), (len(PASSAGES[0]) + 1, len(text))]
    long_spans = [(0, 40), (len(LONG) - 40, len(LONG))]  # the second lies past the model's 512 tokens
    pooled_by = {}
    for e in (torch_embedder, onnx_embedder):
        vectors, pooled = e.embed_passages_with_spans([text, LONG], [spans, long_spans])
        assert np.allclose(vectors, e.embed_passages([text, LONG]), atol=1e-5)
        alone = e.embed_passages(PASSAGES[:2])
        assert pooled[0][spans[0]] @ alone[0] > pooled[0][spans[0]] @ alone[1]
        assert pooled[0][spans[1]] @ alone[1] > pooled[0][spans[1]] @ alone[0]
        assert np.allclose(pooled[1][long_spans[1]], e.embed_passages([LONG[-40:]])[0], atol=1e-5)
        assert not np.allclose(pooled[1][long_spans[0]], e.embed_passages([LONG[:40]])[0], atol=1e-3)
        pooled_by[e.backend] = pooled
    for t, o in zip(pooled_by["torch"], pooled_by["onnx"]):
        assert t.keys() == o.keys() and all(float(t[k] @ o[k]) > 0.9999 for k in t)
