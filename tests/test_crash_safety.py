"""Crash safety: SIGKILL an ingest at many points, then the previous index is whole and answerable and the next
ingest finishes the job; two ingests at once: one refuses with a clear message and the index stays intact.

The ingest runs in a child process that prints an event line around every write (Chroma upsert and delete,
catalog commit); the parent kills it a random few milliseconds after a chosen event, so kills land before,
inside and after each kind of write. HANDBOOK_CRASH_SEED picks other kill points; HANDBOOK_CRASH_POINTS more.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.answering import Assistant
from assistant.cli import cli
from assistant.settings import load_settings
from assistant.store import Store
from ingest.indexing import ingest
from ingest.run import bundled_corpus

REPO = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("HANDBOOK_CRASH_SEED", "2018"))
POINTS = int(os.environ.get("HANDBOOK_CRASH_POINTS", "10"))
KNOWN_QUESTION = "Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?"
BEFORE = ["02-noegletal.md", "09-fonde.md", "06-borgere.md", "11-barrierer.md"]
ADDED = ["05-private-virksomheder.md", "07-frivillige-foreninger.md", "10-udlandet.md"]
CHANGED, REMOVED = "09-fonde.md", "11-barrierer.md"

# The child: a real ingest with event lines around every write; the parent decides when to kill it.
CHILD = r"""
import sys, time
from pathlib import Path
from assistant.catalog import Catalog
from assistant.settings import load_settings
from assistant.store import Store
from ingest.indexing import ingest

t0 = time.perf_counter()
def event(name):
    print(f"{time.perf_counter() - t0:.4f} {name}", flush=True)

def wrap(cls, method):
    inner = getattr(cls, method)
    def wrapped(*args, **kwargs):
        event(f"{method}-begin")
        try:
            return inner(*args, **kwargs)
        finally:
            event(f"{method}-end")
    setattr(cls, method, wrapped)

for cls, method in ((Store, "add"), (Store, "delete"), (Catalog, "replace_file"), (Catalog, "remove_file")):
    wrap(cls, method)
seen = set()
def progress(stage, done, total):
    if stage not in seen:
        seen.add(stage)
        event(f"{stage}-start")
event("started")
report = ingest([Path(sys.argv[2])], load_settings(home=sys.argv[1]), prune=True, progress=progress)
event("done")
assert not report.errors, report.errors
"""


def _env(model: Path) -> dict[str, str]:
    env = {**os.environ, "HANDBOOK_EMBED_MODEL": str(model), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("HANDBOOK_HOME", None)
    return env


def run_child(home: Path, docs: Path, model: Path, kill_after: str | None = None, delay: float = 0.0,
              timeout: float = 300) -> tuple[list[tuple[float, str]], bool]:
    """Run the ingest child; SIGKILL it `delay` seconds after the event `kill_after` ('3:add-begin' = the 3rd
    event line overall). Returns the events seen and whether it was killed."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(docs)], env=_env(model), cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events: list[tuple[float, str]] = []
    killed = False
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            stamp, name = line.split()
            events.append((float(stamp), name))
            if kill_after == f"{len(events)}:{name}":
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the ingest child ran too long")
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not killed:
        assert proc.returncode == 0, proc.stderr.read()
    else:
        assert proc.returncode in (-signal.SIGKILL, 0)
        killed = proc.returncode == -signal.SIGKILL
    return events, killed


def snapshot(settings) -> dict:
    """Everything that must survive a kill: files with their hash, chunk ids per file, the Chroma ids."""
    store = Store(settings)
    try:
        db = store.catalog.db
        files = {s: (h, n) for s, h, n in db.execute("SELECT source, hash, chunks FROM files")}
        per_file = {s: {r[0] for r in db.execute("SELECT id FROM chunks WHERE source = ?", (s,))} for s in files}
        toc = {s: db.execute("SELECT COUNT(*) FROM toc WHERE source = ?", (s,)).fetchone()[0] for s in files}
        docs = {r[0] for r in db.execute("SELECT source FROM documents")}
        return dict(files=files, per_file=per_file, ids=store.catalog.chunk_ids(), vectors=store.vector_ids(),
                    count=store.count(), toc=toc, docs=docs,
                    dup=db.execute("SELECT COUNT(*) - COUNT(DISTINCT id) FROM chunks").fetchone()[0],
                    stray=db.execute("SELECT COUNT(*) FROM chunks WHERE source NOT IN (SELECT source FROM files)"
                                     ).fetchone()[0])
    finally:
        store.close()


def assert_whole(state: dict, old: dict, new: dict) -> None:
    """Every indexed file is exactly its old or its new version, complete; every chunk has its vector."""
    assert state["dup"] == 0 and state["stray"] == 0
    for source, (digest, n) in state["files"].items():
        ids = state["per_file"][source]
        assert len(ids) == n and state["toc"][source] > 0 and source in state["docs"]
        versions = [v for v in (old, new) if source in v["files"] and v["files"][source][0] == digest]
        assert versions, f"{source} is neither its old nor its new version"
        assert ids == versions[0]["per_file"][source], f"{source} has a mix of chunk versions"
    for source in old["files"]:
        assert source in state["files"] or source == REMOVED, f"{source} was lost"
    assert state["ids"] <= state["vectors"], "catalog chunks without a vector"
    assert state["count"] == len(state["vectors"])


def assert_answerable(settings, state: dict) -> None:
    assistant = Assistant(settings)
    try:
        answer = assistant.ask(KNOWN_QUESTION)
        assert not answer.refused and "79 %" in answer.answer and answer.citations
        assert {c.chunk_id for c in answer.citations} <= state["ids"]  # orphan vectors are never cited
        hits = assistant.retriever.dense(KNOWN_QUESTION, 20)
        assert hits and {h.chunk.id for h in hits} <= state["ids"]
    finally:
        assistant.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, e5_model_dir):
    """The previous index (BEFORE files), the folder the killed ingest brings in, and the finished result."""
    root = tmp_path_factory.mktemp("crash")
    docs = root / "docs"
    docs.mkdir()
    for name in BEFORE:
        shutil.copy(bundled_corpus() / name, docs / name)
    base = root / "base"
    settings = load_settings({}, home=base, embed_model=str(e5_model_dir))
    assert not ingest([docs], settings).errors
    old = snapshot(settings)
    # The next ingest: three new files, one changed, one removed (with --prune).
    for name in ADDED:
        shutil.copy(bundled_corpus() / name, docs / name)
    changed = docs / CHANGED
    changed.write_text(changed.read_text(encoding="utf-8").replace("fonde", "fondene") +
                       "\n## Nyt afsnit\n\nEn ny sætning om fonde og kommuner.\n", encoding="utf-8")
    (docs / REMOVED).unlink()
    full = root / "full"
    shutil.copytree(base, full)
    started = time.perf_counter()
    events, killed = run_child(full, docs, e5_model_dir)
    seconds = time.perf_counter() - started
    assert not killed and events[-1][1] == "done"
    new = snapshot(load_settings({}, home=full, embed_model=str(e5_model_dir)))
    assert new["ids"] == new["vectors"] and REMOVED not in new["files"]
    print(f"\nuninterrupted child ingest: {seconds:.1f} s, {len(events)} events: "
          + ", ".join(f"{n}@{t:.2f}" for t, n in events))
    return dict(root=root, docs=docs, base=base, old=old, new=new, events=events, model=e5_model_dir)


def kill_points(events: list[tuple[float, str]]) -> list[tuple[int, float]]:
    """POINTS (event index, delay) pairs: one while the model loads and embeds, three inside the Chroma upsert,
    the rest spread over the later writes, each after a random delay up to the next event, so kills land
    before, inside and after each kind of write."""
    rnd = random.Random(SEED)
    names = [n for _, n in events]
    add = names.index("add-begin")
    add_time = events[add + 1][0] - events[add][0]
    later = [i for i in range(add + 1, len(events) - 1)]
    rest = max(1, POINTS - 4)
    out = [(0, rnd.uniform(0, events[add][0]))]
    out += [(add, rnd.uniform(0, add_time)) for _ in range(min(3, POINTS - 1))]
    for k in range(rest):
        i = later[round(k * (len(later) - 1) / max(1, rest - 1))]
        out.append((i, rnd.uniform(0, max(0.002, 1.5 * (events[i + 1][0] - events[i][0])))))
    return out[:POINTS]


@pytest.mark.parametrize("point", range(POINTS))
def test_sigkill_mid_ingest_keeps_the_index_whole_and_the_next_ingest_finishes(world, point, tmp_path):
    index, delay = kill_points(world["events"])[point]
    name = world["events"][index][1]
    home = tmp_path / "home"
    shutil.copytree(world["base"], home)
    _, killed = run_child(home, world["docs"], world["model"], kill_after=f"{index + 1}:{name}", delay=delay)
    settings = load_settings({}, home=home, embed_model=str(world["model"]))
    state = snapshot(settings)
    print(f"\nkill after event {index + 1} ({name}) + {delay * 1000:.0f} ms: killed={killed}, "
          f"{len(state['files'])} files, {len(state['ids'])} chunks, "
          f"{len(state['vectors'] - state['ids'])} orphan vectors")
    assert_whole(state, world["old"], world["new"])
    assert_answerable(settings, state)
    # The next ingest finishes the job: exactly the uninterrupted result, no orphans, no duplicates.
    report = ingest([world["docs"]], settings, prune=True)
    assert not report.errors
    orphans = state["vectors"] - state["ids"]
    assert report.reused >= len(orphans & world["new"]["ids"])  # what the killed run embedded is not redone
    final = snapshot(settings)
    assert final["files"] == world["new"]["files"] and final["per_file"] == world["new"]["per_file"]
    assert final["ids"] == final["vectors"] == world["new"]["ids"] and final["count"] == len(final["ids"])
    assert_answerable(settings, final)


def test_two_ingests_at_once_one_refuses_and_the_index_stays_intact(world, tmp_path, model_env):
    home = tmp_path / "home"
    shutil.copytree(world["base"], home)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(world["docs"])], env=_env(world["model"]),
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split()[1] == "started"
        time.sleep(0.5)  # the child holds the lock from before its first event until the end
        result = CliRunner().invoke(cli, ["--home", str(home), "ingest", str(world["docs"])], obj={},
                                    catch_exceptions=False)
        still_running = proc.poll() is None
        rest = proc.stdout.read()
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "done" in rest and still_running  # loading the model alone keeps the child busy for seconds
    assert result.exit_code == 1
    assert result.stderr == "Error: Another ingest is running on this index; wait for it to finish.\n"
    final = snapshot(load_settings({}, home=home, embed_model=str(world["model"])))
    assert final["per_file"] == world["new"]["per_file"] and final["ids"] == final["vectors"]
    assert_answerable(load_settings({}, home=home, embed_model=str(world["model"])), final)


CHROMA_CHILD = r"""
import sys, numpy as np, chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))
col = client.get_or_create_collection("handbook", embedding_function=None, metadata={"hnsw:space": "cosine"})
rnd = np.random.default_rng(int(sys.argv[2]))
print("ready", flush=True)
for round_ in range(1000):
    ids = [f"new-{round_}-{i}" for i in range(300)]
    col.upsert(ids=ids, embeddings=rnd.normal(size=(300, 384)).astype("float32"))
    col.delete(ids=ids[:100])
"""


def test_chroma_files_survive_sigkill_during_heavy_writes(tmp_path):
    """Chroma's own files (SQLite log and HNSW segment) under SIGKILL in mid-upsert: the vectors that were there
    before stay, and the store opens, counts and queries."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    base = tmp_path / "base"
    client = chromadb.PersistentClient(path=str(base), settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_or_create_collection("handbook", embedding_function=None, metadata={"hnsw:space": "cosine"})
    rnd = np.random.default_rng(SEED)
    kept = rnd.normal(size=(1500, 384)).astype("float32")
    col.upsert(ids=[f"old-{i}" for i in range(1500)], embeddings=kept)
    del col, client
    rounds = []
    for k in range(4):
        path = tmp_path / f"run{k}"
        shutil.copytree(base, path)
        proc = subprocess.Popen([sys.executable, "-c", CHROMA_CHILD, str(path), str(k)], env=_env(Path(".")),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(random.Random(SEED + k).uniform(0.2, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check = subprocess.run([sys.executable, "-c", r"""
import sys, json, numpy as np, chromadb
from chromadb.config import Settings
col = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False)).get_collection("handbook")
ids = set(col.get(include=[])["ids"])
q = col.query(query_embeddings=np.ones((1, 384), dtype="float32"), n_results=10)
print(json.dumps({"old": sum(i.startswith("old-") for i in ids), "all": len(ids), "count": col.count(),
                  "hits": len(q["ids"][0])}))
""", str(path)], env=_env(Path(".")), capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stderr[-2000:]
        got = json.loads(check.stdout)
        rounds.append(got)
        assert got["old"] == 1500 and got["count"] == got["all"] and got["hits"] == 10, got
    print("\nchroma after SIGKILL:", rounds)
