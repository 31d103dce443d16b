"""One SHA-256 of a file, read in blocks: the identity of ingested files and of model weights."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Hex digest, read in 4 MB blocks so a large PDF or weights file never sits in memory whole."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
