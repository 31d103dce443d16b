"""Find the files to ingest under the given paths, without following symlink loops or crashing."""
from __future__ import annotations

import os
from pathlib import Path

from assistant.errors import IngestError

from .loaders import supported


def discover(paths: list[Path], skip_names: frozenset[str] = frozenset()) -> tuple[list[tuple[Path, str]], list[IngestError]]:
    """Return (file, source name) pairs and one error per path that cannot be used."""
    found: list[tuple[Path, str]] = []
    errors: list[IngestError] = []
    seen: set[str] = set()
    for root in paths:
        if not root.exists():
            errors.append(IngestError(str(root), "no such file or folder; check the path"))
        elif root.is_dir():
            for path in _walk(root, errors, skip_names):
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    found.append((path, path.relative_to(root).as_posix()))
        elif not supported(root):
            errors.append(IngestError(str(root), f"unsupported file type {root.suffix or '(none)'!r}; "
                                                 "use .md, .txt, .html, .docx or .pdf"))
        else:
            real = os.path.realpath(root)
            if real not in seen:
                seen.add(real)
                found.append((root, root.name))
    return found, errors


def _walk(root: Path, errors: list[IngestError], skip_names: frozenset[str]) -> list[Path]:
    out: list[Path] = []
    visited: set[str] = set()

    def onerror(exc: OSError) -> None:
        errors.append(IngestError(str(exc.filename), f"cannot read the folder ({exc.strerror}); check permissions"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=onerror):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or name in skip_names or not supported(path):
                continue
            if not path.exists():
                errors.append(IngestError(str(path), "broken symbolic link; fix or remove it"))
                continue
            out.append(path)
    return out
