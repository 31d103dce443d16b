"""Find the files to ingest under the given paths, without following symlink loops or crashing."""
from __future__ import annotations

import os
import stat
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
        elif (problem := _not_regular(root)) is not None:
            errors.append(problem)
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
            if (problem := _not_regular(path)) is not None:
                errors.append(problem)
                continue
            out.append(path)
    return out


def _not_regular(path: Path) -> IngestError | None:
    """Broken or looping links, pipes, sockets and devices: reading them would fail or block forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if os.path.islink(path):
            return IngestError(str(path), "broken or looping symbolic link; fix or remove it")
        return IngestError(str(path), f"cannot read the file ({exc.strerror}); check its permissions")
    if not stat.S_ISREG(mode):
        return IngestError(str(path), "not a regular file (a pipe, socket or device); copy the document to a "
                                      "normal file")
    return None
