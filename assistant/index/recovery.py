"""Repair at open: an embedded Chroma collection whose HNSW files a kill tore mid-save is rebuilt from its own files."""
from __future__ import annotations

import logging
import os
import pickle
import shutil
import sqlite3
import struct
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import DamagedIndexError
from assistant.index.lock import exclusive

log = logging.getLogger("handbook.store")
LOCAL_HNSW = "urn:chroma:segment/vector/hnsw-local-persisted"
NATIVE = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
ID_MAP = "index_metadata.pickle"
ADD, UPDATE, UPSERT, DELETE = 0, 1, 2, 3
BATCH = 1000
REPAIR_WAIT = 30.0  # seconds a repair waits for a running ingest before it reports the index damaged


@dataclass(frozen=True)
class Segment:
    """Where one collection's vectors live: its HNSW folder and the SQLite ids of its two segments."""

    chroma_dir: Path
    collection_id: str
    vector_id: str
    metadata_id: str

    @property
    def folder(self) -> Path:
        return self.chroma_dir / self.vector_id

    @property
    def checkpoint(self) -> Path:
        return self.chroma_dir.parent / f"chroma-repair-{self.collection_id}.npz"

    @property
    def aside(self) -> Path:
        return self.chroma_dir.parent / f"chroma-torn-{self.vector_id}"


@dataclass(frozen=True)
class Header:
    """The fields of hnswlib's header.bin that locate each element's label, vector and delete mark."""

    count: int
    size: int
    level0: int
    label_at: int
    data_at: int

    @property
    def dim(self) -> int:
        return (self.label_at - self.data_at) // 4


def repair(collection: Any, chroma_dir: Path) -> int | None:
    """Rebuild the collection's HNSW segment if a kill tore it (or a repair was cut short); returns vectors rebuilt."""
    segment = find_segment(chroma_dir, str(collection.id))
    if segment is None:
        return None
    resuming = segment.checkpoint.exists()
    if not resuming and torn(segment.folder) is None:
        return None
    with exclusive(chroma_dir.parent, wait=REPAIR_WAIT, reentrant=True) as ours:
        if not ours:  # a writer elsewhere holds the index; what looked torn may be its save in progress
            return None
        if not segment.checkpoint.exists():
            before = _signature(segment.folder)
            time.sleep(0.2)
            reason = torn(segment.folder)
            if reason is None or _signature(segment.folder) != before:  # repaired meanwhile, or a live save
                return None
            ids, vectors = salvage(segment, _space(collection))
            _save(segment.checkpoint, ids, vectors)
        else:
            reason = "an earlier repair was interrupted"
        count = _rebuild(collection, segment)
    log.warning("Repaired the vector index in %s (%s): rebuilt %d vectors of collection %r from its own files.",
                chroma_dir, reason, count, collection.name)
    return count


def ensure_readable(collection: Any, chroma_dir: Path) -> None:
    """One read through Chroma at open, so damage the repair cannot see is one clear line, not a later traceback."""
    from chromadb.errors import InternalError

    try:
        collection.get(limit=1, include=[])
    except InternalError as exc:
        raise _damaged(chroma_dir, f"Chroma says: {' '.join(str(exc).split())}") from None


def find_segment(chroma_dir: Path, collection_id: str) -> Segment | None:
    db_path = chroma_dir / "chroma.sqlite3"
    if not db_path.exists():
        return None
    db = sqlite3.connect(db_path, timeout=30)
    try:
        rows = db.execute("SELECT id, scope, type FROM segments WHERE collection = ?", (collection_id,)).fetchall()
    finally:
        db.close()
    vector = [i for i, scope, kind in rows if scope == "VECTOR" and kind == LOCAL_HNSW]
    metadata = [i for i, scope, _ in rows if scope == "METADATA"]
    if not vector or not metadata:
        return None
    return Segment(chroma_dir, collection_id, vector[0], metadata[0])


def torn(folder: Path) -> str | None:
    """Why the folder cannot be what one finished save wrote, or None; cheap unless a file is newer than the map."""
    id_map = folder / ID_MAP
    header = read_header(folder) if all((folder / name).exists() for name in (ID_MAP, *NATIVE)) else None
    if header is None:
        return None  # nothing saved yet, a first save Chroma redoes from its unpurged log, or a format we do not know
    with open(id_map, "rb") as fh:
        fh.seek(max(0, id_map.stat().st_size - 1))
        if fh.read(1) != b".":  # pickle's STOP opcode ends every whole pickle
            return "index_metadata.pickle is cut short"
    if ((folder / "data_level0.bin").stat().st_size < header.count * header.size
            or (folder / "length.bin").stat().st_size < header.count * 4):
        return "the HNSW files are shorter than their header says"
    if max((folder / name).stat().st_mtime_ns for name in NATIVE) <= id_map.stat().st_mtime_ns:
        return None
    try:
        saved_map = _load_id_map(folder)
    except Exception:  # a torn pickle can fail in any of pickle's ways
        return "index_metadata.pickle cannot be read"
    if saved_map["total_elements_added"] != header.count:
        return "the HNSW files are newer than index_metadata.pickle"
    labels, deleted, _ = _elements(folder, header)
    position = _positions(labels)
    for label in saved_map["label_to_id"]:
        k = position.get(label)
        if k is None or deleted[k]:
            return "the HNSW files are newer than index_metadata.pickle"
    return None


def salvage(segment: Segment, space: str) -> tuple[list[str], np.ndarray]:
    """Every live id with its vector: the id map's state plus the log after it, or (map lost) the files in id order."""
    chroma_dir, folder = segment.chroma_dir, segment.folder
    header = read_header(folder)
    if header is None:
        raise _damaged(chroma_dir, "header.bin is unreadable")
    db = sqlite3.connect(chroma_dir / "chroma.sqlite3", timeout=30)
    try:
        saved_seq, metadata_seq = _seq_id(db, segment.vector_id), _seq_id(db, segment.metadata_id)
        live_ids = [r[0] for r in db.execute(
            "SELECT embedding_id FROM embeddings WHERE segment_id = ? ORDER BY id", (segment.metadata_id,))]
        rows = [(seq, op, id_, _vector(blob, encoding, header.dim, chroma_dir)) for seq, op, id_, blob, encoding in
                db.execute("SELECT seq_id, operation, id, vector, encoding FROM embeddings_queue WHERE topic LIKE ? "
                           "ORDER BY seq_id", (f"%/{segment.collection_id}",))]
    finally:
        db.close()
    if rows and rows[-1][0] > metadata_seq:
        raise _damaged(chroma_dir, "its metadata is behind its log")
    labels, deleted, read_vectors = _elements(folder, header)
    lengths = np.fromfile(folder / "length.bin", dtype="<f4")
    try:
        id_map = _load_id_map(folder)
    except Exception:  # a torn pickle can fail in any of pickle's ways
        id_map = None
    if id_map is not None:
        position = _positions(labels)
        ids = list(id_map["id_to_label"])
        if any(label not in position for label in id_map["id_to_label"].values()):
            raise _damaged(chroma_dir, "some vectors are not in the HNSW files")
        positions = [position[label] for label in id_map["id_to_label"].values()]
        later = {id_ for seq, _, id_, _ in rows if seq > saved_seq}
        state = _stored(ids, positions, read_vectors, lengths, space, [i not in later for i in ids], chroma_dir)
        for seq, op, id_, vector in rows:
            if seq > saved_seq:
                _apply(state, op, id_, vector)
    else:
        # Labels and metadata row ids both grow in the order ids first arrived, so the k-th live element is the
        # k-th live id; only a save that had applied the whole log truncates the map, so both describe one state.
        alive = np.flatnonzero(~deleted)
        alive = alive[np.argsort(labels[alive], kind="stable")]
        if len(alive) != len(live_ids):
            raise _damaged(chroma_dir, f"{len(alive)} vectors in the HNSW files for {len(live_ids)} ids")
        state = _stored(live_ids, alive.tolist(), read_vectors, lengths, space, [True] * len(alive), chroma_dir)
        last = {id_: (op, vector) for _, op, id_, vector in rows}
        if any(vector is not None and id_ in state and not _same_direction(state[id_], vector)
               for id_, (op, vector) in last.items() if op in (ADD, UPSERT, UPDATE)):
            raise _damaged(chroma_dir, "the HNSW files do not match the log")
    if set(state) != set(live_ids):
        raise _damaged(chroma_dir, f"{len(set(live_ids) - set(state))} of {len(live_ids)} ids have no vector")
    vectors = np.stack([state[i] for i in live_ids]) if live_ids else np.zeros((0, header.dim))
    if not np.isfinite(vectors).all():
        raise _damaged(chroma_dir, "the HNSW files hold invalid numbers")
    return live_ids, vectors.astype(np.float32)


def _stored(ids: list[str], positions: list[int], read_vectors: Any, lengths: np.ndarray, space: str,
            settled: list[bool], chroma_dir: Path) -> dict[str, np.ndarray]:
    """Vectors as Chroma returns them (unit vector times length under cosine); unit length catches a misread layout."""
    if positions and max(positions) >= len(lengths):
        raise _damaged(chroma_dir, "length.bin is cut short")
    vectors = read_vectors(positions)
    if space == "cosine":
        norms = np.linalg.norm(vectors[np.asarray(settled, dtype=bool)], axis=1)
        if not np.allclose(norms, 1.0, atol=1e-3):
            raise _damaged(chroma_dir, "the HNSW files do not hold the unit vectors cosine space stores")
        vectors = vectors * lengths[positions][:, None]
    return dict(zip(ids, vectors))


def read_header(folder: Path) -> Header | None:
    raw = (folder / "header.bin").read_bytes()
    if len(raw) < 52:
        return None
    version, level0, _, count, size, label_at, data_at = struct.unpack_from("<iQQQQQQ", raw)
    if version != 1 or not 0 < data_at < label_at <= size - 8:
        return None
    return Header(count, size, level0, label_at, data_at)


def _elements(folder: Path, header: Header) -> tuple[np.ndarray, np.ndarray, Any]:
    """Each stored element's label and delete mark, plus a reader for vectors by element position."""
    path = folder / "data_level0.bin"
    data = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
    n = min(header.count, len(data) // header.size)
    records = data[: n * header.size].reshape(n, header.size)
    labels = np.ascontiguousarray(records[:, header.label_at:header.label_at + 8]).view("<u8").ravel()
    deleted = (records[:, header.level0 + 2] & 1).astype(bool)

    def read_vectors(rows: list[int]) -> np.ndarray:
        block = records[rows, header.data_at:header.data_at + 4 * header.dim]
        return np.ascontiguousarray(block).view("<f4").reshape(len(rows), header.dim).astype(np.float32)

    return labels, deleted, read_vectors


def _positions(labels: np.ndarray) -> dict[int, int]:
    """Label -> element position, leaving out labels stored twice (never the case for a label the map names)."""
    unique, counts = np.unique(labels, return_counts=True)
    once = set(unique[counts == 1].tolist())
    return {int(label): k for k, label in enumerate(labels.tolist()) if label in once}


class _PlainUnpickler(pickle.Unpickler):
    """serde_pickle writes plain dicts, ints and strings only; a map naming any class is refused, never run."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} in an HNSW id map")


def _load_id_map(folder: Path) -> dict:
    with open(folder / ID_MAP, "rb") as fh:
        saved = _PlainUnpickler(fh).load()
    if not isinstance(saved, dict) or not {"total_elements_added", "id_to_label", "label_to_id"} <= saved.keys():
        raise pickle.UnpicklingError("not an HNSW id map")
    return saved


def _seq_id(db: sqlite3.Connection, segment_id: str) -> int:
    row = db.execute("SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (segment_id,)).fetchone()
    return int(row[0]) if row else 0


def _vector(blob: bytes | None, encoding: str | None, dim: int, chroma_dir: Path) -> np.ndarray | None:
    if blob is None:
        return None
    if encoding not in (None, "FLOAT32") or len(blob) != 4 * dim:
        raise _damaged(chroma_dir, f"a log vector is {len(blob)} bytes of {encoding}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _apply(state: dict[str, np.ndarray], op: int, id_: str, vector: np.ndarray | None) -> None:
    """One log row as chromadb 1.5's HNSW writer applies it."""
    if op == DELETE:
        state.pop(id_, None)
    elif vector is None:
        return
    elif op == UPSERT or (op == ADD and id_ not in state) or (op == UPDATE and id_ in state):
        state[id_] = vector


def _same_direction(a: np.ndarray, b: np.ndarray) -> bool:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return bool(na > 0 and nb > 0 and np.allclose(a / na, b / nb, atol=1e-4))


def _space(collection: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return ((collection.configuration or {}).get("hnsw") or {}).get("space", "l2")


def _save(path: Path, ids: list[str], vectors: np.ndarray) -> None:
    """The salvaged vectors, written whole before anything is deleted, so a kill during the repair loses nothing."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, ids=np.array(ids, dtype=str), vectors=vectors)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _rebuild(collection: Any, segment: Segment) -> int:
    """Set the torn folder aside, let Chroma start the segment afresh from its log, then upsert every vector."""
    with np.load(segment.checkpoint, allow_pickle=False) as saved:
        ids, vectors = saved["ids"].tolist(), saved["vectors"]
    if segment.folder.exists():
        if segment.aside.exists():
            shutil.rmtree(segment.folder)  # a half-done rebuild; the torn original is already aside
        else:
            os.replace(segment.folder, segment.aside)
    db = sqlite3.connect(segment.chroma_dir / "chroma.sqlite3", timeout=30)
    try:
        with db:
            db.execute("DELETE FROM max_seq_id WHERE segment_id = ?", (segment.vector_id,))
    finally:
        db.close()
    for start in range(0, len(ids), BATCH):
        collection.upsert(ids=ids[start:start + BATCH], embeddings=vectors[start:start + BATCH])
    if collection.count() != len(ids):
        raise _damaged(segment.chroma_dir, f"the rebuilt collection holds {collection.count()} of {len(ids)} vectors")
    segment.checkpoint.unlink()
    shutil.rmtree(segment.aside, ignore_errors=True)
    return len(ids)


def _signature(folder: Path) -> list[tuple[int, int]]:
    return [((folder / n).stat().st_size, (folder / n).stat().st_mtime_ns) if (folder / n).exists() else (-1, -1)
            for n in (*NATIVE, ID_MAP)]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _damaged(chroma_dir: Path, why: str) -> DamagedIndexError:
    return DamagedIndexError(f"The vector index in {chroma_dir} is damaged and cannot be repaired ({why}); "
                             f"delete {chroma_dir.parent} and run `handbook ingest` again on your documents.")
