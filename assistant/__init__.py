"""The handbook assistant's public API: settings, cited answers and the index they come from."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from assistant.datamodel import Answer, ChapterRef, Chunk, Citation, Section
from assistant.errors import HandbookError
from assistant.settings import Settings, load_settings

if TYPE_CHECKING:
    from assistant.index.store import Store
    from assistant.pipeline import Assistant, History, Retrieval

__all__ = ["Answer", "Assistant", "ChapterRef", "Chunk", "Citation", "HandbookError", "History", "Retrieval",
           "Section", "Settings", "load_settings", "open_assistant", "open_index"]

_OPEN: dict[Settings, Assistant] = {}


def open_assistant(settings: Settings) -> Assistant:
    """One Assistant per settings in a process: the model and index load once."""
    from assistant.pipeline import Assistant

    if settings not in _OPEN:
        _OPEN[settings] = Assistant(settings)
    return _OPEN[settings]


@contextmanager
def open_index(settings: Settings) -> Iterator[Store]:
    """The index alone (catalog and vectors), for commands that need no model; NoIndexError when there is none."""
    from assistant.index.store import Store

    store = Store(settings)
    try:
        yield store
    finally:
        store.close()


def __getattr__(name: str) -> Any:
    """Assistant, History and Retrieval load lazily, so importing the data model stays cheap."""
    if name in ("Assistant", "History", "Retrieval"):
        from assistant import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
