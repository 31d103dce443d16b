"""Uploads from the chat window (ui/uploads.py, ui/documents.py) without a browser: names, size, type by content,
storage under the data directory, the ingest through ingest's own ingest_paths, removal, the list."""
from __future__ import annotations

import dataclasses
import shutil
import threading
import zipfile

import pytest

from assistant import open_assistant
from ui import documents, uploads

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def home(indexed_home, tmp_path):
    """A writable copy of the indexed digest."""
    shutil.copytree(indexed_home.home, tmp_path / "home", ignore=shutil.ignore_patterns("logs"))
    return dataclasses.replace(indexed_home, home=tmp_path / "home")


@pytest.mark.parametrize("name, safe", [
    ("bog.pdf", "bog.pdf"), ("../../etc/passwd", "passwd"), ("C:\\Users\\x\\Håndbog 2018.PDF", "Håndbog-2018.pdf"),
    (".hidden.md", "hidden.md"), ("a;rm -rf ~.txt", "a-rm-rf.txt"), ("", "dokument"), ("...", "dokument"),
])
def test_names_are_sanitised(name, safe):
    assert uploads.safe_name(name) == safe


def test_the_type_is_checked_by_content(tmp_path, indexed_home):
    def check(name: str, data: bytes, settings=indexed_home):
        path = tmp_path / "upload"
        path.write_bytes(data)
        problem = uploads.check_upload(path, name, settings)
        return None if problem is None else str(problem)

    assert check("bog.pdf", b"%PDF-1.7\n...") is None
    assert check("noter.md", "# Noter\nTekst med æøå.".encode()) is None
    picture = check("bog.pdf", PNG)
    assert picture.startswith("bog.pdf: ") and "PNG image, not a PDF" in picture and "\n" not in picture
    assert "binary data, not Markdown text" in check("noter.md", b"abc\x00\x01\x02")
    assert "ZIP archive, not a Word document" in check("rapport.docx", _zip(tmp_path, "other.txt"))
    assert check("rapport.docx", _zip(tmp_path, "word/document.xml")) is None
    assert "unsupported file type '.exe'" in check("setup.exe", b"MZ")
    small = dataclasses.replace(indexed_home, max_upload_mb=0.001)
    big = check("stor.txt", b"a" * 2000, small)
    assert big == ("stor.txt: the file is 0.0 MB, over the upload limit of 0.001 MB (HANDBOOK_MAX_UPLOAD_MB); "
                   "split it or raise the limit")


def _zip(tmp_path, member: str) -> bytes:
    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, "<x/>")
    return path.read_bytes()


def test_upload_is_stored_under_the_data_directory_and_indexed(home, tmp_path):
    good = tmp_path / "in" / "Mine noter.md"
    good.parent.mkdir()
    good.write_text("# Mødenoter\n\nKommunen holder et dialogmøde med foreningerne hver tirsdag i marts.\n",
                    encoding="utf-8")
    bad = tmp_path / "in" / "billede.pdf"
    bad.write_bytes(PNG)
    runs = list(uploads.run_upload([(good, "../Mine noter.md"), (bad, "billede.pdf")], home, allowed=True))
    done = runs[-1]
    assert done.finished and done.indexed == ["Mine-noter.md"]
    assert len(done.errors) == 1 and done.errors[0].startswith("billede.pdf: the content is a PNG image")
    assert any(r.stage == "read" for r in runs[:-1]) or len(runs) > 2, "progress was reported while it ran"
    stored = home.home / "uploads" / "Mine-noter.md"
    assert stored.is_file() and not (home.home / "uploads" / "billede.pdf").exists()
    answer = open_assistant(home).ask("Hvornår holder kommunen dialogmøde med foreningerne?",
                                      sources=["Mine-noter.md"])
    assert not answer.refused and answer.citations[0].source == "Mine-noter.md"
    listed = {d.source: d for d in documents.documents(home)}
    assert listed["Mine-noter.md"].kind == "Markdown" and not listed["Mine-noter.md"].digest
    assert listed["02-noegletal.md"].kind == documents.DIGEST_KIND and listed["02-noegletal.md"].digest
    assert uploads.remove_document("Mine-noter.md", home) >= 1
    assert not stored.exists() and "Mine-noter.md" not in {d.source for d in documents.documents(home)}


def test_uploads_off_is_one_clear_line_and_nothing_is_read(home, tmp_path):
    path = tmp_path / "noter.md"
    path.write_text("# Noter\n\nTekst.\n", encoding="utf-8")
    off = dataclasses.replace(home, host="0.0.0.0")
    (run,) = uploads.run_upload([(path, "noter.md")], off, allowed=False)
    assert run.finished and run.indexed == [] and run.errors == [uploads.NO_UPLOADS.format(host="0.0.0.0")]
    assert not (home.home / "uploads").exists()


def test_selection_and_the_list(home):
    known = ["a.pdf", "b.md"]
    assert documents.selection(documents.ALL, ["a.pdf"], known) is None
    assert documents.selection(documents.CHOSEN, ["a.pdf", "gone.pdf"], known) == ["a.pdf"]
    assert documents.selection(documents.CHOSEN, [], known) is None
    docs = documents.documents(home)
    table = documents.table_html(docs, ["02-noegletal.md"])
    assert table.count("<tr class=\"hb-doc") == len(docs) and table.count("hb-doc-unused") == len(docs) - 1
    assert "<script" not in documents.table_html([documents.Document("<script>x</script>.md", "<b>", "Markdown",
                                                                     None, 1, 0.0, False)], None)


def test_a_busy_index_keeps_nothing_and_says_so(home, tmp_path):
    from ingest.indexing import ingest_lock

    path = tmp_path / "noter.md"
    path.write_text("# Noter\n\nKommunen mødes med foreningerne hver tirsdag.\n", encoding="utf-8")
    with ingest_lock(home):  # as if `handbook ingest` were running
        done = list(uploads.run_upload([(path, "noter.md")], home, allowed=True))[-1]
    assert done.indexed == [] and done.errors == ["Another ingest is running on this index; wait for it to finish."]
    assert not (home.home / "uploads" / "noter.md").exists()


def test_the_chat_answers_while_an_upload_is_indexed(home, tmp_path):
    import make_pdfs

    make_pdfs.make_long_pdf(tmp_path / "lang.pdf", pages=20)
    assistant = open_assistant(home)
    steps = uploads.run_upload([(tmp_path / "lang.pdf", "lang.pdf")], home, allowed=True)
    next(steps)  # the ingest thread has started
    answer = assistant.ask("Hvor mange skoler i Aarhus fik nye toiletter?")
    during = any(t.name == "handbook-upload" and t.is_alive() for t in threading.enumerate())
    done = list(steps)[-1]
    assert during, "the question was answered while the upload was still being indexed"
    assert not answer.refused and answer.citations[0].source == "05-private-virksomheder.md"
    assert done.indexed == ["lang.pdf"] and "lang.pdf" in assistant.sources()
