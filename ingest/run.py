"""The entry points the CLI and the UI call: ingest paths (or the bundled corpus), remove sources."""
from __future__ import annotations

from pathlib import Path

from assistant.index.store import Store
from assistant.settings import Settings

from .indexing import IngestReport, Progress, ingest, ingest_lock, remove_source

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


def summary_line(report: IngestReport) -> str:
    return (f"Indexed {report.files} files ({report.indexed} new or changed, {report.unchanged} unchanged"
            + (f", {report.removed} removed" if report.removed else "")
            + (f", {len(report.errors)} skipped" if report.errors else "")
            + f"): {report.chapters} chapters, {report.sections} sections, {report.chunks} chunks; "
            f"embedded {report.embedded} chunks (reused {report.reused}) in {report.seconds:.1f} s.")


def remove_sources(sources: list[str], settings: Settings) -> list[tuple[str, int]]:
    """Drop documents by source name; unknown names are an error naming them."""
    from assistant.errors import HandbookError

    with ingest_lock(settings):
        store = Store(settings)
        try:
            known = store.catalog.files()
            unknown = [s for s in sources if s not in known]
            if unknown:
                raise HandbookError(f"Not in the index: {', '.join(unknown)}; `handbook toc` lists what is.")
            return [(s, remove_source(store, s)) for s in sources]
        finally:
            store.close()
