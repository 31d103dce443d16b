"""The chat generator, its HTML and the serve command, called directly (no browser) on the real index."""
from __future__ import annotations

import html
import re
from dataclasses import replace
from types import SimpleNamespace

import make_pdfs
import pytest

from assistant import open_assistant
from assistant.feedback_log import QaLog
from ui import chat, reader, render

HOSTILE = 'Hvad er <script>alert("x")</script><img src=x onerror="alert(1)"> Innovationsbarometeret?'


def run(question: str, settings, state=None, qa_log=None, assistant=None) -> list[tuple[list[dict], dict]]:
    """Everything chat.respond yields for one question (without `assistant`, the process-wide one for settings)."""
    return list(chat.respond(question, None, state, settings=settings, qa_log=qa_log, assistant=assistant))


class RecordingWrapper:
    """The real Assistant, noting the history each stream() call is given."""

    def __init__(self, real):
        self.real, self.histories = real, []

    def stream(self, question, history=None, sources=None):
        self.histories.append(history)
        return self.real.stream(question, history, sources)


class FailingWrapper:
    """The real Assistant, except that the answer breaks off with an unexpected error after its first piece."""

    def __init__(self, real):
        self.real = real

    def stream(self, question, history=None, sources=None):
        for answer in self.real.stream(question, history, sources):
            yield answer
            raise RuntimeError("secret internals")


@pytest.fixture(scope="module")
def first(indexed_home):
    """One answered question, shared by the tests that only read it."""
    return run("Hvor mange skoler i Aarhus fik nye toiletter?", indexed_home)


def test_streams_then_replaces_with_the_cited_answer(first):
    msgs, _ = first[0]
    assert msgs[0] == {"role": "user", "content": render.question_html("Hvor mange skoler i Aarhus fik nye toiletter?")}
    assert "hb-streaming" in msgs[1]["content"] and "Søger" in msgs[1]["content"]
    assert len(first) >= 3, "pieces of the answer should be shown while it is composed"
    assert all(m["role"] in ("user", "assistant") and isinstance(m["content"], str) for y in first for m in y[0])
    final, state = first[-1]
    assert len(final) == 2 and "hb-streaming" not in final[1]["content"]
    turn = state["turns"][0]
    assert not turn["refused"] and turn["citations"] and turn["log_id"] is None
    body = final[1]["content"]
    assert '<a class="hb-cite" href="#hb:cite:0:1"' in body and "Kilder" in body
    assert "<mark>" + html.escape(turn["citations"][0]["quote"]) + "</mark>" in body
    assert "\n" not in body, "a newline would let Markdown reformat the HTML block"
    assert "tre skoler i Aarhus" in turn["copy_text"] and "[1]" in turn["copy_text"]


def test_sources_show_chapter_section_and_place(first):
    c = first[-1][1]["turns"][0]["citations"][0]
    body = first[-1][0][1]["content"]
    assert "Kap. 5. Private virksomheder" in body and html.escape(c["section"]) in body
    assert f"linje {c['lines'][0]:d}" in body and "05-private-virksomheder.md" in body


def test_citation_opens_the_chapter_with_the_quote_highlighted(first, indexed_home):
    state = first[-1][1]
    pane = chat.open_link("hb:cite:0:1", state, settings=indexed_home)
    quote = state["turns"][0]["citations"][0]["quote"]
    assert "Kap. 5. Private virksomheder" in pane
    assert re.search(r'<mark class="hb-hit">' + re.escape(html.escape(quote)) + "</mark>", pane)
    assert pane.count("hb-hit") == 1 and 'class="hb-sec hb-target"' in pane


def test_follow_up_passes_the_conversation(first, indexed_home):
    assistant = RecordingWrapper(open_assistant(indexed_home))
    state = first[-1][1]
    msgs, state = run("Og hvad med fonde?", indexed_home, state, assistant=assistant)[-1]
    assert assistant.histories == [[("Hvor mange skoler i Aarhus fik nye toiletter?", state["turns"][0]["answer"])]]
    assert len(msgs) == 4 and len(state["turns"]) == 2
    assert any(c["source"] == "09-fonde.md" for c in state["turns"][1]["citations"])


def test_refusal_looks_different_and_links_the_nearest_chapters(indexed_home):
    msgs, state = run("Hvad bliver vejret i morgen?", indexed_home)[-1]
    turn, body = state["turns"][0], msgs[-1]["content"]
    assert turn["refused"] and "hb-refusal" in body and render.REFUSAL_TITLE in body
    assert "hb-sources" not in body and 'href="#hb:near:0:0"' in body
    pane = chat.open_link("hb:near:0:0", state, settings=indexed_home)
    assert html.escape(turn["nearest"][0]["title"]) in pane and "hb-reader" in pane


def test_an_english_question_is_framed_in_english(indexed_home):
    msgs, state = run("What will the weather be tomorrow?", indexed_home)[-1]
    body = msgs[-1]["content"]
    assert state["turns"][0]["refused"] and render.LABELS["en"]["refusal"] in body
    assert render.REFUSAL_TITLE not in body and "Læs de nærmeste" not in body and "Read the nearest chapters" in body
    msgs, state = run("How many public innovations involve external partners?", indexed_home)[-1]
    body = msgs[-1]["content"]
    assert not state["turns"][0]["refused"] and ">Sources</div>" in body and ">Kilder<" not in body
    assert '<div class="hb-notice hb-lang-notice">The handbook is in Danish' in body
    assert "Copy answer with sources" in body and "Kap. " not in body
    assert state["turns"][0]["copy_text"].startswith("Question: ")


def test_markup_in_a_question_is_shown_as_text(indexed_home):
    results = run(HOSTILE, indexed_home)
    for msgs, _ in results:
        for m in msgs:
            assert "<script" not in m["content"] and "<img" not in m["content"] and "onerror=\"" not in m["content"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in results[-1][0][0]["content"]


def test_markup_in_documents_is_shown_as_text():
    hostile = 'Før. <script>alert(1)</script> Citat med <img src=x onerror=alert(2)> her. Efter *fed*.'
    cite = {"n": 1, "source": "x<b>.md", "chapter": "1. <i>Kap</i>", "chapter_title": "<i>Kap</i>",
            "chapter_number": 1, "section": "<u>Afsnit</u>", "page": None, "lines": [3, 3], "pdf_page": None,
            "quote": "Citat med <img src=x onerror=alert(2)> her.", "passage": hostile}
    turn = {"question": "q", "answer": "Citat med <img src=x onerror=alert(2)> her. [1]", "refused": False,
            "citations": [cite], "copy_text": "<script>x</script>"}
    doc = [{"chapter_number": 1, "chapter_title": "<i>Kap</i>", "section_title": "<u>Afsnit</u>",
            "kind": "section", "page": None, "page_label": None, "line_start": 3, "text": hostile}]
    fake = SimpleNamespace(document=lambda source: doc if source == "x<b>.md" else None)
    for out in (render.answer_html(turn, 0), reader.citation_pane(fake, cite)):
        assert not re.search(r"<(script|img|b|i|u)[\s>]", out), out
        assert "&lt;script&gt;" in out or "&lt;img" in out
    assert '<mark class="hb-hit">Citat med &lt;img src=x onerror=alert(2)&gt; her.</mark>' in reader.citation_pane(
        fake, cite)


def test_reading_pane_serves_only_ingested_documents(indexed_home):
    a = open_assistant(indexed_home)
    for name in ("../../etc/passwd", "/etc/passwd", "corpus/../pyproject.toml", "README.md"):
        pane = reader.chapter_pane(a, name, None, "")
        assert "ikke i indekset" in pane and "root:" not in pane
    for link in ("hb:cite:9:1", "hb:near:0:5", "hb:chap:999", "hb:sec:0:999", "../../etc/passwd", "hb:chap:-1",
                 "hb:file:/etc/passwd", ""):
        result = chat.open_link(link, chat.new_state(), settings=indexed_home)
        assert result is None or "hb-reader" in result


def test_contents_open_chapters_and_sections(indexed_home):
    chapters = open_assistant(indexed_home).chapters()
    toc = render.toc_html(chapters)
    assert 'href="#hb:chap:0"' in toc and html.escape(chapters[4].label) in toc
    pane = chat.open_link("hb:sec:4:1", None, settings=indexed_home)
    assert "Kap. 5. Private virksomheder" in pane and pane.count("hb-target") == 1
    assert html.escape(chapters[4].sections[1]) in pane


def test_pdf_citation_shows_the_page_image(tmp_path):
    pdf = tmp_path / "bog.pdf"
    make_pdfs.make_plain_pdf(pdf, [["Første side handler om samarbejde."], ["Anden side om fonde og penge."]])
    record = SimpleNamespace(path=str(pdf))
    doc = [{"chapter_number": None, "chapter_title": "Bog", "section_title": "Bog", "kind": "section", "page": 2,
            "page_label": "2", "line_start": None, "text": "Anden side om fonde og penge."}]
    fake = SimpleNamespace(document=lambda s: doc if s == "bog.pdf" else None,
                           store=SimpleNamespace(catalog=SimpleNamespace(files=lambda: {"bog.pdf": record})))
    cite = {"n": 1, "source": "bog.pdf", "chapter_number": None, "chapter_title": "Bog", "section": "Bog",
            "page": 2, "pdf_page": 2, "lines": None, "quote": "Anden side om fonde og penge.", "passage": ""}
    pane = reader.citation_pane(fake, cite)
    assert '<img alt="Side 2 i bog.pdf" src="data:image/jpeg;base64,' in pane and "hb-hit" in pane
    pdf.unlink()
    assert "findes ikke længere" in reader.citation_pane(fake, cite)


def test_no_index_is_one_clear_sentence(tmp_path, e5_model_dir):
    from assistant import load_settings

    settings = load_settings({}, home=tmp_path / "empty", embed_model=str(e5_model_dir))
    msgs, state = run("Hvad er en fond?", settings)[-1]
    assert msgs[-1]["content"] == render.error_html(chat.NO_INDEX)
    assert "Traceback" not in msgs[-1]["content"] and state["turns"][0]["error"] == chat.NO_INDEX
    assert "ikke indlæst" in chat.open_link("hb:chap:0", None, settings=settings)


def test_question_errors_are_shown(indexed_home):
    msgs, _ = run("   ", indexed_home)[-1]
    assert msgs == [{"role": "assistant", "content": render.error_html("Skriv et spørgsmål til håndbogen.")}]
    msgs, _ = run("x" * (indexed_home.max_question_chars + 1), indexed_home)[-1]
    assert "for langt" in msgs[-1]["content"]


def test_unexpected_failures_never_show_a_traceback(indexed_home):
    results = run("Hvad er en fond?", indexed_home, assistant=FailingWrapper(open_assistant(indexed_home)))
    msgs, state = results[-1]
    assert msgs[-1]["content"] == render.error_html(chat.FAILED) and state["turns"][-1]["error"] == chat.FAILED
    assert not any("secret internals" in m["content"] or "Traceback" in m["content"] for y in results for m in y[0])


def test_thumbs_and_comment_reach_the_log(first, indexed_home, tmp_path):
    qa_log = QaLog(tmp_path / "qa.sqlite")
    _msgs, state = run("Hvad bliver vejret i morgen?", indexed_home, first[-1][1], qa_log)[-1]
    assert state["turns"][1]["log_id"] and chat.turn_of_message(state, 3) is state["turns"][1]
    assert chat.rate(state, 1, "Dislike", qa_log) is None, "the first answer was not logged"
    log_id = chat.rate(state, 3, "Dislike", qa_log)
    assert chat.comment(log_id, "Burde henvise til DMI", qa_log)
    (row,) = qa_log.thumbs_down()
    assert row["question"] == "Hvad bliver vejret i morgen?" and row["refused"] and row["comment"]
    assert row["history"] == [["Hvor mange skoler i Aarhus fik nye toiletter?", state["turns"][0]["answer"]]]


def test_state_from_the_browser_is_checked(first):
    assert chat.clean_state(None) == chat.new_state() == chat.clean_state({"turns": "x"})
    assert chat.clean_state({"turns": [{"question": 1}, "x"]}) == chat.new_state()
    final, state = first[-1]
    assert chat.messages(chat.clean_state(state)) == final


# ------------------------------------------------------------------------------------------- handbook serve


@pytest.fixture
def fake_launch(monkeypatch):
    """serve_command with the app and model replaced, to check binding, login and messages quickly."""
    import ui.app
    from assistant.errors import NoIndexError

    calls: dict = {}

    class Demo:
        def launch(self, **kwargs):
            calls.update(kwargs)

        def block_thread(self):
            calls["blocked"] = True

        def close(self):
            pass

    def no_index(settings):
        raise NoIndexError("nothing")
    monkeypatch.setattr("assistant.open_assistant", no_index)
    def build_app(settings, qa_log=None, *, uploads=None):
        calls["uploads"] = uploads
        return Demo()
    monkeypatch.setattr(ui.app, "build_app", build_app)
    for name in ("HANDBOOK_AUTH", "HANDBOOK_AUTH_FILE", "HANDBOOK_HOST", "HANDBOOK_PORT"):
        monkeypatch.delenv(name, raising=False)
    return calls


@pytest.fixture
def serve(run_cli):
    """`handbook --home DIR serve ARGS...` through conftest's run_cli."""
    return lambda home, *args, env=None: run_cli("--home", home, "serve", *args, env=env)


def test_serve_binds_localhost_and_prints_the_url(tmp_path, fake_launch, serve):
    result = serve(tmp_path)
    assert result.exit_code == 0, result.output
    assert fake_launch["server_name"] == "127.0.0.1" and fake_launch["server_port"] == 7860
    assert fake_launch["auth"] is None and fake_launch["share"] is False and fake_launch["blocked"]
    assert "Handbook chat: http://127.0.0.1:7860/" in result.output and "Warning" not in result.output
    assert fake_launch["uploads"] is True and fake_launch["max_file_size"] == 400 * 1048576


def test_serve_warns_without_login_on_other_addresses(tmp_path, fake_launch, serve):
    result = serve(tmp_path, "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0 and "Warning: serving on 0.0.0.0 without a login" in result.output
    assert fake_launch["uploads"] is False, "no uploads on a public address without a login"
    result = serve(tmp_path, "--host", "0.0.0.0", env={"HANDBOOK_AUTH": "ida:hemmelig"})
    assert result.exit_code == 0 and "Warning" not in result.output and fake_launch["uploads"] is True
    assert fake_launch["auth"] == [("ida", "hemmelig")] and "hemmelig" not in result.output


def test_serve_reads_logins_from_a_file_and_refuses_share(tmp_path, fake_launch, serve):
    good = tmp_path / "logins"
    good.write_text("# brugere\nida:a:b\n\nole:pw\n", encoding="utf-8")
    assert serve(tmp_path, "--host", "0.0.0.0", env={"HANDBOOK_AUTH_FILE": str(good)}).exit_code == 0
    assert fake_launch["auth"] == [("ida", "a:b"), ("ole", "pw")] and fake_launch["uploads"] is True
    bad = tmp_path / "bad"
    bad.write_text("ida-uden-kodeord\n", encoding="utf-8")
    result = serve(tmp_path, env={"HANDBOOK_AUTH_FILE": str(bad)})
    assert result.exit_code == 1 and result.output.strip() == f"Error: {bad}:1: a login is 'user:password'."
    result = serve(tmp_path, "--share")
    assert result.exit_code == 1 and result.output.startswith("Error: --share is not supported")


def test_loopback_addresses():
    from ui.cli import is_loopback

    assert all(map(is_loopback, ("127.0.0.1", "localhost", "::1", "127.0.1.1")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.5", "::", "example.org")))


def test_queue_limits_and_log_switch_come_from_settings(indexed_home, tmp_path):
    s = replace(indexed_home, home=tmp_path, concurrency=2, max_queue=5, log_enabled=False)
    assert QaLog.open(s) is None
    import ui.app

    demo = ui.app.build_app(s, None)
    assert demo._queue.max_size == 5 and demo._queue.default_concurrency_limit == 2
