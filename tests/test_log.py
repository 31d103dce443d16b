"""The Q&A/feedback log: what it stores, what it never stores, and the thumbs-down export for the evals."""
from __future__ import annotations

import json
import sqlite3

import pytest

from assistant import Answer, ChapterRef, Citation, load_settings
from assistant.feedback_log import LogError, QaLog, eval_question, export_thumbs_down, log_path, settings_snapshot
from evals.runner import KINDS, load_questions

SECRET = "sk-test-DO-NOT-LOG-1234567890"


def cited(question: str = "Hvor mange skoler i Aarhus fik nye toiletter?") -> Answer:
    c = Citation(n=1, source="05-private-virksomheder.md", chapter="5. Private virksomheder", chapter_number=5,
                 chapter_title="Private virksomheder", section="Case: Resultater", page=None, pdf_page=None,
                 lines=[37, 37], quote="Senere er lignende toiletter blevet indført på tre skoler i Aarhus.",
                 chunk_id="abc", passage="… tre skoler i Aarhus.")
    return Answer(question=question, answer=f"{c.quote} [1]", refused=False, citations=[c],
                  timings_ms={"total": 812.345, "retrieval": 500.0})


def refused() -> Answer:
    return Answer(question="Hvad bliver vejret i morgen?", answer="Det svarer håndbogen ikke på.", refused=True,
                  nearest=[ChapterRef("02-noegletal.md", 2, "Nøgletal")], timings_ms={"total": 100.0})


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDBOOK_LLM_API_KEY", SECRET)
    return load_settings({"HANDBOOK_AUTH_FILE": str(tmp_path / "logins")}, home=tmp_path / "home")


@pytest.fixture
def qa_log(settings):
    log = QaLog.open(settings)
    yield log
    log.close()


def test_an_answer_is_stored_with_citations_settings_and_timings(qa_log, settings):
    answer_id = qa_log.record(cited(), settings, [("Hvad er en case?", "En case er …")])
    (row,) = qa_log.answers()
    assert row["id"] == answer_id and log_path(settings) == settings.logs_dir / "qa.sqlite"
    assert row["question"] == "Hvor mange skoler i Aarhus fik nye toiletter?" and not row["refused"]
    assert row["citations"][0]["quote"].startswith("Senere er lignende") and row["citations"][0]["lines"] == [37, 37]
    assert row["timings"] == {"total": 812.35, "retrieval": 500.0}
    assert row["settings"]["top_k"] == settings.top_k and row["history"] == [["Hvad er en case?", "En case er …"]]
    assert row["rating"] == 0 and row["comment"] is None


def test_no_secret_is_ever_written(qa_log, settings):
    qa_log.record(cited(), settings)
    snapshot = settings_snapshot(settings)
    assert "llm_api_key_env" not in snapshot and "auth_file" not in snapshot
    qa_log.close()
    raw = b"".join(p.read_bytes() for p in settings.logs_dir.iterdir())
    assert SECRET.encode() not in raw and b"logins" not in raw


def test_thumbs_and_comments_latest_counts(qa_log, settings):
    a = qa_log.record(cited(), settings)
    b = qa_log.record(refused(), settings)
    qa_log.feedback(a, -1)
    qa_log.feedback(a, 1)
    qa_log.feedback(b, -1)
    qa_log.comment(b, "  Spørg DMI  ")
    qa_log.feedback(b, -1)
    rows = {r["id"]: r for r in qa_log.answers()}
    assert rows[a]["rating"] == 1 and rows[b]["rating"] == -1 and rows[b]["comment"] == "Spørg DMI"
    assert [r["id"] for r in qa_log.thumbs_down()] == [b]
    stats = qa_log.stats()
    assert {k: stats[k] for k in ("answers", "refused", "thumbs_up", "thumbs_down", "comments")} == {
        "answers": 2, "refused": 1, "thumbs_up": 1, "thumbs_down": 1, "comments": 1}
    with pytest.raises(LogError):
        qa_log.feedback(999, -1)
    with pytest.raises(LogError):
        qa_log.feedback(a, 5)


def test_switched_off_means_nothing_is_written(tmp_path):
    settings = load_settings({"HANDBOOK_LOG_ENABLED": "false"}, home=tmp_path)
    assert QaLog.open(settings) is None and not settings.logs_dir.exists()


def test_export_is_an_eval_question_set(qa_log, settings, tmp_path):
    a = qa_log.record(cited(), settings)
    b = qa_log.record(refused(), settings, [("Hvad er en fond?", "En fond er …")])
    qa_log.record(cited("Ikke vurderet"), settings)
    qa_log.feedback(a, -1)
    qa_log.feedback(b, -1)
    qa_log.comment(b, "Burde svare")
    out = tmp_path / "fb" / "thumbs-down.jsonl"
    assert export_thumbs_down(qa_log, out) == 2
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        assert {"id", "question", "language", "kind", "history", "expected", "key_facts", "covered"} <= set(row)
        assert row["kind"] in KINDS and row["language"] in ("da", "en") and row["key_facts"] == []
    answered, refusal = rows
    assert answered["id"] == f"fb-{a:04d}" and answered["covered"] is False
    assert answered["expected"] == [{"source": "05-private-virksomheder.md", "section": "Case: Resultater"}]
    assert refusal["covered"] is True and refusal["kind"] == "follow-up"
    assert refusal["history"] == [["Hvad er en fond?", "En fond er …"]]
    assert refusal["expected"] == [{"source": "02-noegletal.md"}] and refusal["review"]["comment"] == "Burde svare"
    # once a reviewer has written the key facts of the covered one, the evals load the file as it is
    refusal["key_facts"] = [["Næsten fire ud af fem"]]
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert [q["id"] for q in load_questions(out)] == [answered["id"], refusal["id"]]


def test_eval_question_keeps_unknown_languages_valid():
    row = {"id": 7, "question": "Q", "language": "xx", "history": [], "refused": True, "nearest": [],
           "citations": [], "answer": "A", "comment": None, "time": 0.0}
    assert eval_question(row)["language"] == "da"


def test_log_commands(tmp_path, settings, qa_log, run_cli):
    home = str(settings.home)
    missing = run_cli("--home", str(tmp_path / "nobody"), "log", "stats")
    assert missing.exit_code == 1 and missing.output.startswith("Error: No Q&A log at")
    qa_log.feedback(qa_log.record(cited(), settings), -1)
    result = run_cli("--home", home, "log", "stats", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["thumbs_down"] == 1
    result = run_cli("--home", home, "log", "stats")
    assert "thumbs down: 1" in result.output
    out = tmp_path / "down.jsonl"
    result = run_cli("--home", home, "log", "export", "--thumbs-down", str(out))
    assert result.exit_code == 0 and "Wrote 1 question to" in result.output and out.exists()
    result = run_cli("--home", str(tmp_path / "nobody"), "log", "export", "--thumbs-down", str(out))
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_concurrent_writers(qa_log, settings):
    import threading

    ids: list[int] = []
    threads = [threading.Thread(target=lambda: ids.append(qa_log.record(cited(), settings))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(1, 17))
    assert sqlite3.connect(str(qa_log.path)).execute("SELECT COUNT(*) FROM answers").fetchone() == (16,)
