"""Documents added from the chat window: who may upload, what a file must be, where it is kept, and the ingest.

An upload is checked before anything is read: its size against HANDBOOK_MAX_UPLOAD_MB and its type by its first
bytes (a renamed picture is not a PDF). It is then copied under the data directory with a sanitised name and
indexed by ingest's own `ingest_paths`, so it gets the same loaders, one-line messages and crash safety as
`handbook ingest`.
"""
from __future__ import annotations

import ipaddress
import re
import shutil
import threading
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant import Settings
from assistant.errors import HandbookError, IngestError

TEXT_KINDS = {".md": "Markdown", ".markdown": "Markdown", ".txt": "text", ".text": "text", ".html": "HTML",
              ".htm": "HTML"}
SIGNATURES = [  # what a file's first bytes say it is, for the message about a renamed file
    (b"%PDF-", "a PDF"), (b"PK\x03\x04", "a ZIP archive"), (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"), (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls)"), (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
]
SNIFF_BYTES = 64 * 1024
NO_UPLOADS = ("Upload er slået fra: serveren lytter på {host} uden login. Start den på 127.0.0.1, eller sæt "
              "HANDBOOK_AUTH_FILE (brugernavn:adgangskode), så kun dem med login kan tilføje dokumenter.")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def upload_dir(settings: Settings) -> Path:
    return settings.home / "uploads"


def safe_name(name: str) -> str:
    """A file name that cannot leave the uploads folder or confuse a shell: letters, digits, '.', '-', '_'."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1])
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^\w.]+", "-", stem).strip(".-_")[:100] or "dokument"
    ext = re.sub(r"[^a-z0-9]", "", ext.lower())[:10]
    return f"{stem}.{ext}" if ext else stem


def check_upload(path: Path, name: str, settings: Settings) -> IngestError | None:
    """Why this uploaded file cannot be indexed, as the one line the user sees; None when it may go in."""
    from ingest.loaders import LOADERS

    ext = Path(safe_name(name)).suffix.lower()
    if ext not in LOADERS:
        return IngestError(name, f"unsupported file type {ext or '(none)'!r}; use .md, .txt, .html, .docx or .pdf")
    size = path.stat().st_size
    limit = settings.max_upload_mb * 1024 * 1024
    if size > limit:
        return IngestError(name, f"the file is {size / 1048576:.1f} MB, over the upload limit of "
                                 f"{settings.max_upload_mb:g} MB (HANDBOOK_MAX_UPLOAD_MB); split it or raise the limit")
    if size == 0:
        return IngestError(name, "the file is empty; upload the document itself")
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    found = next((what for magic, what in SIGNATURES if head.startswith(magic)), None)
    if (ext == ".pdf" and found == "a PDF") or (ext == ".docx" and _is_docx(path)):
        return None
    if ext in TEXT_KINDS and found is None and b"\x00" not in head:
        return None
    wanted = {".pdf": "a PDF", ".docx": "a Word document (DOCX)"}.get(ext, f"{TEXT_KINDS.get(ext, 'text')} text")
    what = found or ("binary data" if b"\x00" in head else "text")
    return IngestError(name, f"the content is {what}, not {wanted} as its name says; upload the document itself, "
                             "not a renamed file")


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "word/document.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def pdf_pages(path: Path) -> int | None:
    """How many pages a PDF has (for the progress line and the list); None when it cannot be opened."""
    try:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()
    except Exception:  # a broken PDF: the ingest says why, in its own words
        return None


@dataclass
class Upload:
    """What one upload run did, and where it is while it runs (read by the page's progress line)."""

    names: list[str]
    stage: str = "wait"
    done: int = 0
    total: int = 0
    current: str = ""
    pages: dict[str, int | None] = field(default_factory=dict)
    indexed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: bool = False


def run_upload(files: list[tuple[Path, str]], settings: Settings, *, allowed: bool) -> Iterator[Upload]:
    """Check, store and ingest uploaded (temporary path, original name) pairs; yields the run as it goes.

    Bad files get one line each and the rest still goes in; the index keeps answering from what it had until the
    ingest commits.
    """
    run = Upload([name for _, name in files])
    if not allowed:
        run.errors.append(NO_UPLOADS.format(host=settings.host))
        run.finished = True
        yield run
        return
    stored: list[tuple[Path, str]] = []
    for tmp, name in files:
        problem = check_upload(tmp, name, settings)
        if problem is not None:
            run.errors.append(str(problem))
            continue
        target = upload_dir(settings) / safe_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp, target)
        run.pages[target.name] = pdf_pages(target) if target.suffix == ".pdf" else None
        stored.append((target, name))
    if not stored:
        run.finished = True
        yield run
        return
    yield from _ingest(run, stored, settings)


def _ingest(run: Upload, stored: list[tuple[Path, str]], settings: Settings) -> Iterator[Upload]:
    """ingest_paths in a thread, so the page can show its progress while it reads and embeds."""
    paths = [p for p, _ in stored]
    result: dict[str, object] = {}
    changed = threading.Event()

    def progress(stage: str, done: int, total: int) -> None:
        run.stage, run.done, run.total = stage, done, total
        if stage == "read":
            run.current = paths[min(done, len(paths)) - 1].name
        changed.set()

    def work() -> None:
        from ingest.run import ingest_paths

        try:
            result["report"] = ingest_paths(paths, settings, progress=progress)
        except HandbookError as exc:
            result["error"] = exc
        finally:
            changed.set()

    worker = threading.Thread(target=work, name="handbook-upload", daemon=True)
    worker.start()
    yield run
    while worker.is_alive():
        changed.wait(0.5)
        changed.clear()
        yield run
    worker.join()
    names = dict(stored)
    if "error" in result:  # the index was busy (a `handbook ingest` running) or broken: nothing went in
        run.errors.append(str(result["error"]))
        _drop_unindexed(paths, settings)
    else:
        report = result["report"]
        run.indexed = list(report.indexed_sources)  # type: ignore[attr-defined]
        failed = {Path(e.path) for e in report.errors}  # type: ignore[attr-defined]
        run.errors += [f"{names.get(Path(e.path), e.path)}: {e.reason}" for e in report.errors]  # type: ignore
        for path in failed:
            path.unlink(missing_ok=True)  # nothing indexed from it, so it is not kept
    run.finished = True
    yield run


def _drop_unindexed(paths: list[Path], settings: Settings) -> None:
    """Uploaded copies no catalog entry points to are not kept."""
    from assistant import open_index

    try:
        with open_index(settings) as store:
            recorded = {Path(r.path) for r in store.catalog.files().values()}
    except HandbookError:
        recorded = set()
    for path in paths:
        if path not in recorded:
            path.unlink(missing_ok=True)


def remove_document(source: str, settings: Settings) -> int:
    """Drop a document from the index, and its uploaded copy if it came from the chat; returns its chunk count."""
    from assistant import open_index
    from ingest.run import remove_sources

    with open_index(settings) as store:
        record = store.catalog.files().get(source)
    (_, count), = remove_sources([source], settings)
    if record is not None and _inside(Path(record.path), upload_dir(settings)):
        Path(record.path).unlink(missing_ok=True)
    return count


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False

