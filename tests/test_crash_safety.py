"""Crash safety: SIGKILL an ingest at many points, then the previous index is whole and answerable and the next
ingest finishes the job; two ingests at once: one refuses with a clear message and the index stays intact.

The ingest runs in a child process that prints an event line around every write (Chroma upsert and delete,
catalog commit); the parent kills it a random few milliseconds after a chosen event, so kills land before,
inside and after each kind of write. HANDBOOK_CRASH_SEED picks other kill points; HANDBOOK_CRASH_POINTS more.
Chroma's own files: a writer is frozen (SIGSTOP) inside a save of its HNSW segment and killed there, or killed at
random; the next open through Store repairs what the kill tore (assistant/recovery.py) and loses nothing.
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

from assistant.index.store import Store
from assistant.pipeline import Assistant
from assistant.settings import load_settings
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
from assistant.index.catalog import Catalog
from assistant.settings import load_settings
from assistant.index.store import Store
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
    later = list(range(add + 1, len(events) - 1))
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


def test_two_ingests_at_once_one_refuses_and_the_index_stays_intact(world, tmp_path, model_env, run_cli):
    home = tmp_path / "home"
    shutil.copytree(world["base"], home)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(world["docs"])], env=_env(world["model"]),
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split()[1] == "started"
        time.sleep(0.5)  # the child holds the lock from before its first event until the end
        result = run_cli("--home", str(home), "ingest", str(world["docs"]))
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


# Chroma's own files. chromadb 1.5 saves a collection's HNSW segment in place every 1,000 log rows: the native files,
# then the id map (index_metadata.pickle), then the seq id in SQLite. The writer below upserts 300 vectors and deletes
# 100 of them per round and prints a line around each call, so the parent knows which calls had returned.
CHROMA_CHILD = r"""
import sys, numpy as np, chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))
col = client.get_collection("handbook", embedding_function=None)
rnd = np.random.default_rng(int(sys.argv[2]))
print("ready", flush=True)
for round_ in range(1000):
    ids = [f"new-{round_}-{i}" for i in range(300)]
    vectors = rnd.normal(size=(300, 384)).astype("float32")
    print("begin upsert", round_, flush=True)
    col.upsert(ids=ids, embeddings=vectors)
    print("end upsert", round_, flush=True)
    print("begin delete", round_, flush=True)
    col.delete(ids=ids[:100])
    print("end delete", round_, flush=True)
"""

# A new process opens the killed store through Store (repairing it if need be) and reports every id, the ids whose
# vector differs from what was written, and queries with old vectors. "lock": open under the ingest lock, as an
# ingest does; "die": the first open dies (os._exit) in the middle of its repair, and a second open must finish it.
CHROMA_REOPEN = r"""
import json, os, sys, numpy as np
from assistant.settings import load_settings
from assistant.index.store import Store
home, seed, writer_seed, rounds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
settings = load_settings({}, home=home)
if mode == "die":
    from chromadb.api.models.Collection import Collection
    upsert, calls = Collection.upsert, []
    def dying_upsert(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os._exit(9)
        return upsert(self, *args, **kwargs)
    Collection.upsert = dying_upsert
if mode == "lock":
    from ingest.indexing import ingest_lock
    with ingest_lock(settings):
        store = Store(settings, create=True)
else:
    store = Store(settings, create=True)
old = np.random.default_rng(seed).normal(size=(1500, 384)).astype("float32")
expected = {f"old-{i}": v for i, v in enumerate(old)}
writer = np.random.default_rng(writer_seed)
for r in range(rounds):
    expected.update(zip([f"new-{r}-{i}" for i in range(300)], writer.normal(size=(300, 384)).astype("float32")))
got = store.collection.get(include=["embeddings"])
wrong = [i for i, v in zip(got["ids"], got["embeddings"]) if not np.allclose(v, expected[i], rtol=1e-4, atol=1e-4)]
probes = list(range(0, 1500, 50))
hits = store.collection.query(query_embeddings=old[probes], n_results=10, include=["distances"])["ids"]
print(json.dumps({"ids": got["ids"], "wrong": wrong, "count": store.count(), "hits": min(len(h) for h in hits),
                  "self_hits": sum(h[0] == f"old-{i}" for h, i in zip(hits, probes))}))
"""
CHROMA_KILLS = ["mid-save-native", "mid-save-map", "mid-save-native-repair-dies", "first-upsert",
                "random-0", "random-1", "random-2"]


@pytest.fixture(scope="module")
def chroma_base(tmp_path_factory) -> Path:
    """1,500 vectors in a collection made the way Store makes it, with its HNSW segment saved to disk."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from assistant.index.store import EF_SEARCH

    base = tmp_path_factory.mktemp("chroma") / "base"
    client = chromadb.PersistentClient(path=str(base), settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_or_create_collection("handbook", embedding_function=None,
                                          configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}})
    col.upsert(ids=[f"old-{i}" for i in range(1500)],
               embeddings=np.random.default_rng(SEED).normal(size=(1500, 384)).astype("float32"))
    client.close()
    assert (next(p for p in base.iterdir() if p.is_dir()) / "index_metadata.pickle").exists()
    return base


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, -1)
    return stat.st_mtime_ns, stat.st_size


def _map_cut_short(path: Path) -> bool:
    size = _stamp(path)[1]
    if size <= 0:
        return True
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) != b"."


def _wait_stopped(pid: int, timeout: float = 10) -> None:
    """Until the kernel has stopped the process: a signal is delivered when it is next scheduled, not when sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t", "Z"):
                return
        time.sleep(0.0005)
    raise AssertionError(f"process {pid} did not stop within {timeout} s")


def _kill_mid_save(proc: subprocess.Popen, folder: Path, stage: str, timeout: float = 120) -> int:
    """Stop the writer when a save touches the stage's file and kill it there if caught inside the stage (stopped,
    the files are what a kill then leaves); else let it go on. Returns how many saves that took."""
    header, id_map = folder / "header.bin", folder / "index_metadata.pickle"
    watched = header if stage == "native" else id_map
    seen, saves = _stamp(watched), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _stamp(watched) == seen:
            continue
        proc.send_signal(signal.SIGSTOP)
        _wait_stopped(proc.pid)  # else, on a loaded machine, it may finish the file after we looked at it
        saves += 1
        inside = _stamp(header)[0] > _stamp(id_map)[0] if stage == "native" else _map_cut_short(id_map)
        if inside:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return saves
        seen = _stamp(watched)
        proc.send_signal(signal.SIGCONT)
    raise AssertionError(f"no save caught mid-{stage} in {saves} saves")


def _cap_file_size() -> None:
    """Plain Chroma on a torn store once wrote a 438 GB sparse link_lists.bin; a missed repair must not fill a disk."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))


def _expected_new(lines: list[str]) -> tuple[set[str], set[str]]:
    """The writer's ids if the call in flight at the kill left nothing, and if it went through whole."""
    done: set[str] = set()
    pending: tuple[str, int] | None = None
    for line in lines:
        edge, call, round_ = line.split()
        ids = {f"new-{round_}-{i}" for i in range(300 if call == "upsert" else 100)}
        if edge == "begin":
            pending = (call, int(round_))
        else:
            done = done | ids if call == "upsert" else done - ids
            pending = None
    if pending is None:
        return done, done
    call, round_ = pending
    ids = {f"new-{round_}-{i}" for i in range(300 if call == "upsert" else 100)}
    return done, (done | ids if call == "upsert" else done - ids)


@pytest.mark.parametrize("kill", CHROMA_KILLS)
def test_chroma_killed_mid_write_reopens_with_every_vector_it_had(chroma_base, kill, tmp_path):
    """A kill inside an HNSW save leaves files chromadb 1.5.9 cannot read; the next Store open repairs them (one log
    line): every vector of a returned call is back exactly, the call in flight is all or nothing, queries work."""
    home = tmp_path / "home"
    chroma = home / "index" / "chroma"
    shutil.copytree(chroma_base, chroma)
    folder = next(p for p in chroma.iterdir() if p.is_dir())
    writer_seed = CHROMA_KILLS.index(kill)
    proc = subprocess.Popen([sys.executable, "-c", CHROMA_CHILD, str(chroma), str(writer_seed)], env=_env(Path(".")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        assert proc.stdout.readline().strip() == "ready"
        if kill.startswith("mid-save"):
            saves = _kill_mid_save(proc, folder, kill.split("-")[2])
        elif kill == "first-upsert":
            lines.append(proc.stdout.readline().strip())
            assert lines == ["begin upsert 0"]
            proc.send_signal(signal.SIGKILL)
        else:
            time.sleep(random.Random(SEED + int(kill[-1])).uniform(0.2, 3.0))
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        lines += proc.stdout.read().split("\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines = [line for line in lines if line]
    rounds = 1 + max((int(line.split()[2]) for line in lines), default=0)

    def reopen(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", CHROMA_REOPEN, str(home), str(SEED), str(writer_seed),
                               str(rounds), mode], env=_env(Path(".")), cwd=str(REPO), capture_output=True, text=True,
                              timeout=300, preexec_fn=_cap_file_size)

    if kill.endswith("repair-dies"):
        died = reopen("die")
        assert died.returncode == 9, died.stderr[-2000:]
        assert list((home / "index").glob("chroma-repair-*.npz")), "the repair had not saved what it salvaged"
    check = reopen("lock" if kill == "mid-save-map" else "plain")
    assert check.returncode == 0, check.stderr[-3000:]
    repairs = [line for line in check.stderr.splitlines() if line.startswith("Repaired the vector index in")]
    got = json.loads(check.stdout.splitlines()[-1])
    ids = set(got["ids"])
    before, after = _expected_new(lines)
    print(f"\n{kill}: {len(lines)} writer lines, {len(ids)} ids, repairs: {repairs or 'none'}"
          + (f", caught after {saves} saves" if kill.startswith("mid-save") else ""))
    assert {f"old-{i}" for i in range(1500)} <= ids
    assert ids - {f"old-{i}" for i in range(1500)} in (before, after)
    assert got["wrong"] == [] and got["count"] == len(ids) and got["hits"] == 10 and got["self_hits"] == 30
    if kill.startswith("mid-save"):
        reason = ("interrupted" if kill.endswith("repair-dies") else
                  "newer than index_metadata|shorter than their header" if "native" in kill else "pickle is cut short")
        assert len(repairs) == 1 and any(r in repairs[0] for r in reason.split("|")), repairs
    again = reopen("plain")  # repaired for good: the next open has nothing to do
    assert again.returncode == 0 and "Repaired" not in again.stderr, again.stderr[-2000:]
    assert set(json.loads(again.stdout.splitlines()[-1])["ids"]) == ids


def test_chroma_damaged_beyond_repair_is_one_clear_error(chroma_base, tmp_path):
    """A torn store whose vector file is lost as well cannot be rebuilt: one line naming the folder and what to do,
    and the files are left as they were."""
    from assistant.errors import DamagedIndexError

    home = tmp_path / "home"
    chroma = home / "index" / "chroma"
    shutil.copytree(chroma_base, chroma)
    folder = next(p for p in chroma.iterdir() if p.is_dir())
    proc = subprocess.Popen([sys.executable, "-c", CHROMA_CHILD, str(chroma), "7"], env=_env(Path(".")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        _kill_mid_save(proc, folder, "native")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    os.truncate(folder / "data_level0.bin", 1000)
    files = sorted(p.name for p in folder.iterdir())
    with pytest.raises(DamagedIndexError) as caught:
        Store(load_settings({}, home=home), create=True)
    assert str(caught.value) == (
        f"The vector index in {chroma} is damaged and cannot be repaired (some vectors are not in the HNSW files); "
        f"delete {home / 'index'} and run `handbook ingest` again on your documents.")
    assert sorted(p.name for p in folder.iterdir()) == files and not list((home / "index").glob("chroma-repair-*"))
