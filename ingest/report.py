"""What one ingest did, file by file: the data behind the summary and `handbook ingest --json`."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from assistant.errors import IngestError

INDEXED, UNCHANGED, DUPLICATE, FAILED = "indexed", "unchanged", "duplicate", "failed"
LIST_EACH_UP_TO = 100  # past this many files the summary lists only the ones worth a look (--json lists all)


@dataclass
class FileOutcome:
    """One file's fate: indexed (pages, chunks), unchanged, a duplicate of another, or failed with a reason."""

    source: str
    path: str
    status: str
    pages: int | None = None
    chunks: int = 0
    copy_of: str = ""
    reason: str = ""
    ocr_pages: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def worth_a_look(self) -> bool:
        return self.status in (FAILED, DUPLICATE) or bool(self.notes or self.ocr_pages)


@dataclass
class IngestReport:
    """What one ingest did; printed as the summary at the end."""

    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    duplicates: int = 0
    removed: int = 0
    chapters: int = 0
    sections: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    seconds: float = 0.0
    errors: list[IngestError] = field(default_factory=list)
    indexed_sources: list[str] = field(default_factory=list)
    outcomes: list[FileOutcome] = field(default_factory=list)

    def fail(self, error: IngestError, source: str = "") -> None:
        """One file (or path) that cannot be ingested: its one-line reason, kept once per path."""
        error = one_line(error)
        self.errors = [e for e in self.errors if e.path != error.path] + [error]
        self.outcomes = [o for o in self.outcomes if o.path != error.path]
        self.outcomes.append(FileOutcome(source, error.path, FAILED, reason=error.reason))

    def to_json(self) -> dict:
        # not asdict(): it deep-copies the IngestErrors, which cannot be rebuilt from their args
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["errors"] = [{"path": e.path, "reason": e.reason} for e in self.errors]
        data["indexed_sources"] = list(self.indexed_sources)
        data["outcomes"] = [o.to_json() for o in self.outcomes]
        data["seconds"] = round(self.seconds, 3)
        return data


def one_line(error: IngestError) -> IngestError:
    """Each rejected file is reported on exactly one line, whatever a parser put into the reason."""
    reason = " ".join(error.reason.split())
    path = error.path.replace("\n", " ")
    return error if (reason, path) == (error.reason, error.path) else IngestError(path, reason)


def problem_line(outcome: FileOutcome) -> str | None:
    """The one stderr line of a file that failed or was indexed with pages missing; None for the others."""
    if outcome.status == FAILED:
        return f"skipped {outcome.path}: {outcome.reason}"
    if outcome.status == INDEXED and (gaps := _gaps(outcome)):
        return f"partly indexed {outcome.path}: {gaps}"
    return None


def _gaps(o: FileOutcome) -> str:
    scans = ([f"page{'s' if len(o.ocr_pages) > 1 else ''} {_ranges(o.ocr_pages)} "
              f"{'have' if len(o.ocr_pages) > 1 else 'has'} no extractable text (a scan?); run OCR first"]
             if o.ocr_pages else [])
    return "; ".join(scans + o.notes)


def outcome_line(o: FileOutcome) -> str:
    """One readable line of the per-file summary."""
    if o.status == INDEXED:
        what = (_count(o.pages, "page") + ", " if o.pages else "") + _count(o.chunks, "chunk")
        if o.ocr_pages:
            what += f"; needs OCR: page{'s' if len(o.ocr_pages) > 1 else ''} {_ranges(o.ocr_pages)}"
        what += "".join(f"; {n}" for n in o.notes)
    elif o.status == DUPLICATE:
        what = f"same file as {o.copy_of}; indexed once, cited as {o.copy_of}"
    elif o.status == FAILED:
        what = o.reason
    else:
        what = "not changed since the last ingest"
    return f"  {o.status:<9} {o.source or o.path}  ({what})" if o.status != FAILED else \
        f"  {o.status:<9} {o.source or o.path}  {what}"


def summary_lines(report: IngestReport) -> list[str]:
    """The per-file table (only files worth a look when there are many), then the totals line."""
    shown = report.outcomes if len(report.outcomes) <= LIST_EACH_UP_TO else \
        [o for o in report.outcomes if o.worth_a_look]
    lines = [outcome_line(o) for o in shown]
    if len(shown) < len(report.outcomes):
        lines.append(f"  ... and {len(report.outcomes) - len(shown)} more files indexed or unchanged "
                     "(`handbook ingest --json` lists each)")
    return lines + [summary_line(report)]


def summary_line(report: IngestReport) -> str:
    failed = len(report.errors)
    return (f"Indexed {report.files} files ({report.indexed} new or changed, {report.unchanged} unchanged"
            + (f", {_count(report.duplicates, 'duplicate')}" if report.duplicates else "")
            + (f", {report.removed} removed" if report.removed else "")
            + (f", {failed} skipped" if failed else "")
            + f"): {report.chapters} chapters, {report.sections} sections, {report.chunks} chunks; "
            f"embedded {report.embedded} chunks (reused {report.reused}) in {report.seconds:.1f} s.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _ranges(numbers: list[int]) -> str:
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
