"""Read text files of unknown encoding without crashing, and refuse what is not text."""
from __future__ import annotations

from pathlib import Path

from assistant.errors import IngestError

MAX_TEXT_BYTES = 50 * 1024 * 1024
MAX_LINE_CHARS = 1_000_000  # ~150,000 words on one line: data or minified text, not a document


def check_lines(text: str, path: Path, limit: int = MAX_LINE_CHARS) -> None:
    """Refuse a file with a line over the limit (it would become one passage nobody can cite)."""
    longest = max(map(len, text.split("\n"))) if len(text) > limit else 0
    if longest > limit:
        raise IngestError(str(path), f"it has a line of {longest:,} characters (over the {limit:,} limit), so it "
                          "looks like data or minified text; add line breaks between paragraphs")


def probe(path: Path, limit: int, *, empty: str, too_big: str, head: int = 0, tail: int = 0
          ) -> tuple[bytes, bytes]:
    """The first and last bytes of a file, after the checks every loader makes (readable, not empty, not huge)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            first = fh.read(head)
            fh.seek(max(0, size - tail))
            last = fh.read() if tail else b""
    except OSError as exc:
        raise IngestError(str(path), f"cannot read the file ({exc.strerror}); check its permissions") from None
    if size == 0:
        raise IngestError(str(path), f"the file is empty; {empty}")
    if size > limit:
        raise IngestError(str(path), f"the file is {size // 2**20} MB, over the {limit // 2**20} MB limit{too_big}")
    return first, last


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), else UTF-16 with BOM, else cp1252/latin-1; binary is refused."""
    probe(path, MAX_TEXT_BYTES, empty="remove it or add text", too_big=" for text; split it")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read the file ({exc.strerror}); check its permissions") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise IngestError(str(path), "it starts like UTF-16 text but is damaged or binary; save it again as "
                              "UTF-8") from None
        if "\x00" in text[:8192]:
            raise IngestError(str(path), "this looks like a binary file, not text; check the file type")
        return text.replace("\r\n", "\n").replace("\r", "\n")
    if b"\x00" in raw[:8192]:
        raise IngestError(str(path), "this looks like a binary file, not text; check the file type")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")
