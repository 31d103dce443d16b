"""Typed errors of the handbook library; only the edges (CLI, UI) format them."""
from __future__ import annotations


class HandbookError(Exception):
    """Base of every error the library raises on purpose; its message says what to do."""


class SettingsError(HandbookError):
    """A setting has a value we cannot use."""


class ModelError(HandbookError):
    """The embedding model cannot be prepared or loaded."""


class NoIndexError(HandbookError):
    """Nothing has been ingested yet."""


class IngestError(HandbookError):
    """One input file cannot be ingested; names the file and what to do."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DamagedIndexError(HandbookError):
    """Chroma's files are damaged in a way that cannot be repaired without losing vectors."""


class IndexBusyError(HandbookError):
    """Another ingest holds the index lock."""


class QuestionError(HandbookError):
    """A question we will not process (empty, too long)."""


class BackendError(HandbookError):
    """A generative backend is down, slow or misconfigured."""
