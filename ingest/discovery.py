"""Find the files to ingest under the given paths, without following symlink loops or crashing."""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from assistant.errors import IngestError

from .loaders import supported


def discover(paths: list[Path], skip_names: frozenset[str] = frozenset(), taken: dict[str, str] | None = None,
             same: Callable[[str, str], bool] | None = None) -> tuple[list[tuple[Path, str]], list[IngestError]]:
    """Return (file, source name) pairs and one error per path that cannot be used.

    A source name is the path under the given folder (the file name for a file); `taken` maps names already
    indexed to their real paths, so another file of the same name (in a second folder) gets its folder's name
    in front instead of replacing it, unless `same(name, real path)` says it holds what that name holds (a second
    checkout of the same folder): then it is that document, and takes the name over.
    """
    found: list[tuple[Path, str]] = []
    errors: list[IngestError] = []
    seen: set[str] = set()
    names = dict(taken or {})
    claimable = set(names) if same else set()
    for root in paths:
        if not root.exists():
            errors.append(IngestError(str(root), "no such file or folder; check the path"))
        elif root.is_dir():
            for path in _walk(root, errors, skip_names):
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    found.append((path, _unique(path.relative_to(root).as_posix(), root, real, names, claimable,
                                                same)))
        elif not supported(root):
            errors.append(IngestError(str(root), f"unsupported file type {root.suffix or '(none)'!r}; "
                                                 "use .md, .txt, .html, .docx or .pdf"))
        elif (problem := _not_regular(root)) is not None:
            errors.append(problem)
        else:
            real = os.path.realpath(root)
            if real not in seen:
                seen.add(real)
                found.append((root, _unique(root.name, root.resolve().parent, real, names, claimable, same)))
    return found, errors


def _unique(name: str, folder: Path, real: str, names: dict[str, str], claimable: set[str],
            same: Callable[[str, str], bool] | None) -> str:
    """`name`, or `folder/name` (then `folder/name (2)` ...) when another file already goes by it."""
    candidates = [name, f"{folder.resolve().name}/{name}"]
    stem, dot, suffix = candidates[1].rpartition(".")
    candidates += [f"{stem} ({n}).{suffix}" if dot else f"{candidates[1]} ({n})" for n in range(2, 1000)]
    for candidate in candidates:
        if names.get(candidate, real) == real or (candidate in claimable and same and same(candidate, real)):
            claimable.discard(candidate)
            names[candidate] = real
            return candidate
    raise IngestError(real, "too many files share this name; rename some of them")


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
