"""The entry points the CLI and the UI call: ingest paths (or the bundled corpus), remove sources."""
from __future__ import annotations

from pathlib import Path

from assistant.index.store import Store
from assistant.settings import Settings

from .copies import copies_of
from .indexing import Progress, ingest, ingest_lock, remove_source
from .report import IngestReport, summary_line

__all__ = ["bundled_corpus", "ingest_paths", "remove_sources", "summary_line"]

BUNDLED_SKIP = frozenset({"README.md"})


def bundled_corpus() -> Path:
    """The digest shipped in corpus/ next to the packages."""
    return Path(__file__).resolve().parent.parent / "corpus"


def ingest_paths(paths: list[Path], settings: Settings, *, prune: bool = False,
                 progress: Progress | None = None) -> IngestReport:
    """Ingest the given paths, or the bundled corpus when none are given."""
    if not paths:
        return ingest([bundled_corpus()], settings, prune=True, progress=progress, skip_names=BUNDLED_SKIP)
    given_corpus = any(Path(p).resolve() == bundled_corpus() for p in paths)  # its README is about the digest
    return ingest(paths, settings, prune=prune, progress=progress,
                  skip_names=BUNDLED_SKIP if given_corpus else frozenset())


def remove_sources(sources: list[str], settings: Settings) -> list[tuple[str, int]]:
    """Drop documents by source name; unknown names are an error naming them. A copy of a removed document
    that stays is indexed under its own name, so its content stays answerable."""
    from assistant.errors import HandbookError

    with ingest_lock(settings):
        store = Store(settings)
        try:
            known = store.catalog.files()
            unknown = [s for s in sources if s not in known]
            if unknown:
                raise HandbookError(f"Not in the index: {', '.join(unknown)}; `handbook toc` lists what is.")
            staying = [(p, s) for source in sources for p, s in copies_of(known, source) if s not in sources]
            removed = [(s, remove_source(store, s)) for s in sources]
        finally:
            store.close()
    if staying:
        ingest([], settings, files=staying)
    return removed
