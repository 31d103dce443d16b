"""A real-looking document folder through `handbook ingest`: duplicates never collide, a bad file or a failing batch
costs only itself, one plain line per problem file, parser chatter only in the log (and with --verbose), a per-file
summary (and --json), and every good file answerable with its page."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from make_collection import COPIES, FACTS, FAILING, GAPS, SHARED, make_collection

from assistant.index.store import Store
from assistant.settings import load_settings
from ingest.indexing import ingest
from ingest.run import remove_sources

REPO = Path(__file__).resolve().parent.parent


def _cli(home: Path, model: Path, *args: str) -> subprocess.CompletedProcess:
    """The real `handbook` in a child process, so stderr is exactly what a user's terminal gets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}
    env.update(HANDBOOK_HOME=str(home), HANDBOOK_EMBED_MODEL=str(model), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "handbook", *args], env=env, cwd=str(REPO), capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def collection(tmp_path_factory, e5_model_dir):
    """The collection ingested once through the CLI (plain, then --json on a second home, then --verbose)."""
    root = tmp_path_factory.mktemp("collection")
    folder = make_collection(root / "samling")
    plain = _cli(root / "home", e5_model_dir, "ingest", str(folder))
    as_json = _cli(root / "home-json", e5_model_dir, "ingest", "--json", str(folder))
    verbose = _cli(root / "home-verbose", e5_model_dir, "ingest", "--verbose", str(folder))
    return {"folder": folder, "home": root / "home", "plain": plain, "json": as_json, "verbose": verbose,
            "settings": load_settings({}, home=root / "home", embed_model=str(e5_model_dir))}


def test_exit_1_with_one_plain_line_per_problem_file_and_nothing_else_on_stderr(collection):
    done = collection["plain"]
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    problems = sorted([*FAILING, *GAPS])
    assert len(lines) == len(problems), done.stderr
    for name, line in zip(problems, sorted(lines, key=lambda ln: ln.split(": ")[0].split("samling/")[1])):
        assert f"samling/{name}: " in line, line
        words = FAILING.get(name) or GAPS[name]
        assert re.search(words, line), line
        assert line.startswith("skipped " if name in FAILING else "partly indexed ")
    assert "Traceback" not in done.stderr and "pypdf" not in done.stderr
    assert not [ln for ln in lines if "startxref" in ln and "korrupt.pdf" not in ln]
    log = (collection["home"] / "logs" / "ingest.log").read_text()
    assert "incorrect startxref pointer" in log  # pypdf's own warning about xref-skaev.pdf went to the log


def test_verbose_shows_the_parsers_warnings(collection):
    done = collection["verbose"]
    assert done.returncode == 1
    assert "pypdf" in done.stderr and "incorrect startxref pointer" in done.stderr


def test_the_summary_names_every_file_and_what_happened(collection):
    out = collection["plain"].stdout
    rows = {m.group(2): (m.group(1), m.group(3)) for m in re.finditer(r"^  (\w+)\s+(\S+)  (.*)$", out, re.M)}
    assert set(rows) == {"rapport.pdf", "rapport-kopi.pdf", "bilag/notat.pdf", "bilag/referat.pdf",
                         "delvis-scannet.pdf", "xref-skaev.pdf", *FAILING}
    for name in FAILING:
        assert rows[name][0] == "failed"
    assert rows["delvis-scannet.pdf"] == ("indexed", "(2 pages, 1 chunk; needs OCR: page 2)")
    assert rows["rapport.pdf"][0] == "duplicate" and "rapport-kopi.pdf" in rows["rapport.pdf"][1]
    assert re.search(r"^Indexed 9 files \(5 new or changed, 0 unchanged, 1 duplicate, 3 skipped\)", out, re.M)


def test_json_gives_the_same_as_data(collection):
    done = collection["json"]
    assert done.returncode == 1
    data = json.loads(done.stdout)
    by_source = {o["source"]: o for o in data["outcomes"]}
    assert {s: o["status"] for s, o in by_source.items() if o["status"] == "failed"} == dict.fromkeys(FAILING,
                                                                                                     "failed")
    assert by_source["delvis-scannet.pdf"]["ocr_pages"] == [2] and by_source["delvis-scannet.pdf"]["chunks"] == 1
    assert by_source["rapport.pdf"] == {**by_source["rapport.pdf"], "status": "duplicate",
                                        "copy_of": "rapport-kopi.pdf"}
    assert by_source["bilag/notat.pdf"]["pages"] == 2 and all(by_source[n]["reason"] for n in FAILING)


def test_every_good_file_answers_with_its_page(collection, model_env, run_cli):
    for fact in FACTS:
        asked = run_cli("--home", collection["home"], "ask", "--json", fact.question)
        answer = json.loads(asked.stdout.strip().splitlines()[-1])
        assert not answer["refused"], (fact, answer["answer"])
        top = answer["citations"][0]
        expected = COPIES.get(fact.source, fact.source)
        assert (top["source"], top["page"]) in {(expected, fact.page), ("rapport-kopi.pdf", fact.page)}, (fact, top)


def test_identical_files_are_indexed_once_and_toc_lists_the_copy(collection, model_env, run_cli):
    store = Store(collection["settings"])
    try:
        files = store.catalog.files()
        chunks = store.catalog.chunks()
        assert store.count() == len(store.catalog.chunk_ids())
    finally:
        store.close()
    assert files["rapport.pdf"].copy_of == "rapport-kopi.pdf" and files["rapport.pdf"].chunks == 0
    assert not {c.source for c in chunks} & {"rapport.pdf"}
    shared = {c.source: c.page for c in chunks if SHARED[0] in c.text}  # a chapter two files share: both citable
    assert shared == {"bilag/notat.pdf": 2, "bilag/referat.pdf": 2}
    toc = run_cli("--home", collection["home"], "toc")
    assert "(rapport-kopi.pdf, copies: rapport.pdf)" in toc.output


def test_the_same_name_in_two_folders_keeps_both(tmp_path, e5_model_dir):
    """Two copies of one PDF, each `a.pdf` in its own folder, in one run: was chromadb's DuplicateIDError."""
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    first, second = tmp_path / "x", tmp_path / "y"
    make_collection(tmp_path / "c")
    for folder in (first, second):
        folder.mkdir()
        shutil.copy(tmp_path / "c" / "xref-skaev.pdf", folder / "a.pdf")
    report = ingest([first, second], settings)
    assert not report.errors and report.indexed == 1 and report.duplicates == 1
    (second / "a.pdf").write_bytes((tmp_path / "c" / "bilag" / "notat.pdf").read_bytes())  # now a different file
    report = ingest([first, second], settings)
    assert not report.errors and report.indexed_sources == ["y/a.pdf"] and report.unchanged == 1
    store = Store(settings)
    try:
        sources = {c.source for c in store.catalog.chunks()}
    finally:
        store.close()
    assert sources == {"a.pdf", "y/a.pdf"}


def test_a_copy_stays_answerable_when_its_original_goes_or_changes(tmp_path, e5_model_dir):
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    folder = make_collection(tmp_path / "c")
    keep = tmp_path / "keep"
    keep.mkdir()
    for name in ("rapport.pdf", "rapport-kopi.pdf"):
        shutil.copy(folder / name, keep / name)
    ingest([keep], settings)
    remove_sources(["rapport-kopi.pdf"], settings)
    store = Store(settings)
    try:
        assert {c.source for c in store.catalog.chunks()} == {"rapport.pdf"}
        assert not store.catalog.files()["rapport.pdf"].copy_of
    finally:
        store.close()
    ingest([keep], settings)  # the removed name comes back, as a copy of the one that stayed
    (keep / "rapport.pdf").write_bytes((folder / "xref-skaev.pdf").read_bytes())
    report = ingest([keep / "rapport.pdf"], settings)  # the original changes; its copy was not given this run
    assert not report.errors and sorted(report.indexed_sources) == ["rapport-kopi.pdf", "rapport.pdf"]
    store = Store(settings)
    try:
        texts = {c.source: c.text for c in store.catalog.chunks() if c.page == 2}
        assert FACTS[0].sentence in texts["rapport-kopi.pdf"] and FACTS[3].sentence in texts["rapport.pdf"]
    finally:
        store.close()


def test_a_failing_batch_costs_only_the_file_that_fails(tmp_path, e5_model_dir, monkeypatch):
    """Fault injection (named as such): Chroma's add raises whenever a batch holds notat.pdf's chunks, as it did
    for duplicate ids; the rest of the batch is stored file by file and the catalog names only what Chroma has."""
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    folder = make_collection(tmp_path / "c")
    real_add = Store.add

    def add(self, chunks, vectors, texts):
        if any(c.source == "bilag/notat.pdf" for c in chunks):
            raise RuntimeError("injected: Chroma refused the batch")
        return real_add(self, chunks, vectors, texts)

    monkeypatch.setattr(Store, "add", add)
    report = ingest([folder], settings)
    failed = {Path(e.path).name: e.reason for e in report.errors}
    assert set(failed) == {*FAILING, "notat.pdf"} and "injected" in failed["notat.pdf"]
    assert sorted(report.indexed_sources) == ["bilag/referat.pdf", "delvis-scannet.pdf", "rapport-kopi.pdf",
                                              "xref-skaev.pdf"]
    store = Store(settings)
    try:
        assert store.vector_ids() == store.catalog.chunk_ids()
        assert "bilag/notat.pdf" not in store.catalog.files()
    finally:
        store.close()
    monkeypatch.setattr(Store, "add", real_add)
    report = ingest([folder], settings)  # the next run picks the failed file up
    assert report.indexed_sources == ["bilag/notat.pdf"] and {Path(e.path).name for e in report.errors} == set(FAILING)


def test_real_sample_pdfs_with_a_copy(tmp_path, e5_model_dir, model_env, run_cli):
    """PDFs from a public test collection (tests/fixtures/pdf-samples, CC-BY-SA-4.0) and one of them twice."""
    folder = tmp_path / "samples"
    shutil.copytree(REPO / "tests" / "fixtures" / "pdf-samples", folder, ignore=shutil.ignore_patterns("*.md",
                                                                                                       "LICENSE"))
    shutil.copy(folder / "minimal-document.pdf", folder / "zz-copy-of-minimal.pdf")
    done = run_cli("--home", tmp_path / "home", "ingest", "--json", folder)
    assert done.exit_code == 1
    outcomes = {o["source"]: o for o in json.loads(done.stdout)["outcomes"]}
    assert {s: o["status"] for s, o in outcomes.items()} == {
        "imagemagick-images.pdf": "failed", "libreoffice-writer-password.pdf": "failed",
        "minimal-document.pdf": "indexed", "pdflatex-4-pages.pdf": "indexed", "zz-copy-of-minimal.pdf": "duplicate"}
    assert "password" in outcomes["libreoffice-writer-password.pdf"]["reason"]
    assert "OCR" in outcomes["imagemagick-images.pdf"]["reason"]
    assert outcomes["pdflatex-4-pages.pdf"]["pages"] == 4
    assert sorted(done.stderr.splitlines()) == sorted(
        f"skipped {folder / name}: {outcomes[name]['reason']}"
        for name in ("imagemagick-images.pdf", "libreoffice-writer-password.pdf"))
    asked = run_cli("--home", tmp_path / "home", "ask", "--json", "What does a blind text give you information about?")
    top = json.loads(asked.stdout.strip().splitlines()[-1])["citations"][0]
    assert top["source"] == "pdflatex-4-pages.pdf" and top["page"] in (1, 2, 3, 4)


def test_a_moved_folder_ingested_with_prune_keeps_its_files(tmp_path, e5_model_dir):
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    old, new = tmp_path / "gammel", tmp_path / "ny"
    old.mkdir()
    (old / "note.md").write_text("# Noter\n\nFonden støtter foreninger på Fanø.\n", encoding="utf-8")
    ingest([old], settings, prune=True)
    old.rename(new)
    report = ingest([new], settings, prune=True)
    assert report.unchanged == 1 and report.removed == 0 and report.embedded == 0
    store = Store(settings)
    try:
        assert store.catalog.files()["note.md"].path == str(new / "note.md") and store.catalog.chunk_ids()
    finally:
        store.close()


def test_a_second_checkout_of_the_same_folder_is_the_same_documents(tmp_path, e5_model_dir):
    """`make chat` in a second clone, with the first still there: its corpus is not '2 duplicates' of the first's."""
    settings = load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))
    first, second = tmp_path / "a" / "corpus", tmp_path / "b" / "corpus"
    for folder in (first, second):
        folder.mkdir(parents=True)
        (folder / "note.md").write_text("# Noter\n\nFonden støtter foreninger på Fanø.\n", encoding="utf-8")
        (folder / "plan.md").write_text("# Plan\n\nKommunen åbner et nyt bibliotek i 2027.\n", encoding="utf-8")
    ingest([first], settings)
    (second / "plan.md").write_text("# Plan\n\nKommunen åbner et nyt bibliotek i 2028.\n", encoding="utf-8")
    report = ingest([second], settings)
    assert not report.errors and report.duplicates == 0 and report.unchanged == 1
    assert report.indexed_sources == ["corpus/plan.md"]  # same name, other text: both stay, as before
    store = Store(settings)
    try:
        files = store.catalog.files()
    finally:
        store.close()
    assert files["note.md"].path == str(second / "note.md") and not files["note.md"].copy_of
    assert files["plan.md"].path == str(first / "plan.md")
