"""Fuzz the loaders (hypothesis, bounded): whatever the bytes, a loader returns Sections or raises IngestError.

Budgets are small enough for CI on two cores (each test well under a minute); raise them locally with
HANDBOOK_FUZZ_SCALE=20 for a longer run.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import make_pdfs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.datamodel import Section
from assistant.errors import IngestError
from ingest.loaders import load

SCALE = max(1, int(os.environ.get("HANDBOOK_FUZZ_SCALE", "1")))
FAST = settings(max_examples=150 * SCALE, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PDF = settings(max_examples=60 * SCALE, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])

_DIR = Path(tempfile.mkdtemp(prefix="handbook-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)


def _load(data: bytes, suffix: str) -> list[Section] | None:
    """Write the bytes to a file with the suffix and load it; only IngestError may come out."""
    path = _DIR / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        sections = load(path, path.name)
    except IngestError as exc:
        assert exc.path == str(path) and exc.reason and "\n" not in exc.reason.strip()
        return None
    assert sections and all(isinstance(s, Section) for s in sections)
    return sections


# Text-like alphabets: structure characters of Markdown/HTML mixed with Danish letters and odd code points.
MARKUP = st.sampled_from(["#", "##", "###", "\n", "\n\n", "---", "```", "~~~", "*", "_", "[", "]", "(", ")", "<",
                          ">", "</", "/>", "&amp;", "&#", ";", "=", "\"", "'", "|", "-", "1.", "\t", " ", "\r",
                          "\r\n", "\u2028", "\ufeff", "\x00", "æøå", "ÆØÅ", "Kapitel 3", "title: x", "chapter: 2",
                          "<h1>", "</h1>", "<h2>", "<p>", "</p>", "<table><tr><td>", "</td></tr></table>",
                          "<script>", "</script>", "<br>", "<!--", "-->", "<![CDATA[", "<!DOCTYPE html>",
                          "<li>", "<div hidden>", "<th>"])
TEXTISH = st.lists(st.one_of(MARKUP, st.text(max_size=30)), max_size=60).map("".join)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])


@st.composite
def encoded_text(draw) -> bytes:
    text = draw(TEXTISH)
    return text.encode(draw(ENCODINGS), errors="replace")


# Byte-order marks and magic numbers first, so the decoders' and sniffers' branches are all reached.
MAGIC = st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"%PDF-1.7\n",
                         b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"---\n", b"<html>"])


@pytest.mark.parametrize("suffix", [".md", ".txt", ".html"])
@FAST
@given(data=st.one_of(st.binary(max_size=4000), encoded_text(),
                      st.tuples(MAGIC, st.binary(max_size=400)).map(b"".join),
                      st.tuples(MAGIC, encoded_text()).map(b"".join)))
def test_text_loaders_raise_only_ingest_error(suffix: str, data: bytes) -> None:
    _load(data, suffix)


@FAST
@given(meta=st.text(max_size=200), body=TEXTISH)
def test_markdown_front_matter_never_crashes(meta: str, body: str) -> None:
    _load(f"---\n{meta}\n---\n{body}".encode("utf-8", errors="replace"), ".md")


@FAST
@given(depth=st.integers(0, 3000), tag=st.sampled_from(["div", "b", "span", "table", "li", "h2"]))
def test_html_deep_nesting(depth: int, tag: str) -> None:
    _load((f"<{tag}>" * depth + "tekst om kommunen" + f"</{tag}>" * depth).encode(), ".html")


# --- PDF: random bytes, and real PDFs mutated (flipped bytes, cuts, splices, duplicated objects) -----------

@pytest.fixture(scope="module")
def seed_pdfs(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    d = tmp_path_factory.mktemp("fuzz-pdfs")
    make_pdfs.make_plain_pdf(d / "plain.pdf", [["Første side om kommunen og borgerne."], ["Anden side."]])
    make_pdfs.make_report_pdf(d / "report.pdf")
    return [(d / "plain.pdf").read_bytes(), (d / "report.pdf").read_bytes()]


@PDF
@given(data=st.binary(max_size=3000), header=st.booleans(), eof=st.booleans())
def test_pdf_random_bytes(data: bytes, header: bool, eof: bool) -> None:
    _load((b"%PDF-1.4\n" if header else b"") + data + (b"\n%%EOF\n" if eof else b""), ".pdf")


@st.composite
def mutation(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "dup", "digits", "keyword"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:pos + draw(st.integers(1, 400))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "dup":
            end = min(len(data), pos + draw(st.integers(1, 600)))
            data[pos:pos] = data[pos:end]
        elif kind == "digits":  # break /Length, xref offsets and object numbers
            data[pos:pos] = str(draw(st.integers(-10, 10**12))).encode()
        else:
            data[pos:pos] = draw(st.sampled_from([b"/Encrypt", b"/Length 0", b"obj", b"endobj", b"stream",
                                                  b"endstream", b"xref", b"trailer", b"<<", b">>", b"[", b"]",
                                                  b"/Kids [1 0 R]", b"/Parent 1 0 R", b"R", b"/Outlines",
                                                  b"/PageLabels", b"/FlateDecode", b"(", b")", b"\\"]))
        if not data:
            break
    return bytes(data)


def test_pdf_mutated(seed_pdfs: list[bytes]) -> None:
    @PDF
    @given(data=mutation(seed_pdfs))
    def run(data: bytes) -> None:
        _load(data, ".pdf")

    run()


def test_pdf_seeds_still_load(seed_pdfs: list[bytes]) -> None:
    """The unmutated seeds load, so the mutations above start from files that work."""
    for data in seed_pdfs:
        assert _load(data, ".pdf")
