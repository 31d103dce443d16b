"""The fp32 model with its word table as int8 rows, with the real model: the export and its verification, that the
fp32 path loads it, falls back to onnx/model.onnx when it is missing, stale or refused, and that an index embedded
with onnx/model.onnx stays valid (same vectors within the export's tolerance: no re-embed, no notice)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from linked import linked_copy

from assistant.errors import ModelError
from assistant.model import int8_table
from assistant.model.embedding import Embedder, fp32_file, prepare_model
from assistant.model.int8_table import (
    MIN_TABLE_COSINE,
    MIN_VOCABULARY,
    TABLE_FILE,
    TABLE_MARKER,
    export_table,
    quantize_rows,
    table_file,
    table_stale_reason,
)
from assistant.model.onnx_runtime import OnnxEncoder, onnx_file
from assistant.settings import DEFAULT_MODEL, Settings, load_settings
from ingest.indexing import ingest
from ingest.run import bundled_corpus

TEXTS = ["query: Hvor mange fonde uddeler penge til innovation?",
         "passage: Partnerskaber mellem kommuner og virksomheder skal aftales skriftligt."]


@pytest.fixture(scope="module")
def table_model_dir(tmp_path_factory, onnx_model_dir: Path) -> Path:
    folder = linked_copy(onnx_model_dir, tmp_path_factory.mktemp("table-model") / DEFAULT_MODEL, skip=())
    export_table(folder)
    return folder


def _without_table(source: Path, target: Path) -> Path:
    return linked_copy(source, target, skip=(str(TABLE_FILE), str(TABLE_MARKER), "onnx/model.int8-table.opt.onnx",
                                             "onnx/model.int8-table.opt.data"))


def test_export_is_verified_and_a_fraction_of_the_fp32_file(table_model_dir: Path) -> None:
    marker = json.loads((table_model_dir / TABLE_MARKER).read_text())
    size = table_file(table_model_dir).stat().st_size
    assert size == marker["table_size"] < 0.45 * onnx_file(table_model_dir).stat().st_size
    assert 1.0 > marker["verification_cosine"] >= MIN_TABLE_COSINE and marker["rows"] == 250_037
    assert table_stale_reason(table_model_dir) is None
    before = table_file(table_model_dir).stat().st_mtime_ns
    assert export_table(table_model_dir) == table_file(table_model_dir)  # a marker check, not a second rewrite
    assert table_file(table_model_dir).stat().st_mtime_ns == before


def test_only_the_word_table_is_int8(table_model_dir: Path) -> None:
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(table_model_dir / TABLE_FILE))
    big = {t.name: t.data_type for t in model.graph.initializer if t.dims and t.dims[0] >= MIN_VOCABULARY}
    assert sorted(big.values()) == sorted([TensorProto.INT8, TensorProto.FLOAT])  # the rows, and one scale per row
    int8 = [t for t in model.graph.initializer if t.data_type == TensorProto.INT8]
    assert len(int8) == 1 and tuple(int8[0].dims) == (250_037, 384)
    assert not [n for n in model.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeLinear")]
    with pytest.raises(ModelError, match="0 word-embedding lookups"):  # nothing left to rewrite
        int8_table._word_lookup(model.graph, {t.name: t for t in model.graph.initializer})


def test_rows_round_trip_within_half_a_step() -> None:
    table = np.random.default_rng(0).normal(0, 0.05, (3000, 384)).astype(np.float32)
    table[7] = 0.0
    rows, scale = quantize_rows(table)
    assert rows.dtype == np.int8 and scale.shape == (3000, 1) and np.abs(rows).max() == 127
    assert np.all(np.abs(rows * scale - table) <= scale / 2 + 1e-7)
    assert np.all(rows[7] == 0) and scale[7, 0] == 1.0


def test_fp32_path_loads_it_and_its_rows_are_fp32s(table_model_dir: Path) -> None:
    embedder = Embedder(table_model_dir, backend="onnx", precision="fp32")
    assert embedder.precision == "fp32" and embedder.model_file == table_file(table_model_dir)
    ours = embedder.embed_queries([TEXTS[0].removeprefix("query: ")])[0]
    plain = OnnxEncoder(table_model_dir).encode(TEXTS[:1], 1)[0]
    assert MIN_TABLE_COSINE <= float(ours @ plain) < 0.9999999, "close, but really the other file"
    int8 = Embedder(table_model_dir, backend="onnx", precision="int8")
    assert int8.model_file.name == "model.int8.onnx"


def test_a_table_that_disagrees_is_refused_and_fp32_stays_on_model_onnx(tmp_path: Path, table_model_dir: Path,
                                                                        monkeypatch) -> None:
    folder = _without_table(table_model_dir, tmp_path / "models" / DEFAULT_MODEL)
    monkeypatch.setattr(int8_table, "verify_table", lambda model_dir, path: 0.999)
    with pytest.raises(ModelError, match=r"cosine 0\.999000 < 0\.9999"):
        export_table(folder)
    assert not [p.name for p in (folder / "onnx").iterdir() if "table" in p.name], "nothing is left behind"
    assert fp32_file(folder) == onnx_file(folder)
    assert prepare_model(Settings(home=tmp_path)) == folder  # set-up goes on without it
    assert Embedder(folder, backend="onnx").model_file == onnx_file(folder)


def test_a_table_from_another_fp32_export_is_stale(tmp_path: Path, table_model_dir: Path) -> None:
    folder = linked_copy(table_model_dir, tmp_path / "model", skip=("onnx/model.onnx",))
    shutil.copy(onnx_file(table_model_dir), onnx_file(folder))  # same bytes, a new file: not what was rewritten
    assert "was not made from" in table_stale_reason(folder)
    assert fp32_file(folder) == onnx_file(folder)
    os.unlink(table_file(folder))
    assert "does not exist" in table_stale_reason(folder)


def test_an_index_embedded_with_model_onnx_stays_valid(tmp_path: Path, table_model_dir: Path, monkeypatch) -> None:
    from assistant.model import embedding
    from assistant.pipeline import Assistant

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(bundled_corpus() / "09-fonde.md", docs)
    folder = _without_table(table_model_dir, tmp_path / "model")
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(folder))
    first = ingest([docs], settings)
    assert first.embedded == first.chunks > 0
    export_table(folder)  # the upgrade: the same folder now has the int8 table
    again = ingest([docs], settings)
    assert again.embedded == 0 and again.unchanged == 1, "the same precision: nothing is re-embedded"
    monkeypatch.setattr(embedding, "_embedders", {})  # a new process: this one keeps the embedder it loaded
    assistant = Assistant(settings)
    try:
        assert assistant.embedder.model_file == table_file(folder)
        answer = assistant.ask("Hvad er en fond?")
        assert answer.notice is None and answer.citations
    finally:
        assistant.close()
