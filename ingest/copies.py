"""Identical files under several names: indexed once, under the first name, and recorded as copies of it."""
from __future__ import annotations

from pathlib import Path

from assistant.index.catalog import FileRecord


def owners(known: dict[str, FileRecord], digests: dict[str, str], leaving: set[str], model: str) -> dict[str, str]:
    """Content hash -> the source whose chunks hold it, for indexed files that keep their content this run."""
    out: dict[str, str] = {}
    for source, record in known.items():
        if (not record.copy_of and record.hash and record.model == model and source not in leaving
                and digests.get(source, record.hash) == record.hash):
            out.setdefault(record.hash, source)
    return out


def orphaned(known: dict[str, FileRecord], digests: dict[str, str], leaving: set[str]) -> list[str]:
    """Copies not given this run whose original changes or leaves: they must be read on their own now."""
    out = []
    for source, record in known.items():
        if not record.copy_of or source in digests or source in leaving:
            continue
        original = known.get(record.copy_of)
        keeps = (original is not None and record.copy_of not in leaving
                 and digests.get(record.copy_of, original.hash) == record.hash)
        if not keeps:
            out.append(source)
    return out


def copies_of(known: dict[str, FileRecord], source: str) -> list[tuple[Path, str]]:
    """The files recorded as copies of `source`, as (path, source) pairs."""
    return [(Path(r.path), s) for s, r in known.items() if r.copy_of == source]
