"""The int8 model and the precision setting, with the real model: the export and its verification, how a precision is
chosen, the re-embed when it changes, and the one-line notice while the index still has the other precision."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from linked import linked_copy

from assistant.errors import ModelError, SettingsError
from assistant.model import quantize
from assistant.model.calibration import (
    calibrated_threshold,
    calibration_key,
    record_calibration,
)
from assistant.model.embedding import Embedder, choose_precision, vector_space
from assistant.model.onnx_runtime import onnx_file
from assistant.model.quantize import (
    INT8_MARKER,
    MIN_INT8_COSINE,
    export_int8,
    int8_file,
    int8_stale_reason,
)
from assistant.settings import DEFAULT_MODEL, Settings, load_settings
from ingest.indexing import ingest
from ingest.run import bundled_corpus
from ingest.setup import setup

QUESTION = "Hvad er en fond?"


@pytest.fixture(scope="module")
def int8_embedder(onnx_model_dir: Path) -> Embedder:
    return Embedder(onnx_model_dir, backend="onnx", precision="int8")


@pytest.fixture(scope="module")
def fp32_embedder(onnx_model_dir: Path) -> Embedder:
    return Embedder(onnx_model_dir, backend="onnx", precision="fp32")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("02-noegletal.md", "09-fonde.md"):
        shutil.copy(bundled_corpus() / name, folder / name)
    return folder


def _settings(home: Path, model: Path, precision: str) -> Settings:
    return load_settings({}, home=home, embed_model=str(model), embed_precision=precision)


def test_export_is_a_verified_quarter_of_the_fp32_file(onnx_model_dir: Path) -> None:
    marker = json.loads((onnx_model_dir / INT8_MARKER).read_text())
    size = int8_file(onnx_model_dir).stat().st_size
    assert size == marker["int8_size"] < onnx_file(onnx_model_dir).stat().st_size / 3
    assert 1.0 > marker["verification_cosine"] >= MIN_INT8_COSINE
    assert int8_stale_reason(onnx_model_dir) is None
    before = int8_file(onnx_model_dir).stat().st_mtime_ns
    assert export_int8(onnx_model_dir) == int8_file(onnx_model_dir)  # a marker check, not a second quantization
    assert int8_file(onnx_model_dir).stat().st_mtime_ns == before


def test_int8_rows_are_close_to_fp32_but_not_the_same(int8_embedder: Embedder, fp32_embedder: Embedder) -> None:
    texts = ["Hvor mange fonde uddeler penge til innovation?", "passage-like text about partnerskaber og kommuner"]
    a, b = int8_embedder.embed_queries(texts), fp32_embedder.embed_queries(texts)
    cosines = np.sum(a * b, axis=1)
    assert np.all(cosines > MIN_INT8_COSINE) and np.all(cosines < 0.99999)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert int8_embedder.precision == "int8" and fp32_embedder.precision == "fp32"


def test_int8_that_disagrees_is_refused_and_nothing_is_left(tmp_path: Path, onnx_model_dir: Path,
                                                            monkeypatch) -> None:
    folder = linked_copy(onnx_model_dir, tmp_path / "model", skip=(str(quantize.INT8_FILE), str(INT8_MARKER)))
    monkeypatch.setattr(quantize, "verify_int8", lambda model_dir, path: 0.5)
    with pytest.raises(ModelError, match=r"cosine 0\.5000 < 0\.99"):
        export_int8(folder)
    left = sorted(p.name for p in (folder / "onnx").iterdir()
                  if "int8-table" not in p.name and ".opt." not in p.name and p.name != "optimized.json")
    assert left == ["export.json", "model.onnx"]
    assert choose_precision(folder, "int8", "onnx")[0] == "fp32"


def test_int8_from_another_fp32_export_is_stale(tmp_path: Path, onnx_model_dir: Path) -> None:
    folder = linked_copy(onnx_model_dir, tmp_path / "model", skip=("onnx/model.onnx",))
    shutil.copy(onnx_file(onnx_model_dir), onnx_file(folder))  # same bytes, a new file: not what was quantized
    assert "was not quantized from" in int8_stale_reason(folder)
    assert choose_precision(folder, "int8", "onnx") == ("fp32", int8_stale_reason(folder))
    os.unlink(int8_file(folder))
    assert "does not exist" in int8_stale_reason(folder)


def test_precision_setting_and_choice(onnx_model_dir: Path, e5_model_dir: Path) -> None:
    assert load_settings({}).embed_precision == "fp32"
    assert load_settings({"HANDBOOK_EMBED_PRECISION": "int8"}).embed_precision == "int8"
    with pytest.raises(SettingsError, match="HANDBOOK_EMBED_PRECISION must be one of int8, fp32"):
        load_settings({"HANDBOOK_EMBED_PRECISION": "int4"})
    assert choose_precision(onnx_model_dir, "int8", "onnx") == ("int8", str(int8_file(onnx_model_dir)))
    assert choose_precision(onnx_model_dir, "fp32", "onnx")[0] == "fp32"
    assert choose_precision(onnx_model_dir, "int8", "torch") == ("fp32", "the int8 model runs on onnxruntime only")
    assert vector_space("m", "fp32") == "m" and vector_space("m", "int8") == "m@int8"


def test_setup_makes_and_reports_the_int8_model(tmp_path: Path, onnx_model_dir: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / DEFAULT_MODEL).symlink_to(onnx_model_dir, target_is_directory=True)
    lines = setup(Settings(home=tmp_path, embed_precision="int8"))  # three lines: model, ONNX, precision
    assert [next(lines).split(":")[0] for _ in range(2)] == ["Embedding model ready", "Fast query model ready"]
    assert next(lines) == f"Embedding with the int8 model: {int8_file(tmp_path / 'models' / DEFAULT_MODEL)}"
    lines = setup(Settings(home=tmp_path, embed_precision="fp32"))
    next(lines), next(lines)
    assert next(lines) == "Embedding in fp32: HANDBOOK_EMBED_PRECISION=fp32."


def test_switching_precision_re_embeds_on_the_next_ingest(tmp_path: Path, onnx_model_dir: Path, docs: Path) -> None:
    from assistant.index.store import Store

    def stored(precision: str) -> tuple[str | None, dict[str, np.ndarray]]:
        store = Store(_settings(home, onnx_model_dir, precision))
        try:
            ids = sorted(store.catalog.chunk_ids())
            return store.catalog.get_meta("embed_precision"), store.vectors_for(ids)
        finally:
            store.close()

    home = tmp_path / "home"
    first = ingest([docs], _settings(home, onnx_model_dir, "fp32"))
    meta_fp32, fp32 = stored("fp32")
    switched = ingest([docs], _settings(home, onnx_model_dir, "int8"))
    assert switched.indexed == 2 and switched.embedded == switched.chunks == first.chunks
    again = ingest([docs], _settings(home, onnx_model_dir, "int8"))
    assert again.embedded == 0 and again.unchanged == 2
    meta_int8, int8 = stored("int8")
    assert (meta_fp32, meta_int8) == ("fp32", "int8") and int8.keys() == fp32.keys()
    cosines = [float(int8[i] @ fp32[i]) for i in fp32]
    assert min(cosines) > 0.98 and max(cosines) < 0.99999, "every vector was made again, by the int8 model"


def test_index_of_the_other_precision_answers_with_its_own_and_says_so(tmp_path: Path, onnx_model_dir: Path,
                                                                       docs: Path) -> None:
    from assistant.pipeline import Assistant

    home = tmp_path / "home"
    ingest([docs], _settings(home, onnx_model_dir, "fp32"))
    assistant = Assistant(_settings(home, onnx_model_dir, "int8"))
    try:
        assert assistant.embedder.precision == "fp32", "a query is never embedded with the other precision"
        assert assistant.settings.embed_precision == "fp32"  # and the threshold is fp32's
        answer = assistant.ask(QUESTION)
        assert answer.notice is not None and "\n" not in answer.notice
        assert "fp32" in answer.notice and "int8" in answer.notice and "handbook ingest" in answer.notice
        english = assistant.ask("What is a foundation?")
        assert "re-embeds it with int8" in english.notice
        ingest([docs], _settings(home, onnx_model_dir, "int8"))  # the switch: the same process follows the index
        after = assistant.ask(QUESTION)
        assert after.notice is None and assistant.embedder.precision == "int8"
        assert assistant.settings.embed_precision == "int8"
    finally:
        assistant.close()


def test_ask_prints_the_notice_in_one_line(tmp_path: Path, onnx_model_dir: Path, docs: Path, run_cli,
                                           monkeypatch) -> None:
    home = tmp_path / "home"
    ingest([docs], _settings(home, onnx_model_dir, "fp32"))
    monkeypatch.setenv("HANDBOOK_EMBED_MODEL", str(onnx_model_dir))
    monkeypatch.setenv("HANDBOOK_EMBED_PRECISION", "int8")
    result = run_cli("--home", home, "ask", QUESTION)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("(Indekset er lavet med fp32-modellen") and first.endswith("med int8.)")
    monkeypatch.setenv("HANDBOOK_EMBED_PRECISION", "fp32")
    plain = run_cli("--home", home, "ask", QUESTION)
    assert plain.exit_code == 0 and "fp32" not in plain.stdout


def test_index_of_int8_without_the_int8_model_is_a_clear_error(tmp_path: Path, onnx_model_dir: Path,
                                                               docs: Path) -> None:
    from assistant.pipeline import Assistant

    home = tmp_path / "home"
    ingest([docs], _settings(home, onnx_model_dir, "int8"))
    with pytest.raises(ModelError, match="embedded with the int8 model, which cannot run here"):
        Assistant(load_settings({}, home=home, embed_model=str(onnx_model_dir), embed_backend="torch"))


def test_thresholds_are_kept_per_precision(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    record_calibration("multilingual-e5-small", {"threshold": 0.8, "by_language": {"da": 0.7}}, path)
    record_calibration("multilingual-e5-small", {"threshold": 0.6}, path, precision="int8")
    assert sorted(json.loads(path.read_text())) == ["multilingual-e5-small", "multilingual-e5-small@int8"]
    assert calibrated_threshold("multilingual-e5-small", "da", path) == 0.7
    assert calibrated_threshold("multilingual-e5-small", "da", path, precision="int8") == 0.6
    assert calibration_key("multilingual-e5-small", "int8") == "multilingual-e5-small@int8"


def test_batches_of_long_passages_are_bounded_by_characters() -> None:
    from assistant.model.embedding import BATCH_CHARS, _longest_first

    texts = ["x" * 2000] * 20 + ["y" * 100] * 70
    seen: list[int] = []
    batches = list(_longest_first(texts, 32, seen.append))
    assert [len(b) for b in batches] == [8, 8, 8, 32, 32, 2] and BATCH_CHARS == 16_000
    assert sorted(i for b in batches for i in b) == list(range(90)) and seen[-1] == 90
    assert all(len(texts[b[0]]) * len(b) <= BATCH_CHARS or len(b) == 1 for b in batches)
