"""Ingest and ask through a real Chroma server (`chroma run` on 127.0.0.1 and a free port), as HANDBOOK_CHROMA_URL.

The answers must be the embedded store's answers, two `handbook ask` processes must share one server, two
catalogs on one server stay apart when they use their own collections, and a server that is not there gives a
clear error instead of a traceback. No timed assertions: the machines running these are shared.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import free_port, stop, wait_until_answers

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUESTIONS = [json.loads(line)["question"]
             for line in (REPO / "evals" / "questions" / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:6]]
QUESTIONS += [
    "Hvilke kapitler har bogen?",                      # answered from the recorded contents
    "Hvad er opskriften på en god rugbrødsmad?",       # the handbook is silent: a refusal with nearest chapters
]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """A real Chroma server for this module, stopped at the end."""
    chroma = BIN / "chroma"
    assert chroma.exists(), "the chromadb package installs the `chroma` command next to python"
    root = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(chroma), "run", "--path", str(root / "data"), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, log, timeout=180,
                               what="chroma run")
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, timeout=15)


@pytest.fixture(scope="module")
def server_home(tmp_path_factory, chroma_url, e5_model_dir):
    """Settings whose vectors live on the server, with the bundled corpus ingested through it once."""
    from assistant.settings import load_settings
    from ingest.run import ingest_paths

    settings = load_settings({}, home=tmp_path_factory.mktemp("server-home"), embed_model=str(e5_model_dir),
                             chroma_url=chroma_url)
    report = ingest_paths([], settings)
    return settings, report


def _comparable(answer) -> dict:
    data = answer.to_json()
    data.pop("timings_ms")
    return data


def _server_collection(url: str, name: str):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    port = int(url.rsplit(":", 1)[1])
    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_collection(name)


def test_ingest_goes_to_the_server(server_home, indexed_home, chroma_url):
    from assistant.index.store import Store
    from ingest.run import ingest_paths

    settings, report = server_home
    assert not report.errors
    local = Store(indexed_home)
    try:
        assert report.chunks == local.count() > 50
        assert report.embedded == report.chunks
        sample = sorted(local.vector_ids())[:5]
        local_vectors = local.vectors_for(sample)
    finally:
        local.close()
    assert _server_collection(chroma_url, settings.collection).count() == report.chunks
    assert not (settings.index_dir / "chroma").exists(), "no embedded Chroma next to the catalog"

    store = Store(settings)
    try:
        remote_vectors = store.vectors_for(sample)
    finally:
        store.close()
    for chunk_id in sample:
        assert remote_vectors[chunk_id] == pytest.approx(local_vectors[chunk_id], abs=1e-5)

    again = ingest_paths([], settings)
    assert again.embedded == 0 and again.unchanged == again.files and again.chunks == report.chunks


def test_answers_equal_the_embedded_store(server_home, indexed_home):
    from assistant import open_assistant

    settings, _ = server_home
    remote, local = open_assistant(settings), open_assistant(indexed_home)
    assert remote is not local
    kinds = set()
    for question in QUESTIONS:
        assert [h.chunk.id for h in remote.retriever.retrieve(question, 6)] == \
               [h.chunk.id for h in local.retriever.retrieve(question, 6)], question
        got, want = remote.ask(question), local.ask(question)
        assert _comparable(got) == _comparable(want), question
        kinds.add("refused" if got.refused else got.kind)
    assert "refused" in kinds and len(kinds) >= 3  # extractive, contents and refusal all went through the server


def test_two_processes_share_one_server(server_home, e5_model_dir):
    """Two `handbook ask` processes at once against one server and one catalog, as two serve workers would."""
    from assistant import open_assistant

    settings, _ = server_home
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    env.update(HANDBOOK_HOME=str(settings.home), HANDBOOK_CHROMA_URL=settings.chroma_url,
               HANDBOOK_EMBED_MODEL=str(e5_model_dir), HANDBOOK_LOG_ENABLED="0", OMP_NUM_THREADS="1")
    halves = [QUESTIONS[0::2], QUESTIONS[1::2]]
    procs = [subprocess.Popen([str(BIN / "handbook"), "ask", "--json"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in halves]
    outputs = []
    for proc, qs in zip(procs, halves):  # both are running before either is read
        proc.stdin.write("\n".join(qs) + "\n")
        proc.stdin.close()
    for proc in procs:
        out, err = proc.stdout.read(), proc.stderr.read()
        assert proc.wait(timeout=900) == 0, err[-3000:]
        outputs.append([json.loads(line) for line in out.splitlines() if line.strip()])

    # The same answers in this process, with each worker's cache history (a fresh process, these questions in order).
    remote = open_assistant(settings)
    try:
        for qs, answers in zip(halves, outputs):
            assert [a["question"] for a in answers] == qs
            remote.embedder._cache.clear()
            remote.vectors.fallback._cache.clear()
            for answer in answers:
                answer.pop("timings_ms")
                assert answer == _comparable(remote.ask(answer["question"])), answer["question"]
    finally:
        remote.embedder._cache.clear()
        remote.vectors.fallback._cache.clear()


def test_two_catalogs_share_a_server_with_their_own_collections(server_home, chroma_url, tmp_path, e5_model_dir):
    """A second deployment on the same server (HANDBOOK_COLLECTION) neither sees nor prunes the first one."""
    from assistant import open_assistant
    from assistant.settings import load_settings
    from ingest.run import ingest_paths

    settings, report = server_home
    other = load_settings({"HANDBOOK_COLLECTION": "handbook-other"}, home=tmp_path / "other",
                          embed_model=str(e5_model_dir), chroma_url=chroma_url)
    one_file = REPO / "corpus" / "02-noegletal.md"
    got = ingest_paths([one_file], other)
    assert not got.errors and got.files == 1 and 0 < got.chunks < report.chunks
    assert _server_collection(chroma_url, "handbook-other").count() == got.chunks
    assert _server_collection(chroma_url, settings.collection).count() == report.chunks

    question = "Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?"
    answer = open_assistant(other).ask(question)
    assert not answer.refused and answer.citations
    assert {c.source for c in answer.citations} == {one_file.name}


def test_a_server_that_is_not_there_is_a_clear_error(tmp_path, e5_model_dir):
    from assistant.errors import SettingsError
    from assistant.settings import load_settings
    from ingest.run import ingest_paths

    settings = load_settings({}, home=tmp_path, embed_model=str(e5_model_dir),
                             chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SettingsError, match="Cannot reach a Chroma server"):
        ingest_paths([REPO / "corpus" / "02-noegletal.md"], settings)
