"""Shared fixtures: the real e5 model (prepared once per machine into a cache directory), the bundled corpus indexed
once per session, the `handbook` command in-process, and `handbook serve` in a child process.

The helpers in tests/fixtures (llm_server, make_pdfs, processes) are importable by name: pyproject.toml's
[tool.pytest.ini_options] puts that folder and the repo on the path, so no test edits sys.path.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from linked import linked_copy
from processes import free_port, stop, wait_until_answers

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests must never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SERVE_TIMEOUT = 300  # s until `handbook serve` answers; it loads the model and index first, slow on a busy 2-core box


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
def onnx_model_dir(tmp_path_factory, e5_model_dir: Path) -> Path:
    """The test model with its ONNX exports (fp32, its int8-table twin, int8) and the run-time copies of the two the
    fp32 and int8 paths load, as `handbook setup` makes them, in a linked copy that tests may change."""
    from assistant.model.embedding import fp32_file
    from assistant.model.int8_table import export_table
    from assistant.model.onnx_runtime import export_onnx
    from assistant.model.optimize import export_optimized
    from assistant.model.quantize import export_int8, int8_file
    from assistant.settings import DEFAULT_MODEL

    folder = linked_copy(e5_model_dir, tmp_path_factory.mktemp("onnx-model") / DEFAULT_MODEL, skip=())
    export_onnx(folder)  # a marker check: the export came with e5_model_dir
    export_table(folder)  # made here, never in the shared e5_model_dir, as `handbook setup` does
    export_int8(folder)  # quantized here, never in the shared e5_model_dir
    for source in (fp32_file(folder), int8_file(folder)):
        # here too (~40 s a session), so the shared folder stays as export_onnx left it
        export_optimized(folder, source)
    return folder


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


@pytest.fixture(scope="session")
def book_home(tmp_path_factory, indexed_home):
    """A HANDBOOK_HOME with the digest and a generated multi-page PDF book, "bog.pdf" (treat as read-only)."""
    import dataclasses

    import make_pdfs

    from ingest.run import ingest_paths

    root = tmp_path_factory.mktemp("book-home")
    shutil.copytree(indexed_home.home, root / "home", ignore=shutil.ignore_patterns("logs"))
    make_pdfs.make_handbook(root / "bog.pdf")
    settings = dataclasses.replace(indexed_home, home=root / "home")
    report = ingest_paths([root / "bog.pdf"], settings)
    assert report.indexed_sources == ["bog.pdf"]
    return settings


@pytest.fixture
def model_env(monkeypatch, e5_model_dir):
    """Environment for CLI runs: the prepared test model, so no run rebuilds it."""
    monkeypatch.setenv("HANDBOOK_EMBED_MODEL", str(e5_model_dir))
    for name in ("HANDBOOK_HOME", "HANDBOOK_CHROMA_URL", "HANDBOOK_RETRIEVAL", "HANDBOOK_TOP_K"):
        monkeypatch.delenv(name, raising=False)
    return e5_model_dir


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., Result]:
    """`handbook ARGS...` (handbook.cli:cli) in this process through click's CliRunner; returns click's Result
    (exit_code, stdout, stderr, output). Anything but a click exit propagates, so a traceback fails the test."""
    from handbook.cli import cli

    def run(*args: str | os.PathLike, input: str | None = None, env: Mapping[str, str] | None = None):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env, obj={},
                                  catch_exceptions=False)

    return run


# ----------------------------------------------------------------------------------------- handbook serve


@dataclass(frozen=True)
class Served:
    url: str    # http://127.0.0.1:PORT/
    home: Path  # the server's HANDBOOK_HOME (its Q&A log is under logs/)
    log: Path   # the server's stdout and stderr


@pytest.fixture(scope="module")
def serve_env() -> dict[str, str]:
    """Settings for the module's `handbook serve`, as environment variables (HANDBOOK_CONCURRENCY, ...), the way a
    user passes them. A test module overrides this fixture to change them."""
    return {}


@pytest.fixture(scope="module")
def handbook_server(serve_env, indexed_home, tmp_path_factory) -> Served:
    """`handbook serve` in a child process on a free port and a copy of the session's indexed home (without its
    logs), with no HANDBOOK_* setting from outside but `serve_env`. Yielded once the page answers and the URL line
    is printed; stopped at the end of the module."""
    home = tmp_path_factory.mktemp("serve") / "home"
    shutil.copytree(indexed_home.home, home, ignore=shutil.ignore_patterns("logs"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    env.update(HANDBOOK_HOME=str(home), HANDBOOK_EMBED_MODEL=str(indexed_home.embed_model), PYTHONPATH=str(REPO),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    env.update(serve_env)
    log = home.parent / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from handbook.cli import main; main()", "serve", "--port",
                                 str(port)], env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_answers(url, proc, log, timeout=SERVE_TIMEOUT, what="handbook serve")
        except RuntimeError as exc:
            pytest.fail(str(exc))
        for _ in range(50):  # the URL line is printed right after the server starts answering
            if f"Handbook chat: {url}" in log.read_text(errors="replace"):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"handbook serve did not print its URL:\n{log.read_text(errors='replace')[-3000:]}")
        yield Served(url=url, home=home, log=log)
    finally:
        stop(proc)
