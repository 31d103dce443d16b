"""Ingestion on a real Chroma in a temp dir with the real model: incremental, idempotent, robust."""
import shutil

import pytest

from assistant.errors import IndexBusyError
from assistant.index.store import Store
from assistant.settings import load_settings
from ingest.indexing import ingest, ingest_lock
from ingest.run import bundled_corpus


@pytest.fixture
def settings(tmp_path, e5_model_dir):
    return load_settings({}, home=tmp_path / "home", embed_model=str(e5_model_dir))


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("02-noegletal.md", "09-fonde.md"):
        shutil.copy(bundled_corpus() / name, folder / name)
    return folder


def counts(settings):
    store = Store(settings)
    try:
        return store.count(), len(store.catalog.chunk_ids())
    finally:
        store.close()


def test_reingest_of_unchanged_files_embeds_nothing_and_adds_no_duplicates(settings, docs):
    first = ingest([docs], settings)
    assert first.indexed == 2 and first.embedded == first.chunks > 0
    before = counts(settings)
    again = ingest([docs], settings)
    assert again.embedded == 0 and again.unchanged == 2 and again.indexed == 0
    assert counts(settings) == before == (first.chunks, first.chunks)


def test_a_changed_file_replaces_its_chunks_and_reuses_unchanged_vectors(settings, docs):
    ingest([docs], settings)
    path = docs / "09-fonde.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n## Nyt afsnit\n\nEn helt ny sætning om fonde.\n",
                    encoding="utf-8")
    report = ingest([docs], settings)
    assert report.indexed == 1 and report.unchanged == 1
    assert report.embedded == 1 and report.reused > 0
    vectors, catalog = counts(settings)
    assert vectors == catalog == report.chunks


def test_a_removed_file_is_dropped_with_prune(settings, docs):
    ingest([docs], settings)
    (docs / "09-fonde.md").unlink()
    report = ingest([docs], settings, prune=True)
    assert report.removed == 1
    store = Store(settings)
    assert set(store.catalog.files()) == {"02-noegletal.md"}
    assert store.count() == len(store.catalog.chunk_ids())
    store.close()


def test_bad_files_are_reported_and_the_rest_still_goes_in(settings, docs):
    (docs / "empty.md").write_bytes(b"")
    (docs / "binary.md").write_bytes(b"\x00\xff" * 500)
    (docs / "fake.pdf").write_bytes(b"this is not a pdf at all")
    report = ingest([docs, docs / "missing.md"], settings)
    assert report.indexed == 2
    reasons = {e.path.split("/")[-1]: e.reason for e in report.errors}
    assert set(reasons) == {"empty.md", "binary.md", "fake.pdf", "missing.md"}
    assert all(len(r.splitlines()) == 1 for r in reasons.values())


def test_a_second_ingest_refuses_while_one_runs(settings):
    with ingest_lock(settings):
        with pytest.raises(IndexBusyError):
            ingest([bundled_corpus()], settings)


def test_symlink_loops_do_not_hang(settings, docs):
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    report = ingest([docs], settings)
    assert report.indexed == 2


def test_changing_the_model_setting_re_embeds_everything(settings, docs, e5_model_dir, tmp_path):
    ingest([docs], settings)
    alias = tmp_path / "same-model-other-name-e5"
    alias.symlink_to(e5_model_dir, target_is_directory=True)
    other = load_settings({}, home=settings.home, embed_model=str(alias))
    report = ingest([docs], other)
    assert report.indexed == 2 and report.embedded == report.chunks
    assert counts(other) == (report.chunks, report.chunks)


def test_every_sentence_gets_a_stored_vector_at_ingest(settings, docs):
    from assistant.answer.sentences import split_sentences

    ingest([docs], settings)
    store = Store(settings)
    try:
        chunks = store.catalog.chunks()
        stored = store.catalog.sentence_vectors([c.id for c in chunks])
    finally:
        store.close()
    for chunk in chunks:
        assert set(stored[chunk.id]) == set(split_sentences(chunk.text)), chunk.id
        for vec in stored[chunk.id].values():
            assert vec.shape == (384,) and abs(float(vec @ vec) - 1.0) < 1e-2


def test_stored_sentence_vectors_are_close_to_embedding_the_sentence_alone(settings, docs):
    from assistant.model.embedding import load_embedder

    ingest([docs], settings)
    store = Store(settings)
    try:
        chunk = max(store.catalog.chunks(), key=lambda c: len(c.text))
        spans = store.catalog.sentence_vectors([chunk.id])[chunk.id]
    finally:
        store.close()
    embedder = load_embedder(settings)
    (s, e), stored = sorted(spans.items())[1]
    alone = embedder.embed_passages([chunk.text[s:e]])[0]
    others = embedder.embed_passages(["Vejret i morgen bliver koldt med let sne over hele landet."])[0]
    assert float(stored @ alone) > 0.85 > float(stored @ others)


def test_answering_embeds_only_the_question(settings, docs, monkeypatch):
    from assistant import open_assistant
    from assistant.model.embedding import Embedder

    ingest([docs], settings)
    calls = []
    real = Embedder.embed_passages
    monkeypatch.setattr(Embedder, "embed_passages", lambda self, texts, **kw: calls.append(texts) or real(
        self, texts, **kw))
    answer = open_assistant(settings).ask("Hvor mange fonde samarbejder de offentlige arbejdspladser med?")
    assert not answer.refused and answer.citations
    assert calls == []  # both views of every sentence were made at ingest: no passage is embedded per question


def test_vectors_lost_from_chroma_are_made_again_on_the_next_ingest(settings, docs):
    first = ingest([docs], settings)
    store = Store(settings)
    try:
        lost = store.catalog.chunk_ids("09-fonde.md")
        store.delete(lost)
    finally:
        store.close()
    report = ingest([docs], settings)
    assert report.indexed == 1 and report.unchanged == 1 and report.embedded == len(lost) > 0
    assert counts(settings) == (first.chunks, first.chunks)


def test_an_index_from_before_sentence_vectors_answers_and_is_upgraded(settings, docs):
    from assistant import open_assistant

    first = ingest([docs], settings)
    store = Store(settings)
    with store.catalog.db as db:
        db.execute("DELETE FROM sentences")
        db.execute("DELETE FROM meta WHERE key = 'index_format'")
    store.close()
    answer = open_assistant(settings).ask("Hvor mange fonde samarbejder de offentlige arbejdspladser med?")
    assert not answer.refused and answer.citations
    again = ingest([docs], settings)
    assert again.indexed == 2 and again.embedded == first.chunks
    store = Store(settings)
    try:
        ids = store.catalog.chunk_ids()
        assert store.catalog.chunks_with_sentence_vectors() == ids
    finally:
        store.close()


def test_removed_files_take_their_sentence_vectors_with_them(settings, docs):
    ingest([docs], settings)
    (docs / "09-fonde.md").unlink()
    ingest([docs], settings, prune=True)
    store = Store(settings)
    try:
        assert store.catalog.chunks_with_sentence_vectors() == store.catalog.chunk_ids()
    finally:
        store.close()
