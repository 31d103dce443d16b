"""The data model shared by ingestion, retrieval and answers: sections, chunks, citations, answers."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.markers import chapter_label


@dataclass
class Section:
    """One section of a source document as a loader found it; chunks never cross it."""

    source: str
    text: str
    chapter_number: int | None = None
    chapter_title: str = ""
    section_title: str = ""
    order: int = 0
    page: int | None = None
    page_label: str | None = None
    page_end: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    kind: str = "section"
    actor: int | None = None
    page_offsets: list[tuple[int, int, str | None]] = field(default_factory=list)
    line_offsets: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Chunk:
    """A retrievable passage inside one section, with everything a citation needs."""

    id: str
    text: str
    source: str
    chapter_number: int | None
    chapter_title: str
    section_title: str
    order: int
    position: int
    page: int | None = None
    page_label: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    kind: str = "section"
    file_hash: str = ""

    def metadata(self) -> dict[str, Any]:
        """Chroma metadata: scalar values only, no None."""
        return {k: v for k, v in asdict(self).items() if k not in ("id", "text") and v is not None}

    @classmethod
    def from_metadata(cls, id: str, text: str, meta: dict[str, Any]) -> Chunk:
        known = {k: meta.get(k) for k in cls.__dataclass_fields__ if k not in ("id", "text")}
        known["chapter_title"] = known.get("chapter_title") or ""
        known["section_title"] = known.get("section_title") or ""
        known["kind"] = known.get("kind") or "section"
        known["file_hash"] = known.get("file_hash") or ""
        known["order"] = int(known.get("order") or 0)
        known["position"] = int(known.get("position") or 0)
        return cls(id=id, text=text, **known)

    @property
    def indexed_text(self) -> str:
        """What the embedding model and BM25 see: the titles give the passage its context."""
        titles = [t for t in (self.chapter_title, self.section_title) if t]
        if len(titles) == 2 and titles[0] == titles[1]:
            titles = titles[:1]
        return (". ".join(titles) + ".\n" if titles else "") + self.text

    @property
    def chapter_label(self) -> str:
        return chapter_label(self.chapter_number, self.chapter_title)

    @property
    def reader_page(self) -> str | int | None:
        """The page a reader finds: the printed label where the document has one."""
        if self.page_label:
            return int(self.page_label) if self.page_label.isdigit() else self.page_label
        return self.page


@dataclass
class Citation:
    """One inline marker [n]: where the quote stands and the exact words that support the claim."""

    n: int
    source: str
    chapter: str
    chapter_number: int | None
    chapter_title: str
    section: str
    page: int | str | None
    pdf_page: int | None
    lines: list[int] | None
    quote: str
    chunk_id: str
    passage: str = ""
    supported: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChapterRef:
    """A pointer to a chapter, used for refusals and the table of contents."""

    source: str
    chapter_number: int | None
    title: str
    sections: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return chapter_label(self.chapter_number, self.title)


@dataclass
class Answer:
    """What the assistant says to one question, with its citations and timings."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    language: str = "da"
    kind: str = "extractive"
    nearest: list[ChapterRef] = field(default_factory=list)
    score: float | None = None
    notice: str | None = None
    sentences: list[dict[str, Any]] = field(default_factory=list)
    answer_span: dict[str, int] | None = None  # {"citation", "start", "end"}: the answering phrase in that quote
    sources: list[str] | None = None  # the documents it was answered from when the asker chose them; None: all
    draft: bool = False  # True while the text is still being composed (stream); never in --json

    def to_json(self) -> dict[str, Any]:
        """The --json contract: question, answer, refused, citations, timings_ms (plus extras)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_json() for c in self.citations],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "language": self.language,
            "kind": self.kind,
            "nearest_chapters": [asdict(r) | {"label": r.label} for r in self.nearest],
            "score": None if self.score is None else round(self.score, 4),
            "notice": self.notice,
            "sentences": self.sentences,
            "answer_span": self.answer_span,
            "sources": self.sources,
        }
