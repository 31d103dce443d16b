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
    """A verified multilingual-e5-small folder; built on first use (~half a minute), then reused."""
    from assistant.model_prep import prepare_e5_model
    from assistant.settings import DEFAULT_MODEL

    cache = Path(os.environ.get("HANDBOOK_TEST_MODEL_DIR", REPO / ".cache" / "test-model"))
    return prepare_e5_model(cache / DEFAULT_MODEL)
