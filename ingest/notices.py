"""Where messages go during an ingest: ours become per-file notes, third-party parser chatter goes to the log."""
from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

OURS = "handbook.ingest"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_BYTES = 5 * 1024 * 1024  # then ingest.log moves to ingest.log.1 and starts again


@dataclass
class Notices:
    """What the loaders said about one file: pages that need OCR, and other one-line warnings."""

    ocr_pages: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Collector(logging.Handler):
    def __init__(self, path: Path, notices: Notices) -> None:
        super().__init__(logging.WARNING)
        self.prefix, self.notices = f"{path}: ", notices

    def emit(self, record: logging.LogRecord) -> None:
        pages = getattr(record, "ocr_pages", None)
        if pages:
            self.notices.ocr_pages.extend(pages)
            return
        message = " ".join(record.getMessage().split())
        self.notices.notes.append(message.removeprefix(self.prefix))


@contextmanager
def collect(path: Path) -> Iterator[Notices]:
    """Our loaders' warnings about `path`, gathered while it is read."""
    notices = Notices()
    handler = _Collector(path, notices)
    logger = logging.getLogger(OURS)
    logger.addHandler(handler)
    try:
        yield notices
    finally:
        logger.removeHandler(handler)


@contextmanager
def route_logs(log_file: Path, *, verbose: bool = False) -> Iterator[None]:
    """Every log record (pypdf, pdfminer, chromadb, Python warnings) to `log_file`, and to stderr with --verbose;
    without a handler Python would print third-party warnings on the terminal as bare lines."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handlers: list[logging.Handler] = [logging.handlers.RotatingFileHandler(
        log_file, maxBytes=LOG_BYTES, backupCount=1, encoding="utf-8")]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.setLevel(level)
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
