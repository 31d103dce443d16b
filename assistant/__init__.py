"""The handbook assistant's public API: settings, cited answers and the index they come from."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .documents import Answer, ChapterRef, Chunk, Citation, Section
from .errors import HandbookError
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from .answering import Assistant, History

__all__ = ["Answer", "Assistant", "ChapterRef", "Chunk", "Citation", "HandbookError", "History", "Section",
           "Settings", "load_settings", "open_assistant"]

_OPEN: dict[Settings, "Assistant"] = {}


def open_assistant(settings: Settings) -> "Assistant":
    """One Assistant per settings in a process: the model and index load once."""
    from .answering import Assistant

    if settings not in _OPEN:
        _OPEN[settings] = Assistant(settings)
    return _OPEN[settings]


def __getattr__(name: str) -> Any:
    """Assistant and History load lazily, so importing the data model stays cheap."""
    if name in ("Assistant", "History"):
        from . import answering

        return getattr(answering, name)
    raise AttributeError(name)
