"""Shared fixtures: the real e5 model, prepared once per machine into a cache directory."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests must never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def e5_model_dir() -> Path:
    """A verified multilingual-e5-small folder with its ONNX export, as `handbook setup` makes it; built once."""
    from assistant.model.build import prepare_e5_model
    from assistant.model.onnx_runtime import export_onnx
    from assistant.settings import DEFAULT_MODEL

    cache = Path(os.environ.get("HANDBOOK_TEST_MODEL_DIR", REPO / ".cache" / "test-model"))
    path = prepare_e5_model(cache / DEFAULT_MODEL)
    export_onnx(path)
    return path


@pytest.fixture(scope="session")
def indexed_home(tmp_path_factory, e5_model_dir):
    """A HANDBOOK_HOME with the bundled corpus ingested once for the whole session (treat as read-only)."""
    from assistant.settings import load_settings
    from ingest.run import ingest_paths

    home = tmp_path_factory.mktemp("handbook-home")
    settings = load_settings({}, home=home, embed_model=str(e5_model_dir))
    report = ingest_paths([], settings)
    assert not report.errors and report.chunks > 50
    return settings


@pytest.fixture
def model_env(monkeypatch, e5_model_dir):
    """Environment for CLI runs: the prepared test model, so no run rebuilds it."""
    monkeypatch.setenv("HANDBOOK_EMBED_MODEL", str(e5_model_dir))
    for name in ("HANDBOOK_HOME", "HANDBOOK_CHROMA_URL", "HANDBOOK_RETRIEVAL", "HANDBOOK_TOP_K"):
        monkeypatch.delenv(name, raising=False)
    return e5_model_dir
