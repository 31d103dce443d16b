"""The index's write lock: one ingest at a time per data directory, and no crash repair while one writes."""
from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "ingest.lock"
_held: set[str] = set()  # lock files this process holds, so a repair inside an ingest does not wait for itself
_held_guard = threading.Lock()


@contextmanager
def exclusive(index_dir: Path, *, wait: float = 0.0, reentrant: bool = False) -> Iterator[bool]:
    """Hold the lock and yield True; yield False when another holder kept it past `wait` seconds.

    With reentrant=True a lock this process already holds counts as held (an ingest opening its store repairs it).
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK_FILE
    key = str(path.resolve())
    if reentrant:
        with _held_guard:
            if key in _held:
                yield True
                return
    with open(path, "a") as fh:
        deadline = time.monotonic() + wait
        while not _try_lock(fh):
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.2)
        with _held_guard:
            _held.add(key)
        try:
            yield True
        finally:
            with _held_guard:
                _held.discard(key)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _try_lock(fh) -> bool:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
